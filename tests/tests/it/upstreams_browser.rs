//! One capture holding calls to three upstreams, in a real browser (the
//! bundle as static files, no relay): each row says its upstream, the
//! upstream filter keeps one upstream's calls (and lands in the URL), each
//! call decodes with its own upstream's schema where two upstreams serve
//! the same service in different versions, the Methods table has a row per
//! upstream and method, the Schemas table a group per upstream, and *Copy
//! as grpcurl* says where it replays the call; all of it fits the smallest
//! window the layout tests hold (1280×800). The capture is
//! `loom_tests::captures::upstreams_capture`.
//!
//! ```text
//! LOOM_WEB_DIST=$PWD/dist cargo test -p loom-tests --test it -- upstreams_browser::
//! ```

use loom_tests::browser::{Browser, Options};
use loom_tests::captures::{UPSTREAMS, VERSION_SERVICE, upstreams_capture};
use loom_tests::inspector::{
    DETAIL, WAIT, assert_no_console_errors, choose, dist_dir, open_capture, select, wait_rows,
};
use loom_tests::layout::{self, Screen};
use loom_tests::reflection::PROBE_SERVICE;
use loom_tests::static_files::StaticFiles;
use serde_json::{Value, json};

use crate::browser::bounded;

/// What `css` matches, each as the values of its `attributes` and its text.
async fn table(browser: &Browser, css: &str, attributes: &[&str]) -> Vec<Vec<String>> {
    let value = browser
        .js(
            "return Array.from(document.querySelectorAll(arguments[0])).map(e => \
                 arguments[1].map(a => e.getAttribute(a) || '').concat([e.innerText.trim()]));",
            vec![json!(css), json!(attributes)],
        )
        .await;
    serde_json::from_value(value).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capture_of_three_upstreams() {
    let dist = dist_dir();
    let browser = Browser::start().await;
    bounded(async {
        let [a, b, c] = UPSTREAMS;
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("upstreams.loom");
        std::fs::write(&file, upstreams_capture()).expect("write the capture");
        let server = StaticFiles::serve(&dist).await;
        browser.goto(&server.url("/")).await;
        open_capture(&browser, &file, 5).await;
        wait_rows(&browser, "5 rows", |rows| rows.len() == 5).await;

        // Each row's upstream, short, the whole name in its tooltip.
        let labels = table(
            &browser,
            "[data-test=call-row] [data-test=upstream]",
            &["title"],
        )
        .await;
        assert_eq!(
            labels,
            [
                [a, "127.0.0.1:50051"],
                [b, "api.example:443"],
                [a, "127.0.0.1:50051"],
                [b, "api.example:443"],
                [c, "version.sock"],
            ],
        );

        // The Methods table: the same method on two upstreams is two rows.
        let methods = table(
            &browser,
            "[data-test=methods] [data-test=method-row]",
            &["data-upstream", "data-method"],
        )
        .await;
        let unary = format!("{PROBE_SERVICE}/Unary");
        let version = format!("{VERSION_SERVICE}/Version");
        let keys: Vec<(&str, &str)> = methods
            .iter()
            .map(|r| (r[0].as_str(), r[1].as_str()))
            .collect();
        assert_eq!(keys, [(a, &*unary), (b, &*unary), (c, &*version)]);
        assert!(
            methods[1][2].starts_with("api.example:443"),
            "the upstream column: {methods:?}"
        );

        // The Schemas table: a group per upstream, each service's schema
        // from that upstream's reflection (or why there is none).
        let groups = table(
            &browser,
            "[data-test=schemas] [data-test=schema-upstream]",
            &["data-upstream"],
        )
        .await;
        let groups: Vec<&str> = groups.iter().map(|g| g[0].as_str()).collect();
        assert_eq!(groups, [a, b, c]);
        let schemas = table(
            &browser,
            "[data-test=schemas] tr[data-service]",
            &["data-upstream", "data-service", "class"],
        )
        .await;
        let states: Vec<(&str, &str, &str)> = schemas
            .iter()
            .map(|r| (r[0].as_str(), r[1].as_str(), r[2].as_str()))
            .collect();
        assert_eq!(
            states,
            [
                (a, PROBE_SERVICE, "schema-loaded"),
                (b, PROBE_SERVICE, "schema-loaded"),
                (c, VERSION_SERVICE, "schema-failed"),
            ]
        );
        assert!(schemas[0][3].contains(&format!("from {a}")), "{schemas:?}");
        assert!(schemas[1][3].contains(&format!("from {b}")), "{schemas:?}");
        assert!(schemas[2][3].contains("UNIMPLEMENTED"), "{schemas:?}");

        // Filter by one upstream, through the picker: only its calls.
        choose(&browser, "[data-test=upstream-filter]", b).await;
        let rows = wait_rows(&browser, "only the second upstream's calls", |rows| {
            rows.len() == 2
        })
        .await;
        assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), [2, 4]);
        let url = browser.client().current_url().await.expect("the page URL");
        assert!(
            url.as_str()
                .contains("upstream=https%3A%2F%2Fapi.example%3A443"),
            "{url}"
        );

        // Its call decodes with its own upstream's schema ...
        select(&browser, 2, "/Unary").await;
        let messages = browser
            .wait_until_text(
                &format!("{DETAIL} [data-test=messages]"),
                |t| t.contains("\"beta one\""),
                WAIT,
            )
            .await;
        assert!(messages.contains("\"label\""), "{messages}");
        assert!(messages.contains("\"answer\""), "{messages}");
        assert!(!messages.contains("\"text\""), "{messages}");
        // ... and replays straight to it, over TLS, or through the relay.
        let target = browser
            .wait_until_text("[data-test=grpcurl-target]", |t| !t.is_empty(), WAIT)
            .await;
        assert_eq!(
            target,
            format!("Replays straight to the upstream {b} (TLS).")
        );
        let command = browser
            .text_of("[data-test=grpcurl-text]")
            .await
            .expect("a grpcurl command");
        assert!(
            command
                .contains(r#"-d '{"label":"beta one"}' api.example:443 loom.test.v1.Probe/Unary"#),
            "{command}"
        );
        assert!(!command.contains("-plaintext"), "{command}");
        browser.click("[data-test=replay-relay]", WAIT).await;
        browser
            .wait_until_text(
                "[data-test=grpcurl-target]",
                |t| t.contains("through the relay at api.example:443"),
                WAIT,
            )
            .await;

        // Every upstream again: the first upstream's call of the same
        // method decodes with its schema.
        choose(&browser, "[data-test=upstream-filter]", "*").await;
        wait_rows(&browser, "every call again", |rows| rows.len() == 5).await;
        select(&browser, 1, "/Unary").await;
        let messages = browser
            .wait_until_text(
                &format!("{DETAIL} [data-test=messages]"),
                |t| t.contains("\"alpha one\""),
                WAIT,
            )
            .await;
        assert!(messages.contains("\"text\""), "{messages}");
        assert!(!messages.contains("\"label\""), "{messages}");
        let url = browser.client().current_url().await.expect("the page URL");
        assert!(!url.as_str().contains("upstream="), "{url}");

        assert_no_console_errors(&browser).await;
        browser.close().await;
        server.stop().await;
    })
    .await;
}

