//! Who may use the UI port: same-origin pages, origins named with
//! `--allow-origin`, hosted copies of the inspector (`--hosted-ui`) that
//! present this run's pairing token, and non-browser clients.
//!
//! Checks, in this order:
//! 1. `Host`, `Origin` and `Sec-Fetch-Site`, when present, must be visible
//!    ASCII (anything else is refused, never taken as absent).
//! 2. `Host` must name this relay (a loopback name with the UI port, the bound
//!    address, or an `--allow-origin` origin's host). This stops DNS-rebinding
//!    pages, whose requests look same-origin but carry a foreign `Host`.
//! 3. An `Origin`, when present, must be the relay's own or allowed.
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
//! 6. A hosted origin (`--hosted-ui`) must present the pairing token
//!    (`?token=`, [`TOKEN_PARAM`]) on every request, so that other pages of
//!    that origin, which did not get the relay's link, cannot read the
//!    capture. An origin given both ways needs the token. Pages of the
//!    relay's own origin need none: the relay serves them itself.
//!
//! Every refusal has a [`Refusal`] reason, which `/api/access` reports to
//! the page (see [`guard`]). Allowed cross-origin requests get
//! `Access-Control-Allow-Origin` naming that origin (never `*`), and
//! preflights are answered, including Private Network Access ones.
//!
//! Layout: this file is the policy, a pure function of what a request
//! claims; [`guard`] is the axum middleware that applies it.

pub mod guard;

use std::net::SocketAddr;

use http::HeaderValue;
pub use loom_shared::access::{Refusal, TOKEN_PARAM};

pub use guard::guard;

use crate::config::{Origin, PairingToken};

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
    /// The pairing token it presents ([`TOKEN_PARAM`] in the query).
    pub token: Option<&'a str>,
}

#[derive(Debug, Clone)]
pub struct Access {
    /// The UI's own origins.
    own: Vec<Origin>,
    /// Origins given with `--allow-origin`.
    extra: Vec<Origin>,
    /// Origins of `--hosted-ui` pages: allowed with the token only.
    hosted: Vec<Origin>,
    token: Option<PairingToken>,
}

/// What a request may do.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No `Origin`, or the UI's own.
    SameOrigin,
    /// An allowed foreign origin: answer with CORS headers for it.
    CrossOrigin(HeaderValue),
    Refused(Refused),
}

/// A refusal: its reason, and the sentence that says what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub reason: Refusal,
    pub why: String,
}

impl Refused {
    fn verdict(reason: Refusal, why: impl Into<String>) -> Verdict {
        Verdict::Refused(Refused {
            reason,
            why: why.into(),
        })
    }
}

impl Access {
    pub fn new(ui: SocketAddr, extra: Vec<Origin>) -> Self {
        Access {
            own: Origin::own(ui),
            extra,
            hosted: Vec::new(),
            token: None,
        }
    }

    /// Also allow `origins` (of hosted copies), to requests with `token`.
    pub fn with_hosted(mut self, origins: Vec<Origin>, token: PairingToken) -> Self {
        self.hosted = origins;
        self.token = Some(token);
        self
    }

    pub fn judge(&self, claims: Claims<'_>) -> Verdict {
        let (verdict, hosted) = self.judge_origin(claims.host, claims.origin);
        let allowed_cross = matches!(verdict, Verdict::CrossOrigin(_));
        if matches!(verdict, Verdict::Refused(_)) {
            return verdict;
        }
        let site = claims.sec_fetch_site.map(str::to_ascii_lowercase);
        if matches!(site.as_deref(), Some("cross-site" | "same-site")) && !allowed_cross {
            return Refused::verdict(
                Refusal::Site,
                format!(
                    "a request from another site (Sec-Fetch-Site: {}) is not allowed. To let a page on \
                     another origin use this relay, start loom with --allow-origin for it",
                    site.unwrap_or_default()
                ),
            );
        }
        // An `Origin` a foreign page cannot forge: the relay's own, or allowed.
        let origin_vouches = claims.origin.is_some();
        let marked = origin_vouches
            || claims.client_marker
            || matches!(site.as_deref(), Some("same-origin" | "none"));
        if claims.api && !marked {
            return Refused::verdict(
                Refusal::Unmarked,
                format!(
                    "the API needs a same-origin page, an allowed origin, or the header \
                     `{CLIENT_HEADER}` (e.g. curl -H '{CLIENT_HEADER}: curl' …)"
                ),
            );
        }
        if hosted {
            return match (claims.token, &self.token) {
                (Some(given), Some(token)) if token.matches(given) => verdict,
                (None, _) => Refused::verdict(
                    Refusal::TokenMissing,
                    "this page's origin is a hosted inspector (--hosted-ui), which needs the \
                     relay's pairing token: open the link loom printed when it started",
                ),
                (Some(_), _) => Refused::verdict(
                    Refusal::TokenWrong,
                    "the pairing token is not this relay run's (loom draws a new one each time it \
                     starts): open the link loom printed when it started",
                ),
            };
        }
        verdict
    }

