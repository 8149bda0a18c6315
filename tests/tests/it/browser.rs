//! The inspector in a real browser (headless Chromium via chromedriver):
//! live traffic through the relay, a stream watched while open, a capture
//! opened without any relay, the bundle hosted apart from the relay,
//! reconnecting to a restarted relay, payloads that look like HTML, a
//! call over TLS on both hops, and a 20,000-call capture.
//!
//! Run with the bundle built and embedded:
//!
//! ```text
//! trunk build --release      # or scripts/build-web.sh
//! LOOM_WEB_DIST=$PWD/dist cargo test -p loom-tests --test it -- browser::
//! ```
//!
//! Each test is bounded; nothing sleeps for readiness (waits poll the DOM).
//! The browsers run one at a time (see `loom_tests::browser`).

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use loom_relay::Config;
use loom_relay::demo::{DemoBackend, catalog, generate_traffic};
use loom_relay::tls::ca::LocalCa;
use loom_shared::capture;
use loom_shared::pb;
use loom_tests::backend::Backend;
use loom_tests::browser::{Browser, ui_url};
use loom_tests::captures::{START_NANOS, probe_capture, unary_call};
use loom_tests::inspector::{
    DETAIL, ROW, WAIT, assert_no_console_errors, dist_dir, open_capture, require_embedded_ui,
    row_css, section_text, select, wait_live, wait_rows,
};
use loom_tests::pki::{self, ClientAuth, TestPki};
use loom_tests::probe::probe_client::ProbeClient;
use loom_tests::reflection::TEST_FDS;
use loom_tests::req;
use loom_tests::static_files::StaticFiles;
use loom_tests::tls_backend::{TlsBackend, tls_channel};
use loom_tests::{TestRelay, probe_client};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// The longest any one test may take (the browser's start not included).
const TEST_TIMEOUT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------
// Preconditions and plumbing

pub(crate) async fn bounded<T>(test: impl Future<Output = T>) -> T {
    tokio::time::timeout(TEST_TIMEOUT, test)
        .await
        .unwrap_or_else(|_| panic!("the test took longer than {TEST_TIMEOUT:?}"))
}

/// The test schema as a local descriptor set file, for the relay's `--descriptor-set`.
pub(crate) fn test_fds_file(dir: &Path) -> PathBuf {
    let path = dir.join("test.protoset");
    std::fs::write(&path, TEST_FDS).expect("write the descriptor set");
    path
}

// ---------------------------------------------------------------------------
// The tests

