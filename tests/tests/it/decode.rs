//! The decoding engine (`loom_shared::engine`) and `loom decode` on real
//! captures: calls made through the relay decode to exactly the values that
//! were sent, and the command line filters, replays and fails as documented.
//!
//! The golden files `tests/fixtures/decode-probe.{loom,jsonl,grpcurl}` pin
//! `loom decode`'s output. To rewrite them after an intended change:
//!
//! ```sh
//! LOOM_UPDATE_GOLDEN=1 cargo test -p loom-tests --test it -- decode::
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use loom_relay::decode::{DecodeOptions, run};
use loom_shared::engine::{Body, CallDetail, CallKind, HeaderValue, Session};
use loom_shared::header::header;
use loom_shared::pb::{self, event::Kind};
use loom_shared::{capture, rpc};
use loom_tests::TestRelay;
use loom_tests::backend::Backend;
use loom_tests::events::calls_of;
use loom_tests::probe::catalog_client::CatalogClient;
use loom_tests::probe::probe_client::ProbeClient;
use loom_tests::probe::{ItemKey, LookupRequest, ProbeReply, ProbeRequest};
use loom_tests::reflection::{
    CATALOG_SERVICE, PROBE_SERVICE, ReflectingBackend, ReflectionMode, ReflectionOptions, TEST_FDS,
};
use loom_tests::req;
use loom_tests::ws::WsClient;
use prost::Message as _;
use serde_json::{Value, json};
use tonic::metadata::{BinaryMetadataValue, MetadataValue};
use tonic::transport::Channel;

/// Bound on waiting for the relay's background work.
const WAIT: Duration = Duration::from_secs(10);

/// A text that needs escaping everywhere: quotes, a newline, non-ASCII.
const TEXT: &str = "héllo 'single' \"double\"\nnext ✓";
const BLOB: &[u8] = &[0, 1, 2, 254, 255];
const BLOB_B64: &str = "AAEC/v8=";
const TRACE: &[u8] = &[0xde, 0xad, 0xbe, 0xef];

/// The test schema as a local descriptor set would ship it.
fn test_descriptors() -> pb::Descriptors {
    pb::Descriptors {
        file_descriptor_set: Bytes::from_static(TEST_FDS),
        services: vec![PROBE_SERVICE.into(), CATALOG_SERVICE.into()],
        upstream: String::new(),
        source: "descriptor-set:test.fds".into(),
        warnings: Vec::new(),
        // As the 1.0 golden capture has it: no typed origin.
        ..Default::default()
    }
}

async fn probe_client(addr: SocketAddr, gzip: bool) -> ProbeClient<Channel> {
    loom_tests::probe_client(addr, gzip).await
}

/// One call of each kind, plus a gzip call and a failing call, through `relay`.
async fn make_calls(relay: SocketAddr) {
    let mut c = probe_client(relay, false).await;
    let mut unary = tonic::Request::new(ProbeRequest {
        text: TEXT.into(),
        blob: BLOB.to_vec(),
        ..Default::default()
    });
    let md = unary.metadata_mut();
    md.insert("x-user", MetadataValue::from_static("alice"));
    md.insert_bin("x-trace-bin", BinaryMetadataValue::from_bytes(TRACE));
    md.insert("authorization", MetadataValue::from_static("Bearer s3cret"));
    c.unary(unary).await.expect("unary");

    let zipped = format!("zipped {}", "z".repeat(300));
    let mut gz = probe_client(relay, true).await;
    gz.unary(req(&zipped)).await.expect("gzip unary");

    let mut stream = c
        .server_stream(ProbeRequest {
            count: 3,
            reply_size: 2,
            ..req("s")
        })
        .await
        .expect("server stream")
        .into_inner();
    while let Some(item) = stream.next().await {
        item.expect("stream item");
    }

    let parts = (1..=3u8).map(|i| ProbeRequest {
        text: char::from(b'a' + i - 1).to_string(),
        blob: vec![i; usize::from(i)],
        ..Default::default()
    });
    c.client_stream(futures_util::stream::iter(parts.collect::<Vec<_>>()))
        .await
        .expect("client stream");

    let mut bidi = c
        .bidi(futures_util::stream::iter(vec![req("x"), req("y")]))
        .await
        .expect("bidi")
        .into_inner();
    while let Some(item) = bidi.next().await {
        item.expect("bidi item");
    }

    let failed = c
        .unary(ProbeRequest {
            fail_code: 5,
            fail_message: "gone".into(),
            ..req("fail")
        })
        .await
        .expect_err("fails");
    assert_eq!(failed.code(), tonic::Code::NotFound);
}

