//! A gRPC client on the `h2` crate itself, for the tests of how calls end:
//! every frame of a call is the test's choice. It half-closes when told,
//! resets a stream (RST_STREAM with any code) at any point, reads a stream's
//! messages only when asked (a slow reader holds back its window), and keeps
//! as many streams open on one connection as the server allows.
//!
//! [`raw`](crate::raw) compares bytes through hyper; this one is for what
//! hyper does not let a client do.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use h2::client::{ResponseFuture, SendRequest};
use h2::{Reason, RecvStream, SendStream};
use http::{HeaderMap, Request};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// How long [`Conn::unary`] waits for a call to end.
pub const CALL_LIMIT: Duration = Duration::from_secs(30);

/// Flow-control windows the client gives the server.
#[derive(Debug, Clone, Copy)]
pub struct Windows {
    /// Per stream: how much one unread stream may hold.
    pub stream: u32,
    /// The whole connection.
    pub connection: u32,
}

impl Default for Windows {
    fn default() -> Self {
        Windows {
            stream: 1 << 20,
            connection: 16 << 20,
        }
    }
}

/// One HTTP/2 connection to a gRPC server (the relay, normally). Clones
/// share the connection; it closes when the last one is dropped.
#[derive(Clone)]
pub struct Conn {
    pub addr: SocketAddr,
    send: SendRequest<Bytes>,
    _driver: Arc<Driver>,
}

/// The task that drives the connection, aborted on drop.
struct Driver(JoinHandle<()>);

impl Drop for Driver {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Conn {
    pub async fn connect(addr: SocketAddr) -> Conn {
        Self::connect_with(addr, Windows::default()).await
    }

    pub async fn connect_with(addr: SocketAddr, windows: Windows) -> Conn {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let _ = tcp.set_nodelay(true);
        let (send, connection) = h2::client::Builder::new()
            .initial_window_size(windows.stream)
            .initial_connection_window_size(windows.connection)
            .handshake::<_, Bytes>(tcp)
            .await
            .expect("h2 handshake");
        let task = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("h2 client connection ended: {e}");
            }
        });
        let send = send.ready().await.expect("h2 connection ready");
        Conn {
            addr,
            send,
            _driver: Arc::new(Driver(task)),
        }
    }

    /// How many streams the server lets this connection open at once
    /// (its SETTINGS_MAX_CONCURRENT_STREAMS, once known).
    pub fn max_concurrent_streams(&self) -> usize {
        self.send.current_max_send_streams()
    }

    /// Opens a call of `path`: HEADERS with `metadata` (`grpc-timeout`
    /// included, if the test wants a deadline), and nothing else yet.
    pub async fn start(&self, path: &str, metadata: &[(&str, &str)]) -> Call {
        let mut send = self.send.clone().ready().await.expect("a stream slot");
        let mut request = Request::post(format!("http://{}{path}", self.addr))
            .header("content-type", "application/grpc")
            .header("te", "trailers");
        for (name, value) in metadata {
            request = request.header(*name, *value);
        }
        let (response, stream) = send
            .send_request(request.body(()).expect("request"), false)
            .expect("send HEADERS");
        Call {
            sent_at: tokio::time::Instant::now(),
            send: stream,
            response: Some(response),
            headers: None,
            body: None,
            buf: BytesMut::new(),
            trailers: None,
            ended: false,
            failed: None,
        }
    }

    /// A whole unary (or server-streaming) call: `request`, half-close, and
    /// everything that comes back (it panics after [`CALL_LIMIT`]).
    pub async fn unary(&self, path: &str, metadata: &[(&str, &str)], request: &[u8]) -> Outcome {
        let mut call = self.start(path, metadata).await;
        call.send_last(request);
        call.finish_within(CALL_LIMIT).await
    }
}

/// A gRPC length-prefixed message (uncompressed).
pub fn frame(message: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(message.len() + 5);
    out.extend_from_slice(&[0]);
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(message);
    out.freeze()
}

/// How a stream failed.
#[derive(Debug, Clone)]
pub struct StreamError {
    /// The RST_STREAM (or GOAWAY) code, if there was one.
    pub reason: Option<Reason>,
    /// It came from a GOAWAY.
    pub go_away: bool,
    pub text: String,
}

impl From<h2::Error> for StreamError {
    fn from(e: h2::Error) -> Self {
        StreamError {
            reason: e.reason(),
            go_away: e.is_go_away(),
            text: e.to_string(),
        }
    }
}

impl std::fmt::Display for StreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// One call (one HTTP/2 stream).
pub struct Call {
    /// When its HEADERS were handed to the connection: where a client's
    /// deadline starts.
    pub sent_at: tokio::time::Instant,
    send: SendStream<Bytes>,
    response: Option<ResponseFuture>,
    headers: Option<HeaderMap>,
    body: Option<RecvStream>,
    buf: BytesMut,
    trailers: Option<HeaderMap>,
    ended: bool,
    failed: Option<StreamError>,
}

impl Call {
    /// Sends one message (h2 buffers it; the stream stays open). A stream
    /// the server has already ended takes nothing: what it answered is in
    /// the response.
    pub fn send(&mut self, message: &[u8]) {
        let _ = self.send.send_data(frame(message), false);
    }

