//! gRPC-Web's text form by hand (`application/grpc-web-text`: the binary
//! body in base64), for byte-level tests: [`grpc_web_text`] sends requests
//! whose base64 is padded mid-body and reads the answer back as it came
//! and as frames. Its own small base64, independent of the relay's.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper_util::rt::{TokioExecutor, TokioIo};
use prost::Message as _;

use super::messages::WebRequest;
use super::{Http, Method};

/// How long the whole exchange may take.
const TIMEOUT: Duration = Duration::from_secs(30);

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64, padded.
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64 that may be padded anywhere (each quartet on its own,
/// as gRPC-Web text allows); whitespace ignored. `None` if it is not.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let chars: Vec<u8> = text.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    if !chars.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::new();
    for quartet in chars.chunks(4) {
        let mut n = 0u32;
        let mut pads = 0;
        for &c in quartet {
            let v = match c {
                b'=' => {
                    pads += 1;
                    0
                }
                _ if pads > 0 => return None,
                _ => ALPHABET.iter().position(|&a| a == c)? as u32,
            };
            n = (n << 6) | v;
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3usize.checked_sub(pads)?]);
    }
    Some(out)
}

/// One frame of a gRPC-Web body: flags (0x80: the trailer frame) and
/// payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub flags: u8,
    pub payload: Vec<u8>,
}

/// What came back.
#[derive(Debug)]
pub struct TextReply {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    /// The body as it came: base64 text.
    pub body: String,
    /// The body decoded and cut into frames; empty if it did not decode.
    pub frames: Vec<Frame>,
}

impl TextReply {
    /// Whether some padding comes before the body's end (a `=` followed by
    /// base64 that is not padding).
    pub fn padded_mid_body(&self) -> bool {
        let body = self.body.trim_end_matches('=');
        body.contains('=')
    }

    /// The payloads of the message frames, decoded as `M`.
    pub fn messages<M: prost::Message + Default>(&self) -> Vec<M> {
        self.frames
            .iter()
            .filter(|f| f.flags & 0x80 == 0)
            .map(|f| M::decode(f.payload.as_slice()).expect("a message frame"))
            .collect()
    }

    /// The trailer frame's text (`grpc-status: 0\r\n…`), if there is one.
    pub fn trailer(&self) -> Option<String> {
        self.frames
            .iter()
            .find(|f| f.flags & 0x80 != 0)
            .map(|f| String::from_utf8_lossy(&f.payload).into_owned())
    }
}

fn frames(mut bytes: &[u8]) -> Vec<Frame> {
    let mut frames = Vec::new();
    while bytes.len() >= 5 {
        let len = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]) as usize;
        let Some(payload) = bytes.get(5..5 + len) else {
            break;
        };
        frames.push(Frame {
            flags: bytes[0],
            payload: payload.to_vec(),
        });
        bytes = &bytes[5 + len..];
    }
    frames
}

/// POSTs `requests` to `method` at `target` over `http` in gRPC-Web's text
/// form: each request's 5-byte prefix and its message base64-encoded
/// apart, so the body is padded mid-way (a 5-byte prefix always is).
/// Panics if the exchange fails or takes more than 30 s.
pub async fn grpc_web_text(
    target: SocketAddr,
    http: Http,
    method: Method,
    requests: &[WebRequest],
) -> TextReply {
    let mut body = String::new();
    for request in requests {
        let message = request.encode_to_vec();
        let mut prefix = vec![0u8];
        prefix.extend_from_slice(&(message.len() as u32).to_be_bytes());
        body.push_str(&base64_encode(&prefix));
        body.push_str(&base64_encode(&message));
    }
    // HTTP/1.1: origin-form and a Host header (Node insists on one); h2:
    // the absolute URI, whence hyper's :scheme and :authority.
    let uri = match http {
        Http::H1 => method.path(),
        Http::H2 => format!("http://{target}{}", method.path()),
    };
    let request = http::Request::post(uri)
        .header("host", target.to_string())
        .header("content-type", "application/grpc-web-text")
        .header("accept", "application/grpc-web-text")
        .header("x-grpc-web", "1")
        .body(http_body_util::Full::new(Bytes::from(body)))
        .expect("a request");
    let exchange = async {
        let tcp = tokio::net::TcpStream::connect(target)
            .await
            .expect("connect");
        let response = match http {
            Http::H1 => {
                let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                    .await
                    .expect("an HTTP/1.1 handshake");
                tokio::spawn(conn);
                send.send_request(request).await
            }
            Http::H2 => {
                let (mut send, conn) =
                    hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
                        .await
                        .expect("an HTTP/2 handshake");
                tokio::spawn(conn);
                send.send_request(request).await
            }
        };
        let (parts, body) = response.expect("a response").into_parts();
        let body = body.collect().await.expect("the body").to_bytes();
        (parts, body)
    };
    let (parts, body) = tokio::time::timeout(TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| panic!("no gRPC-Web text answer within {TIMEOUT:?}"));
    let body = String::from_utf8_lossy(&body).into_owned();
    let frames = base64_decode(&body).map(|b| frames(&b)).unwrap_or_default();
    TextReply {
        status: parts.status,
        headers: parts.headers,
        body,
        frames,
    }
}
