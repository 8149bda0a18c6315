//! Validated relay configuration. The `loom` binary parses flags into this
//! ([`Config::new`] holds every default, each defined once in [`defaults`]);
//! [`Config::validate`] checks it; library code never reads the
//! environment.
//!
//! - [`address`]: the upstream, where the relay listens, and web origins.
//! - [`targets`]: routes, `--resolve` pins and what the proxy mode may
//!   reach.
//! - [`hosted`]: hosted copies of the inspector (`--hosted-ui`) and the
//!   per-run pairing token they present.
//! - [`units`]: sizes and durations as written on a command line.
//! - [`tls`]: TLS to the upstream and on the listen port.

pub mod address;
pub mod hosted;
pub mod targets;
pub mod tls;
pub mod units;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use address::{ListenAddr, Origin, Upstream};
pub use hosted::{HostedUi, PairingToken};
pub use targets::{AllowPattern, Allowed, Pins, ResolvePin, RouteMatch, RouteRule};
pub use tls::{Identity, ListenTls, UpstreamTls};
pub use units::{ByteSize, Period, UnitError};

/// Every default, once: [`Config::new`] and the command line use these.
pub mod defaults {
    use std::net::SocketAddr;
    use std::time::Duration;

    use super::{ByteSize, Period};

    pub const LISTEN: SocketAddr =
        SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9999);
    pub const UI: SocketAddr =
        SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9998);
    pub const UPSTREAM: &str = "http://127.0.0.1:50051";
    pub const MAX_CAPTURE: ByteSize = ByteSize(256 << 20);
    pub const MAX_SCHEMA: ByteSize = ByteSize(32 << 20);
    pub const MAX_MESSAGE: ByteSize = ByteSize(64 << 20);
    pub const MAX_PARTIAL: ByteSize = ByteSize(64 << 20);
    pub const LIVE_BUFFER: ByteSize = ByteSize(32 << 20);
    pub const LIVE_PREVIEW: ByteSize = ByteSize(64 << 10);
    pub const RECORD_BUFFER: ByteSize = ByteSize(256 << 20);
    pub const SHUTDOWN_GRACE: Period = Period(Duration::from_secs(10));
    pub const FIRST_REQUEST_TIMEOUT: Period = Period(Duration::from_secs(10));
    pub const REFLECTION_RETRY: Period = Period(Duration::from_secs(30));
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Where gRPC clients connect.
    pub listen: ListenAddr,
    /// Where calls are forwarded, unless a route or a proxy client's
    /// `CONNECT` says otherwise.
    pub upstream: Upstream,
    /// Routes by `:authority` or path prefix, to other upstreams.
    pub routes: Vec<RouteRule>,
    /// Names pinned to addresses (`--resolve`), for every upstream.
    pub resolve: Pins,
    /// What proxy clients may reach through `CONNECT` (loopback only by
    /// default).
    pub allow_upstreams: Allowed,
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
    /// Hosted copies of the inspector (`--hosted-ui`): their origins are
    /// allowed too, but only with [`Config::pairing_token`].
    pub hosted_ui: Vec<HostedUi>,
    /// The secret hosted copies present; required when `hosted_ui` is not
    /// empty (the binary draws a fresh one per run).
    pub pairing_token: Option<PairingToken>,
    /// Extra header names to redact in shared captures.
    pub redact_headers: Vec<String>,
    /// Turn redaction off for shared captures.
    pub keep_secrets: bool,
    /// How long a client connection may take to send its first request.
    pub first_request_timeout: Duration,
    /// How long in-flight calls may run on after a shutdown signal.
    pub shutdown_grace: Duration,
    /// Threads of the forward path, each a runtime of its own that keeps
    /// the connections it is given (`None`: one per CPU core).
    pub forward_threads: Option<std::num::NonZeroUsize>,
    /// Bytes of recent events kept for live (WebSocket) consumers; one that
    /// falls further behind is resynchronized from the store.
    pub live_buffer_bytes: u64,
    /// Messages larger than this reach live (WebSocket) consumers as a
    /// preview of their first bytes; the whole message is fetched from the
    /// store on demand. 0 sends every message whole. Files always get whole
    /// messages.
    pub live_preview_bytes: usize,
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
    /// TLS to `https://` upstreams (reflection included).
    pub upstream_tls: UpstreamTls,
    /// TLS on the listen port.
    pub listen_tls: ListenTls,
    /// Append both hops' TLS secrets here, in the NSS key log format
    /// (`SSLKEYLOGFILE`), for Wireshark.
    pub key_log: Option<PathBuf>,
    /// Import paths for `protos` (default: each one's own directory).
    pub proto_includes: Vec<PathBuf>,
}

impl Config {
    /// How many threads the forward path runs on.
    pub fn forward_threads(&self) -> std::num::NonZeroUsize {
        self.forward_threads.unwrap_or_else(|| {
            std::thread::available_parallelism().unwrap_or(std::num::NonZeroUsize::MIN)
        })
    }

