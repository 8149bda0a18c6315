//! Which protocol a request speaks, and the way in for each.
//!
//! A connection whose first bytes are the HTTP/2 preface carries gRPC,
//! gRPC-Web or Connect over HTTP/2, forwarded by
//! [`crate::forward::connection`]; a request on it of none of them gets a
//! clear HTTP error ([`refuse_non_rpc`]). Any other connection is HTTP/1.1
//! and goes to an [`Http1`] handler: [`crate::forward::http1`] forwards
//! gRPC-Web and Connect, and answers anything else with the
//! [`Http1Refusal`], which says what the port is for.
//!
//! On a TLS connection, HTTP/2 needs ALPN `h2` (RFC 9113 §3.2); a client
//! that sends the preface without it, or a cleartext client of a TLS-only
//! port, is refused in its own protocol, in words ([`refuse_h2`],
//! [`refuse_http1`]).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;
use hyper_util::rt::TokioIo;

use crate::forward::upstream::BoxIo;

/// The first bytes of every HTTP/2 connection.
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What the relay answers, itself, to a request it does not forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub text: String,
}

impl Refusal {
    /// As an HTTP response head (the text is the body).
    pub fn head(&self) -> Response<()> {
        let mut res = Response::new(());
        *res.status_mut() = self.status;
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        res
    }
}

/// A clear answer for an HTTP/2 request of no RPC protocol (neither gRPC,
/// gRPC-Web nor Connect).
pub fn refuse_non_rpc(parts: &http::request::Parts) -> Refusal {
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::warn!(
        method = %parts.method,
        uri = %parts.uri,
        content_type,
        "refused a request of no RPC protocol with 415"
    );
    Refusal {
        status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
        text: format!(
            "Loom relays gRPC, gRPC-Web and Connect: content-type {content_type:?} with method {} \
             is none of them.\n",
            parts.method
        ),
    }
}

/// A future that serves one HTTP/1.1 connection to its end.
pub type Serving = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What the relay knows of an HTTP/1.1 client connection.
#[derive(Debug, Clone, Default)]
pub struct Http1Conn {
    /// The one target of its calls (a proxy tunnel's), or `None`: routed.
    pub target: Option<Arc<crate::forward::route::Target>>,
    /// Its TLS session, if it is TLS.
    pub client_tls: Option<Arc<loom_shared::pb::TlsSession>>,
}

/// The way in for HTTP/1.1 connections (gRPC-Web and Connect:
/// [`crate::forward::http1`]).
pub trait Http1: Send + Sync + 'static {
    /// Serve the connection (its first bytes already put back).
    fn serve(&self, io: BoxIo, conn: Http1Conn) -> Serving;
}

/// Answers every HTTP/1.1 request with what this port is for.
pub struct Http1Refusal {
    text: Arc<str>,
}

impl Http1Refusal {
    /// `upstream` and `ui_url` are named in the answer.
    pub fn new(upstream: &str, ui_url: &str) -> Self {
        Http1Refusal {
            text: format!(
                "This is the Loom gRPC relay: it takes gRPC over HTTP/2 (cleartext with prior \
                 knowledge, or TLS with ALPN h2), and gRPC-Web and Connect over HTTP/1.1 or HTTP/2, and forwards them to {upstream}.\nPoint your client here. The inspector is at {ui_url}\n"
            )
            .into(),
        }
    }
}

impl Http1Refusal {
    /// The answer to one request of no RPC protocol.
    pub fn response(&self, parts: &http::request::Parts) -> Response<Full<Bytes>> {
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        tracing::warn!(
            method = %parts.method,
            uri = %parts.uri,
            content_type,
            "refused an HTTP/1.1 request of no RPC protocol with 415"
        );
        let mut res = Response::new(Full::new(Bytes::from(format!(
            "{}(content-type {content_type:?}, method {}: neither gRPC-Web nor Connect)\n",
            self.text, parts.method
        ))));
        *res.status_mut() = StatusCode::UNSUPPORTED_MEDIA_TYPE;
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        res
    }
}

impl Http1 for Http1Refusal {
    fn serve(&self, io: BoxIo, _conn: Http1Conn) -> Serving {
        let this = Http1Refusal {
            text: self.text.clone(),
        };
        Box::pin(async move {
            let service = hyper::service::service_fn(move |req: http::Request<_>| {
                let (parts, _) = req.into_parts();
                let res = this.response(&parts);
                async move { Ok::<_, Infallible>(res) }
            });
            let served = hyper::server::conn::http1::Builder::new()
                .auto_date_header(false)
                .serve_connection(TokioIo::new(io), service)
                .await;
            if let Err(e) = served {
                tracing::debug!("HTTP/1 connection ended: {e}");
            }
        })
    }
}

/// HTTP/2's INADEQUATE_SECURITY error code.
pub const INADEQUATE_SECURITY: u32 = 0xc;

/// Refuses an HTTP/2 client in HTTP/2: the server's SETTINGS, then a
/// GOAWAY (no stream processed) with `code` and `text` as its debug data,
/// which clients show.
pub async fn refuse_h2(mut io: BoxIo, code: u32, text: &str) {
    use tokio::io::AsyncWriteExt as _;
    tracing::warn!("refused an HTTP/2 client: {text}");
    let debug = &text.as_bytes()[..text.len().min(1024)];
    let mut out = vec![0, 0, 0, 0x4, 0, 0, 0, 0, 0];
    let len = u32::try_from(8 + debug.len()).unwrap_or(8).to_be_bytes();
    out.extend_from_slice(&[len[1], len[2], len[3], 0x7, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(debug);
    let _ = io.write_all(&out).await;
    let _ = io.shutdown().await;
}

/// Refuses an HTTP/1.1 client with `status` and `text`, then closes.
pub async fn refuse_http1(mut io: BoxIo, status: StatusCode, text: &str) {
    use tokio::io::AsyncWriteExt as _;
    tracing::warn!("refused an HTTP/1 client with {status}: {text}");
    let body = format!("{text}\n");
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = io.write_all(head.as_bytes()).await;
    let _ = io.write_all(body.as_bytes()).await;
    let _ = io.shutdown().await;
}
