//! Validated relay configuration. `main.rs` parses flags into this; library
//! code never reads the environment.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use http::Uri;

#[derive(Debug, Clone)]
pub struct Config {
    /// Where gRPC clients connect.
    pub listen: SocketAddr,
    /// Where calls are forwarded.
    pub upstream: Upstream,
    /// Where the inspector, the WebSocket and the API are served.
    pub ui: SocketAddr,
    /// Append every event to this capture file.
    pub record: Option<PathBuf>,
    /// Byte budget of the in-memory capture store.
    pub max_capture_bytes: u64,
    /// Byte budget of the store's schema events (descriptor sets and
    /// failure notices), apart from the calls'.
    pub max_schema_bytes: u64,
    /// Largest single message kept whole in the capture (forwarding is never limited).
    pub max_message_bytes: usize,
    /// What the capture may hold, across all calls, of messages still
    /// arriving; past it, such messages are captured only in part.
    pub max_partial_bytes: u64,
    /// Origins (besides the UI's own) allowed to use the WebSocket and API.
    pub allow_origins: Vec<Origin>,
    /// Extra header names to redact in shared captures.
    pub redact_headers: Vec<String>,
    /// Turn redaction off for shared captures.
    pub keep_secrets: bool,
    /// How long a client connection may take to send its first request.
    pub first_request_timeout: Duration,
    /// How long in-flight calls may run on after a shutdown signal.
    pub shutdown_grace: Duration,
    /// Bytes of recent events kept for live (WebSocket) consumers; one that
    /// falls further behind is resynchronized from the store.
    pub live_buffer_bytes: u64,
    /// Bytes of events the record file's writer may fall behind before it
    /// loses some (`--record-buffer`).
    pub record_buffer_bytes: u64,
    /// Ask the upstream for schemas with gRPC Server Reflection.
    pub reflection: bool,
    /// Metadata sent with the relay's own reflection requests (e.g. auth).
    pub reflect_headers: Vec<(String, String)>,
    /// How long a failed reflection is remembered before it is tried again.
    pub reflection_retry: Duration,
    /// Local descriptor sets (`protoc --include_imports --descriptor_set_out`).
    pub descriptor_sets: Vec<PathBuf>,
    /// Local .proto files or directories, compiled in-process.
    pub protos: Vec<PathBuf>,
    /// Import paths for `protos` (default: each one's own directory).
    pub proto_includes: Vec<PathBuf>,
}

impl Config {
    /// The defaults `loom` runs with, for a given upstream.
    pub fn new(upstream: Upstream) -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 9999)),
            upstream,
            ui: SocketAddr::from(([127, 0, 0, 1], 9998)),
            record: None,
            max_capture_bytes: 256 << 20,
            max_schema_bytes: 32 << 20,
            max_message_bytes: 64 << 20,
            max_partial_bytes: 64 << 20,
            allow_origins: Vec::new(),
            redact_headers: Vec::new(),
            keep_secrets: false,
            shutdown_grace: Duration::from_secs(10),
            first_request_timeout: Duration::from_secs(10),
            live_buffer_bytes: 32 << 20,
            record_buffer_bytes: 256 << 20,
            reflection: true,
            reflect_headers: Vec::new(),
            reflection_retry: Duration::from_secs(30),
            descriptor_sets: Vec::new(),
            protos: Vec::new(),
            proto_includes: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("upstream `{0}` is not a valid address: expected host:port or http://host:port")]
    BadUpstream(String),
    #[error("upstream `{0}` uses TLS (https); Loom speaks cleartext HTTP/2 to upstreams for now")]
    TlsUpstream(String),
    #[error("upstream `{0}` has no port")]
    NoPort(String),
    #[error("upstream `{0}` has a path; give only scheme, host and port")]
    UpstreamPath(String),
    #[error(
        "origin `{0}` is not valid: expected scheme://host[:port] with no path, e.g. http://localhost:8080"
    )]
    BadOrigin(String),
}

/// The server calls are forwarded to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    uri: Uri,
}

impl Upstream {
    /// `http://host:port`, as shown to users and recorded in captures.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    pub fn authority(&self) -> &http::uri::Authority {
        // Invariant: `FromStr` only builds upstreams with an authority.
        self.uri
            .authority()
            .expect("validated upstream has an authority")
    }
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}", self.authority())
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
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => return Err(ConfigError::TlsUpstream(s.to_owned())),
            _ => return Err(ConfigError::BadUpstream(s.to_owned())),
        }
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
            .scheme("http")
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
        assert_eq!(
            "https://a:1".parse::<Upstream>(),
            Err(ConfigError::TlsUpstream("https://a:1".into()))
        );
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
