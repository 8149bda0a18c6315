//! The UI port: the live WebSocket (backlog then live, nothing twice, nothing
//! missing), who may use the port (origins, DNS rebinding, CORS preflights),
//! `/healthz`, redaction of shared captures, the `--record` file, the memory
//! cap, and WebSocket clients that stop reading.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderMap, Method, StatusCode, header};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use loom_relay::Config;
use loom_shared::capture;
use loom_shared::pb::{self, Direction, GapKind, event::Kind};
use loom_tests::TestRelay;
use loom_tests::backend::Backend;
use loom_tests::events::{calls_of, ended, ended_ids, gaps, has_gap, messages, started_ids};
use loom_tests::probe::probe_client::ProbeClient;
use loom_tests::probe::{ProbeReply, ProbeRequest};
use loom_tests::req;
use loom_tests::ws::WsClient;
use prost::Message as _;
use tonic::transport::Channel;

/// The longest any single wait in these tests may take.
const WAIT: Duration = Duration::from_secs(10);

const HOSTED: &str = "http://hosted.example:8080";

async fn client(addr: SocketAddr) -> ProbeClient<Channel> {
    loom_tests::probe_client(addr, false).await
}

async fn unary(c: &mut ProbeClient<Channel>, request: ProbeRequest) -> ProbeReply {
    tokio::time::timeout(WAIT, c.unary(request))
        .await
        .expect("unary call in time")
        .expect("unary call succeeds")
        .into_inner()
}