/// A capture of one upstream shows nothing about upstreams: no labels, no
/// picker, no upstream column, no schema groups.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_upstream_shows_no_upstreams() {
    let dist = dist_dir();
    let browser = Browser::start().await;
    bounded(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("one.loom");
        let texts = ["one", "two"].map(str::to_owned);
        std::fs::write(&file, loom_tests::captures::probe_capture(texts)).expect("write");
        let server = StaticFiles::serve(&dist).await;
        browser.goto(&server.url("/")).await;
        open_capture(&browser, &file, 2).await;
        wait_rows(&browser, "2 rows", |rows| rows.len() == 2).await;
        browser.wait_for("[data-test=methods]", WAIT).await;
        let counts: Value = browser
            .js(
                "return ['[data-test=upstream]', '[data-test=upstream-filter]', \
                         '[data-col=upstream]', '[data-test=schema-upstream]'] \
                     .map(css => document.querySelectorAll(css).length);",
                vec![],
            )
            .await;
        assert_eq!(counts, json!([0, 0, 0, 0]));
        assert_no_console_errors(&browser).await;
        browser.close().await;
        server.stop().await;
    })
    .await;
}

/// The upstream labels, picker, column and schema groups fit a 1280×800
/// window in both schemes, as the layout tests measure it (no pane
/// overflows sideways, no list cell is cut, the Methods table's numbers
/// stay on one line).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_upstreams_fit_the_smallest_window() {
    let dist = dist_dir();
    for dark in [false, true] {
        let screen = Screen {
            width: 1280,
            height: 800,
            dark,
        };
        let browser = Browser::start_with(Options {
            window: (screen.width, screen.height),
            dark,
            ..Options::default()
        })
        .await;
        bounded(async {
            let dir = tempfile::tempdir().expect("temp dir");
            let file = dir.path().join("upstreams.loom");
            std::fs::write(&file, upstreams_capture()).expect("write the capture");
            let server = StaticFiles::serve(&dist).await;
            browser.goto(&server.url("/")).await;
            open_capture(&browser, &file, 5).await;
            browser.wait_for("[data-test=schema-upstream]", WAIT).await;
            browser
                .screenshot(&screen.screenshot_path("upstreams"))
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
}
