//! "Copy as grpcurl": a shell command replaying a captured gRPC call's
//! request, straight to the upstream the call went to (`-plaintext` for
//! `http://`, TLS for `https://`, `-unix` for a Unix socket), or through a
//! relay with the call's own `:authority`, so that the relay routes it as
//! it routed the call ([`ReplayTo`]). The command says which it did
//! ([`super::replay::Target`]). Other protocols are replayed with curl and
//! `buf curl` ([`super::curl`]).

use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;
use serde_json::Value;

use super::replay::{
    Endpoint, Program, ReplayCommand, ReplayError, ReplayMethod, ReplayTo, Tls, target,
};
use super::schema::LocalSchema;
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

/// The flags that go first (`-unix`, `-plaintext`) and the address.
fn endpoint_args(endpoint: Endpoint) -> (Vec<String>, String) {
    match endpoint {
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

/// Builds the command for a call that started as `started`, calling
/// `method`, whose request messages are `requests` (proto3 JSON, without
/// defaults or annotations), sent where `to` says.
pub fn grpcurl_command(
    started: &pb::CallStarted,
    method: impl Into<ReplayMethod>,
    requests: &[Value],
    to: &ReplayTo,
) -> Result<ReplayCommand, ReplayError> {
    let method = method.into();
    if requests.is_empty() && !method.kind.client_streaming() {
        return Err(ReplayError::NoRequest);
    }
    let target = target(started, to);
    let (endpoint, authority) = target.endpoint(started);
    let (mut args, address) = endpoint_args(endpoint);
    if let Some(authority) = authority {
        args.push("-authority".to_owned());
        args.push(authority);
    }
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
    args.push(method.full_name);
    let schema_hint = method.local_schema.map(|local| match local {
        LocalSchema::DescriptorSet(path) => vec!["-protoset".to_owned(), path],
        LocalSchema::Proto(path) => vec!["-proto".to_owned(), path],
    });
    Ok(ReplayCommand {
        program: Program::Grpcurl,
        target,
        args,
        stdin: None,
        left_out,
        schema_hint,
        notes: Vec::new(),
    })
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

#[cfg(test)]
mod tests;
