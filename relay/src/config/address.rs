//! Addresses: the upstream calls go to, where the relay listens, and web
//! origins.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use http::Uri;

use super::ConfigError;

/// The server calls are forwarded to: `http://host:port` (cleartext
/// HTTP/2), `https://host:port` (TLS with ALPN `h2`), or `unix:/path` (a
/// Unix domain socket, cleartext HTTP/2; gRPC's `unix:///path` too).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Upstream {
    /// `scheme://host:port/`; for a Unix socket `http://localhost/`, the
    /// authority gRPC clients send to one.
    uri: Uri,
    /// The socket, for a Unix socket upstream.
    unix: Option<std::path::PathBuf>,
}

impl Upstream {
    /// `scheme://host:port/`, as given to HTTP clients (`http://localhost/`
    /// for a Unix socket).
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The socket's path, for a Unix socket upstream.
    pub fn unix_path(&self) -> Option<&std::path::Path> {
        self.unix.as_deref()
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

    /// The host, without brackets around an IPv6 address (`localhost` for
    /// a Unix socket).
    pub fn host(&self) -> &str {
        let host = self.authority().host();
        host.strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host)
    }

    /// `host:port`, the `:authority` of calls forwarded to it (`localhost`
    /// for a Unix socket).
    pub fn authority(&self) -> &http::uri::Authority {
        // Invariant: `FromStr` only builds upstreams with an authority.
        self.uri
            .authority()
            .expect("validated upstream has an authority")
    }

    /// The port (`None` for a Unix socket).
    pub fn port(&self) -> Option<u16> {
        self.unix.is_none().then(|| self.authority().port_u16())?
    }

    /// `http://host:port` (or `https://`) for a target named `host:port`,
    /// as a proxy client asks for it (`CONNECT host:port`).
    pub fn net(authority: &http::uri::Authority, tls: bool) -> Result<Self, ConfigError> {
        let scheme = if tls { "https" } else { "http" };
        format!("{scheme}://{authority}").parse()
    }

    fn unix(text: &str) -> Result<Self, ConfigError> {
        // gRPC's forms: `unix:path`, `unix:/abs/path`, `unix:///abs/path`.
        let rest = text.strip_prefix("unix:").unwrap_or(text);
        let path = rest.strip_prefix("//").unwrap_or(rest);
        if path.is_empty() || path.contains('\0') {
            return Err(ConfigError::BadUpstream(text.to_owned()));
        }
        Ok(Upstream {
            uri: Uri::from_static("http://localhost/"),
            unix: Some(path.into()),
        })
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
        Upstream { uri, unix: None }
    }
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.unix {
            Some(path) => write!(f, "unix:{}", path.display()),
            None => write!(f, "{}://{}", self.scheme(), self.authority()),
        }
    }
}

impl FromStr for Upstream {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let text = s.trim();
        if text.starts_with("unix:") {
            return Upstream::unix(text);
        }
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
        Ok(Upstream { uri, unix: None })
    }
}

/// Where the relay takes gRPC clients: a TCP address, or a Unix domain
/// socket (`unix:/path/to.sock`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    Tcp(SocketAddr),
    Unix(std::path::PathBuf),
}

impl From<SocketAddr> for ListenAddr {
    fn from(addr: SocketAddr) -> Self {
        ListenAddr::Tcp(addr)
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Tcp(addr) => write!(f, "{addr}"),
            ListenAddr::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

impl FromStr for ListenAddr {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let text = s.trim();
        if let Some(rest) = text.strip_prefix("unix:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() || path.contains('\0') {
                return Err(ConfigError::BadListen(s.to_owned()));
            }
            return Ok(ListenAddr::Unix(path.into()));
        }
        text.parse()
            .map(ListenAddr::Tcp)
            .map_err(|_| ConfigError::BadListen(s.to_owned()))
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
        for form in ["unix:/run/x.sock", "unix:///run/x.sock"] {
            let u: Upstream = form.parse().unwrap();
            assert_eq!(u.to_string(), "unix:/run/x.sock");
            assert_eq!(u.unix_path(), Some(std::path::Path::new("/run/x.sock")));
            assert_eq!(u.authority().as_str(), "localhost");
            assert!(!u.is_tls());
            assert_eq!(u.port(), None);
        }
        assert_eq!(
            "unix:rel.sock".parse::<Upstream>().unwrap().to_string(),
            "unix:rel.sock"
        );
        assert!("unix:".parse::<Upstream>().is_err());
        assert!("".parse::<Upstream>().is_err());
    }

    #[test]
    fn listen_forms() {
        let l: ListenAddr = "127.0.0.1:9999".parse().unwrap();
        assert_eq!(l, ListenAddr::Tcp("127.0.0.1:9999".parse().unwrap()));
        let l: ListenAddr = "unix:///tmp/loom.sock".parse().unwrap();
        assert_eq!(l.to_string(), "unix:/tmp/loom.sock");
        assert!("unix:".parse::<ListenAddr>().is_err());
        assert!("localhost".parse::<ListenAddr>().is_err());
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
