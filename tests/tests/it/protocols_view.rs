//! Calls of every protocol of the gRPC family (format 1.4) as people read
//! them: `loom decode` of the golden fixture `capture-v1.4-protocols.loom`
//! and of `loom_tests::captures::protocols_capture` (each call's protocol,
//! codec, HTTP version and Connect code; JSON-codec messages as JSON,
//! checked against the schema; a replay command in each call's own
//! protocol), and the inspector on the latter in a real browser, offline:
//! a protocol label on each row, the protocol filter (`protocol=` in the
//! URL), and a call's protocol, codec, status in the protocol's own form
//! and replay command in its detail.
//!
//! `relayed`: such calls captured by the relay itself, read the same way.
//!
//! ```text
//! LOOM_WEB_DIST=$PWD/dist cargo test -p loom-tests --test it -- protocols_view::
//! ```

mod relayed;

use std::path::PathBuf;

use loom_relay::decode::{DecodeOptions, run};
use loom_tests::browser::{Browser, Options};
use loom_tests::captures::{NOT_FOUND_MESSAGE, PROTOCOL_CALLS, protocols_capture};
use loom_tests::inspector::{
    DETAIL, WAIT, assert_no_console_errors, choose, dist_dir, open_capture, select, wait_rows,
};
use loom_tests::layout::{self, Screen};
use loom_tests::reflection::PROBE_SERVICE;
use loom_tests::static_files::StaticFiles;
use serde_json::{Value, json};

use crate::browser::bounded;

/// What `loom decode` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    /// JSON Lines.
    Json,
    /// A replay command per call.
    Commands,
}