/// Demo traffic through the relay: every call kind shows; a GetItem decodes
/// to the catalog's values; a failed UpdateItem shows its status and decoded
/// error details; "copy as grpcurl" names the upstream. (The README's
/// screenshot is the layout tests', see `layout`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live() {
    require_embedded_ui();
    let browser = Browser::start().await;
    bounded(async {
        let backend = DemoBackend::start(
            TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind demo backend"),
        )
        .await;
        let relay = TestRelay::start(backend.addr).await;
        let (stop_traffic, traffic_stop) = loom_relay::shutdown::signal();
        let traffic = tokio::spawn(generate_traffic(
            relay.relay_addr.into(),
            std::sync::Arc::new(loom_relay::forward::upstream::TcpConnect),
            traffic_stop,
        ));

        browser.goto(&ui_url(relay.ui_addr)).await;
        wait_live(&browser).await;

        // The generator makes GetItem, ListItems, ImportItems and a failing
        // UpdateItem in its first five seconds, and keeps Watch open.
        let svc = "loom.demo.v1.Inventory/";
        let rows = wait_rows(&browser, "a call of every kind", |rows| {
            let has = |method: &str, kind: &str| {
                rows.iter()
                    .any(|r| r.method == format!("{svc}{method}") && r.kind == kind)
            };
            has("GetItem", "unary")
                && has("ListItems", "server")
                && has("ImportItems", "client")
                && has("Watch", "bidi")
                && rows
                    .iter()
                    .any(|r| r.method.ends_with("/UpdateItem") && r.status == "INVALID_ARGUMENT")
        })
        .await;
        let watch = rows
            .iter()
            .find(|r| r.method.ends_with("/Watch"))
            .expect("a Watch row");
        assert_eq!(watch.status, "pending", "Watch stays open: {watch:?}");

        // A GetItem: its request and response, decoded with the reflected schema.
        let get = rows
            .iter()
            .find(|r| r.method.ends_with("/GetItem") && r.status == "OK")
            .expect("a successful GetItem");
        select(&browser, get.id, "/GetItem").await;
        let messages = browser
            .wait_until_text(
                &format!("{DETAIL} [data-test=messages]"),
                |t| t.contains("\"sku-"),
                WAIT,
            )
            .await;
        let sku = messages
            .split('"')
            .find(|s| s.starts_with("sku-"))
            .expect("an item id in the request");
        let item = catalog::item(sku).unwrap_or_else(|| panic!("{sku} is in the catalog"));
        let name = serde_json::to_string(&item.display_name).expect("json");
        assert!(
            messages.contains(&name),
            "the response decodes to {sku}'s name {name}:\n{messages}"
        );
        assert_eq!(
            browser
                .count(&format!("{DETAIL} [data-test=messages] [data-test=note]"))
                .await,
            0,
            "every message decodes with the schema:\n{messages}"
        );
        assert_eq!(
            browser
                .count(&format!("{DETAIL} [data-test=message]"))
                .await,
            2
        );
        let grpcurl = browser
            .text_of("[data-test=grpcurl-text]")
            .await
            .expect("a grpcurl command");
        for part in [
            "-plaintext",
            &backend.addr.to_string(),
            "loom.demo.v1.Inventory/GetItem",
            "-d",
            sku,
        ] {
            assert!(grpcurl.contains(part), "grpcurl has `{part}`: {grpcurl}");
        }

        // The failed UpdateItem: status, message and decoded google.rpc details.
        let update = rows
            .iter()
            .find(|r| r.method.ends_with("/UpdateItem") && r.status == "INVALID_ARGUMENT")
            .expect("a failed UpdateItem");
        select(&browser, update.id, "/UpdateItem").await;
        let status = browser
            .text_of("[data-test=detail-status]")
            .await
            .expect("a status");
        assert_eq!(status, "INVALID_ARGUMENT");
        let message = browser
            .text_of("[data-test=grpc-message]")
            .await
            .expect("a grpc-message");
        assert!(message.contains("invalid field"), "{message}");
        let details = section_text(&browser, "Status details")
            .await
            .expect("a Status details section");
        for part in [
            "item.display_name",
            "BAD_LENGTH",
            "item.price.currency_code",
            "ITEM_INVALID",
            "inventory.demo.loom.dev",
        ] {
            assert!(details.contains(part), "details show `{part}`:\n{details}");
        }
        assert_no_console_errors(&browser).await;

        stop_traffic.stop();
        let _ = tokio::time::timeout(Duration::from_secs(5), traffic).await;
        browser.close().await;
        relay.shutdown().await;
        backend.stop().await;
    })
    .await;
}

