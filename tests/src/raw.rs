//! A raw HTTP/2 client: sends exactly the DATA frames it is given and
//! returns exactly what came back, for byte-level comparisons; hand-made
//! frames; and an upstream of hand-made frames ([`GoawayUpstream`]).

use std::net::SocketAddr;

use bytes::Bytes;
use futures_util::stream;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

/// Everything a response carried.
#[derive(Debug)]
pub struct RawReply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// All DATA bytes, concatenated.
    pub body: Vec<u8>,
    pub trailers: Option<HeaderMap>,
}

impl RawReply {
    /// Headers without the ones that legitimately differ between two runs.
    pub fn stable_headers(&self) -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<_> = self
            .headers
            .iter()
            .filter(|(k, _)| k.as_str() != "date")
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect();
        v.sort();
        v
    }
}

impl RawReply {
    /// `grpc-status` (from the trailers, or the headers of a trailers-only
    /// response) and the percent-decoded `grpc-message`.
    pub fn grpc_status(&self) -> (Option<String>, String) {
        let map = self.trailers.as_ref().unwrap_or(&self.headers);
        let status = map
            .get("grpc-status")
            .map(|v| v.to_str().unwrap_or("").to_owned());
        let message = map
            .get("grpc-message")
            .map(|v| loom_shared::header::percent_decode_grpc_message(v.to_str().unwrap_or("")))
            .unwrap_or_default();
        (status, message)
    }
}

/// The body of a Probe unary call saying `text`, as one DATA frame.
pub fn probe_unary_body(text: &str) -> Vec<Vec<u8>> {
    use prost::Message as _;
    let payload = crate::probe::ProbeRequest {
        text: text.into(),
        ..Default::default()
    }
    .encode_to_vec();
    vec![grpc_frame(false, &payload)]
}

/// A gRPC length-prefixed message.
pub fn grpc_frame(compressed: bool, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(payload.len() + 5);
    v.push(u8::from(compressed));
    v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// POST `path` with the given DATA chunks (each sent as its own frame) and
/// extra headers, over a fresh HTTP/2 connection.
pub async fn call(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &[u8])],
    chunks: Vec<Vec<u8>>,
) -> RawReply {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    call_over(tcp, &addr.to_string(), path, headers, chunks).await
}

/// [`call`] over any connected byte stream (a Unix socket, say), with
/// `authority` as the request's `:authority`.
pub async fn call_over(
    io: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
    authority: &str,
    path: &str,
    headers: &[(&str, &[u8])],
    chunks: Vec<Vec<u8>>,
) -> RawReply {
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
            .await
            .expect("h2 handshake");
    tokio::spawn(conn);
    let frames = chunks
        .into_iter()
        .map(|c| Ok::<_, std::convert::Infallible>(Frame::data(Bytes::from(c))));
    let body = StreamBody::new(stream::iter(frames));
    let mut req = Request::post(format!("http://{authority}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    for (k, v) in headers {
        req = req.header(*k, http::HeaderValue::from_bytes(v).expect("header value"));
    }
    let res = send
        .send_request(req.body(body).expect("request"))
        .await
        .expect("response");
    let (parts, mut body) = res.into_parts();
    let mut data = Vec::new();
    let mut trailers = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.expect("response frame");
        match frame.into_data() {
            Ok(d) => data.extend_from_slice(&d),
            Err(frame) => trailers = frame.into_trailers().ok(),
        }
    }
    RawReply {
        status: parts.status,
        headers: parts.headers,
        body: data,
        trailers,
    }
}

/// Hand-made HTTP/2 frames, for clients no library would be: floods of
/// resets and CONTINUATION frames.
pub mod frames {
    /// The client connection preface, then an empty SETTINGS frame.
    pub fn preface() -> Vec<u8> {
        let mut v = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        v.extend(frame(0x4, 0, 0, &[]));
        v
    }

    /// One frame: 24-bit length, type, flags, stream id, payload.
    pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut v = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
        v.extend_from_slice(&stream.to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    /// An HPACK literal header field, never indexed, with a literal name.
    pub fn literal(name: &str, value: &str) -> Vec<u8> {
        let mut v = vec![0x10];
        for s in [name, value] {
            assert!(s.len() < 127, "short strings only");
            v.push(s.len() as u8);
            v.extend_from_slice(s.as_bytes());
        }
        v
    }

    /// The header block of a gRPC request to `path`.
    pub fn grpc_request_block(path: &str) -> Vec<u8> {
        // :method POST (static 3), :scheme http (static 6).
        let mut v = vec![0x83, 0x86];
        v.extend(literal(":path", path));
        v.extend(literal(":authority", "relay"));
        v.extend(literal("content-type", "application/grpc"));
        v.extend(literal("te", "trailers"));
        v
    }

    pub const HEADERS: u8 = 0x1;
    pub const RST_STREAM: u8 = 0x3;
    pub const CONTINUATION: u8 = 0x9;
    pub const END_STREAM: u8 = 0x1;
    pub const END_HEADERS: u8 = 0x4;
}

/// An HTTP/2 upstream of hand-made frames, for what no server library
/// sends: it answers each request with response headers and one empty gRPC
/// message, then a GOAWAY with `code` whose last stream is below the
/// request's (the GOAWAY itself refuses the stream, after it was answered
/// in part), and keeps the connection open. Node and h2 both raise such a
/// last stream to the last one they processed.
pub struct GoawayUpstream {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl GoawayUpstream {
    pub async fn start(code: u32) -> GoawayUpstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(goaway_connection(tcp, code));
            }
        });
        GoawayUpstream { addr, task }
    }
}

impl Drop for GoawayUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn goaway_connection(mut tcp: TcpStream, code: u32) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const DATA: u8 = 0x0;
    const SETTINGS: u8 = 0x4;
    const PING: u8 = 0x6;
    const GOAWAY: u8 = 0x7;
    const ACK: u8 = 0x1;
    let mut preface = [0u8; 24];
    if tcp.read_exact(&mut preface).await.is_err() {
        return;
    }
    if tcp
        .write_all(&frames::frame(SETTINGS, 0, 0, &[]))
        .await
        .is_err()
    {
        return;
    }
    loop {
        let mut head = [0u8; 9];
        if tcp.read_exact(&mut head).await.is_err() {
            return;
        }
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let (kind, flags) = (head[3], head[4]);
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0u8; len];
        if tcp.read_exact(&mut payload).await.is_err() {
            return;
        }
        let reply = match kind {
            SETTINGS if flags & ACK == 0 => frames::frame(SETTINGS, ACK, 0, &[]),
            PING if flags & ACK == 0 => frames::frame(PING, ACK, 0, &payload),
            frames::HEADERS => {
                // :status 200 (static index 8), content-type.
                let mut block = vec![0x88];
                block.extend(frames::literal("content-type", "application/grpc"));
                let mut out = frames::frame(frames::HEADERS, frames::END_HEADERS, stream, &block);
                out.extend(frames::frame(DATA, 0, stream, &grpc_frame(false, &[])));
                let mut goaway = stream.saturating_sub(2).to_be_bytes().to_vec();
                goaway.extend_from_slice(&code.to_be_bytes());
                out.extend(frames::frame(GOAWAY, 0, 0, &goaway));
                out
            }
            _ => continue,
        };
        if tcp.write_all(&reply).await.is_err() {
            return;
        }
    }
}
