//! Golden capture files, one set per format version: the checked-in
//! fixtures must keep decoding to exactly the events built here, so a format
//! change that would break old captures fails this test. 1.0 and 1.1 are
//! here; 1.2 (how each side ended a call) is in [`endings`], 1.3 (TLS per
//! hop) in [`tls`], 1.4 (each call's protocol of the gRPC family) in
//! [`protocols`].
//!
//! To (re)write the fixtures after an intended change:
//!
//! ```sh
//! LOOM_UPDATE_GOLDEN=1 cargo test -p loom-tests --test it -- capture_golden::
//! ```

use std::io::Read as _;
use std::path::PathBuf;
use std::sync::Once;

use bytes::Bytes;
use loom_shared::capture::{self, Truncation};
use loom_shared::engine::SchemaSource;
use loom_shared::header::{header, percent_decode_grpc_message};
use loom_shared::pb::{self, event::Kind};

mod endings;
mod protocols;
mod tls;

const BASIC: &str = "capture-v1.0-basic.loom";
const TRUNCATED: &str = "capture-v1.0-truncated.loom";
const SCHEMAS: &str = "capture-v1.1-schemas.loom";
/// How many bytes the truncated fixture lacks at the end.
const CUT: usize = 7;

/// `gzip.compress(b"\x0a\x0bhello, loom", mtime=0)`: a gzip-compressed
/// `Say { text: "hello, loom" }`.
const GZIP_PAYLOAD: [u8; 33] = [
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xe3, 0xe2, 0xce, 0x48, 0xcd, 0xc9,
    0xc9, 0xd7, 0x51, 0xc8, 0xc9, 0xcf, 0xcf, 0x05, 0x00, 0xc9, 0x83, 0x3f, 0x8b, 0x0d, 0x00, 0x00,
    0x00,
];
const GZIP_PLAIN: &[u8] = b"\x0a\x0bhello, loom";

/// An encoded `google.rpc.Status { code: 3, message: "name must not be empty" }`.
const STATUS_DETAILS: &[u8] = b"\x08\x03\x12\x16name must not be empty";

/// A minimal valid `google.protobuf.FileDescriptorSet`: one file `echo.proto`,
/// package `echo`, with an empty service `Echo`.
const FILE_DESCRIPTOR_SET: &[u8] = b"\x0a\x1a\
    \x0a\x0aecho.proto\
    \x12\x04echo\
    \x32\x06\x0a\x04Echo";

