//! Replaying the calls grpcurl cannot: Connect unary with `curl` (its body
//! is the bare message, so curl sends it as captured: JSON as text, other
//! codecs' bytes piped in with `printf`; a GET with the message in its
//! query), and gRPC-Web and Connect streaming with `buf curl`, which frames
//! envelopes itself and takes the requests as JSON.
//!
//! Both go where [`ReplayTo`] says, as grpcurl commands do: straight to the
//! upstream (`--unix-socket` for a socket, `https://` for TLS) or through a
//! relay, asked for the call's `:authority` (curl's `Host` header; `buf
//! curl` cannot set it, and says so). A call that came over cleartext
//! HTTP/2 is replayed with `--http2-prior-knowledge`.

use base64::Engine as _;
use base64::prelude::{BASE64_STANDARD, BASE64_URL_SAFE_NO_PAD};
use bytes::Bytes;
use serde_json::Value;

use super::protocol::{Codec, Protocol};
use super::replay::{
    Endpoint, MAX_PRINTF_BYTES, Program, REQUEST_FILE, ReplayCommand, ReplayError, ReplayMethod,
    ReplayTo, Tls, target,
};
use super::schema::LocalSchema;
use crate::header::is_binary;
use crate::pb;

/// Request headers a replay sets itself (content type, protocol version),
/// that describe the captured body (its compression, length), or that the
/// transport owns.
const PROTOCOL_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "content-encoding",
    "accept-encoding",
    "connect-protocol-version",
    "connect-content-encoding",
    "connect-accept-encoding",
    "grpc-encoding",
    "grpc-accept-encoding",
    "grpc-timeout",
    "x-grpc-web",
    "x-user-agent",
    "user-agent",
    "te",
    "host",
    "connection",
    "transfer-encoding",
];

/// What the call is, for the command: how it came (protocol, codec, HTTP
/// version as captured) and its method.
#[derive(Debug, Clone)]
pub struct CallShape {
    /// The protocol it spoke.
    pub protocol: Protocol,
    /// Its messages' codec.
    pub codec: Codec,
    /// `HTTP/2` or `HTTP/1.1`, as captured (empty: HTTP/2).
    pub http_version: String,
    /// Its method.
    pub method: ReplayMethod,
}

/// A Connect unary call (POST or GET) replayed with curl: `body` is its
/// request message, decompressed (JSON text for the JSON codec), sent as
/// is, so no schema is needed.
pub fn curl_command(
    started: &pb::CallStarted,
    call: &CallShape,
    body: &Bytes,
    to: &ReplayTo,
) -> Result<ReplayCommand, ReplayError> {
    let target = target(started, to);
    let (endpoint, authority) = target.endpoint(started);
    let mut args = Vec::new();
    let url = transport(&mut args, &endpoint, &call.http_version, Program::Curl);
    if let Some(authority) = authority {
        args.push("-H".to_owned());
        args.push(format!("host: {authority}"));
    }
    let mut notes = Vec::new();
    let mut stdin = None;
    let path = url_path(started, &call.method);
    let mut request = Vec::new();
    if call.protocol == Protocol::ConnectGet {
        let encoding = percent_encode(call.codec.name().as_bytes());
        let query = match (&call.codec, std::str::from_utf8(body)) {
            (Codec::Json, Ok(text)) => {
                format!(
                    "encoding={encoding}&message={}",
                    percent_encode(text.as_bytes())
                )
            }
            _ => format!(
                "encoding={encoding}&base64=1&message={}",
                BASE64_URL_SAFE_NO_PAD.encode(body)
            ),
        };
        let left_out = headers(&mut request, started);
        args.extend(request);
        args.push(format!("{url}{path}?connect=v1&{query}"));
        return Ok(command(Program::Curl, target, args, None, left_out, notes));
    }
    let content_type = header_text(started, "content-type")
        .map_or_else(|| call.codec.connect_content_type(), str::to_owned);
    args.push("-H".to_owned());
    args.push(format!("content-type: {content_type}"));
    args.push("-H".to_owned());
    args.push("connect-protocol-version: 1".to_owned());
    let left_out = headers(&mut request, started);
    args.extend(request);
    args.push("--data-binary".to_owned());
    match (&call.codec, std::str::from_utf8(body)) {
        (Codec::Json, Ok(text)) => args.push(text.to_owned()),
        _ if body.len() <= MAX_PRINTF_BYTES => {
            args.push("@-".to_owned());
            stdin = Some(body.clone());
            notes.push(format!(
                "the request's {} bytes ({}) are piped in",
                body.len(),
                call.codec
            ));
        }
        _ => {
            args.push(format!("@{REQUEST_FILE}"));
            notes.push(format!(
                "the request is {} bytes ({}): save its bytes as {REQUEST_FILE}",
                body.len(),
                call.codec
            ));
        }
    }
    args.push(format!("{url}{path}"));
    Ok(command(Program::Curl, target, args, stdin, left_out, notes))
}

