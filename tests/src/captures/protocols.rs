//! A capture of calls of every protocol of the gRPC family (format 1.4),
//! all to the Probe backend, whose schema came by reflection:
//! [`protocols_capture`]. What each call is, and how it ended, is in
//! [`PROTOCOL_CALLS`].

use std::io::Write as _;

use bytes::Bytes;
use loom_shared::capture;
use loom_shared::header::header;
use loom_shared::pb::{self, Codec, Direction, RpcProtocol};
use loom_shared::rpc;
use prost::Message as _;

use super::START_NANOS;
use crate::probe::{ProbeReply, ProbeRequest};
use crate::reflection::{PROBE_SERVICE, TEST_FDS};

/// Where every call of [`protocols_capture`] went.
pub const PROTOCOLS_UPSTREAM: &str = "http://127.0.0.1:50051";

/// One call of [`protocols_capture`].
#[derive(Debug, Clone, Copy)]
pub struct ProtocolCall {
    /// Its call id.
    pub id: u64,
    /// Its protocol, as `loom decode` and the `protocol=` filter spell it.
    pub protocol: &'static str,
    /// Its codec's name.
    pub codec: &'static str,
    /// Its HTTP version.
    pub http_version: &'static str,
    /// Its request's `text`.
    pub text: &'static str,
    /// The gRPC status it ended with.
    pub code: u32,
    /// Connect's code string, for a Connect call that failed.
    pub connect_code: &'static str,
    /// The command that replays it.
    pub program: &'static str,
}

/// The calls of [`protocols_capture`], in order.
pub const PROTOCOL_CALLS: [ProtocolCall; 7] = [
    ProtocolCall {
        id: 1,
        protocol: "grpc",
        codec: "proto",
        http_version: "HTTP/2",
        text: "grpc one",
        code: 0,
        connect_code: "",
        program: "grpcurl",
    },
    ProtocolCall {
        id: 2,
        protocol: "grpc-web",
        codec: "proto",
        http_version: "HTTP/1.1",
        text: "web one",
        code: 0,
        connect_code: "",
        program: "buf curl",
    },
    // Its JSON has a field the schema does not: `colour`.
    ProtocolCall {
        id: 3,
        protocol: "connect-unary",
        codec: "json",
        http_version: "HTTP/1.1",
        text: "connect one",
        code: 5,
        connect_code: "not_found",
        program: "curl",
    },
    // Its body is gzip (`content-encoding`).
    ProtocolCall {
        id: 4,
        protocol: "connect-unary",
        codec: "json",
        http_version: "HTTP/2",
        text: "connect gzip",
        code: 0,
        connect_code: "",
        program: "curl",
    },
    // Two replies, then Connect's end-of-stream with an error.
    ProtocolCall {
        id: 5,
        protocol: "connect-stream",
        codec: "proto",
        http_version: "HTTP/2",
        text: "stream one",
        code: 3,
        connect_code: "invalid_argument",
        program: "buf curl",
    },
    ProtocolCall {
        id: 6,
        protocol: "connect-get",
        codec: "proto",
        http_version: "HTTP/1.1",
        text: "get one",
        code: 0,
        connect_code: "",
        program: "curl",
    },
    ProtocolCall {
        id: 7,
        protocol: "grpc-web-text",
        codec: "proto",
        http_version: "HTTP/1.1",
        text: "text one",
        code: 5,
        connect_code: "",
        program: "buf curl",
    },
];

/// The message `google.rpc.Status` a failed call carries.
pub const NOT_FOUND_MESSAGE: &str = "no probe named connect one";

fn protocol_of(key: &str) -> RpcProtocol {
    match key {
        "grpc-web" => RpcProtocol::GrpcWeb,
        "grpc-web-text" => RpcProtocol::GrpcWebText,
        "connect-unary" => RpcProtocol::ConnectUnary,
        "connect-stream" => RpcProtocol::ConnectStream,
        "connect-get" => RpcProtocol::ConnectGet,
        _ => RpcProtocol::Grpc,
    }
}

/// What the call's content type is.
fn content_type(call: &ProtocolCall) -> Option<&'static str> {
    Some(match (call.protocol, call.codec) {
        ("grpc", _) => "application/grpc",
        ("grpc-web", _) => "application/grpc-web+proto",
        ("grpc-web-text", _) => "application/grpc-web-text",
        ("connect-unary", "json") => "application/json",
        ("connect-unary", _) => "application/proto",
        ("connect-stream", _) => "application/connect+proto",
        _ => return None,
    })
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(data).expect("gzip in memory");
    gz.finish().expect("gzip in memory")
}

