//! Which upstream serves a call: the [`Route`] seam. [`OneUpstream`] sends
//! every call to `--upstream`; [`Routes`] picks by path prefix
//! (`--route-path`, the longest wins), then by `:authority` (`--route`),
//! else `--upstream`. A proxy client's tunnel has its own target, named by
//! its `CONNECT` (`crate::forward::tunnel`).

use std::sync::{Arc, OnceLock};

use crate::config::{RouteMatch, RouteRule, Upstream};
use crate::forward::header_limit::HeaderLimit;
use crate::reflection::{Reflector, Source};

/// Picks a call's target from its request head.
pub trait Route: Send + Sync + 'static {
    /// The target for a call (from its `:path`/`:authority` and metadata).
    fn target(&self, uri: &http::Uri, headers: &http::HeaderMap) -> Arc<Target>;
}

/// A target and the name the relay gives it in captures and errors.
#[derive(Debug)]
pub struct Target {
    pub upstream: Upstream,
    /// `http://host:port`, `unix:/path`: shared by every call to it.
    pub name: Arc<str>,
    /// The most request metadata it accepts (probed for `--upstream`;
    /// [`crate::forward::header_limit::DEFAULT_LIMIT`] for the others).
    pub header_limit: HeaderLimit,
    /// Its reflection state, looked up on the first call.
    source: OnceLock<Arc<Source>>,
}

impl Target {
    pub fn new(upstream: Upstream) -> Self {
        Target::with_header_limit(upstream, HeaderLimit::default())
    }

    /// A target whose metadata limit is kept up to date elsewhere.
    pub fn with_header_limit(upstream: Upstream, header_limit: HeaderLimit) -> Self {
        let name = upstream.to_string().into();
        Target {
            upstream,
            name,
            header_limit,
            source: OnceLock::new(),
        }
    }

    /// Its upstream's reflection state (looked up once per target).
    pub fn source(&self, reflector: &Reflector) -> &Arc<Source> {
        self.source.get_or_init(|| reflector.source(&self.upstream))
    }
}

/// Every call goes to one upstream.
#[derive(Debug, Clone)]
pub struct OneUpstream(pub Arc<Target>);

impl OneUpstream {
    pub fn new(upstream: Upstream) -> Self {
        OneUpstream(Arc::new(Target::new(upstream)))
    }
}

impl Route for OneUpstream {
    fn target(&self, _uri: &http::Uri, _headers: &http::HeaderMap) -> Arc<Target> {
        self.0.clone()
    }
}

/// `--route-path` and `--route`, then the default.
#[derive(Debug)]
pub struct Routes {
    /// Longest prefix first.
    by_path: Vec<(String, Arc<Target>)>,
    /// (authority, lowercase; without a port, any port).
    by_authority: Vec<(String, Arc<Target>)>,
    default: Arc<Target>,
}

impl Routes {
    /// Targets are made once per upstream: two routes to one upstream share
    /// its target (and its reflection state). `default` is `--upstream`'s.
    pub fn new(default: Target, rules: &[RouteRule]) -> Self {
        let default = Arc::new(default);
        let mut targets: Vec<Arc<Target>> = vec![default.clone()];
        let mut target_of = |upstream: &Upstream| {
            if let Some(t) = targets.iter().find(|t| t.upstream == *upstream) {
                return t.clone();
            }
            let t = Arc::new(Target::new(upstream.clone()));
            targets.push(t.clone());
            t
        };
        let mut by_path = Vec::new();
        let mut by_authority = Vec::new();
        for rule in rules {
            let target = target_of(&rule.upstream);
            match &rule.matches {
                RouteMatch::PathPrefix(prefix) => by_path.push((prefix.clone(), target)),
                RouteMatch::Authority(authority) => by_authority.push((authority.clone(), target)),
            }
        }
        // Stable: of equal prefixes, the first given wins.
        by_path.sort_by_key(|(prefix, _): &(String, _)| std::cmp::Reverse(prefix.len()));
        Routes {
            by_path,
            by_authority,
            default,
        }
    }

