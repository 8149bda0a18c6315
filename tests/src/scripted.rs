//! An upstream whose every answer the test writes: status, headers, body
//! bytes (in the chunks given) and trailers, over HTTP/1.1 or HTTP/2
//! (cleartext, both on one port), recording each request it got. For the
//! byte-level cases of gRPC-Web and Connect that no real server would send
//! (a trailer frame mid-stream, bad base64, an end-of-stream that is not
//! JSON), and to compare what the relay forwarded with what was sent.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

/// One answer.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    /// The body, one DATA frame (or HTTP/1.1 chunk) each.
    pub chunks: Vec<Vec<u8>>,
    pub trailers: Vec<(&'static str, String)>,
}

/// A request as the upstream got it.
#[derive(Debug, Clone)]
pub struct Got {
    pub method: String,
    pub uri: String,
    pub version: http::Version,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// The running upstream.
pub struct Scripted {
    pub addr: SocketAddr,
    pub got: Arc<Mutex<Vec<Got>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Scripted {
    /// Answers every request with `answer`.
    pub async fn start(answer: Answer) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let got: Arc<Mutex<Vec<Got>>> = Arc::default();
        let seen = got.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (answer, seen) = (answer.clone(), seen.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let (answer, seen) = (answer.clone(), seen.clone());
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|c| c.to_bytes())
                                .unwrap_or_default();
                            seen.lock().expect("got").push(Got {
                                method: parts.method.to_string(),
                                uri: parts.uri.to_string(),
                                version: parts.version,
                                headers: parts.headers,
                                body,
                            });
                            Ok::<_, Infallible>(respond(&answer))
                        }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        Scripted { addr, got, task }
    }

    /// The requests so far.
    pub fn got(&self) -> Vec<Got> {
        self.got.lock().expect("got").clone()
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Body =
    StreamBody<futures_util::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>>;

fn respond(answer: &Answer) -> Response<Body> {
    let mut frames: Vec<Result<Frame<Bytes>, Infallible>> = answer
        .chunks
        .iter()
        .map(|c| Ok(Frame::data(Bytes::from(c.clone()))))
        .collect();
    if !answer.trailers.is_empty() {
        let mut map = HeaderMap::new();
        for (k, v) in &answer.trailers {
            map.append(*k, v.parse().expect("trailer value"));
        }
        frames.push(Ok(Frame::trailers(map)));
    }
    let mut res = Response::new(StreamBody::new(futures_util::stream::iter(frames)));
    *res.status_mut() = StatusCode::from_u16(answer.status).expect("status");
    for (k, v) in &answer.headers {
        res.headers_mut()
            .append(*k, v.parse().expect("header value"));
    }
    res
}

/// What a client got back.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub trailers: Option<HeaderMap>,
}

/// How the client talks to the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Http {
    H1,
    H2,
}

/// Sends one request to `addr` over `http`: `method` `path_and_query`
/// with `headers` and `body`.
pub async fn send(
    addr: SocketAddr,
    http: Http,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Reply {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut req = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path_and_query}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(http_body_util::Full::new(Bytes::from(body)))
        .expect("request");
    let res = match http {
        Http::H1 => {
            let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                .await
                .expect("h1 handshake");
            tokio::spawn(conn);
            send.send_request(req).await.expect("response")
        }
        Http::H2 => {
            let (mut send, conn) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
                    .await
                    .expect("h2 handshake");
            tokio::spawn(conn);
            send.send_request(req).await.expect("response")
        }
    };
    let (parts, body) = res.into_parts();
    let collected = body.collect().await.expect("response body");
    let trailers = collected.trailers().cloned();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: collected.to_bytes(),
        trailers,
    }
}

/// A 5-byte envelope with `flags` around `payload`.
pub fn envelope(flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![flags];
    v.extend_from_slice(&u32::try_from(payload.len()).expect("length").to_be_bytes());
    v.extend_from_slice(payload);
    v
}
