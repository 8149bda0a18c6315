//! The command line: clap's definitions of `loom`, `loom demo`, `loom
//! decode` and `loom ca`, and how their flags become a library `Config` (whose defaults
//! they show: each is defined once, in `loom_relay::config::defaults`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use loom_relay::config::{
    AllowPattern, Allowed, ByteSize, Identity, ListenAddr, ListenTls, Period, Pins, ResolvePin,
    RouteRule, UpstreamTls, defaults,
};
use loom_relay::{Config, HostedUi, Origin, PairingToken, Upstream};

/// Loom: a gRPC debugging relay with a browser inspector.
///
/// Point your gRPC client at the relay (--listen) instead of your backend
/// (--upstream), and open the inspector (--ui) to see every call, live.
/// Schemas come from the backend's server reflection, or from
/// --descriptor-set / --proto. Run `loom demo` for a self-contained tour.
#[derive(Parser, Debug)]
#[command(
    name = "loom",
    version,
    about,
    long_about,
    args_conflicts_with_subcommands = true
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
    /// Threads that run the relay: the forward path's (each keeps the
    /// client connections it is given) and the main runtime's; by default
    /// one per CPU core. docs/performance.md shows what each choice costs.
    #[arg(long, global = true, env = "LOOM_THREADS", value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub(crate) threads: Option<u16>,
    #[command(flatten)]
    pub(crate) relay: RelayArgs,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Start a built-in demo backend (with reflection), the relay in front of
    /// it, and a traffic generator calling it every second: a live tour of
    /// the inspector with nothing else to set up.
    Demo(DemoArgs),
    /// Decode a capture file (from --record, /api/capture or the inspector)
    /// to JSON Lines, one call per line, with the same engine as the
    /// inspector. Exit code 1 means the capture is incomplete (cut off, or
    /// events were lost; what is there is decoded), 2 an error.
    Decode(DecodeArgs),
    /// Print the local CA's certificate (creating the CA if there is none
    /// yet), where it is, and how to make each gRPC client library trust
    /// it. The relay's TLS listen port serves certificates signed by it.
    Ca(CaArgs),
}

#[derive(Args, Debug)]
pub(crate) struct CaArgs {
    /// The local CA's folder.
    #[arg(long = "ca-dir", env = "LOOM_CA_DIR", value_name = "DIR")]
    pub(crate) ca_dir: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub(crate) struct DecodeArgs {
    /// The capture file; `-` reads standard input.
    #[arg(value_name = "FILE")]
    pub(crate) input: PathBuf,

    /// A descriptor set for captures that lack a schema. Repeatable.
    #[arg(long = "descriptor-set", value_name = "FILE")]
    pub(crate) descriptor_sets: Vec<PathBuf>,

    /// A .proto file or directory for captures that lack a schema. Repeatable.
    #[arg(long = "proto", value_name = "PATH")]
    pub(crate) protos: Vec<PathBuf>,

    /// An import path for --proto. Repeatable.
    #[arg(long = "proto-include", value_name = "DIR")]
    pub(crate) proto_includes: Vec<PathBuf>,

    /// Only calls whose package.Service/Method matches this glob (* and ?).
    #[arg(long, value_name = "GLOB")]
    pub(crate) method: Option<String>,

    /// Only calls that ended with this status: a number or a name (NOT_FOUND).
    #[arg(long, value_name = "CODE")]
    pub(crate) status: Option<String>,

    /// Print a command replaying each call instead of JSON: grpcurl for
    /// gRPC, curl for Connect unary, buf curl for gRPC-Web and Connect
    /// streaming.
    #[arg(long)]
    pub(crate) grpcurl: bool,

    /// Leave out fields that hold their default value.
    #[arg(long)]
    pub(crate) hide_defaults: bool,
}

#[derive(Args, Debug)]
pub(crate) struct DemoArgs {
    /// TLS on both hops: the demo backend serves TLS with a certificate from
    /// the local CA, the relay verifies it, and the demo traffic reaches the
    /// relay over TLS.
    #[arg(long)]
    pub(crate) tls: bool,
    #[command(flatten)]
    pub(crate) common: CommonArgs,
}

/// Flags of the relay proper.
#[derive(Args, Debug)]
pub(crate) struct RelayArgs {
    /// The gRPC server calls are forwarded to: host:port or http://host:port
    /// (cleartext HTTP/2), or https://host:port (TLS with ALPN h2).
    #[arg(long, env = "LOOM_UPSTREAM", default_value = defaults::UPSTREAM, value_name = "URL")]
    pub(crate) upstream: Upstream,