/// A bidi stream shows its messages while it is still open, without a reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_stream() {
    require_embedded_ui();
    let browser = Browser::start().await;
    bounded(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let fds = test_fds_file(dir.path());
        let backend = Backend::start().await;
        let relay = TestRelay::start_with(backend.addr, |c| c.descriptor_sets = vec![fds]).await;
        browser.goto(&ui_url(relay.ui_addr)).await;
        wait_live(&browser).await;

        let mut client = probe_client(relay.relay_addr, false).await;
        let (tx, rx) = mpsc::channel(1);
        let mut replies = client
            .bidi(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
            .expect("bidi")
            .into_inner();
        let mut ping = async |i: u32| {
            tx.send(req(&format!("ping {i}"))).await.expect("send");
            let reply = replies.next().await.expect("an echo").expect("ok");
            assert_eq!(reply.text, format!("echo: ping {i}"));
        };
        ping(1).await;
        ping(2).await;

        let rows = wait_rows(&browser, "the Bidi row", |rows| {
            rows.iter().any(|r| r.method.ends_with("/Bidi"))
        })
        .await;
        let bidi = rows[0].clone();
        assert_eq!(rows.len(), 1, "{rows:?}");
        select(&browser, bidi.id, "/Bidi").await;
        let messages = format!("{DETAIL} [data-test=message]");
        browser
            .wait_js(
                "the open stream's detail shows its 4 messages",
                "return document.querySelectorAll(arguments[0]).length;",
                vec![json!(messages)],
                |n| n == 4,
                WAIT,
            )
            .await;
        let row_status = format!("{} [data-test=status]", row_css(bidi.id));
        assert_eq!(
            browser.text_of(&row_status).await.as_deref(),
            Some("pending")
        );
        assert_eq!(
            browser
                .text_of("[data-test=detail-status]")
                .await
                .as_deref(),
            Some("pending")
        );
        let text = browser.text_of(DETAIL).await.unwrap_or_default();
        assert!(
            text.contains("\"echo: ping 2\""),
            "decoded replies:\n{text}"
        );

        ping(3).await;
        browser
            .wait_js(
                "the open stream's detail shows its 3rd exchange (6 messages) without a reload",
                "return document.querySelectorAll(arguments[0]).length;",
                vec![json!(messages)],
                |n| n == 6,
                WAIT,
            )
            .await;
        assert_eq!(
            browser.text_of(&row_status).await.as_deref(),
            Some("pending")
        );
        let text = browser.text_of(DETAIL).await.unwrap_or_default();
        assert!(text.contains("\"ping 3\""), "the new request:\n{text}");

        // Half-close: the stream ends with OK, and the page says so.
        drop(tx);
        assert!(replies.next().await.is_none());
        browser
            .wait_until_text("[data-test=detail-status]", |t| t == "OK", WAIT)
            .await;
        browser
            .wait_until_text(&row_status, |t| t == "OK", WAIT)
            .await;
        assert_eq!(browser.count(&messages).await, 6);

        browser.close().await;
        drop(client);
        relay.shutdown().await;
        backend.stop().await;
    })
    .await;
}

/// The bundle as plain static files, no relay anywhere: a capture file
/// opened with the file input shows its calls, decoded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline() {
    let dist = dist_dir();
    let browser = Browser::start().await;
    bounded(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("offline.loom");
        let texts = ["first offline call", "second offline call", "third"];
        std::fs::write(&file, probe_capture(texts.iter().map(|t| t.to_string())))
            .expect("write the capture");
        let server = StaticFiles::serve(&dist).await;
        browser.goto(&server.url("/")).await;
        open_capture(&browser, &file, 3).await;
        browser
            .wait_until_text("[data-test=conn]", |t| t.contains("offline.loom"), WAIT)
            .await;
        let rows = wait_rows(&browser, "3 rows", |rows| rows.len() == 3).await;
        assert!(
            rows.iter()
                .all(|r| r.method == "loom.test.v1.Probe/Unary" && r.status == "OK"),
            "{rows:?}"
        );

        select(&browser, 2, "/Unary").await;
        let messages = browser
            .wait_until_text(
                &format!("{DETAIL} [data-test=messages]"),
                |t| t.contains("\"second offline call\""),
                WAIT,
            )
            .await;
        assert!(
            messages.contains("\"echo: second offline call\""),
            "{messages}"
        );
        assert_eq!(
            browser
                .count(&format!("{DETAIL} [data-test=messages] [data-test=note]"))
                .await,
            0,
            "decoded with the capture's schema:\n{messages}"
        );

        // Free-text search looks inside decoded payloads, and lands in the URL.
        let search = browser.wait_for("[data-test=search]", WAIT).await;
        search
            .send_keys("second offline\n")
            .await
            .expect("type a search");
        let rows = wait_rows(&browser, "only the matching call", |rows| rows.len() == 1).await;
        assert_eq!(rows[0].id, 2, "{rows:?}");
        let url = browser.client().current_url().await.expect("the page URL");
        assert!(url.as_str().contains("q=second+offline"), "{url}");

        // Keyboard: Escape clears the search, arrows move the selection.
        let key =
            |k: &str| format!("window.dispatchEvent(new KeyboardEvent('keydown', {{key: '{k}'}}))");
        browser
            .client()
            .execute(&key("Escape"), vec![])
            .await
            .expect("press Escape");
        wait_rows(&browser, "all calls again", |rows| rows.len() == 3).await;
        browser
            .client()
            .execute(&key("ArrowDown"), vec![])
            .await
            .expect("press ArrowDown");
        browser
            .wait_until_text(
                "[data-test=call-row].selected",
                |t| t.starts_with('3'),
                WAIT,
            )
            .await;
        browser
            .client()
            .execute(&key("ArrowUp"), vec![])
            .await
            .expect("press ArrowUp");
        browser
            .client()
            .execute(&key("ArrowUp"), vec![])
            .await
            .expect("press ArrowUp");
        browser
            .wait_until_text(
                "[data-test=call-row].selected",
                |t| t.starts_with('1'),
                WAIT,
            )
            .await;

        browser.close().await;
        server.stop().await;
    })
    .await;
}