    /// Every upstream a call may go to, the default first.
    pub fn upstreams(&self) -> Vec<Upstream> {
        let mut out = vec![self.default.upstream.clone()];
        for (_, t) in self.by_path.iter().chain(&self.by_authority) {
            if !out.contains(&t.upstream) {
                out.push(t.upstream.clone());
            }
        }
        out
    }
}

impl Route for Routes {
    fn target(&self, uri: &http::Uri, headers: &http::HeaderMap) -> Arc<Target> {
        let path = uri.path();
        if let Some((_, t)) = self
            .by_path
            .iter()
            .find(|(p, _)| path.starts_with(p.as_str()))
        {
            return t.clone();
        }
        if !self.by_authority.is_empty() {
            let authority = uri
                .authority()
                .map(|a| a.as_str())
                .or_else(|| headers.get(http::header::HOST)?.to_str().ok());
            if let Some(authority) = authority
                && let Some((_, t)) = self
                    .by_authority
                    .iter()
                    .find(|(a, _)| authority_matches(a, authority))
            {
                return t.clone();
            }
        }
        self.default.clone()
    }
}

/// `rule` (lowercase) matches a request's `authority`: exactly, or by host
/// alone when the rule has no port.
fn authority_matches(rule: &str, authority: &str) -> bool {
    if rule.eq_ignore_ascii_case(authority) {
        return true;
    }
    let has_port = |a: &str| {
        a.rsplit_once(':').is_some_and(|(h, p)| {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (!h.contains(':') || h.ends_with(']'))
        })
    };
    if has_port(rule) {
        return false;
    }
    match authority.rsplit_once(':') {
        Some((host, _)) if has_port(authority) => host.eq_ignore_ascii_case(rule),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(authority: &str, path: &str) -> http::Uri {
        format!("http://{authority}{path}").parse().unwrap()
    }

    #[test]
    fn path_prefix_then_authority_then_default() {
        let rules = [
            RouteRule::authority("orders.test=127.0.0.1:7001").unwrap(),
            RouteRule::authority("users.test:8443=127.0.0.1:7002").unwrap(),
            RouteRule::path("/pkg.Big/=127.0.0.1:7003").unwrap(),
            RouteRule::path("/pkg.Big/Special=127.0.0.1:7004").unwrap(),
            RouteRule::path("/pkg.Other/=127.0.0.1:7001").unwrap(),
        ];
        let routes = Routes::new(Target::new("127.0.0.1:7000".parse().unwrap()), &rules);
        let none = http::HeaderMap::new();
        let to = |a: &str, p: &str| routes.target(&uri(a, p), &none).name.to_string();
        assert_eq!(to("orders.test:1", "/pkg.S/M"), "http://127.0.0.1:7001");
        assert_eq!(to("ORDERS.test", "/pkg.S/M"), "http://127.0.0.1:7001");
        assert_eq!(to("users.test:8443", "/pkg.S/M"), "http://127.0.0.1:7002");
        assert_eq!(to("users.test:9", "/pkg.S/M"), "http://127.0.0.1:7000");
        assert_eq!(to("orders.test", "/pkg.Big/Get"), "http://127.0.0.1:7003");
        assert_eq!(to("x", "/pkg.Big/Special"), "http://127.0.0.1:7004");
        assert_eq!(to("x", "/pkg.S/M"), "http://127.0.0.1:7000");
        // One target per upstream, whichever routes lead to it.
        let a = routes.target(&uri("orders.test", "/x/y"), &none);
        let b = routes.target(&uri("x", "/pkg.Other/M"), &none);
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(routes.upstreams().len(), 5);
    }

    #[test]
    fn authority_from_the_host_header_when_the_uri_has_none() {
        let rules = [RouteRule::authority("orders.test=127.0.0.1:7001").unwrap()];
        let routes = Routes::new(Target::new("127.0.0.1:7000".parse().unwrap()), &rules);
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::HOST, "orders.test:50051".parse().unwrap());
        let t = routes.target(&"/pkg.S/M".parse().unwrap(), &headers);
        assert_eq!(&*t.name, "http://127.0.0.1:7001");
    }
}