    /// The verdict on `Host` and `Origin`, and whether the origin is a
    /// hosted one (which then needs the token).
    fn judge_origin(&self, host: Option<&str>, origin: Option<&str>) -> (Verdict, bool) {
        if let Some(host) = host {
            let host = host.to_ascii_lowercase();
            let known = self.own.iter().chain(&self.extra).any(|o| o.host() == host);
            if !known {
                let why = format!(
                    "Host `{host}` is not this relay. If you reach Loom under that name, \
                     start it with --allow-origin http://{host}"
                );
                return (Refused::verdict(Refusal::Host, why), false);
            }
        }
        let Some(origin) = origin else {
            return (Verdict::SameOrigin, false);
        };
        let not_allowed =
            || Refused::verdict(Refusal::Origin, format!("Origin `{origin}` is not allowed"));
        let Ok(parsed) = origin.parse::<Origin>() else {
            return (not_allowed(), false);
        };
        if self.own.contains(&parsed) {
            return (Verdict::SameOrigin, false);
        }
        let hosted = self.hosted.contains(&parsed);
        if hosted || self.extra.contains(&parsed) {
            return match HeaderValue::from_str(origin) {
                Ok(v) => (Verdict::CrossOrigin(v), hosted),
                Err(_) => (not_allowed(), false),
            };
        }
        let why = format!(
            "Origin `{origin}` is not allowed to use this relay. Start loom with --allow-origin \
             {parsed} (or --hosted-ui with this page's URL) to allow it"
        );
        (Refused::verdict(Refusal::Origin, why), false)
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
        assert!(
            matches!(a.judge(api), Verdict::Refused(r) if r.reason == Refusal::Unmarked && r.why.contains(CLIENT_HEADER))
        );
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
        assert!(
            matches!(v, Verdict::Refused(r) if r.reason == Refusal::Host && r.why.contains("Host"))
        );
    }

    fn hosted() -> Access {
        access().with_hosted(
            vec!["https://loom.example".parse().unwrap()],
            "the-token-of-this-run".parse().unwrap(),
        )
    }

    fn refusal(v: Verdict) -> Option<Refusal> {
        match v {
            Verdict::Refused(r) => Some(r.reason),
            _ => None,
        }
    }

    #[test]
    fn hosted_origins_need_the_token_own_pages_do_not() {
        let a = hosted();
        let host = Some("127.0.0.1:9998");
        let from_hosted = |token| Claims {
            token,
            sec_fetch_site: Some("cross-site"),
            ..ask(host, Some("https://loom.example"))
        };
        assert!(matches!(
            a.judge(from_hosted(Some("the-token-of-this-run"))),
            Verdict::CrossOrigin(_)
        ));
        assert_eq!(
            refusal(a.judge(from_hosted(None))),
            Some(Refusal::TokenMissing)
        );
        assert_eq!(
            refusal(a.judge(from_hosted(Some("the-token-of-another-run")))),
            Some(Refusal::TokenWrong)
        );
        // The API too.
        let api = Claims {
            api: true,
            ..from_hosted(None)
        };
        assert_eq!(refusal(a.judge(api)), Some(Refusal::TokenMissing));
        // The relay's own page, and --allow-origin origins, need none.
        assert_eq!(
            a.judge(ask(host, Some("http://127.0.0.1:9998"))),
            Verdict::SameOrigin
        );
        assert!(matches!(
            a.judge(ask(host, Some("https://inspector.example"))),
            Verdict::CrossOrigin(_)
        ));
        // Other origins are still refused for their origin, token or not.
        let other = Claims {
            token: Some("the-token-of-this-run"),
            ..ask(host, Some("https://other.example"))
        };
        assert_eq!(refusal(a.judge(other)), Some(Refusal::Origin));
    }

    #[test]
    fn an_origin_both_allowed_and_hosted_needs_the_token() {
        let a = Access::new(
            SocketAddr::from(([127, 0, 0, 1], 9998)),
            vec!["https://loom.example".parse().unwrap()],
        )
        .with_hosted(
            vec!["https://loom.example".parse().unwrap()],
            "the-token-of-this-run".parse().unwrap(),
        );
        assert_eq!(
            refusal(a.judge(ask(Some("127.0.0.1:9998"), Some("https://loom.example")))),
            Some(Refusal::TokenMissing)
        );
    }

    #[test]
    fn a_hosted_origin_is_not_a_name_for_the_relay() {
        let v = hosted().judge(ask(Some("loom.example"), Some("https://loom.example")));
        assert_eq!(refusal(v), Some(Refusal::Host));
    }
}
