//! Who may use the UI port: same-origin pages, origins named with
//! `--allow-origin`, and non-browser clients.
//!
//! Checks, in this order:
//! 1. `Host`, `Origin` and `Sec-Fetch-Site`, when present, must be visible
//!    ASCII (anything else is refused, never taken as absent).
//! 2. `Host` must name this relay (a loopback name with the UI port, the bound
//!    address, or an allowed origin's host). This stops DNS-rebinding pages,
//!    whose requests look same-origin but carry a foreign `Host`.
//! 3. An `Origin`, when present, must be one of the allowed origins.
//! 4. `Sec-Fetch-Site: cross-site` or `same-site` (what browsers send for a
//!    foreign page's `<img>`, `<script>` or `fetch`, with or without an
//!    `Origin`) is refused unless the request comes from an allowed origin.
//! 5. The API (`/api/…`) also needs a sign that a page of this relay or a
//!    deliberate client asks: `Sec-Fetch-Site: same-origin` or `none` (the
//!    inspector, or a URL typed in the address bar), its own or an allowed
//!    `Origin` (which no foreign page can forge), or
//!    the header [`CLIENT_HEADER`] (`curl -H 'X-Loom-Client: curl' …`). So an
//!    old browser that sends neither `Origin` nor `Sec-Fetch-Site` cannot be
//!    made to fetch a capture by a foreign page either.
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

/// The header a non-browser client sends to use the API.
pub const CLIENT_HEADER: &str = "x-loom-client";

/// What a request says about where it comes from.
#[derive(Debug, Clone, Copy, Default)]
pub struct Claims<'a> {
    pub host: Option<&'a str>,
    pub origin: Option<&'a str>,
    pub sec_fetch_site: Option<&'a str>,
    /// The path is under `/api/`.
    pub api: bool,
    /// [`CLIENT_HEADER`] is present.
    pub client_marker: bool,
}

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

    pub fn judge(&self, claims: Claims<'_>) -> Verdict {
        let verdict = self.judge_origin(claims.host, claims.origin);
        let allowed_cross = matches!(verdict, Verdict::CrossOrigin(_));
        if matches!(verdict, Verdict::Refused(_)) {
            return verdict;
        }
        let site = claims.sec_fetch_site.map(str::to_ascii_lowercase);
        if matches!(site.as_deref(), Some("cross-site" | "same-site")) && !allowed_cross {
            return Verdict::Refused(format!(
                "a request from another site (Sec-Fetch-Site: {}) is not allowed. To let a page on \
                 another origin use this relay, start loom with --allow-origin for it",
                site.unwrap_or_default()
            ));
        }
        // An `Origin` a foreign page cannot forge: the relay's own, or allowed.
        let origin_vouches = claims.origin.is_some();
        let marked = origin_vouches
            || claims.client_marker
            || matches!(site.as_deref(), Some("same-origin" | "none"));
        if claims.api && !marked {
            return Verdict::Refused(format!(
                "the API needs a same-origin page, an allowed origin, or the header \
                 `{CLIENT_HEADER}` (e.g. curl -H '{CLIENT_HEADER}: curl' …)"
            ));
        }
        verdict
    }

    fn judge_origin(&self, host: Option<&str>, origin: Option<&str>) -> Verdict {
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
    // Present but not visible ASCII: refused, never taken as absent.
    let text = |name: &str| -> Result<Option<&str>, String> {
        match headers.get(name) {
            None => Ok(None),
            Some(v) => v
                .to_str()
                .map(Some)
                .map_err(|_| format!("the {name} header is not ASCII text")),
        }
    };
    let uri_host = req.uri().authority().map(|a| a.to_string());
    let verdict = match (
        text(header::HOST.as_str()),
        text(header::ORIGIN.as_str()),
        text("sec-fetch-site"),
    ) {
        (Ok(host), Ok(origin), Ok(sec_fetch_site)) => access.judge(Claims {
            host: host.or(uri_host.as_deref()),
            origin,
            sec_fetch_site,
            api: req.uri().path().starts_with("/api/"),
            client_marker: headers.contains_key(CLIENT_HEADER),
        }),
        (Err(why), _, _) | (_, Err(why), _) | (_, _, Err(why)) => Verdict::Refused(why),
    };
    match verdict {
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
                    HeaderValue::from_static("content-type, x-loom-client"),
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

    fn ask<'a>(host: Option<&'a str>, origin: Option<&'a str>) -> Claims<'a> {
        Claims {
            host,
            origin,
            ..Claims::default()
        }
    }

    #[test]
    fn same_origin_and_originless_pass() {
        let a = access();
        assert_eq!(
            a.judge(ask(Some("127.0.0.1:9998"), None)),
            Verdict::SameOrigin
        );
        assert_eq!(
            a.judge(ask(Some("localhost:9998"), Some("http://localhost:9998"))),
            Verdict::SameOrigin
        );
        assert_eq!(a.judge(ask(None, None)), Verdict::SameOrigin);
    }

    #[test]
    fn other_sites_are_refused_whatever_they_omit() {
        let a = access();
        let host = Some("127.0.0.1:9998");
        for site in ["cross-site", "same-site", "CROSS-SITE"] {
            let c = Claims {
                sec_fetch_site: Some(site),
                ..ask(host, None)
            };
            assert!(matches!(a.judge(c), Verdict::Refused(_)), "{site}");
        }
        // An allowed origin may come cross-site.
        let c = Claims {
            sec_fetch_site: Some("cross-site"),
            api: true,
            ..ask(host, Some("https://inspector.example"))
        };
        assert!(matches!(a.judge(c), Verdict::CrossOrigin(_)));
    }

    #[test]
    fn the_api_needs_a_same_origin_page_or_a_marked_client() {
        let a = access();
        let host = Some("127.0.0.1:9998");
        let api = Claims {
            api: true,
            ..ask(host, None)
        };
        assert!(matches!(a.judge(api), Verdict::Refused(why) if why.contains(CLIENT_HEADER)));
        for site in ["same-origin", "none"] {
            let c = Claims {
                sec_fetch_site: Some(site),
                ..api
            };
            assert_eq!(a.judge(c), Verdict::SameOrigin, "{site}");
        }
        let c = Claims {
            client_marker: true,
            ..api
        };
        assert_eq!(a.judge(c), Verdict::SameOrigin);
        // Pages and health checks need no marker.
        assert_eq!(a.judge(ask(host, None)), Verdict::SameOrigin);
    }

    #[test]
    fn foreign_origins_are_refused_unless_allowed() {
        let a = access();
        assert!(matches!(
            a.judge(ask(Some("127.0.0.1:9998"), Some("http://evil.example"))),
            Verdict::Refused(_)
        ));
        assert!(matches!(
            a.judge(ask(Some("127.0.0.1:9998"), Some("null"))),
            Verdict::Refused(_)
        ));
        assert!(matches!(
            a.judge(ask(
                Some("127.0.0.1:9998"),
                Some("https://inspector.example")
            )),
            Verdict::CrossOrigin(_)
        ));
    }

    #[test]
    fn dns_rebinding_host_is_refused() {
        let a = access();
        let v = a.judge(ask(
            Some("evil.example:9998"),
            Some("http://evil.example:9998"),
        ));
        assert!(matches!(v, Verdict::Refused(why) if why.contains("Host")));
    }
}
