use std::io::Write as _;

use bytes::Bytes;
use prost::Message as _;
use prost_reflect::Value as V;
use serde_json::json;

use super::*;
use crate::engine::testing;
use crate::engine::{Body, CallKind, HeaderValue, ReplayError, Timing};
use crate::header::header;
use crate::rpc;

const GET: &str = "/loom.enginetest.Sampler/Get";
const WATCH: &str = "/loom.enginetest.Sampler/Watch";

fn ev(id: u64, kind: impl Into<Kind>) -> pb::Event {
    pb::Event::new(id, kind)
}

fn started(path: &str, headers: Vec<pb::Header>) -> pb::CallStarted {
    pb::CallStarted {
        client_tls: None,
        start_unix_nanos: 1_700_000_000_000_000_000,
        path: path.into(),
        authority: "relay:9999".into(),
        headers,
        upstream: "http://backend:50051".into(),
        scheme: "http".into(),
        method: "POST".into(),
        ..Default::default()
    }
}

fn request(offset: u64, payload: impl Into<Bytes>) -> pb::Message {
    pb::Message::new(pb::Direction::Request, offset, false, payload)
}

fn response(offset: u64, payload: impl Into<Bytes>) -> pb::Message {
    pb::Message::new(pb::Direction::Response, offset, false, payload)
}

fn ended(code: Option<u32>, message: &str) -> pb::CallEnded {
    pb::CallEnded {
        offset_nanos: 9_000,
        grpc_status: code,
        grpc_message: message.into(),
        ..Default::default()
    }
}

fn schema_event() -> pb::Event {
    pb::Event::descriptors(testing::descriptors(
        vec![testing::file()],
        "http://backend:50051",
    ))
}

fn named(name: &str) -> Bytes {
    testing::sample(&testing::schema(), &[("name", V::String(name.into()))])
}

fn hide_defaults(session: &mut Session) {
    session.set_options(JsonOptions {
        show_defaults: false,
        unknown_fields: true,
    });
}

#[test]
fn summaries_follow_the_events() {
    let mut s = Session::new();
    assert_eq!(s.ingest(schema_event()), Change::Schema);
    assert_eq!(s.ingest(ev(7, started(GET, vec![]))), Change::Call(7));
    let summary = s.call(7).unwrap().clone();
    assert_eq!(summary.method_name(), "loom.enginetest.Sampler/Get");
    assert_eq!(
        (summary.kind, summary.kind_inferred, summary.has_schema),
        (CallKind::Unary, false, true)
    );
    assert!(!summary.is_ended() && !summary.incomplete);
    s.ingest(ev(7, request(100, named("a"))));
    s.ingest(ev(
        7,
        pb::ResponseHeaders {
            offset_nanos: 200,
            http_status: 200,
            headers: vec![],
        },
    ));
    s.ingest(ev(7, response(300, named("bb"))));
    s.ingest(ev(7, ended(Some(0), "")));
    let summary = s.call(7).unwrap();
    assert_eq!(summary.requests.messages, 1);
    assert_eq!(summary.responses.wire_bytes, named("bb").len() as u64);
    assert_eq!(
        summary.timing,
        Timing {
            start_unix_nanos: Some(1_700_000_000_000_000_000),
            response_headers: Some(200),
            first_request: Some(100),
            last_request: Some(100),
            first_response: Some(300),
            last_response: Some(300),
            ended: Some(9_000),
        }
    );
    assert!(summary.status.as_ref().unwrap().is_ok());
    assert_eq!(s.len(), 1);
}

