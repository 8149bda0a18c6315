//! The inspector's layout at common window sizes (1280×800, 1400×900,
//! 1920×1080), in the light and the dark color scheme, in a real browser:
//! four pages each, asserted by measuring the page (`loom_tests::layout`),
//! never by comparing pixels, and a screenshot of each under
//! `target/screenshots/<page>-<w>x<h>-<scheme>.png` (for CI to keep):
//!
//! - `methods`: live demo traffic, no call selected: the Methods summary;
//! - `live`: the same list with a failed call selected, its error details
//!   decoded (`live-1400x900-light.png` is the README's `docs/screenshot.png`,
//!   refreshed by `scripts/screenshot.sh`);
//! - `banner`: a page pointed at a relay address where nothing listens;
//! - `capture20k`: a 20,000-call capture file opened in the page.
//!
//! One browser per size and scheme, the pages one after another in it; the
//! fixtures (demo backend, relay, static copy of the bundle, the capture
//! file) are shared by all six. Every problem found is collected and the
//! test fails at the end with all of them, so one run shows every defect.
//!
//! ```text
//! scripts/build-web.sh
//! LOOM_WEB_DIST=$PWD/dist cargo test -p loom-tests --test it -- layout::
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use loom_relay::demo::{DemoBackend, generate_traffic};
use loom_tests::browser::{Browser, Options};
use loom_tests::captures::probe_capture;
use loom_tests::inspector::{DETAIL, WAIT, dist_dir, row_css, select, wait_live, wait_rows};
use loom_tests::layout::{self, Screen};
use loom_tests::static_files::StaticFiles;
use loom_tests::{TestRelay, channel};
use tokio::net::TcpListener;

/// The window sizes the inspector must hold at.
const SIZES: [(u32, u32); 3] = [(1280, 800), (1400, 900), (1920, 1080)];
/// A window narrower than any of [`SIZES`], where the layout degrades.
const NARROW: (u32, u32) = (1024, 768);
/// Calls in the big capture file.
const CALLS: u64 = 20_000;
/// The longest the whole test may take (six browsers, four pages each).
const TEST_TIMEOUT: Duration = Duration::from_secs(300);
/// A reflection call made through the relay, as grpcurl would.
const REFLECTION: &str = "grpc.reflection.v1.ServerReflection/ServerReflectionInfo";