const UPSTREAM: &str = "http://127.0.0.1:50051";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// The events of the basic fixture, built field by field.
fn expected_events() -> Vec<pb::Event> {
    vec![
        // Call 1: a unary call with a gzip-compressed response.
        pb::Event {
            call_id: 1,
            kind: Some(Kind::CallStarted(pb::CallStarted {
                client_tls: None,
                start_unix_nanos: 1_700_000_000_000_000_000,
                path: "/echo.Echo/Say".into(),
                authority: "localhost:7000".into(),
                headers: vec![
                    header("x-request-id", "req-42"),
                    header("x-trace-bin", Bytes::from_static(&[0xde, 0xad, 0xbe, 0xef])),
                    pb::Header {
                        name: "authorization".into(),
                        value: Bytes::new(),
                        redacted: true,
                    },
                    header("grpc-accept-encoding", "gzip"),
                ],
                upstream: UPSTREAM.into(),
                scheme: "http".into(),
                method: "POST".into(),
                ..Default::default()
            })),
        },
        pb::Event {
            call_id: 1,
            kind: Some(Kind::Message(pb::Message {
                direction: pb::Direction::Request.into(),
                offset_nanos: 800_000,
                compressed: false,
                payload: Bytes::from_static(b"\x0a\x05hello"),
                declared_length: 7,
                truncated: false,
                preview: false,
            })),
        },
        pb::Event {
            call_id: 1,
            kind: Some(Kind::ResponseHeaders(pb::ResponseHeaders {
                offset_nanos: 1_250_000,
                http_status: 200,
                headers: vec![
                    header("content-type", "application/grpc"),
                    header("grpc-encoding", "gzip"),
                ],
            })),
        },
        pb::Event {
            call_id: 1,
            kind: Some(Kind::Message(pb::Message {
                direction: pb::Direction::Response.into(),
                offset_nanos: 2_000_000,
                compressed: true,
                payload: Bytes::from_static(&GZIP_PAYLOAD),
                declared_length: GZIP_PAYLOAD.len() as u32,
                truncated: false,
                preview: false,
            })),
        },
        pb::Event {
            call_id: 1,
            kind: Some(Kind::CallEnded(pb::CallEnded {
                upstream_tls: None,
                offset_nanos: 2_500_000,
                trailers: vec![header("grpc-status", "0")],
                grpc_status: Some(0),
                grpc_message: String::new(),
                grpc_status_details: Bytes::new(),
                trailers_only: false,
                relay_error: String::new(),
                http_status: 0,
                protocol_errors: vec![],
                endings: vec![],
                ..Default::default()
            })),
        },
        // Call 2: rejected with a trailers-only response.
        pb::Event {
            call_id: 2,
            kind: Some(Kind::CallStarted(pb::CallStarted {
                client_tls: None,
                start_unix_nanos: 1_700_000_000_500_000_000,
                path: "/echo.Echo/Fail".into(),
                authority: "localhost:7000".into(),
                headers: vec![header("x-request-id", "req-43")],
                upstream: UPSTREAM.into(),
                scheme: "http".into(),
                method: "POST".into(),
                ..Default::default()
            })),
        },
        pb::Event {
            call_id: 2,
            kind: Some(Kind::CallEnded(pb::CallEnded {
                upstream_tls: None,
                offset_nanos: 900_000,
                trailers: vec![
                    header("grpc-status", "3"),
                    header("grpc-message", "name%20must%20not%20be%20empty"),
                    header(
                        "grpc-status-details-bin",
                        Bytes::from_static(STATUS_DETAILS),
                    ),
                ],
                grpc_status: Some(3),
                grpc_message: "name must not be empty".into(),
                grpc_status_details: Bytes::from_static(STATUS_DETAILS),
                trailers_only: true,
                relay_error: String::new(),
                http_status: 200,
                protocol_errors: vec![],
                endings: vec![],
                ..Default::default()
            })),
        },
        // Not tied to a call.
        pb::Event {
            call_id: 0,
            kind: Some(Kind::Descriptors(pb::Descriptors {
                file_descriptor_set: Bytes::from_static(FILE_DESCRIPTOR_SET),
                services: vec!["echo.Echo".into()],
                upstream: UPSTREAM.into(),
                source: "reflection/v1".into(),
                warnings: vec![],
                // Format 1.0 has no typed origin.
                ..Default::default()
            })),
        },
        pb::Event {
            call_id: 0,
            kind: Some(Kind::Gap(pb::CaptureGap {
                dropped_events: 3,
                reason: "consumer fell behind".into(),
                kind: pb::GapKind::Lagged.into(),
                call_ids: vec![2],
            })),
        },
    ]
}

/// `events` as a file of format version `1.minor`.
fn file_of_version(minor: u16, events: &[pb::Event]) -> Vec<u8> {
    let mut file = capture::encode_file(events);
    file[11..13].copy_from_slice(&minor.to_le_bytes());
    file
}

fn basic_bytes() -> Vec<u8> {
    file_of_version(0, &expected_events())
}

/// Format 1.1: schema events with a typed origin, a location and an explicit
/// failure with its retry time.
fn schemas_events() -> Vec<pb::Event> {
    vec![
        pb::Event::descriptors(pb::Descriptors::schema(
            Bytes::from_static(FILE_DESCRIPTOR_SET),
            vec!["echo.Echo".into()],
            pb::SchemaOrigin::ReflectionV1alpha,
            "",
            UPSTREAM,
            vec!["type x.Y, used in echo.proto, is not defined by any file the server sent".into()],
        )),
        pb::Event::descriptors(pb::Descriptors::failure(
            vec!["other.Svc".into()],
            pb::SchemaOrigin::Reflection,
            UPSTREAM,
            "the upstream serves no reflection (v1 answered UNIMPLEMENTED, v1alpha answered UNIMPLEMENTED)",
            1_700_000_030_000_000_000,
        )),
        pb::Event::descriptors(pb::Descriptors::schema(
            Bytes::from_static(FILE_DESCRIPTOR_SET),
            vec!["echo.Echo".into()],
            pb::SchemaOrigin::DescriptorSet,
            "api/echo.protoset",
            "",
            vec![],
        )),
        pb::Event::descriptors(pb::Descriptors::schema(
            Bytes::from_static(FILE_DESCRIPTOR_SET),
            vec!["echo.Echo".into()],
            pb::SchemaOrigin::UserFile,
            "echo.proto",
            "",
            vec![],
        )),
    ]
}

