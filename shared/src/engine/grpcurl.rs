//! "Copy as grpcurl": a shell command replaying a captured call's request,
//! straight to the upstream the call went to (`-plaintext` for `http://`,
//! TLS for `https://`, `-unix` for a Unix socket), or through a relay with
//! the call's own `:authority`, so that the relay routes it as it routed
//! the call ([`ReplayTo`]). The command says which it did ([`Target`]).

use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;
use serde_json::Value;

use super::schema::{LocalSchema, ResolvedMethod};
use crate::header::is_binary;
use crate::pb;

/// Request headers grpcurl sets itself (or that `-max-time` replaces).
const TRANSPORT_HEADERS: &[&str] = &[
    "content-type",
    "te",
    "grpc-timeout",
    "grpc-encoding",
    "grpc-accept-encoding",
    "user-agent",
    "content-length",
    "connection",
    "host",
];

/// Why no command can be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrpcurlError {
    /// The session has no call with this id.
    #[error("no call {0} in this session")]
    NoSuchCall(u64),
    /// The call's start (its path, authority and metadata) was not captured.
    #[error("the call's start was not captured")]
    NotStarted,
    /// The schema does not know the method, so requests cannot be written as
    /// JSON; the reason in words, as [`super::Schema::resolve`] gives it.
    #[error("{0}")]
    NoSchema(String),
    /// A request message could not be rendered as JSON with the schema
    /// (truncated, undecompressable, or not of the method's input type).
    #[error("request {index} does not decode with the schema: {reason}")]
    Undecodable {
        /// The message's position among the call's requests, from 0.
        index: usize,
        /// Why, as [`super::Body::note`] gives it.
        reason: String,
    },
    /// No request message was captured and the method is not
    /// client-streaming, so there is nothing to send. (A client stream of
    /// no messages replays as such.)
    #[error("no request message was captured")]
    NoRequest,
}

/// Where a replayed call should go.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ReplayTo {
    /// Straight to the upstream the call was forwarded to (through the
    /// relay at the call's `:authority` when the capture does not say).
    #[default]
    Upstream,
    /// Through a relay that takes calls at this address (`host:port`, or
    /// `unix:/path`), asked for the call's own `:authority`.
    Relay(String),
}

/// Where a command sends the call, as the UI says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The call's upstream, as captured: `http://host:port`,
    /// `https://host:port` or `unix:/path`.
    Upstream(String),
    /// A relay at `address`, asked for `authority` (the call's own).
    Relay {
        /// `host:port` or `unix:/path`.
        address: String,
        /// The call's `:authority`; empty when it had none.
        authority: String,
    },
}

impl Target {
    /// Which it is, in words: `straight to the upstream https://api:443
    /// (TLS)`, `through the relay at 127.0.0.1:9999, as :authority api:443`.
    pub fn describe(&self) -> String {
        match self {
            Target::Upstream(upstream) => match Endpoint::of(upstream) {
                Endpoint::Unix(path) => format!(
                    "straight to the upstream's Unix socket {path} (from the relay's machine)"
                ),
                Endpoint::Tcp { tls: Tls::Yes, .. } => {
                    format!("straight to the upstream {upstream} (TLS)")
                }
                Endpoint::Tcp { tls: Tls::No, .. } => {
                    format!("straight to the upstream {upstream} (cleartext)")
                }
            },
            Target::Relay { address, authority }
                if authority.is_empty() || authority == address =>
            {
                format!("through the relay at {address}")
            }
            Target::Relay { address, authority } => format!(
                "through the relay at {address}, as :authority {authority}, \
                 which it routes as it routed this call"
            ),
        }
    }
}

/// Whether a hop is TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tls {
    Yes,
    No,
}

/// An address as grpcurl takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Endpoint {
    /// `-unix PATH` (always cleartext).
    Unix(String),
    /// `host:port`, with or without TLS.
    Tcp { address: String, tls: Tls },
}

