//! The relay's address as the inspector handles it: what `?relay=` or the
//! address field says (`ws://127.0.0.1:9998/ws`, `127.0.0.1:9998`,
//! `http://localhost:9998/`), the WebSocket URL with the pairing token, the
//! `/api/access` URL probed when a connection fails, the `/healthz` URL
//! that says where the relay takes gRPC calls, the token in the
//! page's fragment (`#token=…`), and which address space a host is in (for
//! the browser's Local Network Access rules).
//!
//! Native and pure; the browser calls are in `dom` and `probe`.

use loom_shared::access::{ACCESS_PATH, TOKEN_PARAM};

/// A relay's UI port, as a place to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayUrl {
    /// `wss`/`https` rather than `ws`/`http`.
    secure: bool,
    /// `host[:port]`, as written (IPv6 in brackets).
    authority: String,
}

impl RelayUrl {
    /// The relay named by `text`, or `None` when it names none. A scheme
    /// (`ws`, `wss`, `http`, `https`) and the path `/ws` are optional.
    pub fn parse(text: &str) -> Option<RelayUrl> {
        let text = text.trim();
        let (secure, rest) = match text.split_once("://") {
            Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
                "ws" | "http" => (false, rest),
                "wss" | "https" => (true, rest),
                _ => return None,
            },
            None => (false, text),
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let ok_path = matches!(path, "" | "ws" | "ws/");
        let ok_authority = !authority.is_empty()
            && !authority.contains(['@', ' ', '\\'])
            && !hostname_of(authority).is_empty();
        (ok_path && ok_authority).then(|| RelayUrl {
            secure,
            authority: authority.to_ascii_lowercase(),
        })
    }

    /// `ws://host:port/ws`, as shown to the user (never with the token).
    pub fn ws(&self) -> String {
        let scheme = if self.secure { "wss" } else { "ws" };
        format!("{scheme}://{}/ws", self.authority)
    }

    /// The WebSocket URL to open, with the pairing token when there is one.
    pub fn ws_with_token(&self, token: Option<&str>) -> String {
        with_token(self.ws(), token)
    }

    /// The URL of the relay's access verdict for this page.
    pub fn access(&self, token: Option<&str>) -> String {
        let scheme = if self.secure { "https" } else { "http" };
        with_token(format!("{scheme}://{}{ACCESS_PATH}", self.authority), token)
    }

    /// The URL of the relay's health (`/healthz`: where it takes gRPC
    /// calls, among the rest), with the token.
    pub fn health(&self, token: Option<&str>) -> String {
        let scheme = if self.secure { "https" } else { "http" };
        with_token(format!("{scheme}://{}/healthz", self.authority), token)
    }

    /// The URL of message `index` of call `id`, whole (`/api/message`, for a
    /// message the live feed sent as a preview), with the token.
    pub fn message(&self, id: u64, index: usize, token: Option<&str>) -> String {
        let scheme = if self.secure { "https" } else { "http" };
        let url = format!(
            "{scheme}://{}/api/message?call={id}&index={index}",
            self.authority
        );
        match token {
            Some(token) => format!("{url}&{TOKEN_PARAM}={}", percent_encode(token)),
            None => url,
        }
    }

    /// The host without port or brackets (`127.0.0.1`, `::1`, `localhost`).
    pub fn hostname(&self) -> &str {
        hostname_of(&self.authority)
    }
}

fn with_token(url: String, token: Option<&str>) -> String {
    match token {
        Some(token) => format!("{url}?{TOKEN_PARAM}={}", percent_encode(token)),
        None => url,
    }
}

/// `host` from `host`, `host:port`, `[v6]` or `[v6]:port`.
fn hostname_of(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    authority.split(':').next().unwrap_or_default()
}

/// Everything but unreserved URL characters as `%XX`.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The pairing token in a page fragment (`#token=…`, possibly among other
/// `key=value` pairs joined by `&`).
pub fn token_from_fragment(fragment: &str) -> Option<String> {
    fragment
        .trim_start_matches('#')
        .split('&')
        .find_map(|pair| pair.strip_prefix(TOKEN_PARAM)?.strip_prefix('='))
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

/// Where an address is, in the order the browser protects them: a public
/// page needs permission to reach a private or loopback address, a private
/// page to reach a loopback one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AddressSpace {
    Public,
    Private,
    Loopback,
}