/// Where each page comes from.
struct Pages {
    /// The live list: the static bundle pointed at the demo relay.
    live: String,
    /// The bundle pointed at a relay address where nothing listens.
    banner: String,
    /// The bundle with no relay, to open `capture` in.
    offline: String,
    capture: std::path::PathBuf,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_at_common_sizes_in_both_schemes() {
    let dist = dist_dir();
    tokio::time::timeout(TEST_TIMEOUT, async {
        let dir = tempfile::tempdir().expect("temp dir");
        let capture = dir.path().join("20k.loom");
        std::fs::write(
            &capture,
            probe_capture((1..=CALLS).map(|i| format!("call number {i}"))),
        )
        .expect("write the capture");

        let server = StaticFiles::serve(&dist).await;
        let origin = format!("http://{}", server.addr);
        let backend = DemoBackend::start(
            TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind demo backend"),
        )
        .await;
        let relay = TestRelay::start_with(backend.addr, |c| {
            c.allow_origins = vec![origin.parse().expect("an origin")];
        })
        .await;
        reflect_through(relay.relay_addr).await;
        let (stop_traffic, traffic_stop) = loom_relay::shutdown::signal();
        let traffic = tokio::spawn(generate_traffic(
            relay.relay_addr.into(),
            std::sync::Arc::new(loom_relay::forward::upstream::TcpConnect),
            traffic_stop,
        ));
        let nobody = loom_tests::RefusingPort::bind();
        let nobody = nobody.addr();
        let pages = Pages {
            live: server.url(&format!("/?relay=ws://{}/ws", relay.ui_addr)),
            banner: server.url(&format!("/?relay=ws://{nobody}/ws")),
            offline: server.url("/"),
            capture,
        };

        let mut problems = Vec::new();
        for (width, height) in SIZES {
            for dark in [false, true] {
                let screen = Screen {
                    width,
                    height,
                    dark,
                };
                let browser = Browser::start_with(Options {
                    window: (width, height),
                    dark,
                    args: Vec::new(),
                })
                .await;
                for (page, found) in every_page(&browser, screen, &pages).await {
                    problems.extend(
                        found
                            .into_iter()
                            .map(|p| format!("{page} at {}: {p}", screen.name())),
                    );
                }
                browser.close().await;
            }
        }
        assert!(
            problems.is_empty(),
            "the layout does not hold ({} problems):\n{}",
            problems.len(),
            problems.join("\n")
        );

        stop_traffic.stop();
        let _ = tokio::time::timeout(Duration::from_secs(5), traffic).await;
        relay.shutdown().await;
        backend.stop().await;
        server.stop().await;
    })
    .await
    .unwrap_or_else(|_| panic!("the layout test took longer than {TEST_TIMEOUT:?}"));
}

/// The four pages on `screen`: what is wrong with each.
async fn every_page(
    browser: &Browser,
    screen: Screen,
    pages: &Pages,
) -> Vec<(&'static str, Vec<String>)> {
    let mut out = Vec::new();

    // The live list, scrolled to its start (the open Watch stream, the
    // reflection call and the first failures), nothing selected.
    browser.goto(&pages.live).await;
    wait_live(browser).await;
    browser
        .wait_js(
            "ten calls listed",
            "const c = document.querySelector('[data-test=call-count]');
             return c ? parseInt(c.textContent, 10) : 0;",
            vec![],
            |v| v.as_u64() >= Some(10),
            WAIT,
        )
        .await;
    browser
        .js("document.querySelector('.list').scrollTop = 0;", vec![])
        .await;
    let rows = wait_rows(
        browser,
        "every kind, a failure and the reflection call",
        |rows| {
            let has = |method: &str, kind: &str| {
                rows.iter()
                    .any(|r| r.method.ends_with(method) && r.kind == kind)
            };
            has("/Watch", "bidi")
                && has("/ListItems", "server")
                && has("/ImportItems", "client")
                && rows.iter().any(|r| r.method == REFLECTION)
                && rows
                    .iter()
                    .any(|r| r.method.ends_with("/UpdateItem") && r.status == "INVALID_ARGUMENT")
        },
    )
    .await;
    let mut live = Vec::new();
    // A client's reflection call is a known bidi call, not a guessed one.
    for r in rows.iter().filter(|r| r.method == REFLECTION) {
        if r.kind != "bidi" {
            live.push(format!(
                "the reflection call {} shows the kind {:?}, not \"bidi\"",
                r.id, r.kind
            ));
        }
    }
    browser
        .wait_js(
            "the Methods summary with latencies",
            "return document.querySelectorAll('[data-test=summary] table.methods svg.hist').length;",
            vec![],
            |v| v.as_u64() >= Some(5),
            WAIT,
        )
        .await;
    out.push(("methods", look(browser, screen, "methods").await));
    if screen.width == SIZES[0].0 {
        // Below the smallest size, the table gives up columns, not its fit.
        let narrow = Screen {
            width: NARROW.0,
            height: NARROW.1,
            ..screen
        };
        browser.set_viewport(NARROW).await;
        out.push(("methods (narrow)", look(browser, narrow, "methods").await));
        browser.set_viewport((screen.width, screen.height)).await;
    }

    let failed = rows
        .iter()
        .find(|r| r.method.ends_with("/UpdateItem") && r.status == "INVALID_ARGUMENT")
        .map(|r| r.id)
        .unwrap_or_default();
    select(browser, failed, "/UpdateItem").await;
    browser
        .wait_until_text(
            DETAIL,
            |t| t.contains("BAD_LENGTH") && t.contains("\"updateMask\""),
            WAIT,
        )
        .await;
    live.extend(look(browser, screen, "live").await);
    out.push(("live", live));

    // Nothing listens where the page looks for its relay: the banner says so.
    browser.goto(&pages.banner).await;
    browser
        .wait_until_text("[data-test=notice]", |t| !t.trim().is_empty(), WAIT)
        .await;
    let mut banner = look(browser, screen, "banner").await;
    banner.extend(long_banner(browser).await);
    out.push(("banner", banner));

    // 20,000 calls from a file, the list following its tail.
    browser.goto(&pages.offline).await;
    let input = browser.wait_for("[data-test=open-file]", WAIT).await;
    input
        .send_keys(&pages.capture.to_string_lossy())
        .await
        .expect("choose the capture file");
    browser
        .wait_until_text(
            "[data-test=call-count]",
            |t| t == format!("{CALLS} calls"),
            Duration::from_secs(45),
        )
        .await;
    browser.wait_for(&row_css(CALLS), WAIT).await;
    out.push(("capture20k", look(browser, screen, "capture20k").await));
    out
}

/// Screenshot the page and measure it: the problems, and the console's
/// errors (but a WebSocket that cannot connect, and the probe of
/// `/api/access` that explains why, which the banner page is about).
async fn look(browser: &Browser, screen: Screen, page: &str) -> Vec<String> {
    browser.screenshot(&screen.screenshot_path(page)).await;
    let found = layout::check(browser, screen).await;
    eprintln!("layout {page} at {}: {}", screen.name(), found.metrics);
    let mut problems = found.problems;
    problems.extend(
        browser
            .console_errors()
            .await
            .into_iter()
            .filter(|e| {
                !e.contains("/favicon.ico")
                    && !e.contains("WebSocket connection to")
                    && (!e.contains("/api/access") || !e.contains("ERR_CONNECTION_REFUSED"))
            })
            .map(|e| format!("console error: {e}")),
    );
    problems
}

/// How many lines the banner's text takes.
const LINES: &str = "const t = document.querySelector('[data-test=notice-text]');
     return Math.round(t.getBoundingClientRect().height
         / parseFloat(getComputedStyle(t).lineHeight));";

/// However long its text, the banner takes two lines, and a click shows
/// the rest (and another folds it again). The text is made five times as
/// long in the page for this.
async fn long_banner(browser: &Browser) -> Vec<String> {
    let mut problems = Vec::new();
    let lines = browser
        .js(
            &format!(
                "const text = document.querySelector('[data-test=notice-text]');
                 const more = document.createElement('span');
                 more.dataset.test = 'more-text';
                 more.textContent = (' ' + text.textContent).repeat(4);
                 text.appendChild(more);
                 {LINES}"
            ),
            vec![],
        )
        .await;
    if lines.as_u64() == Some(2) {
        unfold(browser).await;
    } else {
        problems.push(format!("a long banner takes {lines} lines, not 2"));
    }
    browser
        .js(
            "document.querySelector('[data-test=more-text]').remove();",
            vec![],
        )
        .await;
    problems
}

/// Click the banner open, and closed again.
async fn unfold(browser: &Browser) {
    browser.click("[data-test=notice-text]", WAIT).await;
    browser
        .wait_js(
            "the long banner opened",
            LINES,
            vec![],
            |n| n.as_u64() > Some(2),
            WAIT,
        )
        .await;
    browser.click("[data-test=notice-text]", WAIT).await;
    browser
        .wait_js(
            "the long banner folded",
            LINES,
            vec![],
            |n| n.as_u64() == Some(2),
            WAIT,
        )
        .await;
}

/// One reflection exchange through the relay (list the services), as
/// grpcurl makes before a call.
async fn reflect_through(relay: SocketAddr) {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;

    let mut client = ServerReflectionClient::new(channel(relay).await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .expect("reflection through the relay")
        .into_inner();
    while responses
        .message()
        .await
        .expect("a reflection response")
        .is_some()
    {}
}