impl Endpoint {
    /// `unix:/path` (gRPC's `unix:path` and `unix:///path` too),
    /// `http://host:port`, `https://host:port`, or a bare `host:port`
    /// (cleartext).
    fn of(text: &str) -> Endpoint {
        let text = text.trim_end_matches('/');
        if let Some(path) = text.strip_prefix("unix:") {
            let path = match path.strip_prefix("//") {
                Some(rest) => rest,
                None => path,
            };
            return Endpoint::Unix(path.to_owned());
        }
        let (address, tls) = if let Some(rest) = text.strip_prefix("https://") {
            (rest, Tls::Yes)
        } else {
            (text.strip_prefix("http://").unwrap_or(text), Tls::No)
        };
        Endpoint::Tcp {
            address: address.to_owned(),
            tls,
        }
    }

    /// The flags that go first (`-unix`, `-plaintext`) and the address.
    fn args(self) -> (Vec<String>, String) {
        match self {
            Endpoint::Unix(path) => (vec!["-unix".into(), "-plaintext".into()], path),
            Endpoint::Tcp {
                address,
                tls: Tls::No,
            } => (vec!["-plaintext".into()], address),
            Endpoint::Tcp {
                address,
                tls: Tls::Yes,
            } => (Vec::new(), address),
        }
    }
}

/// A grpcurl command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcurlCommand {
    /// Where it sends the call.
    pub target: Target,
    /// The arguments after `grpcurl`, unquoted.
    pub args: Vec<String>,
    /// Headers not on the command line, with why (`redacted`, ...).
    pub left_out: Vec<(String, String)>,
    /// What to add when the server has no reflection (the schema came from
    /// local files): `-protoset PATH` or `-proto PATH`.
    pub schema_hint: Option<Vec<String>>,
}

impl GrpcurlCommand {
    /// The command as one line of shell, every argument quoted as needed, and
    /// a trailing comment for what was left out.
    pub fn to_shell(&self) -> String {
        let mut line = String::from("grpcurl");
        for arg in &self.args {
            line.push(' ');
            line.push_str(&shell_quote(arg));
        }
        let mut comments = Vec::new();
        if !self.left_out.is_empty() {
            let names: Vec<String> = self
                .left_out
                .iter()
                .map(|(name, why)| format!("{name} ({why})"))
                .collect();
            comments.push(format!("left out: {}", names.join(", ")));
        }
        if let Some(hint) = &self.schema_hint {
            let hint: Vec<String> = hint.iter().map(|a| shell_quote(a)).collect();
            comments.push(format!(
                "schema from local files; without server reflection add: {}",
                hint.join(" ")
            ));
        }
        if !comments.is_empty() {
            line.push_str(" # ");
            // Nothing after the `#` may start a new shell line.
            let comment: String = comments
                .join("; ")
                .chars()
                .map(|c| if c.is_control() { '?' } else { c })
                .collect();
            line.push_str(&comment);
        }
        line
    }
}

/// Builds the command for a call that started as `started`, calling
/// `method`, whose request messages decoded to `requests` (proto3 JSON,
/// without defaults or annotations), sent where `to` says.
pub fn grpcurl_command(
    started: &pb::CallStarted,
    method: &ResolvedMethod,
    requests: &[Value],
    to: &ReplayTo,
) -> Result<GrpcurlCommand, GrpcurlError> {
    if requests.is_empty() && !method.kind().client_streaming() {
        return Err(GrpcurlError::NoRequest);
    }
    let target = target(started, to);
    let (mut args, address) = match &target {
        Target::Upstream(upstream) => Endpoint::of(upstream).args(),
        Target::Relay { address, authority } => {
            let (mut args, address) = match Endpoint::of(address) {
                Endpoint::Unix(path) => Endpoint::Unix(path),
                Endpoint::Tcp { address, .. } => Endpoint::Tcp {
                    address,
                    tls: client_tls(started),
                },
            }
            .args();
            if !authority.is_empty() && authority != &address {
                args.push("-authority".to_owned());
                args.push(authority.clone());
            }
            (args, address)
        }
    };
    let mut left_out = Vec::new();
    let timeout = started
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("grpc-timeout") && !h.redacted)
        .and_then(|h| std::str::from_utf8(&h.value).ok())
        .and_then(grpc_timeout_seconds);
    if let Some(seconds) = timeout {
        args.push("-max-time".to_owned());
        args.push(seconds);
    }
    for header in &started.headers {
        let name = header.name.to_ascii_lowercase();
        if name.starts_with(':') || TRANSPORT_HEADERS.contains(&name.as_str()) {
            continue;
        }
        if header.redacted {
            left_out.push((header.name.clone(), "redacted".to_owned()));
            continue;
        }
        let value = if is_binary(&name) {
            BASE64_STANDARD.encode(&header.value)
        } else {
            match std::str::from_utf8(&header.value) {
                Ok(text) if !text.contains('\0') => text.to_owned(),
                _ => {
                    left_out.push((header.name.clone(), "not text".to_owned()));
                    continue;
                }
            }
        };
        args.push("-H".to_owned());
        args.push(format!("{}: {value}", header.name));
    }
    let data: Vec<String> = requests.iter().map(Value::to_string).collect();
    args.push("-d".to_owned());
    args.push(data.join(" "));
    args.push(address);
    args.push(method.path.full_name());
    let schema_hint =
        method
            .source
            .as_ref()
            .and_then(|s| s.local_file())
            .map(|local| match local {
                LocalSchema::DescriptorSet(path) => vec!["-protoset".to_owned(), path],
                LocalSchema::Proto(path) => vec!["-proto".to_owned(), path],
            });
    Ok(GrpcurlCommand {
        target,
        args,
        left_out,
        schema_hint,
    })
}

