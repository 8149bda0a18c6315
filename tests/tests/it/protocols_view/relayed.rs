//! Calls of gRPC-Web and Connect captured by the relay (against a scripted
//! upstream with no reflection, so no schema) and read by the decoding
//! engine as the views read them: JSON-codec messages as JSON, compressed
//! ones decompressed by their protocol's header, a Connect error's status
//! in gRPC's terms and Connect's own, and each replayed in its protocol.

use std::io::Write as _;

use loom_shared::engine::{Body, Program, Protocol, Session, StatusSource};
use loom_tests::TestRelay;
use loom_tests::scripted::{Answer, Http, Scripted, envelope, send};
use serde_json::json;

const PATH: &str = "/loom.test.v1.Probe/Unary";

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(data).expect("gzip in memory");
    gz.finish().expect("gzip in memory")
}

/// One call through a fresh relay to an upstream answering `answer`: the
/// session of its capture, and the call's id.
async fn through(
    answer: Answer,
    http: Http,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (Session, u64) {
    let upstream = Scripted::start(answer).await;
    let relay = TestRelay::start(upstream.addr).await;
    send(relay.relay_addr, http, "POST", PATH, headers, body).await;
    let events = relay.capture_events().await;
    relay.shutdown().await;
    let session = Session::from_events(events);
    let id = session
        .calls()
        .find(|c| &*c.path == PATH)
        .map(|c| c.id)
        .expect("the call was captured");
    (session, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_unary_json_gzip_reads_as_json_and_replays_with_curl() {
    let answer = Answer {
        status: 200,
        headers: vec![
            ("content-type", "application/json".into()),
            ("content-encoding", "gzip".into()),
        ],
        chunks: vec![gzip(br#"{"text":"echo: hi"}"#)],
        trailers: vec![],
    };
    let headers = [
        ("content-type", "application/json"),
        ("connect-protocol-version", "1"),
        ("content-encoding", "gzip"),
        ("x-request-id", "r-1"),
    ];
    let (mut session, id) = through(answer, Http::H1, &headers, gzip(br#"{"text": "hi"}"#)).await;
    let d = session.detail(id).expect("the call");
    assert_eq!(d.summary.protocol, Protocol::ConnectUnary);
    assert_eq!(
        (d.codec.name(), d.http_version.as_str()),
        ("json", "HTTP/1.1")
    );
    assert_eq!(d.request_encoding.name(), "gzip");
    assert_eq!(d.response_encoding.name(), "gzip");
    let bodies: Vec<_> = d.messages.iter().map(|m| m.body.json().cloned()).collect();
    assert_eq!(
        bodies,
        [
            Some(json!({"text": "hi"})),
            Some(json!({"text": "echo: hi"}))
        ]
    );
    // No schema: JSON all the same, said to be unchecked.
    assert!(
        matches!(&d.messages[0].body, Body::JsonText { note: Some(n), .. } if n.contains("not checked")),
        "{:?}",
        d.messages[0].body
    );
    let cmd = session.replay(id).expect("a command");
    assert_eq!(cmd.program, Program::Curl);
    let line = cmd.to_shell();
    assert!(line.contains(r#"--data-binary '{"text": "hi"}'"#), "{line}");
    assert!(line.contains("-H 'x-request-id: r-1'"), "{line}");
    assert!(!line.contains("content-encoding"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connect_error_keeps_its_own_code_beside_grpcs() {
    let answer = Answer {
        status: 404,
        headers: vec![("content-type", "application/json".into())],
        chunks: vec![br#"{"code":"not_found","message":"no such probe"}"#.to_vec()],
        trailers: vec![],
    };
    let headers = [
        ("content-type", "application/json"),
        ("connect-protocol-version", "1"),
    ];
    let (mut session, id) = through(answer, Http::H2, &headers, br#"{"text":"x"}"#.to_vec()).await;
    let d = session.detail(id).expect("the call");
    let status = d.summary.status.clone().expect("ended");
    assert_eq!(
        (status.name(), status.message.as_str()),
        ("NOT_FOUND".to_owned(), "no such probe")
    );
    let native = &d.protocol_status;
    assert_eq!(native.connect_code.as_deref(), Some("not_found"));
    assert_eq!(native.http_status, Some(404));
    assert_eq!(native.source, Some(StatusSource::HttpStatus));
    let json = d.to_json();
    assert_eq!(json["connectCode"], json!("not_found"));
    assert_eq!(json["status"]["responseHttpStatus"], json!(404));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_streaming_compressed_envelopes_decode_by_connect_content_encoding() {
    let end = br#"{"metadata":{"x-a":["b"]}}"#;
    let answer = Answer {
        status: 200,
        headers: vec![
            ("content-type", "application/connect+json".into()),
            ("connect-content-encoding", "gzip".into()),
        ],
        chunks: vec![envelope(1, &gzip(br#"{"text":"one"}"#)), envelope(2, end)],
        trailers: vec![],
    };
    let headers = [
        ("content-type", "application/connect+json"),
        ("connect-content-encoding", "gzip"),
    ];
    let request = envelope(1, &gzip(br#"{"text":"go"}"#));
    let (mut session, id) = through(answer, Http::H2, &headers, request).await;
    let d = session.detail(id).expect("the call");
    assert_eq!(d.summary.protocol, Protocol::ConnectStream);
    let bodies: Vec<_> = d.messages.iter().map(|m| m.body.json().cloned()).collect();
    assert_eq!(
        bodies,
        [Some(json!({"text": "go"})), Some(json!({"text": "one"}))]
    );
    assert!(d.messages.iter().all(|m| m.compressed));
    assert_eq!(d.protocol_status.source, Some(StatusSource::EndStream));
    let cmd = session.replay(id).expect("a command");
    assert_eq!(cmd.program, Program::BufCurl);
    assert!(
        cmd.to_shell().starts_with(
            r#"buf curl --protocol connect --http2-prior-knowledge -d '{"text":"go"}' "#
        ),
        "{}",
        cmd.to_shell()
    );
}