/// A capture without any schema shows its messages schema-less, and decodes
/// them in place once the user adds the service's `.proto` (compiled in the
/// browser).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_a_proto_decodes_a_capture_without_schema() {
    let dist = dist_dir();
    let browser = Browser::start().await;
    bounded(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("no-schema.loom");
        let events = unary_call(1, START_NANOS, "needs a schema");
        std::fs::write(&file, capture::encode_file(&events)).expect("write the capture");
        let proto =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("proto/loom/test/v1/probe.proto");
        let server = StaticFiles::serve(&dist).await;
        browser.goto(&server.url("/")).await;
        open_capture(&browser, &file, 1).await;
        select(&browser, 1, "/Unary").await;
        browser
            .wait_until_text(
                &format!("{DETAIL} [data-test=messages]"),
                |t| t.contains("fields"),
                WAIT,
            )
            .await;
        assert!(
            browser
                .count(&format!("{DETAIL} [data-test=messages] [data-test=note]"))
                .await
                > 0,
            "without a schema the messages are shown schema-less, with a note"
        );

        let schema = browser.wait_for("[data-test=add-schema]", WAIT).await;
        schema
            .send_keys(&proto.to_string_lossy())
            .await
            .expect("choose the .proto file");
        let messages = browser
            .wait_until_text(
                &format!("{DETAIL} [data-test=messages]"),
                |t| t.contains("\"needs a schema\""),
                WAIT,
            )
            .await;
        assert!(messages.contains("\"echo: needs a schema\""), "{messages}");
        assert_eq!(
            browser
                .count(&format!("{DETAIL} [data-test=messages] [data-test=note]"))
                .await,
            0,
            "decoded with the added schema:\n{messages}"
        );
        browser.close().await;
        server.stop().await;
    })
    .await;
}

/// The bundle hosted elsewhere (static files) and pointed at a relay with
/// `?relay=`: refused, with the `--allow-origin` hint, until the relay
/// allows the page's origin; then live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosted_copy() {
    let dist = dist_dir();
    let browser = Browser::start().await;
    bounded(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let fds = test_fds_file(dir.path());
        let server = StaticFiles::serve(&dist).await;
        let origin = format!("http://{}", server.addr);
        let backend = Backend::start().await;
        let page = |relay: &TestRelay| server.url(&format!("/?relay=ws://{}/ws", relay.ui_addr));

        let closed = TestRelay::start(backend.addr).await;
        browser.goto(&page(&closed)).await;
        let notice = browser
            .wait_until_text("[data-test=notice]", |t| t.contains("--allow-origin"), WAIT)
            .await;
        assert!(
            notice.contains(&origin),
            "the hint names this page's origin: {notice}"
        );
        closed.shutdown().await;

        let open = TestRelay::start_with(backend.addr, |c| {
            c.descriptor_sets = vec![fds];
            c.allow_origins = vec![origin.parse().expect("an origin")];
        })
        .await;
        browser.goto(&page(&open)).await;
        wait_live(&browser).await;
        let mut client = probe_client(open.relay_addr, false).await;
        client
            .unary(req("from a hosted copy"))
            .await
            .expect("unary");
        let rows = wait_rows(&browser, "the call", |rows| {
            rows.iter().any(|r| r.status == "OK")
        })
        .await;
        select(&browser, rows[0].id, "/Unary").await;
        browser
            .wait_until_text(DETAIL, |t| t.contains("\"echo: from a hosted copy\""), WAIT)
            .await;

        browser.close().await;
        drop(client);
        open.shutdown().await;
        server.stop().await;
        backend.stop().await;
    })
    .await;
}