    /// Send calls whose :authority is AUTHORITY to UPSTREAM instead
    /// (AUTHORITY=UPSTREAM; an authority without a port matches any port).
    /// Repeatable.
    #[arg(long = "route", value_name = "AUTHORITY=UPSTREAM", value_parser = RouteRule::authority)]
    pub(crate) routes: Vec<RouteRule>,

    /// Send calls whose path starts with PREFIX to UPSTREAM instead
    /// (/pkg.Service/=UPSTREAM; the longest prefix wins, before --route).
    /// Repeatable.
    #[arg(long = "route-path", value_name = "PREFIX=UPSTREAM", value_parser = RouteRule::path)]
    pub(crate) route_paths: Vec<RouteRule>,

    /// Connect to ADDR whenever HOST:PORT is the target (curl's
    /// convention); the name stays the :authority, SNI and the name
    /// verified. Repeatable.
    #[arg(long = "resolve", value_name = "HOST:PORT=ADDR")]
    pub(crate) resolve: Vec<ResolvePin>,

    /// A target proxy clients may reach through CONNECT: HOST[:PORT], where
    /// HOST is loopback, *, *.domain, a name, an IP address or a network
    /// (10.0.0.0/8). Repeatable. Default: loopback only (names are not
    /// looked up to be checked; --resolve pins count).
    #[arg(long = "allow-upstream", value_name = "PATTERN")]
    pub(crate) allow_upstreams: Vec<AllowPattern>,

    /// Trust these CA certificates (PEM bundle) for https:// upstreams
    /// (routes and proxy tunnels too), instead of the platform's roots.
    #[arg(long, env = "LOOM_UPSTREAM_CA", value_name = "FILE")]
    pub(crate) upstream_ca: Option<PathBuf>,

    /// Do not verify the https:// upstream's certificate at all. Anyone on
    /// the path could impersonate it; Loom says so at start and in /healthz.
    #[arg(long, env = "LOOM_UPSTREAM_INSECURE", conflicts_with = "upstream_ca")]
    pub(crate) upstream_insecure: bool,

    /// A client certificate (PEM chain) for upstreams that require mutual
    /// TLS; needs --upstream-key.
    #[arg(
        long,
        env = "LOOM_UPSTREAM_CERT",
        value_name = "FILE",
        requires = "upstream_key"
    )]
    pub(crate) upstream_cert: Option<PathBuf>,

    /// The private key (PEM) of --upstream-cert.
    #[arg(
        long,
        env = "LOOM_UPSTREAM_KEY",
        value_name = "FILE",
        requires = "upstream_cert"
    )]
    pub(crate) upstream_key: Option<PathBuf>,

    /// The name sent as SNI and verified in the upstream's certificate, when
    /// it is not the upstream's host (e.g. dialing an IP address).
    #[arg(long, env = "LOOM_UPSTREAM_SERVER_NAME", value_name = "NAME")]
    pub(crate) upstream_server_name: Option<String>,

    /// A descriptor set to decode with (`protoc --include_imports
    /// --descriptor_set_out`, `buf build -o`), for servers without
    /// reflection. Its services are never reflected. Repeatable.
    #[arg(
        long = "descriptor-set",
        env = "LOOM_DESCRIPTOR_SET",
        value_delimiter = ',',
        value_name = "FILE"
    )]
    pub(crate) descriptor_sets: Vec<PathBuf>,

    /// A .proto file, or a directory of them, compiled in-process (no protoc
    /// needed). Its services are never reflected. Repeatable.
    #[arg(
        long = "proto",
        env = "LOOM_PROTO",
        value_delimiter = ',',
        value_name = "PATH"
    )]
    pub(crate) protos: Vec<PathBuf>,

    /// An import path for --proto (default: each --proto's own directory). Repeatable.
    #[arg(
        long = "proto-include",
        env = "LOOM_PROTO_INCLUDE",
        value_delimiter = ',',
        value_name = "DIR"
    )]
    pub(crate) proto_includes: Vec<PathBuf>,

    /// Metadata for the relay's own reflection requests, as NAME:VALUE (for
    /// servers that require auth on reflection). Repeatable.
    #[arg(long = "reflect-header", env = "LOOM_REFLECT_HEADER", value_delimiter = ',', value_name = "NAME:VALUE", value_parser = parse_header)]
    pub(crate) reflect_headers: Vec<(String, String)>,

    /// Do not ask the upstream for schemas (server reflection).
    #[arg(long, env = "LOOM_NO_REFLECTION")]
    pub(crate) no_reflection: bool,

    /// How long a failed reflection is remembered before it is tried again.
    #[arg(long, env = "LOOM_REFLECTION_RETRY", default_value_t = defaults::REFLECTION_RETRY, value_name = "DURATION")]
    pub(crate) reflection_retry: Period,

    #[command(flatten)]
    pub(crate) common: CommonArgs,
}