impl AddressSpace {
    /// The space of a host name or IP literal, as far as the name tells
    /// (a public name may still resolve to a private address).
    pub fn of(hostname: &str) -> AddressSpace {
        let host = hostname.trim_end_matches('.').to_ascii_lowercase();
        if host == "localhost" || host.ends_with(".localhost") {
            return AddressSpace::Loopback;
        }
        if host.ends_with(".local") {
            return AddressSpace::Private;
        }
        match host.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(ip)) if ip.is_loopback() => AddressSpace::Loopback,
            Ok(std::net::IpAddr::V4(ip)) if ip.is_private() || ip.is_link_local() => {
                AddressSpace::Private
            }
            Ok(std::net::IpAddr::V6(ip)) if ip.is_loopback() => AddressSpace::Loopback,
            Ok(std::net::IpAddr::V6(ip)) if ip.is_unique_local() || ip.is_unicast_link_local() => {
                AddressSpace::Private
            }
            _ => AddressSpace::Public,
        }
    }

    /// Whether a page in this space needs the user's permission to reach
    /// `target`.
    pub fn needs_permission_for(self, target: AddressSpace) -> bool {
        target > self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_in_every_spelling() {
        for text in [
            "ws://127.0.0.1:9998/ws",
            "127.0.0.1:9998",
            "http://127.0.0.1:9998/",
            " WS://127.0.0.1:9998/ws/ ",
            "ws://127.0.0.1:9998/ws?x=1",
        ] {
            let r = RelayUrl::parse(text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(r.ws(), "ws://127.0.0.1:9998/ws", "{text}");
            assert_eq!(r.hostname(), "127.0.0.1");
        }
        let r = RelayUrl::parse("wss://[::1]:9998/ws").expect("v6");
        assert_eq!(r.hostname(), "::1");
        assert_eq!(r.access(None), "https://[::1]:9998/api/access");
        for bad in [
            "",
            "ftp://x:1",
            "ws://",
            "ws://127.0.0.1:9998/other",
            "user@host:1",
        ] {
            assert_eq!(RelayUrl::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_whole_message_is_asked_for_beside_the_feed() {
        let relay = RelayUrl::parse("wss://Relay.example:8443/ws").expect("a relay");
        assert_eq!(
            relay.message(7, 2, None),
            "https://relay.example:8443/api/message?call=7&index=2"
        );
        let relay = RelayUrl::parse("127.0.0.1:9998").expect("a relay");
        assert_eq!(
            relay.message(1, 0, Some("a b")),
            "http://127.0.0.1:9998/api/message?call=1&index=0&token=a%20b"
        );
    }

    #[test]
    fn the_token_goes_in_the_query_encoded() {
        let r = RelayUrl::parse("127.0.0.1:9998").expect("relay");
        assert_eq!(r.ws_with_token(None), "ws://127.0.0.1:9998/ws");
        assert_eq!(
            r.ws_with_token(Some("Ab-_9")),
            "ws://127.0.0.1:9998/ws?token=Ab-_9"
        );
        assert_eq!(
            r.access(Some("a b&c")),
            "http://127.0.0.1:9998/api/access?token=a%20b%26c"
        );
        assert_eq!(r.health(Some("t")), "http://127.0.0.1:9998/healthz?token=t");
    }

    #[test]
    fn tokens_from_fragments() {
        assert_eq!(token_from_fragment("#token=abc"), Some("abc".into()));
        assert_eq!(token_from_fragment("x=1&token=abc"), Some("abc".into()));
        assert_eq!(token_from_fragment("#token="), None);
        assert_eq!(token_from_fragment("#tokens=abc"), None);
        assert_eq!(token_from_fragment(""), None);
    }

    #[test]
    fn address_spaces() {
        use AddressSpace::*;
        for (host, space) in [
            ("127.0.0.1", Loopback),
            ("localhost", Loopback),
            ("app.localhost", Loopback),
            ("::1", Loopback),
            ("192.168.1.20", Private),
            ("10.0.0.1", Private),
            ("fd00::1", Private),
            ("printer.local", Private),
            ("loom.example", Public),
            ("8.8.8.8", Public),
        ] {
            assert_eq!(AddressSpace::of(host), space, "{host}");
        }
        assert!(Public.needs_permission_for(Loopback));
        assert!(Public.needs_permission_for(Private));
        assert!(Private.needs_permission_for(Loopback));
        assert!(!Loopback.needs_permission_for(Loopback));
        assert!(!Private.needs_permission_for(Public));
    }
}