#[test]
fn descriptors_apply_retroactively() {
    let mut s = Session::new();
    hide_defaults(&mut s);
    s.ingest(ev(1, started(WATCH, vec![])));
    s.ingest(ev(1, request(1, named("q"))));
    for i in 0..3 {
        s.ingest(ev(1, response(2 + i, named("r"))));
    }
    let summary = s.call(1).unwrap();
    assert_eq!(
        (summary.kind, summary.kind_inferred),
        (CallKind::ServerStreaming, true)
    );
    let before = s.detail(1).unwrap();
    let note = before.messages[0].body.note().unwrap().to_owned();
    assert!(
        note.contains("no schema for loom.enginetest.Sampler"),
        "{note}"
    );
    assert!(matches!(before.messages[0].body, Body::Schemaless { .. }));

    assert_eq!(s.ingest(schema_event()), Change::Schema);
    let summary = s.call(1).unwrap();
    assert_eq!(
        (summary.kind, summary.kind_inferred),
        (CallKind::ServerStreaming, false)
    );
    let after = s.detail(1).unwrap();
    assert_eq!(after.messages[0].body.json(), Some(&json!({"name": "q"})));
    assert_eq!(after.responses().count(), 3);
    assert_eq!(after.responses().nth(2).unwrap().ordinal, 2);
}

