//! "Copy as grpcurl": a shell command replaying a captured call's request.

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

/// A grpcurl command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcurlCommand {
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
/// without defaults or annotations).
pub fn grpcurl_command(
    started: &pb::CallStarted,
    method: &ResolvedMethod,
    requests: &[Value],
) -> Result<GrpcurlCommand, GrpcurlError> {
    if requests.is_empty() && !method.kind().client_streaming() {
        return Err(GrpcurlError::NoRequest);
    }
    let (address, plaintext) = address(started);
    let mut args = Vec::new();
    let mut left_out = Vec::new();
    if plaintext {
        args.push("-plaintext".to_owned());
    }
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
        args,
        left_out,
        schema_hint,
    })
}

/// `host:port` the call went to, and whether it was cleartext.
fn address(started: &pb::CallStarted) -> (String, bool) {
    let upstream = started.upstream.trim_end_matches('/');
    if let Some(rest) = upstream.strip_prefix("http://") {
        (rest.to_owned(), true)
    } else if let Some(rest) = upstream.strip_prefix("https://") {
        (rest.to_owned(), false)
    } else if upstream.is_empty() {
        (started.authority.clone(), started.scheme != "https")
    } else {
        (upstream.to_owned(), started.scheme != "https")
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
