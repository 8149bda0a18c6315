//! `loom`: the command line. Parses flags into a validated `Config`, sets up
//! logging and signals, and hands over to the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use loom_relay::{Config, Origin, Upstream};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

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
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    relay: RelayArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start a built-in demo backend (with reflection), the relay in front of
    /// it, and a traffic generator calling it every second: a live tour of
    /// the inspector with nothing else to set up.
    Demo(DemoArgs),
    /// Decode a capture file (from --record, /api/capture or the inspector)
    /// to JSON Lines, one call per line, with the same engine as the
    /// inspector. Exit code 1 means the file was cut off (what was complete
    /// is decoded), 2 an error.
    Decode(DecodeArgs),
}

#[derive(Args, Debug)]
struct DecodeArgs {
    /// The capture file; `-` reads standard input.
    #[arg(value_name = "FILE")]
    input: PathBuf,

    /// A descriptor set for captures that lack a schema. Repeatable.
    #[arg(long = "descriptor-set", value_name = "FILE")]
    descriptor_sets: Vec<PathBuf>,

    /// A .proto file or directory for captures that lack a schema. Repeatable.
    #[arg(long = "proto", value_name = "PATH")]
    protos: Vec<PathBuf>,

    /// An import path for --proto. Repeatable.
    #[arg(long = "proto-include", value_name = "DIR")]
    proto_includes: Vec<PathBuf>,

    /// Only calls whose package.Service/Method matches this glob (* and ?).
    #[arg(long, value_name = "GLOB")]
    method: Option<String>,

    /// Only calls that ended with this status: a number or a name (NOT_FOUND).
    #[arg(long, value_name = "CODE")]
    status: Option<String>,

    /// Print a grpcurl command per call instead of JSON.
    #[arg(long)]
    grpcurl: bool,

    /// Leave out fields that hold their default value.
    #[arg(long)]
    hide_defaults: bool,
}

/// `loom decode`: synchronous, no runtime needed.
fn decode(args: DecodeArgs) -> ExitCode {
    use std::io::Write as _;
    // Standard input is spooled to a temporary file: decoding reads twice.
    let spooled = if args.input == std::path::Path::new("-") {
        match spool_stdin() {
            Ok(file) => Some(file),
            Err(e) => {
                eprintln!("loom decode: reading standard input: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        None
    };
    let options = loom_relay::decode::DecodeOptions {
        input: spooled.as_ref().map_or(args.input, |f| f.path().to_owned()),
        input_name: spooled.as_ref().map(|_| "standard input".to_owned()),
        descriptor_sets: args.descriptor_sets,
        protos: args.protos,
        proto_includes: args.proto_includes,
        method: args.method,
        status: args.status,
        grpcurl: args.grpcurl,
        hide_defaults: args.hide_defaults,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut err = std::io::stderr();
    let result = loom_relay::decode::run(&options, &mut out, &mut err);
    let flushed = out.flush();
    match (result, flushed) {
        (Ok(outcome), Ok(())) => ExitCode::from(outcome.exit_code()),
        (Ok(_), Err(e)) => {
            eprintln!("loom decode: writing the output: {e}");
            ExitCode::from(2)
        }
        (Err(e), _) => {
            eprintln!("loom decode: {e}");
            ExitCode::from(2)
        }
    }
}

/// Standard input, copied to a temporary file removed when dropped.
fn spool_stdin() -> std::io::Result<tempfile::NamedTempFile> {
    let mut file = tempfile::NamedTempFile::new()?;
    std::io::copy(&mut std::io::stdin().lock(), &mut file)?;
    Ok(file)
}

#[derive(Args, Debug)]
struct DemoArgs {
    #[command(flatten)]
    common: CommonArgs,
}

/// Flags of the relay proper.
#[derive(Args, Debug)]
struct RelayArgs {
    /// The gRPC server calls are forwarded to: host:port or http://host:port.
    #[arg(
        long,
        env = "LOOM_UPSTREAM",
        default_value = "http://127.0.0.1:50051",
        value_name = "URL"
    )]
    upstream: Upstream,

    /// A descriptor set to decode with (`protoc --include_imports
    /// --descriptor_set_out`, `buf build -o`), for servers without
    /// reflection. Its services are never reflected. Repeatable.
    #[arg(
        long = "descriptor-set",
        env = "LOOM_DESCRIPTOR_SET",
        value_delimiter = ',',
        value_name = "FILE"
    )]
    descriptor_sets: Vec<PathBuf>,

    /// A .proto file, or a directory of them, compiled in-process (no protoc
    /// needed). Its services are never reflected. Repeatable.
    #[arg(
        long = "proto",
        env = "LOOM_PROTO",
        value_delimiter = ',',
        value_name = "PATH"
    )]
    protos: Vec<PathBuf>,

    /// An import path for --proto (default: each --proto's own directory). Repeatable.
    #[arg(
        long = "proto-include",
        env = "LOOM_PROTO_INCLUDE",
        value_delimiter = ',',
        value_name = "DIR"
    )]
    proto_includes: Vec<PathBuf>,

    /// Metadata for the relay's own reflection requests, as NAME:VALUE (for
    /// servers that require auth on reflection). Repeatable.
    #[arg(long = "reflect-header", env = "LOOM_REFLECT_HEADER", value_delimiter = ',', value_name = "NAME:VALUE", value_parser = parse_header)]
    reflect_headers: Vec<(String, String)>,

    /// Do not ask the upstream for schemas (server reflection).
    #[arg(long, env = "LOOM_NO_REFLECTION")]
    no_reflection: bool,

    /// How long a failed reflection is remembered before it is tried again.
    #[arg(long, env = "LOOM_REFLECTION_RETRY", default_value = "30s", value_name = "DURATION", value_parser = parse_duration)]
    reflection_retry: Duration,

    #[command(flatten)]
    common: CommonArgs,
}