/// Flags shared by the relay and the demo.
#[derive(Args, Debug)]
pub(crate) struct CommonArgs {
    /// Address gRPC clients connect to: cleartext HTTP/2 and TLS on one
    /// port (told apart by the first byte), and HTTP CONNECT from clients
    /// that use the relay as their proxy (grpc_proxy, HTTPS_PROXY). Or a
    /// Unix domain socket: unix:/path/to.sock (made 0600, removed on exit).
    #[arg(long, env = "LOOM_LISTEN", default_value_t = ListenAddr::Tcp(defaults::LISTEN), value_name = "ADDR")]
    pub(crate) listen: ListenAddr,

    /// Refuse cleartext clients on the listen port.
    #[arg(long, env = "LOOM_LISTEN_TLS_ONLY")]
    pub(crate) listen_tls_only: bool,

    /// Serve this certificate (PEM chain) to TLS clients instead of one the
    /// local CA mints; needs --listen-key.
    #[arg(
        long,
        env = "LOOM_LISTEN_CERT",
        value_name = "FILE",
        requires = "listen_key"
    )]
    pub(crate) listen_cert: Option<PathBuf>,

    /// The private key (PEM) of --listen-cert.
    #[arg(
        long,
        env = "LOOM_LISTEN_KEY",
        value_name = "FILE",
        requires = "listen_cert"
    )]
    pub(crate) listen_key: Option<PathBuf>,

    /// The local CA's folder (created on first use; `loom ca` prints it).
    /// Default: $XDG_CONFIG_HOME/loom/ca, or ~/.config/loom/ca.
    #[arg(long = "ca-dir", env = "LOOM_CA_DIR", value_name = "DIR")]
    pub(crate) ca_dir: Option<PathBuf>,

    /// Address of the inspector, its WebSocket and API. Keep it on loopback
    /// unless you also pass --allow-origin for the name you reach it by.
    #[arg(long, env = "LOOM_UI", default_value_t = defaults::UI, value_name = "ADDR")]
    pub(crate) ui: SocketAddr,

    /// Append every captured event to this capture file (must not exist yet).
    #[arg(long, env = "LOOM_RECORD", value_name = "FILE")]
    pub(crate) record: Option<PathBuf>,

    /// How far the --record writer may fall behind the traffic, in bytes of
    /// events, before it loses any (and says so in the file).
    #[arg(long, env = "LOOM_RECORD_BUFFER", default_value_t = defaults::RECORD_BUFFER, value_name = "SIZE")]
    pub(crate) record_buffer: ByteSize,

    /// Messages larger than this reach the live inspector as a preview of
    /// their first bytes; opening one fetches the whole message. 0 sends
    /// every message whole. Files always keep whole messages.
    #[arg(long, env = "LOOM_LIVE_PREVIEW_BYTES", default_value_t = defaults::LIVE_PREVIEW, value_name = "SIZE")]
    pub(crate) live_preview_bytes: ByteSize,

    /// Memory budget of the in-memory capture; the oldest calls are evicted past it.
    #[arg(long, env = "LOOM_MAX_CAPTURE_BYTES", default_value_t = defaults::MAX_CAPTURE, value_name = "SIZE")]
    pub(crate) max_capture_bytes: ByteSize,

    /// Largest single message kept whole in the capture. Forwarding is never limited.
    #[arg(long, env = "LOOM_MAX_MESSAGE_BYTES", default_value_t = defaults::MAX_MESSAGE, value_name = "SIZE")]
    pub(crate) max_message_bytes: ByteSize,

    /// What the capture may hold, across all calls, of messages still arriving;
    /// past it they are captured only in part. Forwarding is never limited.
    #[arg(long, env = "LOOM_MAX_PARTIAL_BYTES", default_value_t = defaults::MAX_PARTIAL, value_name = "SIZE")]
    pub(crate) max_partial_bytes: ByteSize,

    /// A web origin (scheme://host[:port]) besides the inspector's own that may
    /// use the WebSocket and API, e.g. a hosted copy of the inspector. Repeatable.
    #[arg(
        long = "allow-origin",
        env = "LOOM_ALLOW_ORIGIN",
        value_delimiter = ',',
        value_name = "ORIGIN"
    )]
    pub(crate) allow_origins: Vec<Origin>,

    /// The URL of a hosted copy of the inspector (e.g. https://loom.example/
    /// on a static host): its origin may use the WebSocket and API, with
    /// this run's pairing token, which the link loom prints carries.
    /// Repeatable.
    #[arg(
        long = "hosted-ui",
        env = "LOOM_HOSTED_UI",
        value_delimiter = ',',
        value_name = "URL"
    )]
    pub(crate) hosted_ui: Vec<HostedUi>,

    /// Another header to redact in saved captures, besides authorization,
    /// cookie, set-cookie and proxy-authorization. Repeatable.
    #[arg(
        long = "redact-header",
        env = "LOOM_REDACT_HEADER",
        value_delimiter = ',',
        value_name = "NAME"
    )]
    pub(crate) redact_headers: Vec<String>,

    /// Keep secret headers in saved captures (--record, /api/capture).
    #[arg(long, env = "LOOM_KEEP_SECRETS")]
    pub(crate) keep_secrets: bool,

    /// How long in-flight calls may continue after SIGINT/SIGTERM.
    #[arg(long, env = "LOOM_SHUTDOWN_GRACE", default_value_t = defaults::SHUTDOWN_GRACE, value_name = "DURATION")]
    pub(crate) shutdown_grace: Period,
}