/// The events of one call of [`PROTOCOL_CALLS`].
fn events(call: &ProtocolCall) -> Vec<pb::Event> {
    let id = call.id;
    let json = call.codec == "json";
    let stream = call.protocol == "connect-stream";
    let mut headers = vec![header("x-request-id", format!("req-{id}"))];
    if let Some(content_type) = content_type(call) {
        headers.insert(0, header("content-type", content_type));
    }
    if call.protocol == "connect-unary" {
        headers.push(header("connect-protocol-version", "1"));
    }
    let compressed = id == 4;
    if compressed {
        headers.push(header("content-encoding", "gzip"));
    }
    let path = if stream {
        format!("/{PROBE_SERVICE}/ServerStream")
    } else {
        format!("/{PROBE_SERVICE}/Unary")
    };
    let mut out = vec![pb::Event::new(
        id,
        pb::CallStarted {
            start_unix_nanos: START_NANOS + id as i64 * 1_000_000,
            path,
            authority: "127.0.0.1:9999".into(),
            headers,
            upstream: PROTOCOLS_UPSTREAM.into(),
            scheme: "http".into(),
            method: if call.protocol == "connect-get" {
                "GET"
            } else {
                "POST"
            }
            .into(),
            protocol: protocol_of(call.protocol).into(),
            codec: if json { Codec::Json } else { Codec::Proto }.into(),
            http_version: call.http_version.into(),
            ..Default::default()
        },
    )];
    let request: Vec<u8> = match (json, id) {
        (true, 3) => format!(r#"{{"text": "{}", "colour": "red"}}"#, call.text).into_bytes(),
        (true, _) => format!(r#"{{"text": "{}"}}"#, call.text).into_bytes(),
        (false, _) => ProbeRequest {
            text: call.text.into(),
            ..Default::default()
        }
        .encode_to_vec(),
    };
    let request = if compressed { gzip(&request) } else { request };
    out.push(pb::Event::new(
        id,
        pb::Message::new(Direction::Request, 20_000, compressed, request),
    ));
    out.push(pb::Event::new(
        id,
        pb::ResponseHeaders {
            offset_nanos: 300_000,
            http_status: if call.connect_code == "not_found" {
                404
            } else {
                200
            },
            headers: Vec::new(),
        },
    ));
    let replies = match (call.code, stream) {
        (_, true) => 2,
        (0, false) => 1,
        _ => 0,
    };
    for n in 0..replies {
        let reply = if json {
            format!(r#"{{"text":"echo: {}","index":{id}}}"#, call.text).into_bytes()
        } else {
            ProbeReply {
                text: format!("echo: {}", call.text),
                index: n + 1,
                ..Default::default()
            }
            .encode_to_vec()
        };
        out.push(pb::Event::new(
            id,
            pb::Message::new(Direction::Response, 350_000 + u64::from(n), false, reply),
        ));
    }
    let source = match call.protocol {
        "grpc" => "trailers",
        "grpc-web" | "grpc-web-text" => "body-trailers",
        "connect-stream" => "end-stream",
        _ => "http-status",
    };
    let details = if call.connect_code == "not_found" {
        Bytes::from(
            rpc::Status {
                code: 5,
                message: NOT_FOUND_MESSAGE.into(),
                details: Vec::new(),
            }
            .encode_to_vec(),
        )
    } else {
        Bytes::new()
    };
    out.push(pb::Event::new(
        id,
        pb::CallEnded {
            offset_nanos: 400_000,
            grpc_status: Some(call.code),
            grpc_message: if call.code == 0 {
                String::new()
            } else {
                format!("call {id} failed")
            },
            grpc_status_details: details,
            connect_code: call.connect_code.into(),
            response_http_status: if call.connect_code == "not_found" {
                404
            } else {
                200
            },
            status_source: source.into(),
            ..Default::default()
        },
    ));
    out
}

/// The capture: the Probe schema (reflected from [`PROTOCOLS_UPSTREAM`]),
/// then the calls of [`PROTOCOL_CALLS`].
pub fn protocols_capture() -> Vec<u8> {
    let mut all = vec![pb::Event::descriptors(pb::Descriptors::schema(
        Bytes::from_static(TEST_FDS),
        vec![PROBE_SERVICE.into()],
        pb::SchemaOrigin::ReflectionV1,
        "",
        PROTOCOLS_UPSTREAM,
        Vec::new(),
    ))];
    for call in &PROTOCOL_CALLS {
        all.extend(events(call));
    }
    capture::encode_file(&all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use loom_shared::engine::{Protocol, Session};

    #[test]
    fn the_protocols_capture_reads_back_with_each_calls_protocol() {
        let capture = capture::read_capture(&protocols_capture()).expect("a valid capture");
        let session = Session::from_events(capture.events);
        assert_eq!(session.len(), PROTOCOL_CALLS.len());
        for call in &PROTOCOL_CALLS {
            let summary = session.call(call.id).expect("the call");
            assert_eq!(summary.protocol.key(), call.protocol, "call {}", call.id);
            assert_eq!(Protocol::parse(call.protocol), Some(summary.protocol));
        }
        assert_eq!(session.protocols().len(), 6);
    }
}
