//! Hosted use: a copy of the inspector published on a web host
//! (`--hosted-ui https://…/`), and the per-run pairing token such a copy
//! must present, which the relay prints in the link it gives the user.
//!
//! - [`HostedUi`]: the page's URL (its origin is allowed, with the token).
//! - [`PairingToken`]: 128 random bits, URL-safe; compared in constant time.
//! - [`HostedUi::link`]: the deep link, `URL?relay=ws://…/ws#token=…`.
//!
//! The policy that uses them is `crate::access`.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use base64::Engine as _;
use http::Uri;
use loom_shared::access::TOKEN_PARAM;

use super::{ConfigError, Origin};

/// A hosted copy of the inspector: the URL of its page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostedUi {
    origin: Origin,
    /// `scheme://host[:port]/path/`, normalized like the origin.
    url: String,
}

impl HostedUi {
    /// The page's origin, which the relay allows (with the token).
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The page's URL, without query or fragment.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether browsers treat the page as a secure context (HTTPS, or a
    /// loopback host), the only kind Chrome lets ask for local network
    /// access.
    pub fn secure(&self) -> bool {
        let host = self.origin.host();
        let name = match host.find(']') {
            Some(end) => &host[..=end],
            None => host.split(':').next().unwrap_or(host),
        };
        self.url.starts_with("https://")
            || name == "localhost"
            || name.ends_with(".localhost")
            || name == "[::1]"
            || name
                .parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// The link that opens this copy connected to the relay whose UI port a
    /// browser reaches at `ui`, paired with `token`.
    pub fn link(&self, ui: SocketAddr, token: &PairingToken) -> String {
        format!("{}?relay=ws://{ui}/ws#{TOKEN_PARAM}={token}", self.url)
    }
}

impl fmt::Display for HostedUi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

impl FromStr for HostedUi {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let bad = || ConfigError::BadHostedUi(s.to_owned());
        let text = s.trim();
        if text.contains(['?', '#']) {
            return Err(bad());
        }
        let uri: Uri = text.parse().map_err(|_| bad())?;
        let authority = uri.authority().ok_or_else(bad)?;
        let scheme = uri.scheme_str().ok_or_else(bad)?;
        let origin: Origin = format!("{scheme}://{authority}")
            .parse()
            .map_err(|_| bad())?;
        let path = match uri.path() {
            "" => "/",
            p => p,
        };
        Ok(HostedUi {
            url: format!("{origin}{path}"),
            origin,
        })
    }
}

/// A secret shared between one run of the relay and the hosted pages it
/// gave its link to.
#[derive(Clone, PartialEq, Eq)]
pub struct PairingToken(String);

/// Random bytes in a token (128 bits).
const TOKEN_BYTES: usize = 16;

impl PairingToken {
    /// A fresh token from the operating system's random source.
    pub fn random() -> Result<PairingToken, ConfigError> {
        let mut bytes = [0u8; TOKEN_BYTES];
        getrandom::fill(&mut bytes).map_err(|e| ConfigError::NoRandomness(e.to_string()))?;
        Ok(PairingToken(
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
        ))
    }

    /// Whether `given` is this token, in time that does not depend on where
    /// they differ.
    pub fn matches(&self, given: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), given.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PairingToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PairingToken {
    /// Never the secret itself, in logs or panics.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PairingToken(…)")
    }
}

impl FromStr for PairingToken {
    type Err = ConfigError;

    /// A token chosen by the caller (tests, scripts): 16 to 128 characters
    /// of `A-Z a-z 0-9 - _`.
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let ok = (16..=128).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
        if ok {
            Ok(PairingToken(s.to_owned()))
        } else {
            Err(ConfigError::BadToken)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosted_urls_normalize_and_keep_their_path() {
        let h: HostedUi = "HTTPS://Loom.Example:443/tools/inspector/".parse().unwrap();
        assert_eq!(h.origin().as_str(), "https://loom.example");
        assert_eq!(h.url(), "https://loom.example/tools/inspector/");
        let h: HostedUi = "https://loom.example".parse().unwrap();
        assert_eq!(h.url(), "https://loom.example/");
        let h: HostedUi = "http://127.0.0.1:8080/index.html".parse().unwrap();
        assert_eq!(h.origin().as_str(), "http://127.0.0.1:8080");
        for bad in [
            "loom.example",
            "ftp://loom.example/",
            "https://loom.example/?relay=x",
            "https://loom.example/#token=x",
            "https://user@loom.example/",
            "",
        ] {
            assert!(bad.parse::<HostedUi>().is_err(), "{bad}");
        }
    }

    #[test]
    fn only_https_or_loopback_pages_are_secure() {
        for (url, secure) in [
            ("https://loom.example/", true),
            ("http://loom.example/", false),
            ("http://127.0.0.1:8080/", true),
            ("http://localhost/", true),
            ("http://[::1]:8080/", true),
            ("http://[::1]/", true),
            ("http://192.168.1.2:8080/", false),
        ] {
            assert_eq!(url.parse::<HostedUi>().unwrap().secure(), secure, "{url}");
        }
    }

    #[test]
    fn the_link_carries_the_relay_and_the_token() {
        let h: HostedUi = "https://loom.example/i/".parse().unwrap();
        let token: PairingToken = "abcdefghijklmnop".parse().unwrap();
        assert_eq!(
            h.link(SocketAddr::from(([127, 0, 0, 1], 9998)), &token),
            "https://loom.example/i/?relay=ws://127.0.0.1:9998/ws#token=abcdefghijklmnop"
        );
    }

    #[test]
    fn tokens_are_random_url_safe_and_secret() {
        let a = PairingToken::random().unwrap();
        let b = PairingToken::random().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 22);
        assert!(a.as_str().parse::<PairingToken>().is_ok());
        assert!(a.matches(a.as_str()));
        assert!(!a.matches(b.as_str()));
        assert!(!a.matches(""));
        assert!(!a.matches(&a.as_str()[1..]));
        assert!(!format!("{a:?}").contains(a.as_str()));
        for bad in ["short", "has space in it ok", &"x".repeat(129)] {
            assert!(bad.parse::<PairingToken>().is_err(), "{bad}");
        }
    }
}