/// The relay goes away and comes back on the same ports: the page says it
/// lost the connection, reconnects by itself and shows exactly the new
/// relay's calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect() {
    require_embedded_ui();
    let browser = Browser::start().await;
    bounded(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let fds = test_fds_file(dir.path());
        let backend = Backend::start().await;
        let config = || {
            let mut config = Config::new(backend.addr.to_string().parse().expect("upstream"));
            config.descriptor_sets = vec![fds.clone()];
            config.shutdown_grace = Duration::from_secs(1);
            config
        };
        let bind = async |addr: SocketAddr| {
            TcpListener::bind(addr)
                .await
                .unwrap_or_else(|e| panic!("bind {addr}: {e}"))
        };
        let relay_listener = bind("127.0.0.1:0".parse().expect("addr")).await;
        let ui_listener = bind("127.0.0.1:0".parse().expect("addr")).await;
        let relay_addr = relay_listener.local_addr().expect("addr");
        let ui_addr = ui_listener.local_addr().expect("addr");

        let first = TestRelay::start_on(config(), relay_listener, ui_listener).await;
        browser.goto(&ui_url(ui_addr)).await;
        wait_live(&browser).await;
        {
            let mut client = probe_client(relay_addr, false).await;
            for i in 1..=2 {
                client
                    .unary(req(&format!("before restart {i}")))
                    .await
                    .expect("unary");
            }
        }
        browser
            .wait_until_text("[data-test=call-count]", |t| t == "2 calls", WAIT)
            .await;
        wait_rows(&browser, "2 rows", |rows| rows.len() == 2).await;

        first.shutdown().await;
        let down = browser
            .wait_until_text(
                "[data-test=conn]",
                |t| t.contains("disconnected") || t.contains("reconnecting"),
                WAIT,
            )
            .await;
        eprintln!("while the relay is down, the page says: {down}");

        let second =
            TestRelay::start_on(config(), bind(relay_addr).await, bind(ui_addr).await).await;
        {
            let mut client = probe_client(relay_addr, false).await;
            for i in 1..=3 {
                client
                    .unary(req(&format!("after restart {i}")))
                    .await
                    .expect("unary");
            }
        }
        wait_live(&browser).await;
        browser
            .wait_until_text("[data-test=call-count]", |t| t == "3 calls", WAIT)
            .await;
        let rows = wait_rows(&browser, "the new relay's 3 rows", |rows| rows.len() == 3).await;
        let mut ids: Vec<u64> = rows.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        assert_eq!(ids, [1, 2, 3], "{rows:?}");
        // The new relay numbers its calls from 1 again: call 1 must be the new
        // call 1, not the old one merged with it.
        select(&browser, 1, "/Unary").await;
        let text = browser.text_of(DETAIL).await.unwrap_or_default();
        assert!(text.contains("\"after restart 1\""), "{text}");
        assert!(!text.contains("before restart"), "stale call data:\n{text}");
        assert_eq!(
            browser.text_of("[data-test=call-count]").await.as_deref(),
            Some("3 calls")
        );

        browser.close().await;
        second.shutdown().await;
        backend.stop().await;
    })
    .await;
}

