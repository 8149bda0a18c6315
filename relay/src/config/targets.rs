//! Where calls may go besides `--upstream`: routes by `:authority` or path
//! prefix (`--route`, `--route-path`), names pinned to addresses
//! (`--resolve`, curl's convention), and the targets the proxy mode may
//! reach (`--allow-upstream`).
//!
//! Plain data, parsed and checked here; the forward path applies it
//! (`crate::forward::route`, `crate::forward::tunnel`,
//! `crate::forward::upstream::dial`).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use super::{ConfigError, Upstream};

/// `--resolve HOST:PORT=ADDR`: connections to `HOST:PORT` go to `ADDR`
/// (an IP address, or `IP:PORT`); the name is still the one sent as
/// `:authority` and SNI, and verified in a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvePin {
    /// Lowercase, without brackets.
    pub host: String,
    pub port: u16,
    pub addr: SocketAddr,
}

impl FromStr for ResolvePin {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let bad = || ConfigError::BadResolve(s.to_owned());
        let (name, addr) = s.trim().split_once('=').ok_or_else(bad)?;
        let (host, port) = split_host_port(name).ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        let addr = addr.trim();
        let addr = match addr.parse::<SocketAddr>() {
            Ok(addr) => addr,
            Err(_) => {
                let ip = addr.trim_start_matches('[').trim_end_matches(']');
                SocketAddr::new(ip.parse::<IpAddr>().map_err(|_| bad())?, port)
            }
        };
        if host.is_empty() {
            return Err(bad());
        }
        Ok(ResolvePin {
            host: host.to_ascii_lowercase(),
            port,
            addr,
        })
    }
}

impl fmt::Display for ResolvePin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}={}", self.host, self.port, self.addr)
    }
}

/// Every `--resolve` pin, looked up by name and port.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pins(Vec<ResolvePin>);

impl Pins {
    pub fn new(pins: Vec<ResolvePin>) -> Self {
        Pins(pins)
    }

    /// Where `host:port` is pinned (the last pin given for it wins).
    pub fn lookup(&self, host: &str, port: u16) -> Option<SocketAddr> {
        let host = unbracket(host);
        self.0
            .iter()
            .rev()
            .find(|p| p.port == port && p.host.eq_ignore_ascii_case(host))
            .map(|p| p.addr)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The host part of an `--allow-upstream` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    /// `loopback`: `localhost`, `127.0.0.0/8`, `::1`, or a name `--resolve`
    /// pins to one of those.
    Loopback,
    /// `*`: any target.
    Any,
    /// `*.example.com`: any name under it (not the name itself).
    Under(String),
    /// An exact name (or IP address), case-insensitive.
    Name(String),
    /// `10.0.0.0/8`, `fd00::/8`: an IP address in the network (a literal
    /// address, or where `--resolve` pins a name).
    Network(IpAddr, u8),
}

/// `--allow-upstream PATTERN`: a target the proxy mode may reach.
///
/// `HOST[:PORT]` where HOST is `loopback`, `*`, `*.domain`, a name, an IP
/// address or a network (`10.0.0.0/8`); PORT is a number or `*` (the
/// default). Names are never looked up to be checked: a name is allowed by
/// its own pattern, or by the address `--resolve` pins it to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowPattern {
    host: HostPattern,
    port: Option<u16>,
    text: String,
}

impl AllowPattern {
    /// Loopback, any port: what the proxy may reach unless told otherwise.
    pub fn loopback() -> Self {
        AllowPattern {
            host: HostPattern::Loopback,
            port: None,
            text: "loopback".into(),
        }
    }

    /// Whether `host:port` (pinned to `pinned`, if it is) matches.
    pub fn matches(&self, host: &str, port: u16, pinned: Option<SocketAddr>) -> bool {
        if self.port.is_some_and(|p| p != port) {
            return false;
        }
        let host = unbracket(host);
        let literal = host.parse::<IpAddr>().ok();
        let addr = literal.or(pinned.map(|a| a.ip()));
        match &self.host {
            HostPattern::Any => true,
            HostPattern::Loopback => {
                host.eq_ignore_ascii_case("localhost") || addr.is_some_and(|a| a.is_loopback())
            }
            HostPattern::Under(domain) => {
                literal.is_none()
                    && host.len() > domain.len() + 1
                    && host.to_ascii_lowercase().ends_with(&format!(".{domain}"))
            }
            HostPattern::Name(name) => host.eq_ignore_ascii_case(name),
            HostPattern::Network(net, bits) => addr.is_some_and(|a| in_network(a, *net, *bits)),
        }
    }
}

