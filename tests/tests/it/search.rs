//! Live search in a real browser: the list filters as the user types (no
//! Enter), hits are found in decoded payload fields, header values and
//! status messages, typing quickly runs only the last search, and a long
//! search shows its progress and still answers right. Functional only: the
//! timings are `loom-search-bench`'s (docs/performance-inspector.md).
//!
//! The captures are `loom_tests::captures::synthetic` (see there for what
//! each call carries), opened from disk in the inspector served as static
//! files.

use std::path::Path;

use loom_tests::browser::Browser;
use loom_tests::captures;
use loom_tests::inspector::{WAIT, dist_dir, open_capture, wait_rows};
use loom_tests::static_files::StaticFiles;
use serde_json::json;

use crate::browser::bounded;

const SEARCH: &str = "[data-test=search]";

/// Open a synthetic capture of `calls` calls from a file in `dir`.
async fn open(browser: &Browser, server: &StaticFiles, dir: &Path, calls: u64) {
    let file = dir.join(format!("synthetic-{calls}.loom"));
    std::fs::write(&file, captures::synthetic(calls)).expect("write the capture");
    browser.goto(&server.url("/")).await;
    open_capture(browser, &file, calls as usize).await;
}

/// Empty the search box (as a script: clearing is not what is tested).
async fn clear(browser: &Browser) {
    browser
        .js(
            "const el = document.querySelector(arguments[0]); el.value = '';",
            vec![json!(SEARCH)],
        )
        .await;
}

/// Type `text` into the search box, key by key, without Enter.
async fn type_search(browser: &Browser, text: &str) {
    clear(browser).await;
    let input = browser.wait_for(SEARCH, WAIT).await;
    input.send_keys(text).await.expect("type a search");
}

/// Searches the page has finished (the search box's `data-searches`).
async fn searches(browser: &Browser) -> u64 {
    browser
        .js(
            "return Number(document.querySelector(arguments[0]).dataset.searches);",
            vec![json!(SEARCH)],
        )
        .await
        .as_u64()
        .unwrap_or(0)
}

async fn wait_ids(browser: &Browser, what: &str, ids: &[u64]) {
    let rows = wait_rows(browser, what, |rows| {
        rows.iter().map(|r| r.id).collect::<Vec<_>>() == ids
    })
    .await;
    assert_eq!(rows.len(), ids.len(), "{rows:?}");
}

/// Typing filters the list, with no Enter: hits in a decoded payload field,
/// a header value, a status message; the query lands in the URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_filters_the_list() {
    let dist = dist_dir();
    let browser = Browser::start().await;
    bounded(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = StaticFiles::serve(&dist).await;
        open(&browser, &server, dir.path(), 30).await;

        type_search(&browser, "reply 21").await;
        wait_ids(&browser, "a decoded response field", &[21]).await;
        let url = browser.client().current_url().await.expect("the page URL");
        assert!(url.as_str().contains("q=reply+21"), "{url}");

        type_search(&browser, "REQ-00000013").await;
        wait_ids(&browser, "a header value, any case", &[13]).await;

        type_search(&browser, "out of stock").await;
        wait_ids(&browser, "a status message", &[10, 20, 30]).await;

        // No match: an empty list; emptying the box shows every call again.
        type_search(&browser, "zzz").await;
        wait_rows(&browser, "no call", |rows| rows.is_empty()).await;
        let input = browser.wait_for(SEARCH, WAIT).await;
        input
            .send_keys("\u{e003}\u{e003}\u{e003}")
            .await
            .expect("press Backspace");
        wait_rows(&browser, "every call", |rows| rows.len() == 30).await;
        browser.close().await;
        server.stop().await;
    })
    .await;
}

/// Keystrokes faster than the debounce run one search: the last.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_quickly_runs_only_the_last_search() {
    let dist = dist_dir();
    let browser = Browser::start().await;
    bounded(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = StaticFiles::serve(&dist).await;
        open(&browser, &server, dir.path(), 30).await;
        let before = searches(&browser).await;
        // Every keystroke of "reply 2" within one script: no timer can fire
        // between them.
        browser
            .js(
                "const el = document.querySelector(arguments[0]);
                 el.focus();
                 for (const text of ['r', 're', 'rep', 'repl', 'reply', 'reply ', 'reply 2']) {
                     el.value = text;
                     el.dispatchEvent(new Event('input', { bubbles: true }));
                 }",
                vec![json!(SEARCH)],
            )
            .await;
        let expected: Vec<u64> = std::iter::once(2).chain(20..=29).collect();
        wait_ids(&browser, "the calls of the last query", &expected).await;
        assert_eq!(
            searches(&browser).await,
            before + 1,
            "only the last query was searched"
        );
        browser.close().await;
        server.stop().await;
    })
    .await;
}

/// A search through 50,000 calls (the index built as it goes) shows
/// "searching 50,000 calls… N %" while it runs, then the right answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_search_shows_progress() {
    let dist = dist_dir();
    let browser = Browser::start().await;
    bounded(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = StaticFiles::serve(&dist).await;
        open(&browser, &server, dir.path(), 50_000).await;
        // Record every progress text shown, however briefly.
        browser
            .js(
                "window.loomProgress = [];
                 new MutationObserver(() => {
                     const el = document.querySelector('[data-test=search-progress]');
                     if (el) window.loomProgress.push(el.textContent);
                 }).observe(document.body, { subtree: true, childList: true, characterData: true });",
                vec![],
            )
            .await;
        type_search(&browser, "item 4990 is").await;
        wait_ids(&browser, "the one call with that status message", &[4990]).await;
        let seen = browser.js("return window.loomProgress;", vec![]).await;
        let seen: Vec<&str> = seen
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        assert!(
            seen.iter().any(|t| t.starts_with("searching 50,000 calls… ")
                && t.ends_with(" %")),
            "progress was shown: {seen:?}"
        );
        assert_eq!(
            browser.count("[data-test=search-progress]").await,
            0,
            "and is gone once the search answered"
        );
        browser.close().await;
        server.stop().await;
    })
    .await;
}
