//! Who may use the UI port: same-origin pages, origins named with
//! `--allow-origin`, and non-browser clients (which send no `Origin`).
//!
//! Two checks, in this order:
//! 1. `Host` must name this relay (a loopback name with the UI port, the bound
//!    address, or an allowed origin's host). This stops DNS-rebinding pages,
//!    whose requests look same-origin but carry a foreign `Host`.
//! 2. An `Origin`, when present, must be one of the allowed origins.
//!
//! Allowed cross-origin requests get `Access-Control-Allow-Origin` naming that
//! origin (never `*`), and preflights are answered, including Private Network
//! Access ones, so a hosted copy of the inspector can reach a local relay.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, StatusCode, header};

use crate::config::Origin;

#[derive(Debug, Clone)]
pub struct Access {
    /// The UI's own origins.
    own: Vec<Origin>,
    /// Origins given with `--allow-origin`.
    extra: Vec<Origin>,
}

/// What a request may do.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No `Origin`, or the UI's own.
    SameOrigin,
    /// An allowed foreign origin: answer with CORS headers for it.
    CrossOrigin(HeaderValue),
    Refused(String),
}

impl Access {
    pub fn new(ui: SocketAddr, extra: Vec<Origin>) -> Self {
        Access {
            own: Origin::own(ui),
            extra,
        }
    }

    pub fn judge(&self, host: Option<&str>, origin: Option<&str>) -> Verdict {
        if let Some(host) = host {
            let host = host.to_ascii_lowercase();
            let known = self.own.iter().chain(&self.extra).any(|o| o.host() == host);
            if !known {
                return Verdict::Refused(format!(
                    "Host `{host}` is not this relay. If you reach Loom under that name, \
                     start it with --allow-origin http://{host}"
                ));
            }
        }
        let Some(origin) = origin else {
            return Verdict::SameOrigin;
        };
        let Ok(parsed) = origin.parse::<Origin>() else {
            return Verdict::Refused(format!("Origin `{origin}` is not allowed"));
        };
        if self.own.contains(&parsed) {
            return Verdict::SameOrigin;
        }
        if self.extra.contains(&parsed) {
            return match HeaderValue::from_str(origin) {
                Ok(v) => Verdict::CrossOrigin(v),
                Err(_) => Verdict::Refused(format!("Origin `{origin}` is not allowed")),
            };
        }
        Verdict::Refused(format!(
            "Origin `{origin}` is not allowed to use this relay. Start loom with --allow-origin {parsed} to allow it"
        ))
    }
}

/// Axum middleware applying [`Access::judge`] to every request.
pub async fn guard(State(access): State<Arc<Access>>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.to_string()));
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    match access.judge(host.as_deref(), origin) {
        Verdict::Refused(why) => {
            tracing::warn!(uri = %req.uri(), "refused: {why}");
            (StatusCode::FORBIDDEN, format!("{why}\n")).into_response()
        }
        Verdict::SameOrigin => {
            let mut res = next.run(req).await;
            res.headers_mut()
                .append(header::VARY, HeaderValue::from_static("Origin"));
            res
        }
        Verdict::CrossOrigin(origin) => {
            let preflight = req.method() == Method::OPTIONS
                && req
                    .headers()
                    .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
            let mut res = if preflight {
                let mut res = Response::new(Body::empty());
                *res.status_mut() = StatusCode::NO_CONTENT;
                let h = res.headers_mut();
                h.insert(
                    header::ACCESS_CONTROL_ALLOW_METHODS,
                    HeaderValue::from_static("GET, OPTIONS"),
                );
                h.insert(
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    HeaderValue::from_static("content-type"),
                );
                h.insert(
                    header::ACCESS_CONTROL_MAX_AGE,
                    HeaderValue::from_static("600"),
                );
                h.insert(
                    "access-control-allow-private-network",
                    HeaderValue::from_static("true"),
                );
                res
            } else {
                next.run(req).await
            };
            let h = res.headers_mut();
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            h.append(header::VARY, HeaderValue::from_static("Origin"));
            res
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access() -> Access {
        Access::new(
            SocketAddr::from(([127, 0, 0, 1], 9998)),
            vec!["https://inspector.example".parse().unwrap()],
        )
    }

    #[test]
    fn same_origin_and_originless_pass() {
        let a = access();
        assert_eq!(a.judge(Some("127.0.0.1:9998"), None), Verdict::SameOrigin);
        assert_eq!(
            a.judge(Some("localhost:9998"), Some("http://localhost:9998")),
            Verdict::SameOrigin
        );
        assert_eq!(a.judge(None, None), Verdict::SameOrigin);
    }

    #[test]
    fn foreign_origins_are_refused_unless_allowed() {
        let a = access();
        assert!(matches!(
            a.judge(Some("127.0.0.1:9998"), Some("http://evil.example")),
            Verdict::Refused(_)
        ));
        assert!(matches!(
            a.judge(Some("127.0.0.1:9998"), Some("null")),
            Verdict::Refused(_)
        ));
        assert!(matches!(
            a.judge(Some("127.0.0.1:9998"), Some("https://inspector.example")),
            Verdict::CrossOrigin(_)
        ));
    }

    #[test]
    fn dns_rebinding_host_is_refused() {
        let a = access();
        let v = a.judge(Some("evil.example:9998"), Some("http://evil.example:9998"));
        assert!(matches!(v, Verdict::Refused(why) if why.contains("Host")));
    }
}