    /// Sends one message with END_STREAM.
    pub fn send_last(&mut self, message: &[u8]) {
        let _ = self.send.send_data(frame(message), true);
    }

    /// END_STREAM with no more data.
    pub fn half_close(&mut self) {
        let _ = self.send.send_data(Bytes::new(), true);
    }

    /// RST_STREAM with `reason` (CANCEL is what a gRPC client sends).
    pub fn reset(&mut self, reason: Reason) {
        self.send.send_reset(reason);
    }

    /// Waits for the response headers (a trailers-only response's included).
    pub async fn headers(&mut self) -> Result<&HeaderMap, StreamError> {
        if let Some(failed) = &self.failed {
            return Err(failed.clone());
        }
        if let Some(response) = self.response.take() {
            match response.await {
                Ok(response) => {
                    let (parts, body) = response.into_parts();
                    self.ended = body.is_end_stream();
                    self.headers = Some(parts.headers);
                    self.body = Some(body);
                }
                Err(e) => return Err(self.fail(e)),
            }
        }
        Ok(self.headers.as_ref().expect("headers"))
    }

    fn fail(&mut self, e: h2::Error) -> StreamError {
        let e = StreamError::from(e);
        self.failed = Some(e.clone());
        e
    }

    /// The next whole response message; `None` once the response is over
    /// (its trailers are then in [`Call::trailers`]).
    pub async fn message(&mut self) -> Result<Option<Bytes>, StreamError> {
        self.headers().await?;
        loop {
            if self.buf.len() >= 5 {
                let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]])
                    as usize;
                if self.buf.len() >= 5 + len {
                    self.buf.advance(5);
                    return Ok(Some(self.buf.split_to(len).freeze()));
                }
            }
            if self.ended {
                return Ok(None);
            }
            let body = self.body.as_mut().expect("body");
            match body.data().await {
                Some(Ok(data)) => {
                    let _ = body.flow_control().release_capacity(data.len());
                    self.buf.extend_from_slice(&data);
                }
                Some(Err(e)) => return Err(self.fail(e)),
                None => match body.trailers().await {
                    Ok(trailers) => {
                        self.ended = true;
                        self.trailers = trailers;
                    }
                    Err(e) => return Err(self.fail(e)),
                },
            }
        }
    }

    /// The trailers, once [`Call::message`] returned `None`.
    pub fn trailers(&self) -> Option<&HeaderMap> {
        self.trailers.as_ref()
    }

    /// Reads the rest of the call: every message, the trailers or the error.
    pub async fn finish(mut self) -> Outcome {
        let mut messages = Vec::new();
        let error = loop {
            match self.message().await {
                Ok(Some(m)) => messages.push(m),
                Ok(None) => break None,
                Err(e) => break Some(e),
            }
        };
        Outcome {
            headers: self.headers.take(),
            messages,
            trailers: self.trailers.take(),
            leftover: self.buf.len(),
            error,
        }
    }

    /// [`Call::finish`] within `limit`.
    pub async fn finish_within(self, limit: Duration) -> Outcome {
        tokio::time::timeout(limit, self.finish())
            .await
            .unwrap_or_else(|_| panic!("the call did not end within {limit:?}"))
    }
}

/// Everything a call got back.
#[derive(Debug)]
pub struct Outcome {
    /// Response headers (for a trailers-only response, its only headers).
    pub headers: Option<HeaderMap>,
    pub messages: Vec<Bytes>,
    pub trailers: Option<HeaderMap>,
    /// Bytes of an incomplete message at the end.
    pub leftover: usize,
    /// How the stream failed (a reset, the connection), if it did.
    pub error: Option<StreamError>,
}

impl Outcome {
    /// `grpc-status` from the trailers, or from a trailers-only response.
    pub fn grpc_status(&self) -> Option<u32> {
        let from = |h: &HeaderMap| {
            h.get("grpc-status")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
        };
        match &self.trailers {
            Some(t) => from(t),
            None if self.messages.is_empty() => self.headers.as_ref().and_then(from),
            None => None,
        }
    }

    /// `grpc-message`, as sent.
    pub fn grpc_message(&self) -> String {
        self.trailers
            .as_ref()
            .or(self.headers.as_ref())
            .and_then(|h| h.get("grpc-message"))
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default()
    }

    /// Status, message count and error in a line, for failure messages.
    pub fn summary(&self) -> String {
        format!(
            "grpc-status {:?} {:?}, {} messages{}, {}",
            self.grpc_status(),
            self.grpc_message(),
            self.messages.len(),
            if self.leftover > 0 {
                format!(" and {} bytes of one more", self.leftover)
            } else {
                String::new()
            },
            self.error
                .as_ref()
                .map_or("no stream error".to_owned(), |e| format!(
                    "stream error: {e}"
                ))
        )
    }

    /// The RST_STREAM code the stream was reset with, if it was.
    pub fn reset_reason(&self) -> Option<Reason> {
        self.error.as_ref().and_then(|e| e.reason)
    }
}