impl CommonArgs {
    /// The configuration for `upstream` with these flags.
    pub(crate) fn into_config(self, upstream: Upstream) -> Result<Config, String> {
        let mut config = Config::new(upstream);
        config.listen = self.listen;
        config.listen_tls = ListenTls {
            ca_dir: self.ca_dir.or_else(default_ca_dir),
            identity: identity(self.listen_cert, self.listen_key),
            tls_only: self.listen_tls_only,
        };
        config.key_log = key_log_file();
        config.ui = self.ui;
        config.record = self.record;
        config.record_buffer_bytes = self.record_buffer.0;
        config.live_preview_bytes = usize::try_from(self.live_preview_bytes.0)
            .map_err(|_| "--live-preview-bytes is too large for this machine".to_owned())?;
        config.max_capture_bytes = self.max_capture_bytes.0;
        config.max_partial_bytes = self.max_partial_bytes.0;
        config.max_message_bytes = usize::try_from(self.max_message_bytes.0)
            .map_err(|_| "--max-message-bytes is too large for this machine".to_owned())?;
        config.allow_origins = self.allow_origins;
        if !self.hosted_ui.is_empty() {
            config.pairing_token = Some(PairingToken::random().map_err(|e| e.to_string())?);
        }
        config.hosted_ui = self.hosted_ui;
        config.redact_headers = self.redact_headers;
        config.keep_secrets = self.keep_secrets;
        config.shutdown_grace = self.shutdown_grace.0;
        Ok(config)
    }
}

impl RelayArgs {
    pub(crate) fn into_config(self) -> Result<Config, String> {
        let mut config = self.common.into_config(self.upstream)?;
        config.descriptor_sets = self.descriptor_sets;
        config.protos = self.protos;
        config.proto_includes = self.proto_includes;
        config.reflect_headers = self.reflect_headers;
        config.reflection = !self.no_reflection;
        config.reflection_retry = self.reflection_retry.0;
        config.routes = self.route_paths;
        config.routes.extend(self.routes);
        config.resolve = Pins::new(self.resolve);
        config.allow_upstreams = Allowed::new(self.allow_upstreams);
        config.upstream_tls = UpstreamTls {
            ca: self.upstream_ca,
            insecure: self.upstream_insecure,
            identity: identity(self.upstream_cert, self.upstream_key),
            server_name: self.upstream_server_name,
        };
        Ok(config)
    }
}

fn identity(cert: Option<PathBuf>, key: Option<PathBuf>) -> Option<Identity> {
    Some(Identity {
        cert: cert?,
        key: key?,
    })
}

/// The local CA's default folder: `$XDG_CONFIG_HOME/loom/ca`, else
/// `$HOME/.config/loom/ca`; `None` when neither is set.
pub(crate) fn default_ca_dir() -> Option<PathBuf> {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(config.join("loom").join("ca"))
}