fn schemas_bytes() -> Vec<u8> {
    file_of_version(1, &schemas_events())
}

fn truncated_bytes() -> Vec<u8> {
    let full = basic_bytes();
    full[..full.len() - CUT].to_vec()
}

/// Reads a fixture. With `LOOM_UPDATE_GOLDEN` set, first (re)writes every
/// fixture, once, before any test reads them.
fn load(name: &str) -> Vec<u8> {
    static UPDATE: Once = Once::new();
    if std::env::var_os("LOOM_UPDATE_GOLDEN").is_some() {
        UPDATE.call_once(|| {
            std::fs::create_dir_all(fixture("")).unwrap();
            std::fs::write(fixture(BASIC), basic_bytes()).unwrap();
            std::fs::write(fixture(SCHEMAS), schemas_bytes()).unwrap();
            std::fs::write(fixture(TRUNCATED), truncated_bytes()).unwrap();
            std::fs::write(fixture(endings::ENDINGS), endings::endings_bytes()).unwrap();
            std::fs::write(fixture(tls::TLS), tls::tls_bytes()).unwrap();
            std::fs::write(fixture(protocols::PROTOCOLS), protocols::protocols_bytes()).unwrap();
        });
    }
    let path = fixture(name);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e} (run with LOOM_UPDATE_GOLDEN=1 to create it)",
            path.display()
        )
    })
}

/// Reads fixture `name` of format `1.minor` and checks it: its header says
/// that version, it decodes to `events` with nothing cut off, and the
/// encoder still writes it byte for byte (re-run with LOOM_UPDATE_GOLDEN=1
/// only if that change is intended).
fn read_fixture(name: &str, minor: u16, events: &[pb::Event]) -> capture::Capture {
    let bytes = load(name);
    let [lo, hi] = minor.to_le_bytes();
    assert_eq!(
        bytes[capture::HEADER_LEN - 4..capture::HEADER_LEN],
        [0x01, 0x00, lo, hi],
        "{name}: version 1.{minor}"
    );
    let capture = capture::read_capture(&bytes).unwrap();
    assert_eq!((capture.version, capture.truncated), ((1, minor), None));
    assert_eq!(capture.events, events, "{name}");
    assert!(
        bytes == file_of_version(minor, events),
        "encoding of {name} changed"
    );
    capture
}

#[test]
fn basic_fixture_decodes_to_the_expected_events() {
    let bytes = load(BASIC);
    assert_eq!(
        bytes[..capture::HEADER_LEN],
        [
            0x89, 0x4c, 0x4f, 0x4f, 0x4d, 0x0d, 0x0a, 0x1a, 0x0a, 0x01, 0x00, 0x00, 0x00
        ],
        "header: magic, then version 1.0 as two little-endian u16s"
    );
    let capture = capture::read_capture(&bytes).unwrap();
    assert_eq!(capture.version, (1, 0));
    assert_eq!(capture.truncated, None);
    let expected = expected_events();
    assert_eq!(capture.events.len(), expected.len());
    for (i, (got, want)) in capture.events.iter().zip(&expected).enumerate() {
        assert_eq!(got, want, "event {i}");
    }
    // The encoder still writes the same bytes (re-run with
    // LOOM_UPDATE_GOLDEN=1 only if that change is intended).
    assert!(
        bytes == basic_bytes(),
        "encoding of the fixture events changed"
    );
}