/// Payloads and metadata that look like HTML stay text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_in_payloads_renders_as_text() {
    const PAYLOAD: &str = r#"<img src=x onerror="window.__pwned=1">"#;
    const NOTE: &str = "<b>bold</b>";
    require_embedded_ui();
    let browser = Browser::start().await;
    bounded(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let fds = test_fds_file(dir.path());
        let backend = Backend::start().await;
        let relay = TestRelay::start_with(backend.addr, |c| c.descriptor_sets = vec![fds]).await;
        browser.goto(&ui_url(relay.ui_addr)).await;
        wait_live(&browser).await;

        let mut client = probe_client(relay.relay_addr, false).await;
        let mut request = tonic::Request::new(req(PAYLOAD));
        request
            .metadata_mut()
            .insert("x-note", NOTE.parse().expect("ascii metadata"));
        client.unary(request).await.expect("unary");

        let rows = wait_rows(&browser, "the call", |rows| {
            rows.iter().any(|r| r.status == "OK")
        })
        .await;
        select(&browser, rows[0].id, "/Unary").await;
        let quoted = serde_json::to_string(PAYLOAD).expect("json");
        let text = browser
            .wait_until_text(DETAIL, |t| t.contains(&quoted), WAIT)
            .await;
        assert!(text.contains(NOTE), "the x-note header as text:\n{text}");
        let metadata = section_text(&browser, "Request metadata")
            .await
            .expect("request metadata");
        assert!(metadata.contains(NOTE), "{metadata}");

        let markup = browser
            .js(
                "return {
                    detail: document.querySelectorAll('[data-test=detail] img, [data-test=detail] b').length,
                    anywhere: document.querySelectorAll('img[src=x], b').length,
                    pwned: typeof window.__pwned,
                };",
                vec![],
            )
            .await;
        assert_eq!(markup["detail"], 0, "no markup from payloads: {markup}");
        assert_eq!(markup["anywhere"], 0, "{markup}");
        assert_eq!(markup["pwned"], "undefined", "the onerror ran: {markup}");

        assert_no_console_errors(&browser).await;

        browser.close().await;
        drop(client);
        relay.shutdown().await;
        backend.stop().await;
    })
    .await;
}

/// A call over TLS on both hops (a client trusting the relay's local CA, an
/// `https://` upstream with the test PKI's leaf) shows each hop's version,
/// ALPN and certificate; a cleartext call through the same relay shows its
/// client hop as cleartext.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_call_detail() {
    require_embedded_ui();
    let browser = Browser::start().await;
    bounded(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let fds = test_fds_file(dir.path());
        let pki = TestPki::new();
        let backend = TlsBackend::start(pki.server_config(&pki.server, ClientAuth::None)).await;
        // The relay's CA, made before the relay starts so that the client
        // can trust it (the relay loads it on the first TLS handshake).
        let ca_dir = dir.path().join("ca");
        let ca = LocalCa::load_or_create(&ca_dir).expect("the local CA");
        let relay = TestRelay::start_with(backend.addr, |c| {
            c.upstream = format!("https://{}", backend.addr)
                .parse()
                .expect("an https upstream");
            c.upstream_tls.ca = Some(pki.ca.cert.clone());
            c.listen_tls.ca_dir = Some(ca_dir.clone());
            c.descriptor_sets = vec![fds];
        })
        .await;
        browser.goto(&ui_url(relay.ui_addr)).await;
        wait_live(&browser).await;

        let trusting = pki::client_config_trusting(ca.cert_der());
        let channel = tls_channel(relay.relay_addr, pki::LOCALHOST, trusting)
            .await
            .expect("a TLS channel to the relay");
        let reply = ProbeClient::new(channel)
            .unary(req("over TLS"))
            .await
            .expect("unary over TLS")
            .into_inner();
        assert_eq!(reply.text, "echo: over TLS");
        let mut cleartext = probe_client(relay.relay_addr, false).await;
        cleartext
            .unary(req("in cleartext"))
            .await
            .expect("unary in cleartext");

        let rows = wait_rows(&browser, "both calls, ended", |rows| {
            rows.len() == 2 && rows.iter().all(|r| r.status == "OK")
        })
        .await;
        let mut ids: Vec<u64> = rows.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        assert_eq!(ids, [1, 2], "{rows:?}");

        // Call 1, over TLS: the client hop's session and the leaf the local
        // CA minted for `localhost`; the upstream hop's session and the
        // test PKI's server leaf.
        select(&browser, 1, "/Unary").await;
        browser
            .wait_until_text(DETAIL, |t| t.contains("\"echo: over TLS\""), WAIT)
            .await;
        let client_hop = browser
            .wait_until_text("[data-test=tls-client]", |t| t.contains("TLSv1.3"), WAIT)
            .await;
        for part in [
            "TLSv1.3",
            "ALPN h2",
            "SNI localhost",
            "CN=localhost",
            "Loom local CA",
        ] {
            assert!(
                client_hop.contains(part),
                "the client hop shows `{part}`:\n{client_hop}"
            );
        }
        let upstream_hop = browser
            .wait_until_text("[data-test=tls-upstream]", |t| t.contains("TLSv1.3"), WAIT)
            .await;
        for part in [
            "TLSv1.3",
            "ALPN h2",
            "CN=localhost",
            "O=Loom tests",
            "CN=Loom test CA",
        ] {
            assert!(
                upstream_hop.contains(part),
                "the upstream hop shows `{part}`:\n{upstream_hop}"
            );
        }
        assert!(
            !upstream_hop.contains("Loom local CA"),
            "the upstream's certificate is the backend's, not one the relay minted:\n{upstream_hop}"
        );

        // Call 2, in cleartext from the client, still TLS to the upstream.
        select(&browser, 2, "/Unary").await;
        browser
            .wait_until_text(DETAIL, |t| t.contains("\"echo: in cleartext\""), WAIT)
            .await;
        let client_hop = browser
            .wait_until_text("[data-test=tls-client]", |t| t.contains("cleartext"), WAIT)
            .await;
        assert!(
            !client_hop.contains("TLSv"),
            "no TLS on a cleartext hop:\n{client_hop}"
        );
        let upstream_hop = browser
            .wait_until_text("[data-test=tls-upstream]", |t| t.contains("TLSv1.3"), WAIT)
            .await;
        assert!(upstream_hop.contains("O=Loom tests"), "{upstream_hop}");
        assert_no_console_errors(&browser).await;

        browser.close().await;
        drop(cleartext);
        relay.shutdown().await;
        backend.stop().await;
    })
    .await;
}