/// Flags shared by the relay and the demo.
#[derive(Args, Debug)]
struct CommonArgs {
    /// Address gRPC clients connect to (HTTP/2 cleartext).
    #[arg(
        long,
        env = "LOOM_LISTEN",
        default_value = "127.0.0.1:9999",
        value_name = "ADDR"
    )]
    listen: SocketAddr,

    /// Address of the inspector, its WebSocket and API. Keep it on loopback
    /// unless you also pass --allow-origin for the name you reach it by.
    #[arg(
        long,
        env = "LOOM_UI",
        default_value = "127.0.0.1:9998",
        value_name = "ADDR"
    )]
    ui: SocketAddr,

    /// Append every captured event to this capture file (must not exist yet).
    #[arg(long, env = "LOOM_RECORD", value_name = "FILE")]
    record: Option<PathBuf>,

    /// How far the --record writer may fall behind the traffic, in bytes of
    /// events, before it loses any (and says so in the file).
    #[arg(long, env = "LOOM_RECORD_BUFFER", default_value = "256MiB", value_name = "SIZE", value_parser = parse_size)]
    record_buffer: u64,

    /// Memory budget of the in-memory capture; the oldest calls are evicted past it.
    #[arg(long, env = "LOOM_MAX_CAPTURE_BYTES", default_value = "256MiB", value_name = "SIZE", value_parser = parse_size)]
    max_capture_bytes: u64,

    /// Largest single message kept whole in the capture. Forwarding is never limited.
    #[arg(long, env = "LOOM_MAX_MESSAGE_BYTES", default_value = "64MiB", value_name = "SIZE", value_parser = parse_size)]
    max_message_bytes: u64,

    /// What the capture may hold, across all calls, of messages still arriving;
    /// past it they are captured only in part. Forwarding is never limited.
    #[arg(long, env = "LOOM_MAX_PARTIAL_BYTES", default_value = "64MiB", value_name = "SIZE", value_parser = parse_size)]
    max_partial_bytes: u64,

    /// A web origin (scheme://host[:port]) besides the inspector's own that may
    /// use the WebSocket and API, e.g. a hosted copy of the inspector. Repeatable.
    #[arg(
        long = "allow-origin",
        env = "LOOM_ALLOW_ORIGIN",
        value_delimiter = ',',
        value_name = "ORIGIN"
    )]
    allow_origins: Vec<Origin>,

    /// Another header to redact in saved captures, besides authorization,
    /// cookie, set-cookie and proxy-authorization. Repeatable.
    #[arg(
        long = "redact-header",
        env = "LOOM_REDACT_HEADER",
        value_delimiter = ',',
        value_name = "NAME"
    )]
    redact_headers: Vec<String>,

    /// Keep secret headers in saved captures (--record, /api/capture).
    #[arg(long, env = "LOOM_KEEP_SECRETS")]
    keep_secrets: bool,

    /// How long in-flight calls may continue after SIGINT/SIGTERM.
    #[arg(long, env = "LOOM_SHUTDOWN_GRACE", default_value = "10s", value_name = "DURATION", value_parser = parse_duration)]
    shutdown_grace: Duration,
}