    /// The defaults `loom` runs with, for a given upstream.
    pub fn new(upstream: Upstream) -> Self {
        Config {
            listen: ListenAddr::Tcp(defaults::LISTEN),
            upstream,
            routes: Vec::new(),
            resolve: Pins::default(),
            allow_upstreams: Allowed::default(),
            ui: defaults::UI,
            record: None,
            max_capture_bytes: defaults::MAX_CAPTURE.0,
            max_schema_bytes: defaults::MAX_SCHEMA.0,
            max_message_bytes: usize::try_from(defaults::MAX_MESSAGE.0).unwrap_or(usize::MAX),
            max_partial_bytes: defaults::MAX_PARTIAL.0,
            allow_origins: Vec::new(),
            hosted_ui: Vec::new(),
            pairing_token: None,
            redact_headers: Vec::new(),
            keep_secrets: false,
            shutdown_grace: defaults::SHUTDOWN_GRACE.0,
            forward_threads: None,
            first_request_timeout: defaults::FIRST_REQUEST_TIMEOUT.0,
            live_buffer_bytes: defaults::LIVE_BUFFER.0,
            live_preview_bytes: usize::try_from(defaults::LIVE_PREVIEW.0).unwrap_or(usize::MAX),
            record_buffer_bytes: defaults::RECORD_BUFFER.0,
            reflection: true,
            reflect_headers: Vec::new(),
            reflection_retry: defaults::REFLECTION_RETRY.0,
            descriptor_sets: Vec::new(),
            protos: Vec::new(),
            proto_includes: Vec::new(),
            upstream_tls: UpstreamTls::default(),
            listen_tls: ListenTls::default(),
            key_log: None,
        }
    }

    /// Checks what no single field can: that the two ports differ, that
    /// every budget is usable, and that hosted copies have a token to pair with.
    pub fn validate(&self) -> Result<(), ConfigError> {
        // Two port-0 addresses always get different ports.
        if let ListenAddr::Tcp(listen) = self.listen
            && listen == self.ui
            && listen.port() != 0
        {
            return Err(ConfigError::SamePort(listen));
        }
        if !self.hosted_ui.is_empty() && self.pairing_token.is_none() {
            return Err(ConfigError::NoPairingToken);
        }
        if self.listen_tls.tls_only && !self.listen_tls.enabled() {
            return Err(ConfigError::TlsOnlyWithoutCertificate);
        }
        // The other TLS flags serve every TLS upstream (routes and proxy
        // tunnels too); this one names the default upstream only.
        if self.upstream_tls.server_name.is_some() && !self.upstream.is_tls() {
            return Err(ConfigError::TlsFlagWithoutTls(
                "--upstream-server-name",
                self.upstream.to_string(),
            ));
        }
        for (flag, value) in [
            ("--max-capture-bytes", self.max_capture_bytes),
            ("--max-message-bytes", self.max_message_bytes as u64),
            ("--max-partial-bytes", self.max_partial_bytes),
            ("--record-buffer", self.record_buffer_bytes),
            ("the live buffer", self.live_buffer_bytes),
            ("the schema budget", self.max_schema_bytes),
        ] {
            if value == 0 {
                return Err(ConfigError::ZeroBudget(flag));
            }
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error(
        "upstream `{0}` is not a valid address: expected host:port, http://host:port, https://host:port or unix:/path/to.sock"
    )]
    BadUpstream(String),
    #[error("upstream `{0}` has no port")]
    NoPort(String),
    #[error("upstream `{0}` has a path; give only scheme, host and port")]
    UpstreamPath(String),
    #[error(
        "origin `{0}` is not valid: expected scheme://host[:port] with no path, e.g. http://localhost:8080"
    )]
    BadOrigin(String),
    #[error(
        "hosted UI `{0}` is not valid: expected the page's URL, http(s)://host[:port]/path/, with no query or fragment"
    )]
    BadHostedUi(String),
    #[error("--hosted-ui needs a pairing token, and none was given")]
    NoPairingToken,
    #[error("a pairing token is 16 to 128 characters of A-Z, a-z, 0-9, - and _")]
    BadToken,
    #[error("cannot draw a pairing token from the system's random source: {0}")]
    NoRandomness(String),
    #[error("--listen and --ui must differ (both are {0})")]
    SamePort(SocketAddr),
    #[error(
        "--resolve `{0}` is not valid: expected HOST:PORT=ADDR, e.g. api.example:443=127.0.0.1"
    )]
    BadResolve(String),
    #[error(
        "--allow-upstream `{0}` is not valid: expected HOST[:PORT] where HOST is loopback, *, *.domain, a name, an IP address or a network like 10.0.0.0/8, and PORT a number or *"
    )]
    BadAllowPattern(String),
    #[error(
        "route `{0}` is not valid: expected --route AUTHORITY=UPSTREAM or --route-path /pkg.Service/=UPSTREAM"
    )]
    BadRoute(String),
    #[error("listen address `{0}` is not valid: expected host:port or unix:/path/to.sock")]
    BadListen(String),
    #[error("{0} must be more than zero")]
    ZeroBudget(&'static str),
    #[error("--listen-tls-only needs a certificate to serve: a local CA folder or --listen-cert")]
    TlsOnlyWithoutCertificate,
    #[error(
        "{0} is for TLS upstreams, but the upstream `{1}` is cleartext: write it as https://host:port"
    )]
    TlsFlagWithoutTls(&'static str, String),
}