fn ended_calls(events: &[pb::Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e.kind, Some(Kind::CallEnded(_))))
        .count()
}

fn body_json(m: &loom_shared::engine::MessageView) -> &Value {
    m.body
        .json()
        .unwrap_or_else(|| panic!("message {} not decoded: {:?}", m.index, m.body))
}

fn requests(d: &CallDetail) -> Vec<Value> {
    d.requests().map(|m| body_json(m).clone()).collect()
}

fn responses(d: &CallDetail) -> Vec<Value> {
    d.responses().map(|m| body_json(m).clone()).collect()
}

/// A `ProbeReply`'s JSON with every default shown.
fn reply(fields: Value) -> Value {
    let mut out = json!({
        "text": "", "blob": "", "index": 0, "grpcTimeout": "", "echoed": {},
        "requests": "0", "blobBytes": "0",
    });
    for (k, v) in fields.as_object().expect("an object") {
        out[k] = v.clone();
    }
    out
}

/// A `ProbeRequest`'s JSON with every default shown.
fn request(fields: Value) -> Value {
    let mut out = json!({
        "text": "", "blob": "", "count": 0, "replySize": 0, "failCode": 0, "failMessage": "",
        "delayMs": "0",
    });
    for (k, v) in fields.as_object().expect("an object") {
        out[k] = v.clone();
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_calls_decode_to_exactly_what_was_sent() {
    let backend = Backend::start().await;
    let relay = TestRelay::start_with(backend.addr, |c| c.reflection = false).await;
    let mut ws = WsClient::connect(relay.ui_addr).await;
    make_calls(relay.relay_addr).await;
    ws.until(WAIT, |events| ended_calls(events) >= 6).await;
    // The download: what a saved capture holds (secrets redacted; the live
    // WebSocket on loopback keeps them).
    let events = relay.capture_events().await;

    // As the browser does: events one by one, the schema later.
    let mut session = Session::new();
    for event in events.iter().cloned() {
        session.ingest(event);
    }
    assert_eq!(session.len(), 6);
    assert!(session.calls().all(|c| c.kind_inferred && !c.has_schema));
    session.ingest(pb::Event::descriptors(test_descriptors()));
    assert!(session.calls().all(|c| !c.kind_inferred && c.has_schema));
    let unaries = calls_of(&events, "/Unary");
    let [plain, zipped, failed] = unaries[..] else {
        panic!("three unary calls: {unaries:?}");
    };

    // Unary: strings, bytes as base64, uint64 as strings, a map, metadata.
    let d = session.detail(plain).expect("the call");
    assert_eq!(d.summary.kind, CallKind::Unary);
    assert_eq!(
        requests(&d),
        [request(json!({"text": TEXT, "blob": BLOB_B64}))]
    );
    assert_eq!(
        responses(&d),
        [reply(json!({
            "text": format!("echo: {TEXT}"),
            "blob": BLOB_B64,
            "echoed": {"x-trace-bin": "[222, 173, 190, 239]", "x-user": "alice"},
        }))]
    );
    let header = |list: &[loom_shared::engine::HeaderView], name: &str| {
        list.iter()
            .find(|h| h.name == name)
            .unwrap_or_else(|| panic!("no {name} in {list:?}"))
            .value
            .clone()
    };
    assert_eq!(
        header(&d.request_headers, "x-user"),
        HeaderValue::Text("alice".into())
    );
    assert_eq!(
        header(&d.request_headers, "x-trace-bin"),
        HeaderValue::Binary(Bytes::from_static(TRACE))
    );
    assert_eq!(
        header(&d.request_headers, "authorization"),
        HeaderValue::Redacted
    );
    assert_eq!(
        header(&d.response_headers, "x-echo-x-trace-bin"),
        HeaderValue::Binary(Bytes::from_static(TRACE))
    );
    let status = d.summary.status.as_ref().expect("ended");
    assert!(status.is_ok());
    let t = d.summary.timing;
    assert!(t.start_unix_nanos.is_some());
    assert!(
        t.response_headers.is_some() && t.ended >= t.last_response && t.last_response.is_some()
    );
    let json = d.to_json();
    assert_eq!(
        json["status"],
        json!({"code": 0, "name": "OK", "message": ""})
    );
    assert_eq!(json["schema"]["source"], json!("descriptor-set:test.fds"));

    // "Copy as grpcurl".
    let cmd = session.grpcurl(plain).expect("a command");
    let sent = json!({"text": TEXT, "blob": BLOB_B64});
    assert_eq!(
        cmd.args,
        [
            "-plaintext".to_owned(),
            "-H".into(),
            "x-user: alice".into(),
            "-H".into(),
            "x-trace-bin: 3q2+7w==".into(),
            "-d".into(),
            sent.to_string(),
            backend.addr.to_string(),
            "loom.test.v1.Probe/Unary".into(),
        ]
    );
    assert_eq!(
        cmd.left_out,
        [("authorization".to_owned(), "redacted".to_owned())]
    );
    assert_eq!(
        cmd.schema_hint,
        Some(vec!["-protoset".into(), "test.fds".into()])
    );

    // Gzip in both directions.
    let d = session.detail(zipped).expect("the call");
    let zipped_text = format!("zipped {}", "z".repeat(300));
    assert_eq!(requests(&d), [request(json!({"text": zipped_text}))]);
    assert_eq!(
        responses(&d),
        [reply(json!({"text": format!("echo: {zipped_text}")}))]
    );
    for m in &d.messages {
        assert_eq!(m.encoding.as_ref().map(|e| e.name()), Some("gzip"));
        assert!(m.size.expect("decompressed") > m.wire_size, "{m:?}");
    }

    // Server streaming.
    let id = calls_of(&events, "/ServerStream")[0];
    let d = session.detail(id).expect("the call");
    assert_eq!(d.summary.kind, CallKind::ServerStreaming);
    assert_eq!(
        responses(&d),
        [
            reply(json!({"text": "s", "blob": "AAA=", "index": 0})),
            reply(json!({"text": "s", "blob": "AQE=", "index": 1})),
            reply(json!({"text": "s", "blob": "AgI=", "index": 2})),
        ]
    );

    // Client streaming.
    let id = calls_of(&events, "/ClientStream")[0];
    let d = session.detail(id).expect("the call");
    assert_eq!(d.summary.kind, CallKind::ClientStreaming);
    assert_eq!(
        requests(&d),
        [
            request(json!({"text": "a", "blob": "AQ=="})),
            request(json!({"text": "b", "blob": "AgI="})),
            request(json!({"text": "c", "blob": "AwMD"})),
        ]
    );
    assert_eq!(
        responses(&d),
        [reply(
            json!({"text": "a,b,c", "requests": "3", "blobBytes": "6"})
        )]
    );
    let cmd = session.grpcurl(id).expect("a command");
    assert_eq!(
        cmd.args[cmd.args.len() - 3],
        r#"{"text":"a","blob":"AQ=="} {"text":"b","blob":"AgI="} {"text":"c","blob":"AwMD"}"#
    );

    // Bidi.
    let id = calls_of(&events, "/Bidi")[0];
    let d = session.detail(id).expect("the call");
    assert_eq!(d.summary.kind, CallKind::Bidi);
    assert_eq!(
        responses(&d),
        [
            reply(json!({"text": "echo: x"})),
            reply(json!({"text": "echo: y", "index": 1})),
        ]
    );

    // A failure with grpc-status-details-bin.
    let d = session.detail(failed).expect("the call");
    let status = d.summary.status.as_ref().expect("ended");
    assert_eq!(
        (status.code, status.name().as_str(), status.message.as_str()),
        (Some(5), "NOT_FOUND", "gone")
    );
    let details = json!({"code": 3, "message": "nope", "details": []});
    assert_eq!(
        d.status_details.as_ref().and_then(Body::json),
        Some(&details)
    );
    let trailer = d
        .trailers
        .iter()
        .find(|h| h.name == "grpc-status-details-bin")
        .expect("the details trailer");
    assert_eq!(
        trailer.decoded.as_ref().and_then(Body::json),
        Some(&details)
    );
    assert!(d.responses().next().is_none());

    relay.shutdown().await;
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reflected_schema_decodes_nested_types_and_timestamps() {
    let backend = ReflectingBackend::start(ReflectionOptions::mode(ReflectionMode::V1Only)).await;
    let relay = TestRelay::start(backend.addr).await;
    let mut ws = WsClient::connect(relay.ui_addr).await;
    let channel = Channel::from_shared(format!("http://{}", relay.relay_addr))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    CatalogClient::new(channel)
        .lookup(LookupRequest {
            key: Some(ItemKey {
                sku: "sku-9".into(),
            }),
            count: 0,
        })
        .await
        .expect("lookup");
    let events = ws
        .until(WAIT, |events| {
            ended_calls(events) >= 1
                && events.iter().any(|e| {
                    matches!(&e.kind, Some(Kind::Descriptors(d))
                        if d.services.iter().any(|s| s == CATALOG_SERVICE))
                })
        })
        .await
        .to_vec();
    let mut session = Session::from_events(events.clone());
    let id = calls_of(&events, "/Lookup")[0];
    let d = session.detail(id).expect("the call");
    assert!(
        session.schema().problems().is_empty(),
        "{:?}",
        session.schema().problems()
    );
    assert_eq!(requests(&d), [json!({"key": {"sku": "sku-9"}, "count": 0})]);
    assert_eq!(
        responses(&d),
        [json!({
            "item": {
                "key": {"sku": "sku-9"},
                "title": "item sku-9 #0",
                "price": {"currency": "EUR", "units": "12", "nanos": 500_000_000},
            },
            "asOf": "2023-11-14T22:13:20Z",
        })]
    );
    let json = d.to_json();
    assert_eq!(json["schema"]["source"], json!("reflection/v1"));
    assert_eq!(json["schema"]["upstream"], json!(backend.upstream()));
    relay.shutdown().await;
    backend.stop().await;
}

// ---------------------------------------------------------------------------
// `loom decode` on a capture file.

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

const START: i64 = 1_700_000_000_000_000_000;
const UPSTREAM: &str = "http://127.0.0.1:50051";

fn started(path: &str, start: i64, headers: Vec<pb::Header>) -> pb::CallStarted {
    pb::CallStarted {
        client_tls: None,
        start_unix_nanos: start,
        path: path.into(),
        authority: "localhost:9999".into(),
        headers,
        upstream: UPSTREAM.into(),
        scheme: "http".into(),
        method: "POST".into(),
        ..Default::default()
    }
}

fn message(direction: pb::Direction, offset: u64, payload: Vec<u8>) -> pb::Message {
    pb::Message::new(direction, offset, false, payload)
}

fn ok(offset: u64) -> pb::CallEnded {
    pb::CallEnded {
        offset_nanos: offset,
        trailers: vec![header("grpc-status", "0")],
        grpc_status: Some(0),
        ..Default::default()
    }
}

/// The events of `decode-probe.loom`: a unary call with metadata, a server
/// stream, a failure with rich details, a call to a service without a
/// schema, and a call the relay ended without a status.
fn probe_events() -> Vec<pb::Event> {
    use pb::Direction::{Request, Response};
    let mut events = vec![pb::Event::descriptors(test_descriptors())];
    let mut add = |id: u64, kind: Kind| {
        events.push(pb::Event {
            call_id: id,
            kind: Some(kind),
        })
    };

    add(
        1,
        Kind::CallStarted(started(
            "/loom.test.v1.Probe/Unary",
            START,
            vec![
                header("content-type", "application/grpc"),
                header("te", "trailers"),
                header("grpc-timeout", "5S"),
                header("x-user", "o'brien"),
                header("x-trace-bin", TRACE.to_vec()),
                pb::Header {
                    name: "authorization".into(),
                    value: Bytes::new(),
                    redacted: true,
                },
            ],
        )),
    );
    let q = ProbeRequest {
        text: TEXT.into(),
        blob: BLOB.to_vec(),
        ..Default::default()
    };
    add(1, Kind::Message(message(Request, 1_000, q.encode_to_vec())));
    add(
        1,
        Kind::ResponseHeaders(pb::ResponseHeaders {
            offset_nanos: 2_000,
            http_status: 200,
            headers: vec![header("content-type", "application/grpc")],
        }),
    );
    let r = ProbeReply {
        text: format!("echo: {TEXT}"),
        blob: BLOB.to_vec(),
        requests: 1 << 40,
        ..Default::default()
    };
    add(
        1,
        Kind::Message(message(Response, 3_000, r.encode_to_vec())),
    );
    add(1, Kind::CallEnded(ok(4_000)));

    add(
        2,
        Kind::CallStarted(started(
            "/loom.test.v1.Probe/ServerStream",
            START + 10,
            vec![],
        )),
    );
    add(
        2,
        Kind::Message(message(
            Request,
            500,
            ProbeRequest {
                count: 2,
                ..req("s")
            }
            .encode_to_vec(),
        )),
    );
    add(
        2,
        Kind::ResponseHeaders(pb::ResponseHeaders {
            offset_nanos: 600,
            http_status: 200,
            headers: vec![],
        }),
    );
    for i in 0..2u32 {
        let r = ProbeReply {
            text: "s".into(),
            index: i,
            ..Default::default()
        };
        add(
            2,
            Kind::Message(message(Response, 700 + u64::from(i), r.encode_to_vec())),
        );
    }
    add(2, Kind::CallEnded(ok(900)));

    let details = rpc::Status {
        code: 3,
        message: "bad text".into(),
        details: vec![rpc::to_any(&rpc::BadRequest {
            field_violations: vec![rpc::bad_request::FieldViolation {
                field: "text".into(),
                description: "too long".into(),
                ..Default::default()
            }],
        })],
    }
    .encode_to_vec();
    add(
        3,
        Kind::CallStarted(started("/loom.test.v1.Probe/Unary", START + 20, vec![])),
    );
    add(
        3,
        Kind::Message(message(Request, 100, req("x").encode_to_vec())),
    );
    add(
        3,
        Kind::CallEnded(pb::CallEnded {
            offset_nanos: 200,
            trailers: vec![header("grpc-status-details-bin", details.clone())],
            grpc_status: Some(3),
            grpc_message: "bad text".into(),
            grpc_status_details: details.into(),
            trailers_only: true,
            http_status: 200,
            ..Default::default()
        }),
    );

    add(
        4,
        Kind::CallStarted(started("/other.v1.Mystery/Call", START + 30, vec![])),
    );
    add(
        4,
        Kind::Message(message(
            Request,
            100,
            vec![0x08, 0x96, 0x01, 0x12, 0x02, b'h', b'i'],
        )),
    );
    add(4, Kind::CallEnded(ok(300)));

    add(
        5,
        Kind::CallStarted(started("/loom.test.v1.Probe/Unary", START + 40, vec![])),
    );
    add(
        5,
        Kind::CallEnded(pb::CallEnded {
            offset_nanos: 50,
            relay_error: "upstream unreachable: connection refused".into(),
            ..Default::default()
        }),
    );
    events
}

/// Checks `actual` against the golden file `name` (or rewrites it).
fn golden(name: &str, actual: &[u8]) {
    let path = fixture(name);
    if std::env::var_os("LOOM_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (LOOM_UPDATE_GOLDEN=1 writes it)", path.display()));
    if expected != actual {
        panic!(
            "{} differs from the output (LOOM_UPDATE_GOLDEN=1 rewrites it after an intended change):\n{}",
            path.display(),
            String::from_utf8_lossy(actual)
        );
    }
}

fn decode(opts: &DecodeOptions) -> (String, String, loom_relay::decode::DecodeOutcome) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let outcome = run(opts, &mut out, &mut err).unwrap_or_else(|e| panic!("decode failed: {e}"));
    (
        String::from_utf8(out).expect("UTF-8 output"),
        String::from_utf8(err).expect("UTF-8 warnings"),
        outcome,
    )
}

fn opts(input: PathBuf) -> DecodeOptions {
    DecodeOptions {
        input,
        ..Default::default()
    }
}

#[test]
fn decode_command_output_is_golden() {
    let file = capture::encode_file(&probe_events());
    golden("decode-probe.loom", &file);
    let input = fixture("decode-probe.loom");

    let (out, err, outcome) = decode(&opts(input.clone()));
    assert_eq!(
        (
            outcome.calls,
            outcome.truncated.clone(),
            outcome.exit_code()
        ),
        (5, None, 0)
    );
    assert_eq!(err, "", "no warnings");
    golden("decode-probe.jsonl", out.as_bytes());
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    let ids: Vec<u64> = lines.iter().map(|l| l["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5], "start order");
    let first = &lines[0];
    assert_eq!(first["method"], json!("loom.test.v1.Probe/Unary"));
    assert_eq!(
        first["timing"]["start"],
        json!("2023-11-14T22:13:20.000000000Z")
    );
    assert_eq!(first["requests"][0]["json"]["text"], json!(TEXT));
    assert_eq!(
        first["responses"][0]["json"]["requests"],
        json!("1099511627776")
    );
    assert_eq!(
        first["requestMetadata"][4],
        json!({"name": "x-trace-bin", "value": "3q2+7w==", "binary": true})
    );
    assert_eq!(
        first["requestMetadata"][5],
        json!({"name": "authorization", "redacted": true})
    );
    assert_eq!(
        lines[2]["status"]["details"]["json"]["details"][0]["fieldViolations"][0]["field"],
        json!("text")
    );
    assert_eq!(lines[3]["kindInferred"], json!(true));
    assert!(
        lines[3]["schemaNote"]
            .as_str()
            .unwrap()
            .contains("other.v1.Mystery")
    );
    assert_eq!(
        lines[3]["requests"][0]["schemaless"]["fields"][1]["text"],
        json!("hi")
    );
    assert_eq!(lines[4]["status"]["name"], json!("NO_STATUS"));

    let (out, _, _) = decode(&DecodeOptions {
        grpcurl: true,
        ..opts(input.clone())
    });
    golden("decode-probe.grpcurl", out.as_bytes());
    let first = out.lines().next().expect("a command");
    assert!(first.starts_with("grpcurl -plaintext -max-time 5 -H 'x-user: o'\\''brien' -H 'x-trace-bin: 3q2+7w==' -d '"), "{first}");
    assert!(
        first.contains(
            "127.0.0.1:50051 loom.test.v1.Probe/Unary # left out: authorization (redacted)"
        ),
        "{first}"
    );
    assert!(
        out.lines()
            .nth(3)
            .unwrap()
            .starts_with("# call 4 (other.v1.Mystery/Call): no grpcurl command")
    );
}

#[test]
fn decode_command_filters() {
    let path = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(path.path(), capture::encode_file(&probe_events())).expect("write");
    let ids = |o: DecodeOptions| -> Vec<u64> {
        let (out, _, outcome) = decode(&o);
        let ids: Vec<u64> = out
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["id"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        assert_eq!(outcome.calls, ids.len());
        ids
    };
    let base = || opts(path.path().to_owned());
    let method = |m: &str| DecodeOptions {
        method: Some(m.into()),
        ..base()
    };
    let status = |s: &str| DecodeOptions {
        status: Some(s.into()),
        ..base()
    };
    assert_eq!(ids(method("*/Unary")), [1, 3, 5]);
    assert_eq!(ids(method("loom.test.v1.Probe/Server*")), [2]);
    assert_eq!(ids(method("/other.v1.Mystery/Call")), [4]);
    assert_eq!(ids(method("*Probe/Un?ry")), [1, 3, 5]);
    assert_eq!(ids(method("nothing")), Vec::<u64>::new());
    assert_eq!(ids(status("invalid_argument")), [3]);
    assert_eq!(ids(status("3")), [3]);
    assert_eq!(ids(status("OK")), [1, 2, 4]);
    assert_eq!(
        ids(DecodeOptions {
            status: Some("ok".into()),
            ..method("*Unary")
        }),
        [1]
    );

    // Defaults hidden.
    let (out, _, _) = decode(&DecodeOptions {
        hide_defaults: true,
        ..method("*ServerStream")
    });
    let line: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(line["responses"][0]["json"], json!({"text": "s"}));
    assert_eq!(
        line["responses"][1]["json"],
        json!({"text": "s", "index": 1})
    );
}

#[test]
fn a_truncated_capture_decodes_what_is_complete() {
    let file = capture::encode_file(&probe_events());
    let path = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(path.path(), &file[..file.len() - 3]).expect("write");
    let (out, err, outcome) = decode(&opts(path.path().to_owned()));
    assert_eq!(outcome.exit_code(), 1);
    let truncated = outcome.truncated.expect("truncated");
    assert!(truncated.contains("capture ends mid-record"), "{truncated}");
    assert!(
        err.starts_with("warning: ") && err.contains("mid-record"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    // Call 5 lost its end: in progress.
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[4]["status"], Value::Null);
    assert_eq!(lines[0]["status"]["name"], json!("OK"));
}

#[test]
fn unreadable_inputs_are_one_line_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let wrong = dir.path().join("wrong.loom");
    std::fs::write(&wrong, b"GIF89a, not a capture at all").expect("write");
    let empty = dir.path().join("empty.loom");
    std::fs::write(&empty, b"").expect("write");
    let mut newer = capture::encode_file(&[]);
    newer[9] = 2;
    newer[11] = 0;
    let v2 = dir.path().join("v2.loom");
    std::fs::write(&v2, newer).expect("write");
    for (path, want) in [
        (wrong, "not a Loom capture file"),
        (empty, "too short to be a Loom capture file"),
        (v2, "unsupported Loom capture format version 2.0"),
        (dir.path().join("missing.loom"), "cannot read it"),
    ] {
        let e = run(&opts(path.clone()), &mut Vec::new(), &mut Vec::new()).expect_err("an error");
        let text = e.to_string();
        assert!(text.contains(want), "{}: {text}", path.display());
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(!text.contains('\n'), "{text}");
    }
}

#[test]
fn local_descriptor_sets_supply_a_missing_schema() {
    // The capture without its descriptors: schema-less until a
    // --descriptor-set names the schema.
    let events: Vec<pb::Event> = probe_events()
        .into_iter()
        .filter(|e| !matches!(e.kind, Some(Kind::Descriptors(_))))
        .collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("capture.loom");
    std::fs::write(&file, capture::encode_file(&events)).expect("write");
    let set = dir.path().join("probe.protoset");
    std::fs::write(&set, TEST_FDS).expect("write");

    let (out, _, _) = decode(&DecodeOptions {
        method: Some("*Server*".into()),
        ..opts(file.clone())
    });
    let line: Value = serde_json::from_str(out.trim()).unwrap();
    assert!(
        line["schemaNote"]
            .as_str()
            .unwrap()
            .contains("no schema for loom.test.v1.Probe"),
        "{line}"
    );
    assert_eq!(line["kindInferred"], json!(true));

    let with_set = DecodeOptions {
        descriptor_sets: vec![set.clone()],
        method: Some("*Server*".into()),
        ..opts(file.clone())
    };
    let (out, _, _) = decode(&with_set);
    let line: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(line["kind"], json!("server_streaming"));
    assert_eq!(line["kindInferred"], json!(false));
    assert_eq!(line["responses"][1]["json"]["index"], json!(1));

    let (out, _, _) = decode(&DecodeOptions {
        grpcurl: true,
        ..with_set
    });
    assert!(
        out.trim().ends_with(&format!(
            "# schema from local files; without server reflection add: -protoset {}",
            loom_shared::engine::shell_quote(&set.display().to_string())
        )),
        "{out}"
    );

    // A broken local schema is an error, naming the file.
    let bad = dir.path().join("bad.protoset");
    std::fs::write(&bad, b"\xff\xff not protobuf").expect("write");
    let e = run(
        &DecodeOptions {
            descriptor_sets: vec![bad],
            ..opts(file)
        },
        &mut Vec::new(),
        &mut Vec::new(),
    )
    .expect_err("a bad descriptor set");
    assert!(e.to_string().contains("bad.protoset"), "{e}");
}