impl fmt::Display for AllowPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for AllowPattern {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let bad = || ConfigError::BadAllowPattern(s.to_owned());
        let text = s.trim();
        let (host, port) = match split_host_port(text) {
            Some((host, port)) => (host, Some(port)),
            _ => (unbracket(text), None),
        };
        let port = match port {
            None | Some("*") => None,
            Some(p) => Some(p.parse::<u16>().map_err(|_| bad())?),
        };
        let lower = host.to_ascii_lowercase();
        let host = if lower == "loopback" {
            HostPattern::Loopback
        } else if lower == "*" {
            HostPattern::Any
        } else if let Some(domain) = lower.strip_prefix("*.") {
            if domain.is_empty() || domain.contains('*') {
                return Err(bad());
            }
            HostPattern::Under(domain.to_owned())
        } else if let Some((net, bits)) = lower.split_once('/') {
            let net: IpAddr = net.parse().map_err(|_| bad())?;
            let bits: u8 = bits.parse().map_err(|_| bad())?;
            let max = if net.is_ipv4() { 32 } else { 128 };
            if bits > max {
                return Err(bad());
            }
            HostPattern::Network(net, bits)
        } else if lower.is_empty() || lower.contains('*') {
            return Err(bad());
        } else {
            HostPattern::Name(lower)
        };
        Ok(AllowPattern {
            host,
            port,
            text: text.to_owned(),
        })
    }
}

/// What the proxy mode may reach: the patterns, any of which allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed(Vec<AllowPattern>);

impl Default for Allowed {
    fn default() -> Self {
        Allowed(vec![AllowPattern::loopback()])
    }
}

impl Allowed {
    /// The given patterns; none given means loopback only.
    pub fn new(patterns: Vec<AllowPattern>) -> Self {
        if patterns.is_empty() {
            Allowed::default()
        } else {
            Allowed(patterns)
        }
    }

    /// Whether a tunnel to `host:port` may be opened.
    pub fn permits(&self, host: &str, port: u16, pins: &Pins) -> bool {
        let pinned = pins.lookup(host, port);
        self.0.iter().any(|p| p.matches(host, port, pinned))
    }

    /// The patterns, for messages: `loopback, *.corp:443`.
    pub fn describe(&self) -> String {
        let texts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        texts.join(", ")
    }
}

/// What a route matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteMatch {
    /// `--route AUTHORITY=UPSTREAM`: the request's `:authority`, exactly
    /// (case-insensitive); one given without a port matches any port.
    Authority(String),
    /// `--route-path PREFIX=UPSTREAM`: the `:path` starts with it
    /// (`/pkg.Service/`); the longest prefix wins.
    PathPrefix(String),
}

/// A route: calls it matches go to `upstream` instead of `--upstream`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRule {
    pub matches: RouteMatch,
    pub upstream: Upstream,
}

impl RouteRule {
    /// `--route AUTHORITY=UPSTREAM`.
    pub fn authority(text: &str) -> Result<Self, ConfigError> {
        let (authority, upstream) = split_route(text)?;
        if authority.contains('/') || authority.contains('=') {
            return Err(ConfigError::BadRoute(text.to_owned()));
        }
        Ok(RouteRule {
            matches: RouteMatch::Authority(authority.to_ascii_lowercase()),
            upstream,
        })
    }

    /// `--route-path /pkg.Service/=UPSTREAM`.
    pub fn path(text: &str) -> Result<Self, ConfigError> {
        let (prefix, upstream) = split_route(text)?;
        if !prefix.starts_with('/') {
            return Err(ConfigError::BadRoute(text.to_owned()));
        }
        Ok(RouteRule {
            matches: RouteMatch::PathPrefix(prefix.to_owned()),
            upstream,
        })
    }
}

/// `KEY=UPSTREAM`, split at the first `=`, with the upstream parsed.
fn split_route(text: &str) -> Result<(&str, Upstream), ConfigError> {
    let (key, upstream) = text
        .trim()
        .split_once('=')
        .filter(|(k, u)| !k.is_empty() && !u.is_empty())
        .ok_or_else(|| ConfigError::BadRoute(text.to_owned()))?;
    Ok((key, upstream.parse()?))
}

/// `host` and `port` of `host:port` or `[v6]:port`.
fn split_host_port(text: &str) -> Option<(&str, &str)> {
    if let Some(rest) = text.strip_prefix('[') {
        let (host, port) = rest.split_once("]:")?;
        return Some((host, port));
    }
    let (host, port) = text.rsplit_once(':')?;
    // A bare IPv6 address has more colons: no port there.
    (!host.contains(':')).then_some((host, port))
}