/// Any request to the UI port, with any method and headers (`Host` included:
/// the client only fills it in when it is not given).
async fn request(
    ui: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Bytes) {
    let client: Client<_, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let mut req = http::Request::builder()
        .method(method.clone())
        .uri(format!("http://{ui}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = tokio::time::timeout(
        WAIT,
        client.request(req.body(Empty::new()).expect("request")),
    )
    .await
    .unwrap_or_else(|_| panic!("{method} {path}: no response in time"))
    .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let (parts, body) = res.into_parts();
    let body = tokio::time::timeout(WAIT, body.collect())
        .await
        .unwrap_or_else(|_| panic!("{method} {path}: body not in time"))
        .unwrap_or_else(|e| panic!("{method} {path}: body: {e}"))
        .to_bytes();
    assert_no_wildcard(&parts.headers, &format!("{method} {path} {headers:?}"));
    (parts.status, parts.headers, body)
}

/// The headers a browser sends to open a WebSocket.
fn ws_handshake<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut h = vec![
        ("connection", "upgrade"),
        ("upgrade", "websocket"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];
    h.extend_from_slice(extra);
    h
}

/// A CORS preflight for `/api/capture`, Private Network Access included.
async fn preflight(ui: SocketAddr, origin: &str) -> (StatusCode, HeaderMap, Bytes) {
    request(
        ui,
        Method::OPTIONS,
        "/api/capture",
        &[
            ("origin", origin),
            ("access-control-request-method", "GET"),
            ("access-control-request-private-network", "true"),
        ],
    )
    .await
}

fn assert_no_wildcard(headers: &HeaderMap, what: &str) {
    for v in headers.get_all(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
        assert_ne!(v, "*", "{what}: a wildcard CORS origin");
    }
}

fn allow_origin(headers: &HeaderMap) -> Vec<&str> {
    headers
        .get_all(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        .iter()
        .map(|v| v.to_str().expect("ascii"))
        .collect()
}

fn varies_on_origin(headers: &HeaderMap) -> bool {
    headers.get_all(header::VARY).iter().any(|v| {
        v.to_str()
            .unwrap_or("")
            .split(',')
            .any(|name| name.trim().eq_ignore_ascii_case("origin"))
    })
}

/// The `text` of a call's first request message.
fn request_text(events: &[pb::Event], call_id: u64) -> String {
    let msgs = messages(events, call_id, Direction::Request);
    let first = msgs
        .first()
        .unwrap_or_else(|| panic!("call {call_id} has no request message"));
    ProbeRequest::decode(first.payload.clone())
        .expect("request payload is a ProbeRequest")
        .text
}

fn request_headers(events: &[pb::Event], call_id: u64) -> Vec<pb::Header> {
    events
        .iter()
        .find_map(|e| match &e.kind {
            Some(Kind::CallStarted(s)) if e.call_id == call_id => Some(s.headers.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("call {call_id} has no CallStarted"))
}

fn header_of<'a>(headers: &'a [pb::Header], name: &str) -> &'a pb::Header {
    headers
        .iter()
        .find(|h| h.name == name)
        .unwrap_or_else(|| panic!("no `{name}` header in {headers:?}"))
}

fn split_descriptors(events: &[pb::Event]) -> (Vec<&pb::Event>, Vec<&pb::Event>) {
    events
        .iter()
        .partition(|e| matches!(e.kind, Some(Kind::Descriptors(_))))
}

/// Two captures of the same run hold the same events: call events and gaps
/// in the same order, and the same descriptor events (a snapshot puts those
/// first; a live stream or the record file has them where they happened).
fn assert_same_events(a: &[pb::Event], b: &[pb::Event], what: &str) {
    let (a_desc, a_rest) = split_descriptors(a);
    let (b_desc, b_rest) = split_descriptors(b);
    assert_eq!(
        a_rest.len(),
        b_rest.len(),
        "{what}: {} vs {} call events and gaps",
        a_rest.len(),
        b_rest.len()
    );
    for (i, (x, y)) in a_rest.iter().zip(&b_rest).enumerate() {
        assert_eq!(x, y, "{what}: event {i} differs");
    }
    assert_eq!(a_desc, b_desc, "{what}: descriptor events differ");
}

/// Asserts each id appears once and returns them as a set.
fn once_each(ids: &[u64], what: &str) -> BTreeSet<u64> {
    let set: BTreeSet<u64> = ids.iter().copied().collect();
    assert_eq!(set.len(), ids.len(), "{what} repeated: {ids:?}");
    set
}

// 1. Backlog, then live.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_sends_backlog_then_live_without_duplicates() {
    let backend = Backend::start().await;
    let relay = TestRelay::start(backend.addr).await;
    let mut c = client(relay.relay_addr).await;
    for i in 0..3 {
        unary(&mut c, req(&format!("before-{i}"))).await;
    }
    let mut ws = WsClient::connect(relay.ui_addr).await;
    ws.until(WAIT, |e| ended_ids(e).len() >= 3).await;
    for i in 0..2 {
        unary(&mut c, req(&format!("after-{i}"))).await;
    }
    let events = ws.until(WAIT, |e| ended_ids(e).len() >= 5).await.to_vec();

    let started = once_each(&started_ids(&events), "CallStarted");
    let ended = once_each(&ended_ids(&events), "CallEnded");
    assert_eq!(started.len(), 5, "five distinct calls: {started:?}");
    assert_eq!(started, ended, "every call started and ended once");
    let texts: Vec<String> = started
        .iter()
        .map(|&id| request_text(&events, id))
        .collect();
    assert_eq!(
        texts,
        ["before-0", "before-1", "before-2", "after-0", "after-1"]
    );
    for &id in &started {
        assert_eq!(messages(&events, id, Direction::Request).len(), 1);
        assert_eq!(messages(&events, id, Direction::Response).len(), 1);
    }
    // The WebSocket saw exactly what the relay captured, in the same order.
    assert_same_events(
        &events,
        &relay.capture_events().await,
        "WebSocket vs download",
    );
    relay.shutdown().await;
    backend.stop().await;
}

/// Reads `n` more items of a server stream, checking their indexes.
async fn read_items(stream: &mut tonic::Streaming<ProbeReply>, next_index: &mut u32, n: usize) {
    for _ in 0..n {
        let item = tokio::time::timeout(WAIT, stream.next())
            .await
            .expect("stream item in time")
            .expect("stream still open")
            .expect("stream item");
        assert_eq!(item.index, *next_index);
        *next_index += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_joining_mid_call_sees_each_message_once() {
    let backend = Backend::start().await;
    let relay = TestRelay::start(backend.addr).await;
    let mut c = client(relay.relay_addr).await;
    let mut stream = c
        .server_stream(ProbeRequest {
            count: 0,
            delay_ms: 5,
            reply_size: 16,
            ..req("race")
        })
        .await
        .expect("server stream")
        .into_inner();
    let mut next_index = 0;
    read_items(&mut stream, &mut next_index, 3).await;
    // Several clients join at different points while messages keep coming.
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(WsClient::connect(relay.ui_addr).await);
        read_items(&mut stream, &mut next_index, 3).await;
    }
    drop(stream);
    for ws in &mut clients {
        ws.until(WAIT, |e| !ended_ids(e).is_empty()).await;
    }
    let download = relay.capture_events().await;
    let ids = calls_of(&download, "/ServerStream");
    assert_eq!(ids.len(), 1, "{ids:?}");
    let id = ids[0];
    assert!(ended(&download, id).is_some(), "the cancelled call ended");

    // The relay's own copy: every reply once, in order, offsets non-decreasing.
    let replies = messages(&download, id, Direction::Response);
    let indexes: Vec<u32> = replies
        .iter()
        .map(|m| {
            ProbeReply::decode(m.payload.clone())
                .expect("reply payload")
                .index
        })
        .collect();
    let expected: Vec<u32> = (0..indexes.len() as u32).collect();
    assert_eq!(indexes, expected, "each reply captured once, in order");
    assert!(
        indexes.len() >= next_index as usize,
        "captured {} replies, the client read {next_index}",
        indexes.len()
    );
    let all: Vec<&pb::Message> = download
        .iter()
        .filter_map(|e| match &e.kind {
            Some(Kind::Message(m)) if e.call_id == id => Some(m),
            _ => None,
        })
        .collect();
    assert!(
        all.windows(2)
            .all(|w| w[0].offset_nanos <= w[1].offset_nanos),
        "message offsets go backwards: {:?}",
        all.iter().map(|m| m.offset_nanos).collect::<Vec<_>>()
    );
    assert_eq!(messages(&download, id, Direction::Request).len(), 1);

    // Every WebSocket client, wherever it joined, saw exactly that.
    for (i, ws) in clients.iter().enumerate() {
        assert_same_events(&ws.events, &download, &format!("WebSocket client {i}"));
    }
    relay.shutdown().await;
    backend.stop().await;
}

// 2. and 3. Who may use the UI port.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_policy_on_every_route() {
    let backend = Backend::start().await;
    let relay = TestRelay::start_with(backend.addr, |config| {
        config.allow_origins = vec![HOSTED.parse().unwrap()];
    })
    .await;
    let ui = relay.ui_addr;
    let port = ui.port();
    let own = [
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{port}"),
    ];

    for path in ["/api/capture", "/healthz"] {
        let (status, headers, body) =
            request(ui, Method::GET, path, &[("origin", "http://evil.example")]).await;
        let body = String::from_utf8_lossy(&body);
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert!(body.contains("--allow-origin"), "{path}: {body}");
        assert!(allow_origin(&headers).is_empty(), "{path}: {headers:?}");

        // No Origin: an old browser's <img> from any page looks like this,
        // so the API wants a marker; a health check does not.
        let (status, _, body) = request(ui, Method::GET, path, &[]).await;
        if path.starts_with("/api/") {
            assert_eq!(status, StatusCode::FORBIDDEN, "{path} without Origin");
            assert!(String::from_utf8_lossy(&body).contains("x-loom-client"));
        } else {
            assert_eq!(status, StatusCode::OK, "{path} without Origin");
        }
        let (status, headers, _) =
            request(ui, Method::GET, path, &[("x-loom-client", "curl")]).await;
        assert_eq!(status, StatusCode::OK, "{path} from a marked client");
        assert!(allow_origin(&headers).is_empty(), "{path}: {headers:?}");
        // A foreign site's subresource load, Origin or not.
        let (status, _, _) =
            request(ui, Method::GET, path, &[("sec-fetch-site", "cross-site")]).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path} cross-site");
        let (status, _, _) =
            request(ui, Method::GET, path, &[("sec-fetch-site", "same-origin")]).await;
        assert_eq!(status, StatusCode::OK, "{path} same-origin");

        for origin in &own {
            let (status, headers, _) =
                request(ui, Method::GET, path, &[("origin", origin.as_str())]).await;
            assert_eq!(status, StatusCode::OK, "{path} from {origin}");
            assert!(allow_origin(&headers).is_empty(), "{path}: {headers:?}");
        }

        let (status, headers, _) = request(ui, Method::GET, path, &[("origin", HOSTED)]).await;
        assert_eq!(status, StatusCode::OK, "{path} from {HOSTED}");
        assert_eq!(allow_origin(&headers), [HOSTED], "{path}: {headers:?}");
        assert!(varies_on_origin(&headers), "{path}: {headers:?}");
    }

    // The WebSocket, through a real client.
    assert_eq!(
        WsClient::connect_with_origin(ui, Some("http://evil.example"))
            .await
            .err(),
        Some(StatusCode::FORBIDDEN)
    );
    let (status, _, body) = request(
        ui,
        Method::GET,
        "/ws",
        &ws_handshake(&[("origin", "http://evil.example")]),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(String::from_utf8_lossy(&body).contains("--allow-origin"));
    for origin in [
        None,
        Some(own[0].as_str()),
        Some(own[1].as_str()),
        Some(HOSTED),
    ] {
        assert!(
            WsClient::connect_with_origin(ui, origin).await.is_ok(),
            "websocket from {origin:?}"
        );
    }
    // The allowed cross-origin handshake names the origin too.
    let (status, headers, _) =
        request(ui, Method::GET, "/ws", &ws_handshake(&[("origin", HOSTED)])).await;
    assert_eq!(status, StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(allow_origin(&headers), [HOSTED], "{headers:?}");

    // Preflights, including Private Network Access.
    let (status, headers, _) = preflight(ui, HOSTED).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{headers:?}");
    assert_eq!(
        headers
            .get("access-control-allow-private-network")
            .map(|v| v.as_bytes()),
        Some(&b"true"[..]),
        "{headers:?}"
    );
    assert_eq!(allow_origin(&headers), [HOSTED], "{headers:?}");
    assert!(varies_on_origin(&headers), "{headers:?}");
    let methods = headers
        .get(header::ACCESS_CONTROL_ALLOW_METHODS)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(methods.contains("GET"), "{headers:?}");
    let (status, headers, _) = preflight(ui, "http://evil.example").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        headers
            .get("access-control-allow-private-network")
            .is_none()
    );
    assert!(allow_origin(&headers).is_empty());

    relay.shutdown().await;
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_rebinding_host_is_refused() {
    let backend = Backend::start().await;
    let relay = TestRelay::start(backend.addr).await;
    let ui = relay.ui_addr;
    let port = ui.port();
    let evil_host = format!("evil.example:{port}");
    let evil_origin = format!("http://evil.example:{port}");
    for path in ["/", "/api/capture", "/healthz", "/ws"] {
        let mut headers = vec![("host", evil_host.as_str())];
        if path == "/ws" {
            headers = ws_handshake(&headers);
        }
        let (status, _, body) = request(ui, Method::GET, path, &headers).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path} without Origin");
        assert!(String::from_utf8_lossy(&body).contains("Host"), "{path}");
        // Same-origin as far as the browser is concerned, still refused.
        headers.push(("origin", evil_origin.as_str()));
        let (status, _, body) = request(ui, Method::GET, path, &headers).await;
        let body = String::from_utf8_lossy(&body);
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert!(body.contains("Host"), "{path}: {body}");
    }
    // The loopback names the relay really has still work.
    let local = format!("localhost:{port}");
    let (status, _, _) = request(
        ui,
        Method::GET,
        "/healthz",
        &[
            ("host", local.as_str()),
            ("origin", &format!("http://{local}")),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    relay.shutdown().await;
    backend.stop().await;
}

// 4. Health.

async fn health(relay: &TestRelay) -> serde_json::Value {
    let (status, headers, body) = relay.get("/healthz", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers.get(header::CONTENT_TYPE).map(|v| v.as_bytes()),
        Some(&b"application/json"[..])
    );
    serde_json::from_slice(&body).expect("healthz is JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_reports_upstream_and_store_counters() {
    let backend = Backend::start().await;
    let relay = TestRelay::start(backend.addr).await;
    let before = health(&relay).await;
    assert_eq!(before["status"], "ok", "{before}");
    assert_eq!(before["upstream"], format!("http://{}", backend.addr));
    assert_eq!(before["relay"], relay.relay_addr.to_string());
    assert_eq!(before["store"]["calls"], 0, "{before}");
    assert_eq!(before["store"]["max_bytes"], 256u64 << 20, "{before}");
    assert_eq!(before["store"]["evicted_calls"], 0, "{before}");

    let mut c = client(relay.relay_addr).await;
    unary(&mut c, req("counted")).await;
    // A download waits for the store to take in everything emitted so far.
    relay.capture_events().await;
    let after = health(&relay).await;
    assert_eq!(after["store"]["calls"], 1, "{after}");
    let num = |v: &serde_json::Value, path: &[&str]| {
        path.iter()
            .fold(v, |v, k| &v[*k])
            .as_u64()
            .unwrap_or_else(|| panic!("{path:?} is not a number in {v}"))
    };
    assert!(num(&after, &["store", "bytes"]) > num(&before, &["store", "bytes"]));
    assert!(num(&after, &["events_emitted"]) >= num(&before, &["events_emitted"]) + 4);
    relay.shutdown().await;
    backend.stop().await;
}

// 5. Redaction.

/// The secret call's request headers as the download, the live WebSocket and
/// the record file have them, plus the raw download and record bytes.
struct Seen {
    download: Vec<pb::Header>,
    live: Vec<pb::Header>,
    record: Vec<pb::Header>,
    download_bytes: Bytes,
    record_bytes: Vec<u8>,
}

async fn secret_call(tweak: impl FnOnce(&mut Config)) -> Seen {
    let backend = Backend::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("secret.loom");
    let record = path.clone();
    let relay = TestRelay::start_with(backend.addr, move |config| {
        config.record = Some(record);
        tweak(config);
    })
    .await;
    let mut c = client(relay.relay_addr).await;
    // Seeing a first call live proves the WebSocket is subscribed.
    let mut ws = WsClient::connect(relay.ui_addr).await;
    unary(&mut c, req("warm-up")).await;
    ws.until(WAIT, |e| !ended_ids(e).is_empty()).await;

    let mut request = tonic::Request::new(req("secret"));
    let md = request.metadata_mut();
    md.insert("authorization", "Bearer s3cret".parse().unwrap());
    md.insert("cookie", "a=b".parse().unwrap());
    md.insert("x-api-key", "k".parse().unwrap());
    md.insert("x-plain", "visible".parse().unwrap());
    tokio::time::timeout(WAIT, c.unary(request))
        .await
        .expect("in time")
        .expect("secret call succeeds");
    let live = ws.until(WAIT, |e| ended_ids(e).len() >= 2).await;
    let id = *started_ids(live).last().expect("the secret call");
    let live = request_headers(live, id);

    let download_bytes = relay.capture_bytes().await;
    let download = capture::read_capture(&download_bytes).expect("download reads");
    assert_eq!(request_text(&download.events, id), "secret");
    let download = request_headers(&download.events, id);

    relay.shutdown().await;
    backend.stop().await;
    let record_bytes = std::fs::read(&path).expect("record file");
    let recorded = capture::read_capture(&record_bytes).expect("record file reads");
    assert!(recorded.truncated.is_none(), "{:?}", recorded.truncated);
    let record = request_headers(&recorded.events, id);
    Seen {
        download,
        live,
        record,
        download_bytes,
        record_bytes,
    }
}

fn assert_redacted(headers: &[pb::Header], name: &str, where_: &str) {
    let h = header_of(headers, name);
    assert!(h.redacted && h.value.is_empty(), "{where_}: {h:?}");
}

fn assert_kept(headers: &[pb::Header], name: &str, value: &str, where_: &str) {
    let h = header_of(headers, name);
    assert!(!h.redacted, "{where_}: {h:?}");
    assert_eq!(&h.value[..], value.as_bytes(), "{where_}: {h:?}");
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn assert_all_live(seen: &Seen) {
    // The inspector shows live values; only what is saved is redacted.
    for (name, value) in [
        ("authorization", "Bearer s3cret"),
        ("cookie", "a=b"),
        ("x-api-key", "k"),
        ("x-plain", "visible"),
    ] {
        assert_kept(&seen.live, name, value, "live WebSocket");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_captures_redact_secrets_by_default() {
    let seen = secret_call(|_| {}).await;
    for (headers, where_) in [(&seen.download, "download"), (&seen.record, "record file")] {
        assert_redacted(headers, "authorization", where_);
        assert_redacted(headers, "cookie", where_);
        assert_kept(headers, "x-api-key", "k", where_);
        assert_kept(headers, "x-plain", "visible", where_);
    }
    assert!(!contains(&seen.download_bytes, b"s3cret"), "download leaks");
    assert!(
        !contains(&seen.record_bytes, b"s3cret"),
        "record file leaks"
    );
    assert_all_live(&seen);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redact_headers_adds_names() {
    let seen = secret_call(|config| config.redact_headers = vec!["x-api-key".into()]).await;
    for (headers, where_) in [(&seen.download, "download"), (&seen.record, "record file")] {
        assert_redacted(headers, "authorization", where_);
        assert_redacted(headers, "cookie", where_);
        assert_redacted(headers, "x-api-key", where_);
        assert_kept(headers, "x-plain", "visible", where_);
    }
    assert_all_live(&seen);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_secrets_keeps_everything() {
    let seen = secret_call(|config| config.keep_secrets = true).await;
    for (headers, where_) in [(&seen.download, "download"), (&seen.record, "record file")] {
        assert_kept(headers, "authorization", "Bearer s3cret", where_);
        assert_kept(headers, "cookie", "a=b", where_);
        assert_kept(headers, "x-api-key", "k", where_);
        assert_kept(headers, "x-plain", "visible", where_);
    }
    assert_all_live(&seen);
}

// 6. The record file.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_file_holds_every_call() {
    let backend = Backend::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("run.loom");
    let record = path.clone();
    let relay =
        TestRelay::start_with(backend.addr, move |config| config.record = Some(record)).await;
    let mut c = client(relay.relay_addr).await;
    for i in 0..10 {
        unary(&mut c, req(&format!("rec-{i}"))).await;
    }
    let mut s = c
        .server_stream(ProbeRequest {
            count: 3,
            ..req("rec-stream")
        })
        .await
        .expect("server stream")
        .into_inner();
    while let Some(item) = s.next().await {
        item.expect("stream item");
    }
    let download = relay.capture_events().await;
    relay.shutdown().await;
    backend.stop().await;

    let bytes = std::fs::read(&path).expect("record file");
    let recorded = capture::read_capture(&bytes).expect("record file reads");
    assert!(recorded.truncated.is_none(), "{:?}", recorded.truncated);
    let events = recorded.events;
    assert!(!has_gap(&events, GapKind::Lagged), "the recorder lagged");
    let unaries = calls_of(&events, "/Unary");
    assert_eq!(unaries.len(), 10);
    for (i, &id) in unaries.iter().enumerate() {
        assert_eq!(request_text(&events, id), format!("rec-{i}"));
        assert_eq!(ended(&events, id).and_then(|e| e.grpc_status), Some(0));
    }
    let streams = calls_of(&events, "/ServerStream");
    assert_eq!(streams.len(), 1);
    assert_eq!(messages(&events, streams[0], Direction::Response).len(), 3);
    assert_eq!(
        ended(&events, streams[0]).and_then(|e| e.grpc_status),
        Some(0)
    );
    // Same events, same order, as the relay's own (equally redacted) copy.
    assert_same_events(&events, &download, "record file vs download");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_file_is_never_overwritten() {
    let backend = Backend::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("precious.loom");
    std::fs::write(&path, b"an earlier capture").expect("write");
    let mut config = Config::new(backend.addr.to_string().parse().expect("upstream"));
    config.record = Some(path.clone());
    match TestRelay::try_start(config).await {
        Ok(relay) => {
            relay.shutdown().await;
            panic!("the relay started over an existing record file");
        }
        Err(e) => {
            let message = e.to_string();
            let name = path.display().to_string();
            assert!(message.contains(&name), "`{message}` names {name}");
        }
    }
    assert_eq!(read(&path), b"an earlier capture", "the file was touched");
    backend.stop().await;
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read")
}

// 7. The memory cap.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_cap_evicts_oldest_whole_calls() {
    let backend = Backend::start().await;
    let relay = TestRelay::start_with(backend.addr, |config| {
        config.max_capture_bytes = 64 * 1024;
    })
    .await;
    let mut c = client(relay.relay_addr).await;
    for i in 0..40 {
        let reply = unary(
            &mut c,
            ProbeRequest {
                blob: vec![i as u8; 4096],
                ..req(&format!("cap-{i}"))
            },
        )
        .await;
        assert_eq!(reply.blob.len(), 4096);
    }
    let events = relay.capture_events().await;
    let started = once_each(&started_ids(&events), "CallStarted");
    let ended_set = once_each(&ended_ids(&events), "CallEnded");
    assert!(
        started.len() < 40,
        "nothing evicted: {} calls",
        started.len()
    );
    assert!(!started.is_empty(), "everything evicted");
    assert_eq!(started, ended_set, "only whole calls");
    for &id in &started {
        assert_eq!(messages(&events, id, Direction::Request).len(), 1, "{id}");
        assert_eq!(messages(&events, id, Direction::Response).len(), 1, "{id}");
    }
    let texts: Vec<String> = started
        .iter()
        .map(|&id| request_text(&events, id))
        .collect();
    assert_eq!(
        texts.last().map(String::as_str),
        Some("cap-39"),
        "{texts:?}"
    );
    // The survivors are the newest calls, in a row.
    let first: usize = texts[0]["cap-".len()..].parse().expect("index");
    let expected: Vec<String> = (first..40).map(|i| format!("cap-{i}")).collect();
    assert_eq!(texts, expected);
    let evicted = gaps(&events, GapKind::Evicted);
    assert_eq!(evicted.len(), 1, "{evicted:?}");
    assert!(evicted[0].dropped_events > 0, "{:?}", evicted[0]);
    assert!(!has_gap(&events, GapKind::Lagged), "the store lagged");
    // A client joining now gets the same backlog, eviction gap included.
    let mut ws = WsClient::connect(relay.ui_addr).await;
    let backlog = ws.until(WAIT, |e| e.len() >= events.len()).await;
    assert_same_events(backlog, &events, "late WebSocket backlog vs download");

    let h = health(&relay).await;
    assert!(h["store"]["evicted_calls"].as_u64().unwrap_or(0) > 0, "{h}");
    assert_eq!(
        h["store"]["evicted_calls"].as_u64(),
        Some(40 - started.len() as u64),
        "{h}"
    );
    assert!(
        h["store"]["bytes"].as_u64().unwrap_or(u64::MAX) <= 64 * 1024,
        "{h}"
    );
    relay.shutdown().await;
    backend.stop().await;
}

// 8. A WebSocket client that stops reading.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_websocket_loses_events_never_traffic() {
    let backend = Backend::start().await;
    // A live ring much smaller than the traffic: a stalled client falls out of it.
    let relay =
        TestRelay::start_with(backend.addr, |config| config.live_buffer_bytes = 256 << 10).await;
    let mut c = client(relay.relay_addr).await;
    let mut ws = WsClient::connect(relay.ui_addr).await;
    // Seeing a first call proves the WebSocket is subscribed; then stop reading.
    unary(&mut c, req("warm-up")).await;
    ws.until(WAIT, |e| !ended_ids(e).is_empty()).await;
    // And one that never reads at all, not even at shutdown.
    let stalled = WsClient::connect(relay.ui_addr).await;

    let started = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(30), async {
        for i in 0..40 {
            let reply = c
                .unary(ProbeRequest {
                    reply_size: 1 << 20,
                    ..req(&format!("big-{i}"))
                })
                .await
                .unwrap_or_else(|e| panic!("call {i}: {e}"))
                .into_inner();
            assert_eq!(reply.blob.len(), 1 << 20);
        }
    })
    .await
    .expect("40 calls within 30 s while a WebSocket client stalls");
    let took = started.elapsed();

    // When it reads again, the client that stalled is told it fell behind,
    // and gets what it missed from the store: every call, complete.
    let events = ws
        .until(Duration::from_secs(30), |e| {
            has_gap(e, GapKind::Lagged) && ended_ids(e).len() == 41
        })
        .await;
    let lagged = gaps(events, GapKind::Lagged);
    assert!(!lagged.is_empty());
    assert!(
        lagged.iter().all(|g| g.dropped_events == 0),
        "the store held everything it missed: {lagged:?}"
    );
    for id in calls_of(events, "/Unary") {
        assert_eq!(
            messages(events, id, Direction::Response).len(),
            1,
            "call {id}"
        );
    }

    // The store never falls behind: it holds every call.
    let download = relay.capture_events().await;
    let unaries = calls_of(&download, "/Unary");
    assert_eq!(unaries.len(), 41);
    for &id in &unaries {
        assert_eq!(ended(&download, id).and_then(|e| e.grpc_status), Some(0));
        assert_eq!(messages(&download, id, Direction::Response).len(), 1);
    }
    assert!(gaps(&download, GapKind::Lagged).is_empty());
    eprintln!("40 x 1 MiB calls took {took:?} with a stalled WebSocket client");
    // A client that never reads cannot hold the relay up at shutdown either.
    tokio::time::timeout(WAIT, relay.shutdown())
        .await
        .expect("shutdown despite a stalled WebSocket client");
    drop(stalled);
    backend.stop().await;
}

/// A call still running when the grace period runs out is cut, and still
/// ends in the record file: hyper runs each HTTP/2 stream in a task of its
/// own, so a `Call` can outlive `proxy::serve`, and the relay ends such
/// calls itself before it stops the recorder. (This once failed about 1 run
/// in 15 on a loaded machine.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_file_ends_calls_cut_at_shutdown() {
    let backend = Backend::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("cut.loom");
    let record = path.clone();
    let relay = TestRelay::start_with(backend.addr, move |config| {
        config.record = Some(record);
        config.shutdown_grace = Duration::from_millis(200);
    })
    .await;
    let mut c = client(relay.relay_addr).await;
    let mut stream = c
        .server_stream(ProbeRequest {
            count: 0,
            delay_ms: 5,
            ..req("endless")
        })
        .await
        .expect("server stream")
        .into_inner();
    let mut next_index = 0;
    read_items(&mut stream, &mut next_index, 3).await;
    let reader = tokio::spawn(async move { while let Some(Ok(_)) = stream.next().await {} });
    tokio::time::timeout(WAIT, relay.shutdown())
        .await
        .expect("shutdown within the grace period and a bit");
    tokio::time::timeout(WAIT, reader)
        .await
        .expect("the cut stream ends")
        .expect("reader");
    backend.stop().await;

    let recorded = capture::read_capture(&read(&path)).expect("record file reads");
    assert!(recorded.truncated.is_none(), "{:?}", recorded.truncated);
    let ids = calls_of(&recorded.events, "/ServerStream");
    assert_eq!(ids.len(), 1);
    let replies = messages(&recorded.events, ids[0], Direction::Response).len();
    assert!(replies >= 3, "{replies} replies recorded");
    assert!(
        ended(&recorded.events, ids[0]).is_some(),
        "the call cut at shutdown has no CallEnded in the record file ({} events, {replies} replies)",
        recorded.events.len()
    );
}

/// With the UI on port 80 a browser sends
/// `Host: localhost` and `Origin: http://localhost` (default port left out),
/// but `Origin::own` lists `localhost:80`, so the relay refuses its own page.
#[test]
fn own_origin_on_port_80_is_accepted() {
    use loom_relay::access::{Access, Claims, Verdict};
    let access = Access::new(SocketAddr::from(([127, 0, 0, 1], 80)), Vec::new());
    for name in ["127.0.0.1", "localhost"] {
        let origin = format!("http://{name}");
        assert_eq!(
            access.judge(Claims {
                host: Some(name),
                origin: Some(&origin),
                ..Claims::default()
            }),
            Verdict::SameOrigin,
            "{name}"
        );
    }
}

/// An idle relay still answers a new WebSocket client at once, with an empty
/// batch: the client knows it is connected (and that there is no backlog).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_relay_greets_websocket_clients_with_an_empty_batch() {
    use futures_util::StreamExt as _;
    let backend = Backend::start().await;
    let relay = TestRelay::start(backend.addr).await;
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", relay.ui_addr))
        .await
        .expect("websocket connects");
    let first = tokio::time::timeout(Duration::from_secs(10), socket.next())
        .await
        .expect("a first message arrives")
        .expect("the socket is open")
        .expect("a message");
    match first {
        tokio_tungstenite::tungstenite::Message::Binary(bytes) => {
            assert!(bytes.is_empty(), "no backlog: an empty batch");
            assert!(
                loom_shared::capture::decode_batch(&bytes)
                    .expect("valid")
                    .is_empty()
            );
        }
        other => panic!("expected a binary batch, got {other:?}"),
    }
    relay.shutdown().await;
    backend.stop().await;
}
