//! The hosted inspector in a real browser: the bundle served as static files
//! under a base path (as on a static host or CDN), on a loopback port that
//! Chromium is told to treat as a public site
//! (`--ip-address-space-overrides=127.0.0.1:PORT=public`), so Local Network
//! Access applies to it as to a real hosted copy. The page is plain HTTP on
//! loopback (a secure context, as an HTTPS site is); see the README.
//!
//! Chromium 156's permission for reaching loopback is `loopback-network`:
//! the DevTools protocol grants it as `loopbackNetwork`
//! (`Browser.grantPermissions`) or by name (`Browser.setPermission`).
//! `localNetworkAccess` grants only the older `local-network-access`, which
//! no longer lets a public page reach 127.0.0.1.
//!
//! The relay's side without a browser is `hosted_api`.

use loom_relay::{HostedUi, PairingToken};
use loom_tests::TestRelay;
use loom_tests::backend::Backend;
use loom_tests::browser::{Browser, Options, ui_url};
use loom_tests::inspector::{
    DETAIL, WAIT, assert_no_console_errors, dist_dir, select, wait_live, wait_rows,
};
use loom_tests::static_files::StaticFiles;
use loom_tests::{probe_client, req};
use serde_json::json;

use crate::browser::{bounded, test_fds_file};
use loom_tests::captures::probe_capture;

/// Where the copy is published on its (static) host.
const BASE: &str = "/tools/loom/";
const TOKEN: &str = "hosted-browser-test-token";
const NOTICE: &str = "[data-test=notice]";
const CONN: &str = "[data-test=conn]";

/// The bundle as a static site under [`BASE`].
struct Site {
    server: StaticFiles,
}

impl Site {
    async fn start() -> Site {
        Site {
            server: StaticFiles::serve_at(dist_dir(), BASE).await,
        }
    }

    fn origin(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    /// The page's URL (what `--hosted-ui` takes).
    fn page(&self) -> String {
        self.server.url(BASE)
    }

    fn hosted(&self) -> HostedUi {
        self.page().parse().expect("a hosted page")
    }

    /// The link the relay prints, with `token` (or with no fragment).
    fn link(&self, relay: &TestRelay, token: Option<&str>) -> String {
        match token {
            Some(t) => self
                .hosted()
                .link(relay.ui_addr, &t.parse::<PairingToken>().expect("token")),
            None => format!("{}?relay=ws://{}/ws", self.page(), relay.ui_addr),
        }
    }

    /// Chromium options that class this site as public.
    fn public(&self) -> Options {
        Options {
            args: vec![format!(
                "--ip-address-space-overrides=127.0.0.1:{}=public",
                self.server.addr.port()
            )],
            ..Options::default()
        }
    }

    /// No request for a WebSocket endpoint reached this static host.
    fn assert_no_websocket_attempt(&self) {
        for path in ["/ws", &format!("{BASE}ws")] {
            assert_eq!(
                self.server.requests(path),
                0,
                "the static copy was asked for {path}"
            );
        }
    }
}

/// A relay that allows `site` as a hosted copy, paired with [`TOKEN`].
async fn relay_for(site: &Site, backend: &Backend, dir: &std::path::Path) -> TestRelay {
    let fds = test_fds_file(dir);
    TestRelay::start_with(backend.addr, |c| {
        c.hosted_ui = vec![site.hosted()];
        c.pairing_token = Some(TOKEN.parse().expect("token"));
        c.descriptor_sets = vec![fds];
    })
    .await
}

async fn notice(browser: &Browser, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let text = browser.wait_until_text(NOTICE, ok, WAIT).await;
    eprintln!("{what}: the page says: {text}");
    text
}

/// A public page the user denied local network access: the page says so,
/// and does not blame the relay's origin list (which allows it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_origin_denied_explains_local_network_access() {
    let site = Site::start().await;
    let browser = Browser::start_with(site.public()).await;
    bounded(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let backend = Backend::start().await;
        let relay = relay_for(&site, &backend, dir.path()).await;
        browser
            .cdp(
                "Browser.setPermission",
                json!({
                    "origin": site.origin(),
                    "permission": { "name": "loopback-network" },
                    "setting": "denied",
                }),
            )
            .await;
        browser.goto(&site.link(&relay, Some(TOKEN))).await;
        let text = notice(&browser, "denied", |t| t.contains("local network")).await;
        assert!(text.contains("site settings"), "{text}");
        assert!(text.contains(&site.origin()), "{text}");
        assert!(!text.contains("--allow-origin"), "{text}");
        let conn = browser.text_of(CONN).await.unwrap_or_default();
        assert!(conn.contains("local network access blocked"), "{conn}");
        browser.close().await;
        relay.shutdown().await;
        backend.stop().await;
    })
    .await;
}