fn unbracket(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

fn in_network(addr: IpAddr, net: IpAddr, bits: u8) -> bool {
    let (addr, net, len) = match (addr, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => (u128::from(a.to_bits()), u128::from(n.to_bits()), 32),
        (IpAddr::V6(a), IpAddr::V6(n)) => (a.to_bits(), n.to_bits(), 128),
        (IpAddr::V6(a), IpAddr::V4(n)) => match a.to_ipv4_mapped() {
            Some(a) => (u128::from(a.to_bits()), u128::from(n.to_bits()), 32),
            None => return false,
        },
        (IpAddr::V4(_), IpAddr::V6(_)) => return false,
    };
    if bits == 0 {
        return true;
    }
    let shift = len - u32::from(bits);
    (addr >> shift) == (net >> shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pins(list: &[&str]) -> Pins {
        Pins::new(list.iter().map(|p| p.parse().unwrap()).collect())
    }

    #[test]
    fn resolve_pins_parse_and_look_up() {
        let p: ResolvePin = "API.example:443=127.0.0.1".parse().unwrap();
        assert_eq!(p.host, "api.example");
        assert_eq!(p.addr, "127.0.0.1:443".parse().unwrap());
        let p: ResolvePin = "a:1=127.0.0.1:9000".parse().unwrap();
        assert_eq!(p.addr.port(), 9000);
        let p: ResolvePin = "[::1]:1=[::1]".parse().unwrap();
        assert_eq!(p.host, "::1");
        for bad in [
            "a=127.0.0.1",
            "a:x=127.0.0.1",
            "a:1=b",
            "a:1",
            ":1=127.0.0.1",
        ] {
            assert!(bad.parse::<ResolvePin>().is_err(), "{bad}");
        }
        let table = pins(&["a.test:1=127.0.0.2", "a.test:1=127.0.0.3"]);
        assert_eq!(
            table.lookup("A.test", 1),
            Some("127.0.0.3:1".parse().unwrap())
        );
        assert_eq!(table.lookup("a.test", 2), None);
    }

    #[test]
    fn loopback_is_the_default_and_never_looks_names_up() {
        let allowed = Allowed::default();
        let none = Pins::default();
        assert!(allowed.permits("127.0.0.1", 50051, &none));
        assert!(allowed.permits("127.8.0.1", 1, &none));
        assert!(allowed.permits("[::1]", 1, &none));
        assert!(allowed.permits("LOCALHOST", 1, &none));
        assert!(!allowed.permits("10.0.0.1", 1, &none));
        assert!(!allowed.permits("example.com", 443, &none));
        // A name is loopback where --resolve pins it there.
        let pinned = pins(&["backend.test:443=127.0.0.1:9000"]);
        assert!(allowed.permits("backend.test", 443, &pinned));
        assert!(!allowed.permits("backend.test", 444, &pinned));
    }

    #[test]
    fn patterns_match_names_networks_and_ports() {
        let none = Pins::default();
        let allowed = Allowed::new(
            [
                "*.corp.example:443",
                "10.0.0.0/8",
                "api.test",
                "[fd00::/8]:50051",
            ]
            .iter()
            .map(|p| p.parse().unwrap())
            .collect(),
        );
        assert!(allowed.permits("a.corp.example", 443, &none));
        assert!(allowed.permits("A.B.corp.example", 443, &none));
        assert!(!allowed.permits("corp.example", 443, &none));
        assert!(!allowed.permits("a.corp.example", 80, &none));
        assert!(!allowed.permits("evilcorp.example", 443, &none));
        assert!(allowed.permits("10.1.2.3", 1, &none));
        assert!(!allowed.permits("11.1.2.3", 1, &none));
        assert!(allowed.permits("API.test", 8080, &none));
        assert!(
            !allowed.permits("127.0.0.1", 1, &none),
            "not loopback any more"
        );
        assert!(allowed.permits("[fd12::1]", 50051, &none));
        assert!(!allowed.permits("[fd12::1]", 50052, &none));
        let all: AllowPattern = "*".parse().unwrap();
        assert!(all.matches("anything", 1, None));
        let any_port: AllowPattern = "api.test:*".parse().unwrap();
        assert!(any_port.matches("api.test", 9, None));
        for bad in ["", "*.", "a*b", "10.0.0.0/33", "x:y", "*.a*"] {
            assert!(bad.parse::<AllowPattern>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn routes_parse() {
        let r = RouteRule::authority("Orders.svc=127.0.0.1:7001").unwrap();
        assert_eq!(r.matches, RouteMatch::Authority("orders.svc".into()));
        assert_eq!(r.upstream.to_string(), "http://127.0.0.1:7001");
        let r = RouteRule::path("/pkg.Orders/=unix:/tmp/o.sock").unwrap();
        assert_eq!(r.matches, RouteMatch::PathPrefix("/pkg.Orders/".into()));
        assert_eq!(r.upstream.to_string(), "unix:/tmp/o.sock");
        assert!(RouteRule::path("pkg.Orders/=a:1").is_err());
        assert!(RouteRule::authority("a=").is_err());
        assert!(RouteRule::authority("=a:1").is_err());
        assert!(RouteRule::authority("a=nope").is_err());
    }
}
