//! Format 1.4: the protocol of each call (`CallStarted.protocol`, `codec`,
//! `codec_name`, `http_version`) and its status in the protocol's own form
//! (`CallEnded.connect_code`, `response_http_status`, `status_source`). The
//! fixture `capture-v1.4-protocols.loom` has one call per protocol of the
//! gRPC family; it must read back with those fields, and files of 1.0 to
//! 1.3 read as gRPC over HTTP/2.

use loom_shared::capture;
use loom_shared::header::header;
use loom_shared::pb::{self, Codec, RpcProtocol};

use super::endings::{ENDINGS, endings_events};
use super::tls::{TLS, tls_events};
use super::{BASIC, UPSTREAM, expected_events, file_of_version, load, read_fixture};

pub(super) const PROTOCOLS: &str = "capture-v1.4-protocols.loom";

/// When the fixture's first call started: 2023-11-14T23:00:00Z.
const START: i64 = 1_700_002_800_000_000_000;

/// Each call: id, protocol, codec (and its name), HTTP version, content type.
const CALLS: [(u64, RpcProtocol, Codec, &str, &str, &str); 7] = [
    (
        1,
        RpcProtocol::Grpc,
        Codec::Proto,
        "",
        "HTTP/2",
        "application/grpc",
    ),
    (
        2,
        RpcProtocol::GrpcWeb,
        Codec::Proto,
        "",
        "HTTP/1.1",
        "application/grpc-web+proto",
    ),
    (
        3,
        RpcProtocol::GrpcWebText,
        Codec::Proto,
        "",
        "HTTP/1.1",
        "application/grpc-web-text",
    ),
    (
        4,
        RpcProtocol::ConnectUnary,
        Codec::Json,
        "",
        "HTTP/1.1",
        "application/json",
    ),
    (
        5,
        RpcProtocol::ConnectStream,
        Codec::Proto,
        "",
        "HTTP/2",
        "application/connect+proto",
    ),
    (6, RpcProtocol::ConnectGet, Codec::Proto, "", "HTTP/1.1", ""),
    (
        7,
        RpcProtocol::ConnectUnary,
        Codec::Other,
        "cbor",
        "HTTP/2",
        "application/cbor",
    ),
];

/// How each call ended: gRPC status, Connect's code, HTTP status, source.
const ENDS: [(u32, &str, u32, &str); 7] = [
    (0, "", 200, "trailers"),
    (0, "", 200, "body-trailers"),
    (5, "", 200, "body-trailers"),
    (5, "not_found", 404, "http-status"),
    (3, "invalid_argument", 200, "end-stream"),
    (0, "", 200, "http-status"),
    (12, "unimplemented", 404, "http-status"),
];

pub(super) fn protocols_events() -> Vec<pb::Event> {
    let mut events = Vec::new();
    for ((id, protocol, codec, codec_name, http, content_type), (code, connect, status, source)) in
        CALLS.into_iter().zip(ENDS)
    {
        let method = if protocol == RpcProtocol::ConnectGet {
            "GET"
        } else {
            "POST"
        };
        let mut headers = vec![header("x-request-id", format!("req-{id}"))];
        if !content_type.is_empty() {
            headers.insert(0, header("content-type", content_type));
        }
        events.push(pb::Event::new(
            id,
            pb::CallStarted {
                start_unix_nanos: START + id as i64 * 1_000_000_000,
                path: "/echo.Echo/Say".into(),
                authority: "localhost:9999".into(),
                headers,
                upstream: UPSTREAM.into(),
                scheme: "http".into(),
                method: method.into(),
                protocol: protocol.into(),
                codec: codec.into(),
                codec_name: codec_name.into(),
                http_version: http.into(),
                ..Default::default()
            },
        ));
        events.push(pb::Event::new(
            id,
            pb::CallEnded {
                offset_nanos: 2_000_000,
                grpc_status: Some(code),
                grpc_message: if code == 0 {
                    String::new()
                } else {
                    format!("call {id} failed")
                },
                connect_code: connect.into(),
                response_http_status: status,
                status_source: source.into(),
                ..Default::default()
            },
        ));
    }
    events
}

pub(super) fn protocols_bytes() -> Vec<u8> {
    file_of_version(4, &protocols_events())
}

#[test]
fn protocols_fixture_reads_back_with_each_calls_protocol() {
    let capture = read_fixture(PROTOCOLS, 4, &protocols_events());
    let started: Vec<&pb::CallStarted> = capture
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            Some(pb::event::Kind::CallStarted(s)) => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(started.len(), CALLS.len());
    for (s, (_, protocol, codec, name, http, _)) in started.iter().zip(CALLS) {
        assert_eq!((s.protocol(), s.codec()), (protocol, codec));
        assert_eq!(
            (s.codec_name.as_str(), s.http_version.as_str()),
            (name, http)
        );
    }
}

#[test]
fn files_before_1_4_read_as_grpc_over_http2() {
    for (name, events) in [
        (BASIC, expected_events()),
        (ENDINGS, endings_events()),
        (TLS, tls_events()),
    ] {
        let capture = capture::read_capture(&load(name)).expect("an older fixture");
        assert_eq!(capture.events, events, "{name}");
        for event in &capture.events {
            if let Some(pb::event::Kind::CallStarted(s)) = &event.kind {
                assert_eq!(s.protocol(), RpcProtocol::Unspecified, "{name}");
                assert_eq!(s.codec(), Codec::Unspecified, "{name}");
                assert!(s.http_version.is_empty(), "{name}");
            }
            if let Some(pb::event::Kind::CallEnded(e)) = &event.kind {
                assert!(
                    e.connect_code.is_empty() && e.status_source.is_empty(),
                    "{name}"
                );
            }
        }
    }
}