/// 20,000 calls from a file: how long until they are listed, and the list
/// stays virtualized (few rows in the DOM) while scrolling to the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_capture() {
    const CALLS: u64 = 20_000;
    let dist = dist_dir();
    let browser = Browser::start().await;
    bounded(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("20k.loom");
        let bytes = probe_capture((1..=CALLS).map(|i| format!("call number {i}")));
        std::fs::write(&file, &bytes).expect("write the capture");
        let server = StaticFiles::serve(&dist).await;
        browser.goto(&server.url("/")).await;
        let input = browser.wait_for("[data-test=open-file]", WAIT).await;

        // Timestamps taken in the page as the DOM changes, so that polling
        // from here does not blur them.
        browser
            .js(
                r#"
                const want = arguments[0];
                const t = window.__loom_t = { start: performance.now() };
                const mark = () => {
                    const now = performance.now();
                    if (t.firstRow === undefined && document.querySelector('[data-test=call-row]')) {
                        t.firstRow = now;
                    }
                    const count = document.querySelector('[data-test=call-count]');
                    if (t.loaded === undefined && count && count.textContent === want) {
                        t.loaded = now;
                    }
                };
                new MutationObserver(mark).observe(document.body,
                    { subtree: true, childList: true, characterData: true });
                "#,
                vec![json!(format!("{CALLS} calls"))],
            )
            .await;
        let clock = Instant::now();
        input
            .send_keys(&file.to_string_lossy())
            .await
            .expect("choose the capture file");
        browser
            .wait_js(
                "all calls counted and the first row rendered",
                "const c = document.querySelector('[data-test=call-count]');
                 return [c ? c.textContent : null,
                         document.querySelectorAll('[data-test=call-row]').length];",
                vec![],
                |v| v[0] == json!(format!("{CALLS} calls")) && v[1].as_u64() > Some(0),
                Duration::from_secs(45),
            )
            .await;
        let seen_here = clock.elapsed();
        let t = browser.js("return window.__loom_t;", vec![]).await;
        let ms = |key: &str| {
            t[key]
                .as_f64()
                .zip(t["start"].as_f64())
                .map(|(at, start)| at - start)
        };
        eprintln!(
            "20,000-call capture ({:.1} MiB): first row after {:.0} ms, all {CALLS} calls listed \
             after {:.0} ms (in-page clock); {:.0} ms as polled over WebDriver",
            bytes.len() as f64 / (1 << 20) as f64,
            ms("firstRow").unwrap_or(f64::NAN),
            ms("loaded").unwrap_or(f64::NAN),
            seen_here.as_secs_f64() * 1000.0,
        );

        // Scroll to the top, then to the very end: the rows in view render,
        // and only those.
        browser
            .js("document.querySelector('.list').scrollTop = 0;", vec![])
            .await;
        browser.wait_for(&row_css(1), WAIT).await;
        let clock = Instant::now();
        browser
            .js("document.querySelector('.list').scrollTop = 1e9;", vec![])
            .await;
        browser.wait_for(&row_css(CALLS), WAIT).await;
        eprintln!(
            "scrolled to call {CALLS} in {:.0} ms",
            clock.elapsed().as_secs_f64() * 1000.0
        );
        let rendered = browser.count(ROW).await;
        assert!(
            (1..200).contains(&rendered),
            "a virtualized list renders only the rows in view, not {rendered}"
        );
        assert_eq!(browser.count(&row_css(1)).await, 0, "call 1 scrolled away");

        select(&browser, CALLS, "/Unary").await;
        browser
            .wait_until_text(
                &format!("{DETAIL} [data-test=messages]"),
                |t| t.contains(&format!("\"call number {CALLS}\"")),
                WAIT,
            )
            .await;

        browser.close().await;
        server.stop().await;
    })
    .await;
}

