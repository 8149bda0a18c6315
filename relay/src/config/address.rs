//! Addresses: the upstream calls go to, and web origins.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use http::Uri;

use super::ConfigError;

/// The server calls are forwarded to: `http://host:port` (cleartext
/// HTTP/2) or `https://host:port` (TLS with ALPN `h2`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Upstream {
    uri: Uri,
}

impl Upstream {
    /// `scheme://host:port/`, as shown to users and recorded in captures.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The upstream speaks TLS (`https://`).
    pub fn is_tls(&self) -> bool {
        self.uri.scheme() == Some(&http::uri::Scheme::HTTPS)
    }

    /// `http` or `https`: the `:scheme` of calls forwarded to it.
    pub fn scheme(&self) -> http::uri::Scheme {
        if self.is_tls() {
            http::uri::Scheme::HTTPS
        } else {
            http::uri::Scheme::HTTP
        }
    }

    /// `http://host:port/` whatever the scheme: for a client given its own
    /// way to connect, that must not attempt TLS itself.
    pub fn cleartext_uri(&self) -> Uri {
        format!("http://{}/", self.authority())
            .parse()
            .unwrap_or_else(|_| Uri::from_static("http://127.0.0.1:1/"))
    }

    /// The host, without brackets around an IPv6 address.
    pub fn host(&self) -> &str {
        let host = self.authority().host();
        host.strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host)
    }

    pub fn authority(&self) -> &http::uri::Authority {
        // Invariant: `FromStr` only builds upstreams with an authority.
        self.uri
            .authority()
            .expect("validated upstream has an authority")
    }
}

impl From<SocketAddr> for Upstream {
    /// `http://ADDR`: a socket address is always a valid upstream.
    fn from(addr: SocketAddr) -> Self {
        let uri = Uri::builder()
            .scheme("http")
            .authority(addr.to_string().as_str())
            .path_and_query("/")
            .build()
            .unwrap_or_else(|_| Uri::from_static("http://127.0.0.1:1/"));
        Upstream { uri }
    }
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme(), self.authority())
    }
}

impl FromStr for Upstream {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let text = s.trim();
        let with_scheme = if text.contains("://") {
            text.to_owned()
        } else {
            format!("http://{text}")
        };
        let uri: Uri = with_scheme
            .parse()
            .map_err(|_| ConfigError::BadUpstream(s.to_owned()))?;
        let scheme = match uri.scheme_str() {
            Some("http") => "http",
            Some("https") => "https",
            _ => return Err(ConfigError::BadUpstream(s.to_owned())),
        };
        let authority = uri
            .authority()
            .filter(|a| !a.host().is_empty())
            .ok_or_else(|| ConfigError::BadUpstream(s.to_owned()))?;
        if authority.port_u16().is_none() {
            return Err(ConfigError::NoPort(s.to_owned()));
        }
        if authority.as_str().contains('@') {
            return Err(ConfigError::BadUpstream(s.to_owned()));
        }
        if uri.path_and_query().is_some_and(|p| p.as_str() != "/") {
            return Err(ConfigError::UpstreamPath(s.to_owned()));
        }
        let uri = Uri::builder()
            .scheme(scheme)
            .authority(authority.clone())
            .path_and_query("/")
            .build()
            .map_err(|_| ConfigError::BadUpstream(s.to_owned()))?;
        Ok(Upstream { uri })
    }
}

/// A web origin, normalized: lowercase scheme and host, default ports dropped.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin(String);

impl Origin {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `Host` header value a browser sends to this origin.
    pub fn host(&self) -> &str {
        self.0.split_once("://").map_or("", |(_, h)| h)
    }

    /// The origins a page served by the UI at `addr` can have.
    pub fn own(addr: SocketAddr) -> Vec<Origin> {
        let port = addr.port();
        let mut hosts = vec![
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[::1]:{port}"),
        ];
        let bound = addr.to_string();
        if !hosts.contains(&bound) && !addr.ip().is_unspecified() {
            hosts.push(bound);
        }
        // Parsed like any other origin, so that `:80` is dropped as browsers do.
        hosts
            .into_iter()
            .filter_map(|h| format!("http://{h}").parse().ok())
            .collect()
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Origin {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let bad = || ConfigError::BadOrigin(s.to_owned());
        let text = s.trim().trim_end_matches('/');
        let uri: Uri = text.parse().map_err(|_| bad())?;
        let scheme = uri.scheme_str().ok_or_else(bad)?.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(bad());
        }
        let authority = uri.authority().ok_or_else(bad)?;
        if authority.host().is_empty() || authority.as_str().contains('@') {
            return Err(bad());
        }
        if uri
            .path_and_query()
            .is_some_and(|p| p.as_str() != "/" && !p.as_str().is_empty())
            || text.ends_with('?')
        {
            return Err(bad());
        }
        let host = authority.host().to_ascii_lowercase();
        let default_port = if scheme == "http" { 80 } else { 443 };
        let origin = match authority.port_u16() {
            Some(p) if p != default_port => format!("{scheme}://{host}:{p}"),
            _ => format!("{scheme}://{host}"),
        };
        Ok(Origin(origin))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_forms() {
        let u: Upstream = "127.0.0.1:50051".parse().unwrap();
        assert_eq!(u.to_string(), "http://127.0.0.1:50051");
        let u: Upstream = "http://backend.local:8080/".parse().unwrap();
        assert_eq!(u.authority().as_str(), "backend.local:8080");
        let u: Upstream = "[::1]:50051".parse().unwrap();
        assert_eq!(u.to_string(), "http://[::1]:50051");
        let u: Upstream = "https://api.example:443".parse().unwrap();
        assert!(u.is_tls());
        assert_eq!(u.to_string(), "https://api.example:443");
        assert_eq!(u.host(), "api.example");
        let u: Upstream = "https://[::1]:8443".parse().unwrap();
        assert_eq!(u.host(), "::1");
        assert!(!"a:1".parse::<Upstream>().unwrap().is_tls());
        assert_eq!(
            "localhost".parse::<Upstream>(),
            Err(ConfigError::NoPort("localhost".into()))
        );
        assert!(matches!(
            "http://a:1/x".parse::<Upstream>(),
            Err(ConfigError::UpstreamPath(_))
        ));
        assert!(matches!(
            "ftp://a:1".parse::<Upstream>(),
            Err(ConfigError::BadUpstream(_))
        ));
        assert!("::".parse::<Upstream>().is_err());
        assert!("".parse::<Upstream>().is_err());
    }

    #[test]
    fn origins_normalize() {
        let o: Origin = "HTTP://Example.COM:80/".parse().unwrap();
        assert_eq!(o.as_str(), "http://example.com");
        let o: Origin = "https://studio.example:8443".parse().unwrap();
        assert_eq!(o.host(), "studio.example:8443");
        assert!("example.com".parse::<Origin>().is_err());
        assert!("http://example.com/path".parse::<Origin>().is_err());
        assert!("null".parse::<Origin>().is_err());
        assert!("javascript://x".parse::<Origin>().is_err());
    }

    #[test]
    fn own_origins_cover_loopback_names() {
        let own = Origin::own(SocketAddr::from(([127, 0, 0, 1], 9998)));
        let names: Vec<&str> = own.iter().map(Origin::as_str).collect();
        assert_eq!(
            names,
            [
                "http://127.0.0.1:9998",
                "http://localhost:9998",
                "http://[::1]:9998"
            ]
        );
    }
}