/// The same public page, granted: live calls, decoded; the address field
/// shows the relay it is connected to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_origin_granted_shows_live_calls() {
    let site = Site::start().await;
    let browser = Browser::start_with(site.public()).await;
    bounded(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let backend = Backend::start().await;
        let relay = relay_for(&site, &backend, dir.path()).await;
        browser
            .cdp(
                "Browser.grantPermissions",
                json!({ "origin": site.origin(), "permissions": ["loopbackNetwork"] }),
            )
            .await;
        browser.goto(&site.link(&relay, Some(TOKEN))).await;
        wait_live(&browser).await;
        let field = browser
            .js(
                "return document.querySelector('[data-test=relay-url]').value;",
                vec![],
            )
            .await;
        assert_eq!(field, json!(format!("ws://{}/ws", relay.ui_addr)));

        let mut client = probe_client(relay.relay_addr, false).await;
        client
            .unary(req("through local network access"))
            .await
            .expect("unary");
        let rows = wait_rows(&browser, "the call", |rows| {
            rows.iter().any(|r| r.status == "OK")
        })
        .await;
        select(&browser, rows[0].id, "/Unary").await;
        browser
            .wait_until_text(
                DETAIL,
                |t| t.contains("\"echo: through local network access\""),
                WAIT,
            )
            .await;
        assert_no_console_errors(&browser).await;
        browser.close().await;
        drop(client);
        relay.shutdown().await;
        backend.stop().await;
    })
    .await;
}

/// A relay that allows neither this origin nor its page: the fix named is
/// `--hosted-ui` / `--allow-origin` with this page's origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_refused_names_the_flag() {
    let site = Site::start().await;
    let browser = Browser::start().await;
    bounded(async {
        let backend = Backend::start().await;
        let relay = TestRelay::start(backend.addr).await;
        browser.goto(&site.link(&relay, None)).await;
        let text = notice(&browser, "origin refused", |t| t.contains("--allow-origin")).await;
        assert!(
            text.contains(&format!("--allow-origin {}", site.origin())),
            "{text}"
        );
        assert!(
            text.contains(&format!("--hosted-ui {}", site.page())),
            "{text}"
        );
        let conn = browser.text_of(CONN).await.unwrap_or_default();
        assert!(conn.contains("origin refused"), "{conn}");
        browser.close().await;
        relay.shutdown().await;
        backend.stop().await;
    })
    .await;
}

/// Nothing at the relay's address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_relay_says_not_running() {
    let site = Site::start().await;
    let browser = Browser::start().await;
    bounded(async {
        let closed = loom_tests::RefusingPort::bind();
        let closed = closed.addr();
        browser
            .goto(&format!("{}?relay=ws://{closed}/ws", site.page()))
            .await;
        let text = notice(&browser, "no relay", |t| t.contains("not running")).await;
        assert!(text.contains(&format!("ws://{closed}/ws")), "{text}");
        assert!(!text.contains("--allow-origin"), "{text}");
        browser.close().await;
    })
    .await;
}