/// Saving from the inspector: the whole session redacts secret headers by
/// default, keeps them when the user unticks "redact", and "Download call"
/// saves one call with the schemas. Each file reads back as a capture.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_captures_redact_by_default() {
    require_embedded_ui();
    let browser = Browser::start().await;
    bounded(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let fds = test_fds_file(dir.path());
        let backend = Backend::start().await;
        // The relay keeps secrets in what it serves, so only the page redacts.
        let relay = TestRelay::start_with(backend.addr, |c| {
            c.descriptor_sets = vec![fds];
            c.keep_secrets = true;
        })
        .await;
        browser.goto(&ui_url(relay.ui_addr)).await;
        wait_live(&browser).await;

        let mut client = probe_client(relay.relay_addr, false).await;
        for text in ["one", "two"] {
            let mut request = tonic::Request::new(req(text));
            request
                .metadata_mut()
                .insert("authorization", "Bearer s3cret".parse().expect("ascii"));
            client.unary(request).await.expect("unary");
        }
        wait_rows(&browser, "both calls", |rows| {
            rows.len() == 2 && rows.iter().all(|r| r.status == "OK")
        })
        .await;

        let authorization = |bytes: &[u8]| {
            let capture = capture::read_capture(bytes).expect("a valid capture");
            let mut calls = 0;
            let mut values = Vec::new();
            for event in &capture.events {
                if let Some(pb::event::Kind::CallStarted(started)) = &event.kind {
                    calls += 1;
                    for h in started.headers.iter().filter(|h| h.name == "authorization") {
                        values.push((h.redacted, String::from_utf8_lossy(&h.value).into_owned()));
                    }
                }
            }
            let schemas = capture
                .events
                .iter()
                .filter(|e| matches!(e.kind, Some(pb::event::Kind::Descriptors(_))))
                .count();
            (calls, values, schemas)
        };

        browser.click("[data-test=save]", WAIT).await;
        let (name, saved) = browser.download("loom-", WAIT).await;
        assert!(name.ends_with(".loom"), "{name}");
        let (calls, values, schemas) = authorization(&saved);
        assert_eq!(calls, 2);
        assert!(schemas >= 1, "the schema travels with the file");
        assert_eq!(
            values,
            vec![(true, String::new()); 2],
            "redacted by default"
        );

        browser.click("[data-test=redact]", WAIT).await;
        browser.click("[data-test=save]", WAIT).await;
        let (_, kept) = browser.download("loom-", WAIT).await;
        let (_, values, _) = authorization(&kept);
        assert_eq!(
            values,
            vec![(false, "Bearer s3cret".to_owned()); 2],
            "kept when unticked"
        );

        select(&browser, 2, "/Unary").await;
        browser.click("[data-test=download-call]", WAIT).await;
        let (name, one) = browser.download("loom-call-2", WAIT).await;
        assert!(name.ends_with(".loom"), "{name}");
        let capture = capture::read_capture(&one).expect("a valid capture");
        assert!(
            capture
                .events
                .iter()
                .all(|e| e.call_id == 0 || e.call_id == 2),
            "only call 2"
        );
        assert!(capture.events.iter().any(|e| e.call_id == 2));

        browser.close().await;
        relay.shutdown().await;
        backend.stop().await;
    })
    .await;
}
