//! Proxy mode: a gRPC client that uses the relay as its HTTP proxy
//! (`grpc_proxy`, `https_proxy`, `HTTPS_PROXY`) asks for a tunnel with
//! HTTP/1.1 `CONNECT host:port`, and the relay is the server inside it.
//!
//! [`open`] answers the `CONNECT` (hyper, with upgrades): a target the
//! [`Proxy`] may not reach gets 403 naming the flag that would allow it, and
//! one log line; an allowed one gets 200, and the tunnel's bytes go back to
//! `crate::forward::connection`, which serves them like any client
//! connection (HTTP/2 cleartext, or TLS through the local CA), with every
//! call sent to the tunnel's target over the connection's own pool.
//!
//! What it is not: a general-purpose proxy. Nothing but gRPC is relayed
//! through a tunnel, and a request other than `CONNECT` on the proxy's
//! connection is refused.

use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http::{Method, Response, StatusCode, header};
use http_body_util::Full;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use crate::config::{Allowed, Pins};
use crate::forward::Forwarder;
use crate::forward::upstream::BoxIo;

/// What proxy clients may reach, and where names go.
#[derive(Debug, Clone, Default)]
pub struct Proxy {
    pub allowed: Allowed,
    pub pins: Pins,
}

/// The verdict on one `CONNECT`.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Open(http::uri::Authority),
    Refuse(StatusCode, String),
}

impl Proxy {
    fn judge(&self, method: &Method, uri: &http::Uri) -> Verdict {
        if method != Method::CONNECT {
            return Verdict::Refuse(
                StatusCode::METHOD_NOT_ALLOWED,
                format!(
                    "loom: this connection began as a proxy client's; only CONNECT host:port is \
                     served here, not {method}"
                ),
            );
        }
        let Some(authority) = uri.authority().filter(|a| {
            uri.path_and_query()
                .is_none_or(|p| p.as_str() == "/" || p.as_str().is_empty())
                && !a.host().is_empty()
        }) else {
            return Verdict::Refuse(
                StatusCode::BAD_REQUEST,
                format!("loom: CONNECT needs host:port, not `{uri}`"),
            );
        };
        let Some(port) = authority.port_u16() else {
            return Verdict::Refuse(
                StatusCode::BAD_REQUEST,
                format!("loom: CONNECT {authority} names no port"),
            );
        };
        if !self.allowed.permits(authority.host(), port, &self.pins) {
            return Verdict::Refuse(
                StatusCode::FORBIDDEN,
                format!(
                    "loom: the proxy may not reach {authority} (allowed: {}); start loom with \
                     --allow-upstream {authority} (or a pattern that covers it) to allow it",
                    self.allowed.describe()
                ),
            );
        }
        Verdict::Open(authority.clone())
    }
}

/// A tunnel, open: its bytes, and the target the client asked for.
pub struct Tunnel {
    pub io: BoxIo,
    pub target: http::uri::Authority,
}

/// Answers a proxy client's connection (its `CONNECT` first); `None` when
/// no tunnel came of it (refused, or the client left).
pub async fn open(fwd: &Forwarder, io: BoxIo, deadline: tokio::time::Instant) -> Option<Tunnel> {
    let opened: Arc<Mutex<Option<(OnUpgrade, http::uri::Authority)>>> = Arc::default();
    let proxy = fwd.proxy.clone();
    let slot = opened.clone();
    let service = hyper::service::service_fn(
        move |mut req: http::Request<hyper::body::Incoming>| {
            let verdict = proxy.judge(req.method(), req.uri());
            let response = match verdict {
                Verdict::Open(authority) => {
                    tracing::debug!(%authority, "proxy tunnel opened");
                    let upgrade = hyper::upgrade::on(&mut req);
                    *slot.lock().unwrap_or_else(PoisonError::into_inner) =
                        Some((upgrade, authority));
                    Response::new(Full::new(Bytes::new()))
                }
                Verdict::Refuse(status, text) => {
                    tracing::warn!(method = %req.method(), target = %req.uri(), "refused a proxy request with {status}: {text}");
                    let mut res = Response::new(Full::new(Bytes::from(format!("{text}\n"))));
                    *res.status_mut() = status;
                    res.headers_mut().insert(
                        header::CONTENT_TYPE,
                        http::HeaderValue::from_static("text/plain; charset=utf-8"),
                    );
                    res
                }
            };
            async move { Ok::<_, Infallible>(response) }
        },
    );
    let conn = hyper::server::conn::http1::Builder::new()
        .auto_date_header(false)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    match tokio::time::timeout_at(deadline, conn).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::debug!("proxy client connection ended: {e}");
            return None;
        }
        Err(_) => {
            tracing::debug!("no CONNECT within {:?}; closing", fwd.first_request_timeout);
            return None;
        }
    }
    let taken = opened.lock().unwrap_or_else(PoisonError::into_inner).take();
    let (upgrade, target) = taken?;
    match upgrade.await {
        Ok(upgraded) => Some(Tunnel {
            io: Box::new(TokioIo::new(upgraded)),
            target,
        }),
        Err(e) => {
            tracing::debug!(%target, "proxy tunnel never opened: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy(allow: &[&str], pins: &[&str]) -> Proxy {
        Proxy {
            allowed: Allowed::new(allow.iter().map(|p| p.parse().unwrap()).collect()),
            pins: Pins::new(pins.iter().map(|p| p.parse().unwrap()).collect()),
        }
    }

    fn judge(p: &Proxy, method: Method, target: &str) -> Verdict {
        p.judge(&method, &target.parse().unwrap())
    }

    #[test]
    fn connect_to_allowed_targets_only() {
        let p = proxy(&[], &["backend.test:443=127.0.0.1:9000"]);
        assert_eq!(
            judge(&p, Method::CONNECT, "127.0.0.1:50051"),
            Verdict::Open("127.0.0.1:50051".parse().unwrap())
        );
        assert!(matches!(
            judge(&p, Method::CONNECT, "backend.test:443"),
            Verdict::Open(_)
        ));
        let Verdict::Refuse(status, text) = judge(&p, Method::CONNECT, "example.com:443") else {
            panic!("not refused");
        };
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(text.contains("--allow-upstream example.com:443"), "{text}");
        assert!(text.contains("allowed: loopback"), "{text}");
        let Verdict::Refuse(status, _) = judge(&p, Method::GET, "http://127.0.0.1:1/") else {
            panic!("not refused");
        };
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        let Verdict::Refuse(status, _) = judge(&p, Method::CONNECT, "127.0.0.1") else {
            panic!("not refused");
        };
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let wide = proxy(&["*"], &[]);
        assert!(matches!(
            judge(&wide, Method::CONNECT, "example.com:443"),
            Verdict::Open(_)
        ));
    }
}