impl CommonArgs {
    fn into_config(self, upstream: Upstream) -> anyhow::Result<Config> {
        let mut config = Config::new(upstream);
        config.listen = self.listen;
        config.ui = self.ui;
        config.record = self.record;
        config.record_buffer_bytes = self.record_buffer;
        config.max_capture_bytes = self.max_capture_bytes;
        config.max_partial_bytes = self.max_partial_bytes;
        config.max_message_bytes =
            usize::try_from(self.max_message_bytes).context("--max-message-bytes is too large")?;
        config.allow_origins = self.allow_origins;
        config.redact_headers = self.redact_headers;
        config.keep_secrets = self.keep_secrets;
        config.shutdown_grace = self.shutdown_grace;
        // Two port-0 addresses always get different ports.
        if config.listen == config.ui && config.listen.port() != 0 {
            anyhow::bail!("--listen and --ui must differ (both are {})", config.listen);
        }
        Ok(config)
    }
}

impl RelayArgs {
    fn into_config(self) -> anyhow::Result<Config> {
        let mut config = self.common.into_config(self.upstream)?;
        config.descriptor_sets = self.descriptor_sets;
        config.protos = self.protos;
        config.proto_includes = self.proto_includes;
        config.reflect_headers = self.reflect_headers;
        config.reflection = !self.no_reflection;
        config.reflection_retry = self.reflection_retry;
        Ok(config)
    }
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

/// `1024`, `64KiB`, `256MiB`, `1GiB` (also KB/MB/GB as powers of 1000).
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size like 256MiB"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" | "k" => 1 << 10,
        "mib" | "m" => 1 << 20,
        "gib" | "g" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        other => {
            return Err(format!(
                "unknown size unit `{other}` (use B, KiB, MiB or GiB)"
            ));
        }
    };
    n.checked_mul(mult)
        .filter(|v| *v > 0)
        .ok_or_else(|| format!("`{s}` must be more than zero and fit in 64 bits"))
}

/// `500ms`, `10s`, `2m`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 10s"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "" | "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("unknown duration unit in `{s}` (use ms, s or m)")),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            eprintln!("{first} (see `loom --help`)");
            return ExitCode::from(2);
        }
    };
    if let Some(Command::Decode(args)) = cli.command {
        return decode(args);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,h2=warn,hyper=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loom: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(relay(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loom: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn relay(cli: Cli) -> anyhow::Result<()> {
    let (config, demo) = match cli.command {
        Some(Command::Demo(args)) => {
            // The demo replaces the upstream with its own backend.
            let placeholder: Upstream = "127.0.0.1:1".parse().context("placeholder upstream")?;
            (args.common.into_config(placeholder)?, true)
        }
        Some(Command::Decode(_)) => anyhow::bail!("decode runs without the relay"),
        None => (cli.relay.into_config()?, false),
    };
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {} (--listen)", config.listen))?;
    let ui = TcpListener::bind(config.ui)
        .await
        .with_context(|| format!("cannot listen on {} (--ui)", config.ui))?;
    if demo {
        loom_relay::demo::run(config, listener, ui, shutdown_signal()).await?;
    } else {
        loom_relay::run(config, listener, ui, shutdown_signal()).await?;
    }
    Ok(())
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("256MiB"), Ok(256 << 20));
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("2 GiB"), Ok(2 << 30));
        assert!(parse_size("0").is_err());
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("huge").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert!(parse_duration("10h").is_err());
    }

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
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