/// `loom decode` of `file`: its output lines.
fn decode(file: PathBuf, output: Output) -> Vec<String> {
    let opts = DecodeOptions {
        input: file,
        grpcurl: output == Output::Commands,
        hide_defaults: true,
        ..Default::default()
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let outcome = run(&opts, &mut out, &mut err).expect("decode");
    assert_eq!(outcome.exit_code(), 0, "{}", String::from_utf8_lossy(&err));
    String::from_utf8(out)
        .expect("UTF-8")
        .lines()
        .map(str::to_owned)
        .collect()
}

fn json_lines(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// The protocols capture, written to a temporary file.
fn capture_file() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("protocols.loom");
    std::fs::write(&file, protocols_capture()).expect("write the capture");
    (dir, file)
}

#[test]
fn the_v1_4_fixture_decodes_with_each_calls_protocol() {
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join("capture-v1.4-protocols.loom");
    let calls = json_lines(&decode(fixture.clone(), Output::Json));
    let seen: Vec<(&str, &str, &str)> = calls
        .iter()
        .map(|c| {
            (
                c["protocol"].as_str().unwrap_or(""),
                c["codec"].as_str().unwrap_or(""),
                c["httpVersion"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("grpc", "proto", "HTTP/2"),
            ("grpc-web", "proto", "HTTP/1.1"),
            ("grpc-web-text", "proto", "HTTP/1.1"),
            ("connect-unary", "json", "HTTP/1.1"),
            ("connect-stream", "proto", "HTTP/2"),
            ("connect-get", "proto", "HTTP/1.1"),
            ("connect-unary", "cbor", "HTTP/2"),
        ]
    );
    let connect: Vec<&Value> = calls.iter().map(|c| &c["connectCode"]).collect();
    assert_eq!(
        connect,
        [
            &Value::Null,
            &Value::Null,
            &Value::Null,
            &json!("not_found"),
            &json!("invalid_argument"),
            &Value::Null,
            &json!("unimplemented"),
        ]
    );
    // The gRPC code every view shows, beside where it came from.
    assert_eq!(calls[3]["status"]["name"], json!("NOT_FOUND"));
    assert_eq!(calls[3]["status"]["responseHttpStatus"], json!(404));
    assert_eq!(calls[3]["status"]["source"], json!("http-status"));
    assert_eq!(calls[1]["status"]["source"], json!("body-trailers"));
    assert_eq!(calls[4]["status"]["source"], json!("end-stream"));

    // No messages and no schema: no commands, each line saying which
    // command it would be, and the call's protocol (the capture holds several).
    let lines = decode(fixture, Output::Commands);
    assert_eq!(lines.len(), 7);
    assert!(
        lines[0].starts_with("# call 1 (echo.Echo/Say; gRPC, proto): no grpcurl command: "),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("# call 2 (echo.Echo/Say; gRPC-Web, proto): no buf curl command: "),
        "{}",
        lines[1]
    );
    assert_eq!(
        lines[3],
        "# call 4 (echo.Echo/Say; Connect unary, json): no curl command: \
         no request message was captured"
    );
    assert!(
        lines[6].contains("Connect unary, cbor): no curl command"),
        "{}",
        lines[6]
    );
}

#[test]
fn each_protocol_decodes_by_its_codec_and_replays_in_its_own_protocol() {
    let (_dir, file) = capture_file();
    let calls = json_lines(&decode(file.clone(), Output::Json));
    assert_eq!(calls.len(), PROTOCOL_CALLS.len());
    for (call, expected) in calls.iter().zip(&PROTOCOL_CALLS) {
        let id = expected.id;
        assert_eq!(call["protocol"], json!(expected.protocol), "call {id}");
        assert_eq!(call["codec"], json!(expected.codec), "call {id}");
        assert_eq!(
            call["httpVersion"],
            json!(expected.http_version),
            "call {id}"
        );
        assert_eq!(call["status"]["code"], json!(expected.code), "call {id}");
        if expected.connect_code.is_empty() {
            assert!(call.get("connectCode").is_none(), "call {id}");
        } else {
            assert_eq!(
                call["connectCode"],
                json!(expected.connect_code),
                "call {id}"
            );
        }
        // Every request decodes, whatever its codec and compression.
        assert_eq!(
            call["requests"][0]["json"]["text"],
            json!(expected.text),
            "call {id}: {call}"
        );
    }
    // The JSON codec's message: as sent, checked against the schema.
    let request = &calls[2]["requests"][0];
    assert_eq!(request["codec"], json!("json"));
    assert_eq!(request["type"], json!("loom.test.v1.ProbeRequest"));
    assert_eq!(
        request["problems"],
        json!(["colour: no such field in loom.test.v1.ProbeRequest"])
    );
    assert_eq!(calls[3]["requests"][0]["compressed"], json!("gzip"));
    // A Connect error's details, as a google.rpc.Status.
    assert_eq!(
        calls[2]["status"]["details"]["json"]["message"],
        json!(NOT_FOUND_MESSAGE)
    );

    let commands = decode(file, Output::Commands);
    for (line, expected) in commands.iter().zip(&PROTOCOL_CALLS) {
        assert!(
            line.starts_with(expected.program) || line.starts_with("printf "),
            "call {}: {line}",
            expected.id
        );
    }
    assert!(
        commands[0].starts_with("grpcurl -plaintext "),
        "{}",
        commands[0]
    );
    assert!(
        commands[1].starts_with("buf curl --protocol grpcweb -H 'x-request-id: req-2' "),
        "{}",
        commands[1]
    );
    assert!(
        commands[2].contains(
            r#"--data-binary '{"text": "connect one", "colour": "red"}' http://127.0.0.1:50051/loom.test.v1.Probe/Unary"#
        ),
        "{}",
        commands[2]
    );
    assert!(
        !commands[3].contains("content-encoding"),
        "sent decompressed: {}",
        commands[3]
    );
    assert!(
        commands[4].starts_with("buf curl --protocol connect --http2-prior-knowledge "),
        "{}",
        commands[4]
    );
    assert!(
        commands[5].contains("?connect=v1&encoding=proto&base64=1&message="),
        "{}",
        commands[5]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inspector_labels_filters_and_details_each_protocol() {
    let dist = dist_dir();
    let browser = Browser::start().await;
    bounded(async {
        let (_dir, file) = capture_file();
        let server = StaticFiles::serve(&dist).await;
        browser.goto(&server.url("/")).await;
        open_capture(&browser, &file, PROTOCOL_CALLS.len()).await;
        wait_rows(&browser, "every call", |rows| {
            rows.len() == PROTOCOL_CALLS.len()
        })
        .await;

        // Each row says its protocol (several in this capture).
        let labels = browser
            .js(
                "return Array.from(document.querySelectorAll('[data-test=call-row]')).map(r => {
                     const p = r.querySelector('[data-test=protocol]');
                     return p ? [p.dataset.protocol, p.textContent.trim()] : null; });",
                vec![],
            )
            .await;
        assert_eq!(
            labels,
            json!([
                ["grpc", "gRPC"],
                ["grpc-web", "gRPC-Web"],
                ["connect-unary", "Connect"],
                ["connect-unary", "Connect"],
                ["connect-stream", "Connect stream"],
                ["connect-get", "Connect GET"],
                ["grpc-web-text", "gRPC-Web text"],
            ])
        );
        let options = browser
            .js(
                "return Array.from(document.querySelectorAll('[data-test=protocol-filter] option'))
                     .map(o => o.textContent.trim());",
                vec![],
            )
            .await;
        assert_eq!(
            options,
            json!([
                "all protocols",
                "gRPC (1)",
                "gRPC-Web (1)",
                "gRPC-Web text (1)",
                "Connect unary (2)",
                "Connect streaming (1)",
                "Connect GET (1)",
            ])
        );

        // Only Connect unary's calls, and the URL says so.
        choose(&browser, "[data-test=protocol-filter]", "connect-unary").await;
        let rows = wait_rows(&browser, "the Connect unary calls", |rows| rows.len() == 2).await;
        assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), [3, 4]);
        let url = browser.client().current_url().await.expect("the page URL");
        assert!(url.as_str().contains("protocol=connect-unary"), "{url}");

        // Its detail: protocol, codec, HTTP version; the gRPC status and
        // Connect's own beside it; the JSON as sent with its difference
        // from the type; and curl to replay it.
        select(&browser, 3, "/Unary").await;
        let spoken = browser
            .wait_until_text("[data-test=protocol-detail]", |t| !t.is_empty(), WAIT)
            .await;
        assert_eq!(spoken, "Connect unary · JSON · HTTP/1.1");
        let status = browser
            .text_of("[data-test=detail-status]")
            .await
            .expect("a status");
        assert_eq!(status, "NOT_FOUND");
        let native = browser
            .text_of("[data-test=native-status]")
            .await
            .expect("the status in Connect's form");
        assert_eq!(
            native,
            "Connect not_found · HTTP 404 · from the HTTP status"
        );
        let messages = browser
            .wait_until_text(
                &format!("{DETAIL} [data-test=messages]"),
                |t| t.contains("\"connect one\""),
                WAIT,
            )
            .await;
        assert!(messages.contains("\"colour\""), "{messages}");
        let problem = browser
            .text_of("[data-test=json-problem]")
            .await
            .expect("the JSON's difference from its type");
        assert_eq!(
            problem,
            "colour: no such field in loom.test.v1.ProbeRequest"
        );
        let command = browser
            .wait_until_text("[data-test=grpcurl-text]", |t| !t.is_empty(), WAIT)
            .await;
        assert!(command.starts_with("curl "), "{command}");
        assert!(command.contains("connect-protocol-version: 1"), "{command}");
        let copy = browser.text_of("[data-test=copy-grpcurl]").await;
        assert_eq!(copy.as_deref(), Some("Copy as curl"));

        // A gRPC-Web call: buf curl, its status from the trailer frame.
        choose(&browser, "[data-test=protocol-filter]", "grpc-web-text").await;
        wait_rows(&browser, "the gRPC-Web text call", |rows| {
            rows.iter().map(|r| r.id).eq([7])
        })
        .await;
        select(&browser, 7, "/Unary").await;
        browser
            .wait_until_text(
                "[data-test=protocol-detail]",
                |t| t == "gRPC-Web text · proto · HTTP/1.1",
                WAIT,
            )
            .await;
        let native = browser.text_of("[data-test=native-status]").await;
        assert_eq!(
            native.as_deref(),
            Some("HTTP 200 · from gRPC-Web's trailer frame")
        );
        let command = browser
            .wait_until_text("[data-test=grpcurl-text]", |t| !t.is_empty(), WAIT)
            .await;
        assert!(
            command.starts_with("buf curl --protocol grpcweb "),
            "{command}"
        );
        assert!(command.contains("the call used its text form"), "{command}");
        assert_eq!(
            browser.text_of("[data-test=copy-grpcurl]").await.as_deref(),
            Some("Copy as buf curl")
        );

        // Every protocol again: the gRPC call replays with grpcurl.
        choose(&browser, "[data-test=protocol-filter]", "*").await;
        wait_rows(&browser, "every call again", |rows| {
            rows.len() == PROTOCOL_CALLS.len()
        })
        .await;
        let url = browser.client().current_url().await.expect("the page URL");
        assert!(!url.as_str().contains("protocol="), "{url}");
        select(&browser, 1, "/Unary").await;
        browser
            .wait_until_text(
                "[data-test=protocol-detail]",
                |t| t == "gRPC · proto · HTTP/2",
                WAIT,
            )
            .await;
        assert_eq!(browser.count("[data-test=native-status]").await, 0);
        let command = browser
            .wait_until_text("[data-test=grpcurl-text]", |t| !t.is_empty(), WAIT)
            .await;
        assert!(
            command.ends_with(&format!("127.0.0.1:50051 {PROBE_SERVICE}/Unary")),
            "{command}"
        );

        assert_no_console_errors(&browser).await;
        browser.close().await;
        server.stop().await;
    })
    .await;
}

/// The protocol labels beside the methods, the protocol picker and a
/// Connect call's detail fit a 1280×800 window, as the layout tests
/// measure it (no pane overflows sideways, no list cell is cut).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocols_fit_the_smallest_window() {
    let dist = dist_dir();
    let screen = Screen {
        width: 1280,
        height: 800,
        dark: false,
    };
    let browser = Browser::start_with(Options {
        window: (screen.width, screen.height),
        ..Options::default()
    })
    .await;
    bounded(async {
        let (_dir, file) = capture_file();
        let server = StaticFiles::serve(&dist).await;
        browser.goto(&server.url("/")).await;
        open_capture(&browser, &file, PROTOCOL_CALLS.len()).await;
        browser.wait_for("[data-test=protocol-filter]", WAIT).await;
        select(&browser, 3, "/Unary").await;
        browser.wait_for("[data-test=json-problem]", WAIT).await;
        browser
            .screenshot(&screen.screenshot_path("protocols"))
            .await;
        let found = layout::check(&browser, screen).await;
        assert!(
            found.problems.is_empty(),
            "{}: {:#?} ({})",
            screen.name(),
            found.problems,
            found.metrics
        );
        assert_no_console_errors(&browser).await;
        browser.close().await;
        server.stop().await;
    })
    .await;
}