/// Without the token, and with another run's: each its own message; with
/// the link's token, live. The relay's own page needs none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pairing_token_is_checked() {
    let site = Site::start().await;
    let browser = Browser::start().await;
    bounded(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let backend = Backend::start().await;
        let relay = relay_for(&site, &backend, dir.path()).await;

        browser.goto(&site.link(&relay, None)).await;
        let text = notice(&browser, "no token", |t| t.contains("pairing token")).await;
        assert!(text.contains("open the link"), "{text}");
        assert!(text.contains("lacks"), "{text}");

        browser.goto("about:blank").await;
        browser
            .goto(&site.link(&relay, Some("another-runs-token-0123")))
            .await;
        let text = notice(&browser, "wrong token", |t| {
            t.contains("not the running relay's")
        })
        .await;
        assert!(text.contains("open the link"), "{text}");

        browser.goto("about:blank").await;
        browser.goto(&site.link(&relay, Some(TOKEN))).await;
        wait_live(&browser).await;

        browser.goto(&ui_url(relay.ui_addr)).await;
        wait_live(&browser).await;
        browser.close().await;
        relay.shutdown().await;
        backend.stop().await;
    })
    .await;
}

/// A hosted copy opened without `?relay=`: no WebSocket to its own origin,
/// the welcome with its command, a capture opens from the welcome's button,
/// and the address field connects (with the fragment's token).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_relay_param_makes_no_websocket_attempt() {
    let site = Site::start().await;
    let browser = Browser::start().await;
    bounded(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("hosted.loom");
        std::fs::write(&file, probe_capture(["opened on a hosted copy".to_owned()]))
            .expect("write the capture");
        browser.goto(&site.page()).await;
        let command = browser
            .wait_until_text("[data-test=welcome-command]", |t| !t.is_empty(), WAIT)
            .await;
        assert_eq!(command, format!("loom --hosted-ui {}", site.page()));
        let input = browser
            .wait_for("[data-test=welcome-open-file]", WAIT)
            .await;
        input
            .send_keys(&file.to_string_lossy())
            .await
            .expect("choose the capture file");
        browser
            .wait_until_text("[data-test=call-count]", |t| t == "1 calls", WAIT)
            .await;
        select(&browser, 1, "/Unary").await;
        browser
            .wait_until_text(DETAIL, |t| t.contains("\"opened on a hosted copy\""), WAIT)
            .await;
        site.assert_no_websocket_attempt();
        assert_no_console_errors(&browser).await;

        // The address field, with the token from the fragment.
        let backend = Backend::start().await;
        let relay = relay_for(&site, &backend, dir.path()).await;
        browser.goto("about:blank").await;
        browser
            .goto(&format!("{}#token={TOKEN}", site.page()))
            .await;
        let field = browser.wait_for("[data-test=welcome-relay]", WAIT).await;
        field
            .send_keys(&format!("127.0.0.1:{}", relay.ui_addr.port()))
            .await
            .expect("type the relay's address");
        browser.click("[data-test=welcome-connect]", WAIT).await;
        wait_live(&browser).await;
        site.assert_no_websocket_attempt();

        browser.close().await;
        relay.shutdown().await;
        backend.stop().await;
    })
    .await;
}

/// A plain-HTTP page on a public name (mapped to loopback by the browser's
/// resolver) can never ask for local network access: the page says to use
/// the HTTPS copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_public_page_points_to_https() {
    let site = Site::start().await;
    let mut options = site.public();
    options
        .args
        .push("--host-resolver-rules=MAP loom-hosted.test 127.0.0.1".to_owned());
    let browser = Browser::start_with(options).await;
    bounded(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let backend = Backend::start().await;
        let relay = relay_for(&site, &backend, dir.path()).await;
        let page = format!(
            "http://loom-hosted.test:{}{BASE}?relay=ws://{}/ws#token={TOKEN}",
            site.server.addr.port(),
            relay.ui_addr
        );
        browser.goto(&page).await;
        let text = notice(&browser, "plain HTTP", |t| t.contains("HTTPS copy")).await;
        assert!(!text.contains("--allow-origin"), "{text}");
        browser.close().await;
        relay.shutdown().await;
        backend.stop().await;
    })
    .await;
}