/// `SSLKEYLOGFILE`, the convention browsers, curl and Go's tools share.
fn key_log_file() -> Option<PathBuf> {
    std::env::var_os("SSLKEYLOGFILE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// `NAME:VALUE`.
fn parse_header(s: &str) -> Result<(String, String), String> {
    let (name, value) = s
        .split_once(':')
        .ok_or_else(|| format!("`{s}` is not NAME:VALUE"))?;
    let name = name.trim();
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err(format!("`{name}` is not a valid header name"));
    }
    Ok((name.to_ascii_lowercase(), value.trim().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        assert_eq!(
            parse_header("Authorization: Bearer x"),
            Ok(("authorization".into(), "Bearer x".into()))
        );
        assert!(parse_header("no-colon").is_err());
        assert!(parse_header("bad name:v").is_err());
    }

    #[test]
    fn cli_is_well_formed_and_shows_the_library_defaults() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from(["loom"]).expect("no flags");
        let config = cli.relay.into_config().expect("config");
        let defaults = Config::new(defaults::UPSTREAM.parse().expect("upstream"));
        assert_eq!(config.max_capture_bytes, defaults.max_capture_bytes);
        assert_eq!(config.shutdown_grace, defaults.shutdown_grace);
        assert_eq!(config.listen, defaults.listen);
        assert_eq!(config.record_buffer_bytes, defaults.record_buffer_bytes);
        assert_eq!(config.live_preview_bytes, defaults.live_preview_bytes);
    }

    #[test]
    fn hosted_ui_allows_its_origin_with_a_fresh_token() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(args)
                .expect("flags")
                .relay
                .into_config()
                .expect("config")
        };
        let config = parse(&["loom", "--hosted-ui", "https://loom.example/inspector/"]);
        assert_eq!(config.hosted_ui.len(), 1);
        assert_eq!(
            config.hosted_ui[0].origin().as_str(),
            "https://loom.example"
        );
        assert_eq!(config.ui, defaults::UI, "still on loopback");
        let token = config.pairing_token.clone().expect("a token");
        assert!(config.validate().is_ok());
        let again = parse(&["loom", "--hosted-ui", "https://loom.example/inspector/"]);
        assert_ne!(again.pairing_token, Some(token), "one token per run");
        assert!(parse(&["loom"]).pairing_token.is_none());
        let e = Cli::try_parse_from(["loom", "--hosted-ui", "https://loom.example/?x=1"])
            .expect_err("a query is refused");
        assert!(e.to_string().contains("hosted UI"), "{e}");
    }

    #[test]
    fn huge_durations_are_refused_not_overflowed() {
        let e = Cli::try_parse_from(["loom", "--shutdown-grace", "18446744073709551615m"])
            .expect_err("too long");
        assert!(e.to_string().contains("too long a duration"), "{e}");
    }

    #[test]
    fn every_backend_flags_become_the_config() {
        let cli = Cli::try_parse_from([
            "loom",
            "--listen",
            "unix:/tmp/loom.sock",
            "--upstream",
            "unix:///run/containerd/containerd.sock",
            "--route",
            "orders.svc=127.0.0.1:7001",
            "--route-path",
            "/pkg.Users/=https://users.test:443",
            "--resolve",
            "users.test:443=127.0.0.1:7443",
            "--allow-upstream",
            "*.corp.test:443",
            "--allow-upstream",
            "loopback",
        ])
        .expect("flags");
        let config = cli.relay.into_config().expect("config");
        assert_eq!(config.listen, ListenAddr::Unix("/tmp/loom.sock".into()));
        assert_eq!(
            config.upstream.to_string(),
            "unix:/run/containerd/containerd.sock"
        );
        assert_eq!(config.routes.len(), 2);
        assert!(matches!(
            config.routes[0].matches,
            loom_relay::config::RouteMatch::PathPrefix(_)
        ));
        assert_eq!(
            config.resolve.lookup("users.test", 443),
            Some("127.0.0.1:7443".parse().expect("addr"))
        );
        assert!(
            config
                .allow_upstreams
                .permits("a.corp.test", 443, &config.resolve)
        );
        assert!(
            config
                .allow_upstreams
                .permits("127.0.0.1", 1, &config.resolve)
        );
        assert!(config.validate().is_ok());
        // By default the proxy reaches loopback only.
        let plain = Cli::try_parse_from(["loom"]).expect("no flags");
        let plain = plain.relay.into_config().expect("config");
        assert!(
            !plain
                .allow_upstreams
                .permits("example.com", 443, &plain.resolve)
        );
        for (flag, value, says) in [
            ("--route", "nope", "--route AUTHORITY=UPSTREAM"),
            ("--route-path", "pkg/=a:1", "--route-path"),
            ("--resolve", "a.test=127.0.0.1", "HOST:PORT=ADDR"),
            ("--allow-upstream", "10.0.0.0/99", "--allow-upstream"),
            ("--listen", "unix:", "unix:/path/to.sock"),
        ] {
            let e = Cli::try_parse_from(["loom", flag, value]).expect_err(flag);
            assert!(e.to_string().contains(says), "{flag} {value}: {e}");
        }
    }
}