#[test]
fn decoding_is_lazy_and_cached() {
    let mut s = Session::new();
    s.ingest(schema_event());
    s.ingest(ev(1, started(GET, vec![])));
    s.ingest(ev(1, request(1, named("x"))));
    let first = s.detail(1).unwrap();
    let again = s.detail(1).unwrap();
    assert!(Arc::ptr_eq(&first.messages[0], &again.messages[0]));
    assert!(Arc::ptr_eq(&first.messages[0], &s.message(1, 0).unwrap()));
    // A new message decodes only itself.
    s.ingest(ev(1, response(2, named("y"))));
    let more = s.detail(1).unwrap();
    assert!(Arc::ptr_eq(&first.messages[0], &more.messages[0]));
    assert_eq!(more.messages.len(), 2);
    // Other options: decoded again.
    hide_defaults(&mut s);
    let hidden = s.detail(1).unwrap();
    assert!(!Arc::ptr_eq(&first.messages[0], &hidden.messages[0]));
    assert_eq!(hidden.messages[0].body.json(), Some(&json!({"name": "x"})));
    assert!(first.messages[0].body.json().unwrap().get("big").is_some());
    assert!(s.message(1, 5).is_none());
    assert!(s.detail(99).is_none());
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

#[test]
fn each_direction_uses_its_own_grpc_encoding() {
    let mut s = Session::new();
    hide_defaults(&mut s);
    s.ingest(schema_event());
    s.ingest(ev(1, started(GET, vec![header("grpc-encoding", "gzip")])));
    let mut req = request(1, gzip(&named("in")));
    req.compressed = true;
    s.ingest(ev(1, req));
    s.ingest(ev(
        1,
        pb::ResponseHeaders {
            offset_nanos: 2,
            http_status: 200,
            headers: vec![header("grpc-encoding", "zstd")],
        },
    ));
    let zstd = ruzstd::encoding::compress_to_vec(
        &named("out")[..],
        ruzstd::encoding::CompressionLevel::Fastest,
    );
    let mut resp = response(3, zstd);
    resp.compressed = true;
    s.ingest(ev(1, resp));
    // An uncompressed message in a gzip call is fine too.
    s.ingest(ev(1, request(4, named("plain"))));
    let d = s.detail(1).unwrap();
    let bodies: Vec<_> = d.messages.iter().map(|m| m.body.json().cloned()).collect();
    assert_eq!(
        bodies,
        [
            Some(json!({"name": "in"})),
            Some(json!({"name": "out"})),
            Some(json!({"name": "plain"}))
        ]
    );
    assert_eq!(d.messages[0].encoding, Some(crate::engine::Encoding::Gzip));
    assert_eq!(d.messages[0].size, Some(named("in").len()));
    assert_eq!(d.request_encoding, crate::engine::Encoding::Gzip);
    assert_eq!(d.response_encoding, crate::engine::Encoding::Zstd);
}

#[test]
fn status_details_and_metadata() {
    let details = rpc::Status {
        code: 5,
        message: "no such book".into(),
        details: vec![rpc::to_any(&rpc::ResourceInfo {
            resource_type: "book".into(),
            resource_name: "b/1".into(),
            ..Default::default()
        })],
    }
    .encode_to_vec();
    let mut s = Session::new();
    hide_defaults(&mut s);
    s.ingest(ev(
        1,
        started(
            GET,
            vec![
                header("x-id", "1"),
                pb::Header {
                    name: "authorization".into(),
                    value: Bytes::new(),
                    redacted: true,
                },
            ],
        ),
    ));
    let mut end = ended(Some(5), "no such book");
    end.grpc_status_details = details.clone().into();
    end.trailers = vec![header("grpc-status-details-bin", details)];
    s.ingest(ev(1, end));
    let d = s.detail(1).unwrap();
    let expected = json!({
        "code": 5, "message": "no such book",
        "details": [{"@type": "type.googleapis.com/google.rpc.ResourceInfo",
                     "resourceType": "book", "resourceName": "b/1"}]
    });
    assert_eq!(d.status_details.as_ref().unwrap().json(), Some(&expected));
    assert_eq!(
        d.trailers[0].decoded.as_ref().unwrap().json(),
        Some(&expected)
    );
    assert_eq!(d.request_headers[1].value, HeaderValue::Redacted);
    let json = d.to_json();
    assert_eq!(json["status"]["name"], json!("NOT_FOUND"));
    assert_eq!(json["status"]["code"], json!(5));
    assert_eq!(json["status"]["details"]["json"], expected);
    assert_eq!(
        json["requestMetadata"][1],
        json!({"name": "authorization", "redacted": true})
    );

    // Ended without grpc-status: never OK.
    let mut s = Session::new();
    s.ingest(ev(2, started(GET, vec![])));
    let mut end = ended(None, "");
    end.relay_error = "upstream unreachable".into();
    s.ingest(ev(2, end));
    assert!(!s.call(2).unwrap().status.as_ref().unwrap().is_ok());
    let json = s.detail(2).unwrap().to_json();
    assert_eq!(json["status"]["name"], json!("NO_STATUS"));
    assert_eq!(json["status"]["code"], json!(null));
    assert_eq!(json["status"]["relayError"], json!("upstream unreachable"));
}

#[test]
fn gaps_and_calls_without_a_start() {
    let mut s = Session::new();
    s.ingest(ev(1, started(GET, vec![])));
    // Call 2's start was lost: it appears with its first event.
    s.ingest(ev(2, response(5, named("orphan"))));
    assert!(s.call(2).unwrap().incomplete);
    assert_eq!(&*s.call(2).unwrap().path, "");
    assert_eq!(
        s.ingest(pb::Event::gap(pb::GapKind::Lagged, 3, "slow", vec![1])),
        Change::Gap
    );
    assert!(s.call(1).unwrap().incomplete);
    assert_eq!(s.gaps().len(), 1);
    let d = s.detail(2).unwrap();
    assert!(d.method.is_err());
    assert!(matches!(d.messages[0].body, Body::Schemaless { .. }));
    assert_eq!(d.to_json()["incomplete"], json!(true));
    // Events without a kind are ignored.
    assert_eq!(s.ingest(pb::Event::default()), Change::Nothing);
    assert_eq!(s.len(), 2);
}

#[test]
fn search_looks_inside_decoded_messages() {
    let mut s = Session::new();
    s.ingest(schema_event());
    s.ingest(ev(1, started(GET, vec![header("x-tenant", "Acme")])));
    s.ingest(ev(2, started(GET, vec![])));
    s.ingest(ev(2, request(1, named("needle-in-payload"))));
    s.ingest(ev(3, started(WATCH, vec![])));
    s.ingest(ev(3, ended(Some(5), "Book Not Here")));
    assert_eq!(s.search("acme"), [1]);
    assert_eq!(s.search("NEEDLE"), [2]);
    assert_eq!(s.search("not here"), [3]);
    assert_eq!(s.search("not_found"), [3]);
    assert_eq!(s.search("sampler/watch"), [3]);
    assert!(s.search("absent").is_empty());
}

#[test]
fn search_index_is_built_once_and_follows_changes() {
    let mut s = Session::new();
    s.ingest(ev(1, started(GET, vec![header("x-tenant", "Acme")])));
    s.ingest(ev(1, request(1, named("first-payload"))));
    assert_eq!(
        s.search_index_bytes(),
        0,
        "built lazily, by the first search"
    );
    assert_eq!(s.search("acme"), [1]);
    let built = s.search_index_bytes();
    assert!(built > 0);
    assert_eq!(s.search("acme"), [1]);
    assert_eq!(
        s.search_index_bytes(),
        built,
        "a second search reuses the index"
    );
    // The schema arrives: the call's text is rebuilt with its JSON.
    s.ingest(schema_event());
    assert_eq!(s.search("\"name\":\"first-payload\""), [1]);
    // A new event of the call drops its entry; the next search sees it.
    s.ingest(ev(1, ended(Some(3), "Quota Exhausted")));
    assert_eq!(s.search("quota exhausted"), [1]);
    assert_eq!(s.search("invalid_argument"), [1], "the status name");
    assert_eq!(
        s.search("grpc-status"),
        Vec::<u64>::new(),
        "no such trailer"
    );
}

#[test]
fn search_looks_at_headers_trailers_and_responses() {
    let mut s = Session::new();
    s.ingest(schema_event());
    s.ingest(ev(1, started(GET, vec![])));
    s.ingest(ev(
        1,
        pb::ResponseHeaders {
            offset_nanos: 2,
            http_status: 200,
            headers: vec![header("x-served-by", "Pod-7")],
        },
    ));
    s.ingest(ev(1, response(3, named("Reply-Text"))));
    s.ingest(ev(2, started(GET, vec![])));
    s.ingest(ev(
        2,
        pb::CallEnded {
            trailers: vec![header("x-trace", "T-42")],
            ..ended(Some(0), "")
        },
    ));
    assert_eq!(s.search("pod-7"), [1]);
    assert_eq!(s.search("x-served-by: pod"), [1], "name: value");
    assert_eq!(s.search("reply-text"), [1]);
    assert_eq!(s.search("t-42"), [2]);
    assert_eq!(s.search("loom.enginetest.sampler/get"), [1, 2]);
    // A query never spans two fields.
    assert!(s.search("pod-7reply").is_empty());
}

#[test]
fn search_in_slices_matches_search_at_once() {
    let mut s = Session::new();
    s.ingest(schema_event());
    for id in 1..=10 {
        s.ingest(ev(id, started(GET, vec![])));
        let name = if id % 3 == 0 { "three" } else { "other" };
        s.ingest(ev(id, request(1, named(name))));
    }
    let all = s.search("three");
    assert_eq!(all, [3, 6, 9]);
    let mut search = Search::new("THREE");
    assert_eq!(search.needle(), "three");
    assert_eq!(search.progress(&s), (0, 10));
    assert!(!search.step(&mut s, 4));
    assert_eq!(search.progress(&s), (4, 10));
    assert_eq!(search.hits(), [3]);
    // A call arriving mid-search is looked at too.
    s.ingest(ev(11, started(GET, vec![])));
    s.ingest(ev(11, request(1, named("three"))));
    while !search.step(&mut s, 4) {}
    assert!(search.is_done(&s));
    assert_eq!(search.into_hits(), [3, 6, 9, 11]);
    // The view options do not change what is searched.
    let built = s.search_index_bytes();
    hide_defaults(&mut s);
    assert_eq!(s.search("three"), [3, 6, 9, 11]);
    assert_eq!(s.search_index_bytes(), built);
}

#[test]
fn grpcurl_from_a_session() {
    let mut s = Session::new();
    s.ingest(schema_event());
    s.ingest(ev(1, started(GET, vec![header("x-a", "b")])));
    s.ingest(ev(1, request(1, named("hi"))));
    let cmd = s.grpcurl(1).unwrap();
    assert_eq!(
        cmd.to_shell(),
        "grpcurl -plaintext -H 'x-a: b' -d '{\"name\":\"hi\"}' backend:50051 loom.enginetest.Sampler/Get"
    );
    // Without a schema there is nothing to replay.
    s.ingest(ev(2, started("/x.Y/Z", vec![])));
    assert!(matches!(s.grpcurl(2), Err(ReplayError::NoSchema(_))));
    assert_eq!(s.grpcurl(3), Err(ReplayError::NoSuchCall(3)));
    // A request that does not decode.
    s.ingest(ev(4, started(GET, vec![])));
    s.ingest(ev(4, request(1, &b"\x0a\x09"[..])));
    assert!(matches!(
        s.grpcurl(4),
        Err(ReplayError::Undecodable { index: 0, .. })
    ));
}

#[test]
fn one_call_as_json() {
    let mut s = Session::new();
    s.ingest(schema_event());
    s.ingest(ev(3, started(GET, vec![header("x-id", "7")])));
    s.ingest(ev(3, request(1_000, named("q"))));
    s.ingest(ev(
        3,
        pb::ResponseHeaders {
            offset_nanos: 2_000,
            http_status: 200,
            headers: vec![header("x-r", "1")],
        },
    ));
    s.ingest(ev(3, response(3_000, named("a"))));
    s.ingest(ev(3, ended(Some(0), "")));
    hide_defaults(&mut s);
    let size = named("q").len();
    assert_eq!(
        s.detail(3).unwrap().to_json(),
        json!({
            "id": 3,
            "method": "loom.enginetest.Sampler/Get",
            "path": GET,
            "kind": "unary",
            "kindInferred": false,
            "authority": "relay:9999",
            "upstream": "http://backend:50051",
            "protocol": "grpc",
            "codec": "proto",
            "httpVersion": "HTTP/2",
            "timing": {
                "start": "2023-11-14T22:13:20.000000000Z",
                "responseHeadersNanos": 2000, "firstMessageNanos": 1000, "lastMessageNanos": 3000,
                "firstRequestNanos": 1000, "lastRequestNanos": 1000,
                "firstResponseNanos": 3000, "lastResponseNanos": 3000, "totalNanos": 9000,
            },
            "status": {"code": 0, "name": "OK", "message": ""},
            "schema": {"input": testing::SAMPLE, "output": testing::SAMPLE,
                       "source": "reflection/v1", "upstream": "http://backend:50051"},
            "requestMetadata": [{"name": "x-id", "value": "7"}],
            "responseHeaders": [{"name": "x-r", "value": "1"}],
            "trailers": [],
            "requests": [{"index": 0, "offsetNanos": 1000, "wireSize": size, "size": size,
                          "type": testing::SAMPLE, "json": {"name": "q"}}],
            "responses": [{"index": 0, "offsetNanos": 3000, "wireSize": size, "size": size,
                           "type": testing::SAMPLE, "json": {"name": "a"}}],
        })
    );
}

/// 100k small messages (1000 calls of 100) decode natively well under a
/// second in release builds (5 s allowed for unoptimized test builds).
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn decoding_100k_messages_all_decode() {
    let schema = testing::schema();
    let mut s = Session::new();
    s.ingest(schema_event());
    let mut ids = Vec::new();
    for call in 0..1_000u64 {
        s.ingest(ev(call + 1, started(WATCH, vec![])));
        for i in 0..100u64 {
            let payload = testing::sample(
                &schema,
                &[
                    ("name", V::String(format!("message {i} of call {call}"))),
                    ("big", V::I64(-(i as i64) << 33)),
                    ("numbers", V::List(vec![V::I32(1), V::I32(2), V::I32(3)])),
                    ("flag", V::Bool(i % 2 == 0)),
                ],
            );
            s.ingest(ev(call + 1, response(i, payload)));
        }
        ids.push(call + 1);
    }
    let started = std::time::Instant::now();
    let mut decoded = 0;
    for id in ids {
        let detail = s.detail(id).unwrap();
        decoded += detail
            .messages
            .iter()
            .filter(|m| m.body.json().is_some())
            .count();
    }
    // How fast is for the benchmark (scripts/bench.sh), not for a test.
    println!("decoded {decoded} messages in {:?}", started.elapsed());
    assert_eq!(decoded, 100_000);
}

#[test]
fn a_session_exports_a_capture_that_reads_back_the_same() {
    let events = vec![
        schema_event(),
        ev(
            1,
            started(
                GET,
                vec![header("authorization", "Bearer s"), header("x-a", "1")],
            ),
        ),
        ev(1, request(1_000, named("q"))),
        ev(
            1,
            pb::ResponseHeaders {
                offset_nanos: 2_000,
                http_status: 200,
                headers: vec![header("x-r", "1")],
            },
        ),
        ev(1, response(3_000, named("a"))),
        ev(1, ended(Some(0), "")),
        ev(2, started(WATCH, vec![])),
        pb::Event::gap(pb::GapKind::Lagged, 2, "slow", vec![2]),
        ev(3, ended(Some(5), "not found")),
    ];
    let s = Session::from_events(events);
    assert_eq!(
        s.counts(),
        Counts {
            calls: 3,
            open: 1,
            failed: 1,
            incomplete: 2
        }
    );
    assert_eq!(&s.payload(1, 1).unwrap().payload[..], &named("a")[..]);
    assert!(s.payload(1, 2).is_none());

    let redactor = crate::redact::Redactor::default();
    let file = s.export(Some(&redactor));
    let back = Session::from_events(crate::capture::read_capture(&file).unwrap().events);
    let summaries = |s: &Session| s.calls().cloned().collect::<Vec<_>>();
    assert_eq!(summaries(&back), summaries(&s));
    assert_eq!(back.counts(), s.counts());
    assert_eq!(back.gaps(), s.gaps());
    let mut back = back;
    let detail = back.detail(1).unwrap();
    let auth = detail
        .request_headers
        .iter()
        .find(|h| h.name == "authorization")
        .unwrap();
    assert_eq!(auth.value, HeaderValue::Redacted, "redacted on export");

    // One call alone: its events and every schema, nothing else.
    let one = crate::capture::read_capture(&s.export_call(1, None)).unwrap();
    assert!(
        one.events
            .iter()
            .all(|e| e.call_id == 1 || e.kind_name() == "descriptors")
    );
    assert_eq!(one.events.len(), 1 + 5);
    // Removing a call takes it out of the counts.
    let mut s = s;
    assert!(s.remove(3));
    assert_eq!(s.counts().failed, 0);
    assert_eq!(s.counts().calls, 2);
}

#[test]
fn a_preview_is_completed_with_the_whole_message_and_saved_whole() {
    let whole = bytes::Bytes::from(vec![7u8; 1000]);
    let message = pb::Message::new(pb::Direction::Response, 5, false, whole.clone());
    assert!(message.preview(1000).is_none(), "not longer than the limit");
    let preview = message.preview(100).expect("a preview");
    assert_eq!(
        (
            preview.payload.len(),
            preview.declared_length,
            preview.preview
        ),
        (100, 1000, true)
    );
    let mut session = Session::new();
    session.ingest(pb::Event::new(9, preview));
    assert!(session.is_preview(9, 0));
    assert_eq!(session.call(9).map(|c| c.responses.wire_bytes), Some(1000));
    let view = session.message(9, 0).expect("a view");
    assert!(view.preview && view.to_json()["preview"] == true);

    // A file written now says the bytes are missing.
    let saved = crate::capture::read_capture(&session.export(None)).expect("a capture");
    let pb::event::Kind::Message(m) = saved.events[0].kind.clone().expect("a kind") else {
        panic!("{:?}", saved.events);
    };
    assert!(m.truncated && !m.preview && m.payload.len() == 100);

    // Wrong bytes are refused; the whole message replaces the preview.
    assert!(matches!(
        session.complete_message(9, 0, whole.slice(..999)),
        Err(CompleteError::Mismatch { got: 999, .. })
    ));
    assert!(matches!(
        session.complete_message(9, 0, bytes::Bytes::from(vec![1u8; 1000])),
        Err(CompleteError::Mismatch { .. })
    ));
    session
        .complete_message(9, 0, whole.clone())
        .expect("completed");
    assert!(!session.is_preview(9, 0));
    let view = session.message(9, 0).expect("a view");
    assert!(!view.preview && view.wire_size == 1000);
    assert_eq!(
        session.complete_message(9, 0, whole),
        Err(CompleteError::NotPreview { call: 9, index: 0 })
    );
    assert!(matches!(
        session.complete_message(9, 1, bytes::Bytes::new()),
        Err(CompleteError::NoMessage { .. })
    ));
}