/// Where the command goes: as `to` says, but through the relay the client
/// dialed (its `:authority`) when the capture does not name the upstream.
fn target(started: &pb::CallStarted, to: &ReplayTo) -> Target {
    let relay = |address: &str| Target::Relay {
        address: address.to_owned(),
        authority: started.authority.clone(),
    };
    match to {
        ReplayTo::Upstream if started.upstream.is_empty() => relay(&started.authority),
        ReplayTo::Upstream => {
            let upstream = started.upstream.trim_end_matches('/');
            // A bare `host:port` (no scheme) is as secure as the client's hop.
            let known = ["http://", "https://", "unix:"];
            if known.iter().any(|scheme| upstream.starts_with(scheme)) {
                Target::Upstream(upstream.to_owned())
            } else {
                let scheme = match client_tls(started) {
                    Tls::Yes => "https",
                    Tls::No => "http",
                };
                Target::Upstream(format!("{scheme}://{upstream}"))
            }
        }
        ReplayTo::Relay(address) => relay(address),
    }
}

/// Whether the client's hop to the relay was TLS.
fn client_tls(started: &pb::CallStarted) -> Tls {
    if started.scheme == "https" || started.client_tls.is_some() {
        Tls::Yes
    } else {
        Tls::No
    }
}

/// A `grpc-timeout` value (`100m`, `5S`, ...) as seconds for `-max-time`.
pub fn grpc_timeout_seconds(value: &str) -> Option<String> {
    let value = value.trim();
    let digits = value.get(..value.len().checked_sub(1)?)?;
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    let nanos_per_unit: u64 = match value.as_bytes().last()? {
        b'H' => 3_600_000_000_000,
        b'M' => 60_000_000_000,
        b'S' => 1_000_000_000,
        b'm' => 1_000_000,
        b'u' => 1_000,
        b'n' => 1,
        _ => return None,
    };
    let nanos = u128::from(amount) * u128::from(nanos_per_unit);
    let secs = nanos / 1_000_000_000;
    let frac = nanos % 1_000_000_000;
    if frac == 0 {
        Some(secs.to_string())
    } else {
        let frac = format!("{frac:09}");
        Some(format!("{secs}.{}", frac.trim_end_matches('0')))
    }
}

/// Quotes `arg` for a shell: as is when it only has safe characters, else
/// in single quotes (a `'` inside becomes `'\''`). An argument holding
/// control characters (a newline, an escape) is written in bash's `$'…'`
/// form with them escaped, so that the command stays on one line and
/// nothing raw reaches the terminal.
pub fn shell_quote(arg: &str) -> String {
    let safe = !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(&b));
    if safe {
        return arg.to_owned();
    }
    if !arg.chars().any(char::is_control) {
        return format!("'{}'", arg.replace('\'', "'\\''"));
    }
    let mut out = String::from("$'");
    for c in arg.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests;