#[test]
fn schemas_fixture_has_typed_origins() {
    let capture = read_fixture(SCHEMAS, 1, &schemas_events());
    let sets: Vec<&pb::Descriptors> = capture
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            Some(Kind::Descriptors(d)) => Some(d),
            _ => None,
        })
        .collect();
    let sources: Vec<String> = sets
        .iter()
        .map(|d| SchemaSource::of(d).to_string())
        .collect();
    assert_eq!(
        sources,
        [
            format!("reflection v1alpha from {UPSTREAM}"),
            format!("reflection from {UPSTREAM}"),
            "--descriptor-set api/echo.protoset".into(),
            "echo.proto (added by hand)".into(),
        ]
    );
    let failure = sets[1].failure.as_ref().expect("an explicit failure");
    assert_eq!(failure.retry_unix_nanos, 1_700_000_030_000_000_000);
    // Readers of 1.0 still find the old strings.
    let legacy: Vec<&str> = sets.iter().map(|d| d.source.as_str()).collect();
    assert_eq!(
        legacy,
        [
            "reflection/v1alpha",
            "reflection",
            "descriptor-set:api/echo.protoset",
            "file:echo.proto"
        ]
    );
    // And the engine reads 1.0's strings as the same typed origins.
    let old = capture::read_capture(&load(BASIC)).unwrap();
    let old_set = old
        .events
        .iter()
        .find_map(|e| match &e.kind {
            Some(Kind::Descriptors(d)) => Some(d),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        SchemaSource::of(old_set).origin,
        pb::SchemaOrigin::ReflectionV1
    );
}

#[test]
fn basic_fixture_details() {
    let capture = capture::read_capture(&load(BASIC)).unwrap();
    let kinds: Vec<_> = capture.events.iter().map(|e| e.kind_name()).collect();
    assert_eq!(
        kinds,
        [
            "call_started",
            "message",
            "response_headers",
            "message",
            "call_ended",
            "call_started",
            "call_ended",
            "descriptors",
            "gap"
        ]
    );

    let Some(Kind::CallStarted(started)) = &capture.events[0].kind else {
        panic!("event 0 is not call_started");
    };
    let auth = &started.headers[2];
    assert_eq!(auth.name, "authorization");
    assert!(auth.redacted && auth.value.is_empty());
    assert!(loom_shared::header::is_binary(&started.headers[1].name));
    assert_eq!(started.headers[1].value[..], [0xde, 0xad, 0xbe, 0xef]);

    let Some(Kind::Message(response)) = &capture.events[3].kind else {
        panic!("event 3 is not a message");
    };
    assert!(response.compressed);
    assert_eq!(response.direction(), pb::Direction::Response);
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&response.payload[..])
        .read_to_end(&mut plain)
        .unwrap();
    assert_eq!(plain, GZIP_PLAIN);

    let Some(Kind::CallEnded(failed)) = &capture.events[6].kind else {
        panic!("event 6 is not call_ended");
    };
    assert_eq!(capture.events[6].call_id, 2);
    assert_eq!(failed.grpc_status, Some(3));
    assert!(failed.trailers_only);
    assert_eq!(failed.http_status, 200);
    assert_eq!(failed.grpc_status_details[..], *STATUS_DETAILS);
    assert_eq!(
        percent_decode_grpc_message(std::str::from_utf8(&failed.trailers[1].value).unwrap()),
        failed.grpc_message
    );

    let Some(Kind::Gap(gap)) = &capture.events[8].kind else {
        panic!("event 8 is not a gap");
    };
    assert_eq!(gap.kind(), pb::GapKind::Lagged);
    assert_eq!(gap.call_ids, [2]);
}

#[test]
fn truncated_fixture_yields_all_but_the_last_event() {
    let bytes = load(TRUNCATED);
    let expected = expected_events();
    let full_len = basic_bytes().len();
    assert_eq!(bytes.len(), full_len - CUT);

    let capture = capture::read_capture(&bytes).unwrap();
    assert_eq!(capture.version, (1, 0));
    assert_eq!(capture.events, expected[..expected.len() - 1]);

    let mut last_record = Vec::new();
    capture::encode_record(&expected[expected.len() - 1], &mut last_record);
    assert_eq!(
        capture.truncated,
        Some(Truncation {
            offset: (full_len - last_record.len()) as u64,
            complete_records: expected.len() as u64 - 1,
            missing_bytes_hint: Some(CUT as u64),
        })
    );

    // The streaming reader agrees.
    let mut decoder = capture::StreamDecoder::new();
    let mut streamed = Vec::new();
    for chunk in bytes.chunks(10) {
        streamed.extend(decoder.push(chunk).unwrap());
    }
    assert_eq!(streamed, capture.events);
    assert_eq!(decoder.finish(), Ok(capture.truncated));
}
