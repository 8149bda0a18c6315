//! The axum middleware in front of every route of the UI port: it applies
//! [`Access::judge`], refuses with 403 and the reason, adds CORS headers for
//! allowed origins, answers their preflights, and answers
//! [`ACCESS_PATH`] itself.
//!
//! `/api/access` answers every origin, with `Access-Control-Allow-Origin`
//! naming it, so that a page the relay refuses can read why (its origin, its
//! token), which a browser WebSocket cannot: a refused handshake is only
//! "connection failed" to the page. The answer holds the verdict and
//! nothing else ([`AccessAnswer`]); everything else stays refused without
//! CORS headers.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, StatusCode, header};
use loom_shared::access::{ACCESS_PATH, AccessAnswer};

use super::{Access, CLIENT_HEADER, Claims, Refusal, Refused, TOKEN_PARAM, Verdict};
use crate::config::Origin;

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
    let origin = text(header::ORIGIN.as_str()).ok().flatten();
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
            token: query_param(req.uri().query(), TOKEN_PARAM),
        }),
        (Err(why), _, _) | (_, Err(why), _) | (_, _, Err(why)) => Verdict::Refused(Refused {
            reason: Refusal::NotAscii,
            why,
        }),
    };
    if req.uri().path() == ACCESS_PATH {
        return access_answer(&verdict, origin);
    }
    match verdict {
        Verdict::Refused(refused) => {
            // The path only: a query may hold a (wrong) token.
            tracing::warn!(path = req.uri().path(), "refused: {}", refused.why);
            (StatusCode::FORBIDDEN, format!("{}\n", refused.why)).into_response()
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
                preflight_answer()
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

fn preflight_answer() -> Response {
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
}

/// `/api/access`: the verdict as JSON, readable by the asking page
/// whatever it is (any well-formed origin is named in the CORS header).
fn access_answer(verdict: &Verdict, origin: Option<&str>) -> Response {
    let (status, answer) = match verdict {
        Verdict::Refused(r) => (
            StatusCode::FORBIDDEN,
            AccessAnswer::Refused {
                reason: r.reason,
                message: r.why.clone(),
            },
        ),
        Verdict::SameOrigin | Verdict::CrossOrigin(_) => (StatusCode::OK, AccessAnswer::Granted),
    };
    let mut res = (status, answer.to_json()).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = origin.filter(|o| o.parse::<Origin>().is_ok())
        && let Ok(v) = HeaderValue::from_str(origin)
    {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    res
}

/// The value of `name` in a query string (`a=1&token=x`), as written.
fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then_some(value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params() {
        assert_eq!(query_param(Some("token=abc"), "token"), Some("abc"));
        assert_eq!(query_param(Some("x=1&token=abc&y"), "token"), Some("abc"));
        assert_eq!(query_param(Some("tokens=abc"), "token"), None);
        assert_eq!(query_param(Some("token"), "token"), Some(""));
        assert_eq!(query_param(None, "token"), None);
    }
}
