//! Large messages reach live consumers as previews (`--live-preview-bytes`),
//! and the whole message comes from `/api/message`; files keep it whole.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use loom_shared::pb::Direction;
use loom_tests::TestRelay;
use loom_tests::backend::Backend;
use loom_tests::events::{ended_ids, messages};
use loom_tests::probe::ProbeRequest;
use loom_tests::ws::WsClient;

const WAIT: Duration = Duration::from_secs(20);
const PREVIEW: usize = 4 << 10;

async fn get(url: &str) -> (http::StatusCode, http::HeaderMap, Bytes) {
    let client: Client<_, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let request = http::Request::get(url)
        .header(loom_relay::access::CLIENT_HEADER, "loom-tests")
        .body(Empty::new())
        .expect("a request");
    let res = tokio::time::timeout(WAIT, client.request(request))
        .await
        .expect("an answer in time")
        .expect("an answer");
    let (parts, body) = res.into_parts();
    let body = body.collect().await.expect("a body").to_bytes();
    (parts.status, parts.headers, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_messages_go_live_as_previews_and_whole_on_demand() {
    let backend = Backend::start().await;
    let relay = TestRelay::start_with(backend.addr, |c| c.live_preview_bytes = PREVIEW).await;
    let mut c = loom_tests::probe_client(relay.relay_addr, false).await;
    c.unary(ProbeRequest {
        text: "large".into(),
        reply_size: 100_000,
        ..Default::default()
    })
    .await
    .expect("a large reply");
    let mut ws = WsClient::connect(relay.ui_addr).await;
    let events = ws.until(WAIT, |e| !ended_ids(e).is_empty()).await.to_vec();
    let id = ended_ids(&events)[0];

    // The small request went whole; the large reply as a preview.
    let request = messages(&events, id, Direction::Request)[0];
    assert!(!request.preview && request.payload.len() < PREVIEW);
    let reply = messages(&events, id, Direction::Response)[0];
    assert!(reply.preview, "{reply:?}");
    assert_eq!(reply.payload.len(), PREVIEW);
    assert!(reply.declared_length > 100_000);

    // The whole message, on demand: message 1 of the call (the reply).
    let (status, headers, whole) = get(&format!(
        "http://{}/api/message?call={id}&index=1",
        relay.ui_addr
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(whole.len(), reply.declared_length as usize);
    assert!(whole.starts_with(&reply.payload));
    assert_eq!(headers["x-loom-truncated"], "0");
    // Bad or unknown addresses get clear answers.
    let (status, _, body) = get(&format!(
        "http://{}/api/message?call={id}&index=9",
        relay.ui_addr
    ))
    .await;
    assert_eq!(status, 404, "{body:?}");
    let (status, _, body) = get(&format!("http://{}/api/message?call=x", relay.ui_addr)).await;
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("call=CALL_ID&index=N"));

    // The download (like --record) keeps it whole, and is no preview.
    let stored = relay.capture_events().await;
    let kept = messages(&stored, id, Direction::Response)[0];
    assert!(!kept.preview && kept.payload == whole);
    relay.shutdown().await;
    backend.stop().await;
}

/// In the inspector, a message that arrived as a preview is fetched whole
/// when its call is opened, and shown decoded with its schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inspector_shows_a_previewed_message_whole() {
    use loom_tests::browser::{Browser, ui_url};
    use loom_tests::inspector::{
        DETAIL, WAIT as PAGE_WAIT, assert_no_console_errors, require_embedded_ui, select,
        wait_live, wait_rows,
    };
    require_embedded_ui();
    let browser = Browser::start().await;
    let dir = tempfile::tempdir().expect("a directory");
    let fds = crate::browser::test_fds_file(dir.path());
    let backend = Backend::start().await;
    let relay = TestRelay::start_with(backend.addr, |c| {
        c.live_preview_bytes = PREVIEW;
        c.descriptor_sets = vec![fds];
    })
    .await;
    let mut c = loom_tests::probe_client(relay.relay_addr, false).await;
    c.unary(ProbeRequest {
        text: "large".into(),
        reply_size: 100_000,
        ..Default::default()
    })
    .await
    .expect("a large reply");

    browser.goto(&ui_url(relay.ui_addr)).await;
    wait_live(&browser).await;
    let rows = wait_rows(&browser, "the large call", |rows| {
        rows.iter().any(|r| r.status == "OK")
    })
    .await;
    select(&browser, rows[0].id, "/Unary").await;
    let text = browser
        .wait_until_text(
            &format!("{DETAIL} [data-test=messages]"),
            |t| t.contains("\"blob\"") && !t.contains("preview"),
            PAGE_WAIT,
        )
        .await;
    assert!(text.contains("\"text\""), "{text:.300}");
    assert_eq!(browser.count("[data-test=preview]").await, 0);
    assert_no_console_errors(&browser).await;
    browser.close().await;
    relay.shutdown().await;
    backend.stop().await;
}