/// A gRPC-Web or Connect streaming call replayed with `buf curl`: its
/// request messages as JSON (`requests`, proto3 JSON, concatenated for a
/// client stream), the protocol named, the schema from server reflection
/// (or the local file it came from, hinted).
pub fn buf_curl_command(
    started: &pb::CallStarted,
    call: &CallShape,
    requests: &[Value],
    to: &ReplayTo,
) -> Result<ReplayCommand, ReplayError> {
    if requests.is_empty() && !call.method.kind.client_streaming() {
        return Err(ReplayError::NoRequest);
    }
    let target = target(started, to);
    let (endpoint, authority) = target.endpoint(started);
    let mut args = vec!["--protocol".to_owned()];
    args.push(
        match call.protocol {
            Protocol::Grpc => "grpc",
            Protocol::GrpcWeb | Protocol::GrpcWebText => "grpcweb",
            Protocol::ConnectUnary | Protocol::ConnectStream | Protocol::ConnectGet => "connect",
        }
        .to_owned(),
    );
    let url = transport(&mut args, &endpoint, &call.http_version, Program::BufCurl);
    let mut notes = Vec::new();
    if call.protocol == Protocol::GrpcWebText {
        notes.push("buf curl speaks gRPC-Web's binary form; the call used its text form".into());
    }
    if let Some(authority) = authority {
        notes.push(format!(
            "buf curl cannot ask for :authority {authority}; the relay routes it by its own rules"
        ));
    }
    let reflection = call.method.local_schema.is_none();
    let cleartext_http1 = !matches!(endpoint, Endpoint::Tcp { tls: Tls::Yes, .. })
        && !args.iter().any(|a| a == "--http2-prior-knowledge");
    if reflection && cleartext_http1 {
        notes.push(
            "buf curl's server reflection needs HTTP/2: add --http2-prior-knowledge, \
             or --schema with the service's schema"
                .into(),
        );
    }
    let mut request = Vec::new();
    let left_out = headers(&mut request, started);
    args.extend(request);
    if !requests.is_empty() {
        let data: Vec<String> = requests.iter().map(Value::to_string).collect();
        args.push("-d".to_owned());
        args.push(data.join(" "));
    }
    args.push(format!("{url}{}", url_path(started, &call.method)));
    let mut cmd = command(Program::BufCurl, target, args, None, left_out, notes);
    cmd.schema_hint = call.method.local_schema.clone().map(|local| match local {
        // buf tells a descriptor set by its extension; say it is one.
        LocalSchema::DescriptorSet(path) if path.ends_with(".binpb") => {
            vec!["--schema".to_owned(), path]
        }
        LocalSchema::DescriptorSet(path) => {
            vec!["--schema".to_owned(), format!("{path}#format=binpb")]
        }
        LocalSchema::Proto(path) => vec!["--schema".to_owned(), path],
    });
    Ok(cmd)
}

fn command(
    program: Program,
    target: super::replay::Target,
    args: Vec<String>,
    stdin: Option<Bytes>,
    left_out: Vec<(String, String)>,
    notes: Vec<String>,
) -> ReplayCommand {
    ReplayCommand {
        program,
        target,
        args,
        stdin,
        left_out,
        schema_hint: None,
        notes,
    }
}

/// The transport's flags (`--unix-socket`, `--http2-prior-knowledge`,
/// curl's `--http1.1`) pushed onto `args`, and the URL's scheme and
/// authority (`http://localhost` for a socket).
fn transport(
    args: &mut Vec<String>,
    endpoint: &Endpoint,
    http_version: &str,
    program: Program,
) -> String {
    let http2 = http_version.is_empty() || http_version.eq_ignore_ascii_case("HTTP/2");
    match endpoint {
        Endpoint::Unix(path) => {
            args.push("--unix-socket".to_owned());
            args.push(path.clone());
            if http2 {
                args.push("--http2-prior-knowledge".to_owned());
            }
            "http://localhost".to_owned()
        }
        Endpoint::Tcp {
            address,
            tls: Tls::No,
        } => {
            if http2 {
                args.push("--http2-prior-knowledge".to_owned());
            }
            format!("http://{address}")
        }
        Endpoint::Tcp {
            address,
            tls: Tls::Yes,
        } => {
            // TLS negotiates HTTP/2 where both sides can; curl is told the
            // version the call used.
            if !http2 && program == Program::Curl {
                args.push("--http1.1".to_owned());
            }
            format!("https://{address}")
        }
    }
}

/// The URL's path: the call's `:path` as captured (a routing prefix kept),
/// or `/package.Service/Method`.
fn url_path(started: &pb::CallStarted, method: &ReplayMethod) -> String {
    if started.path.starts_with('/') {
        started.path.clone()
    } else {
        format!("/{}", method.full_name)
    }
}

/// The captured request headers a replay sends on: `-H 'name: value'` each
/// (a `-bin` value base64, as Connect and gRPC-Web send it), but the
/// protocol's own; returns those left out (redacted, not text).
fn headers(args: &mut Vec<String>, started: &pb::CallStarted) -> Vec<(String, String)> {
    let mut left_out = Vec::new();
    for header in &started.headers {
        let name = header.name.to_ascii_lowercase();
        if name.starts_with(':') || PROTOCOL_HEADERS.contains(&name.as_str()) {
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
    left_out
}

/// A request header's text value, as captured (not redacted).
fn header_text<'a>(started: &'a pb::CallStarted, name: &str) -> Option<&'a str> {
    started
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name) && !h.redacted)
        .and_then(|h| std::str::from_utf8(&h.value).ok())
        .filter(|v| !v.is_empty())
}

/// `bytes` percent-encoded for a URL's query: RFC 3986's unreserved
/// characters as they are, every other byte as `%XX`.
fn percent_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
