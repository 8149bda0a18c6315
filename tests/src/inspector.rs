//! The Loom inspector's page, as the browser tests see it: opening a
//! capture file, the call list's rows, picking in a filter, selecting a
//! call, the detail's sections, the connection state, and the checks every
//! page must pass (no console errors). On top of
//! [`crate::browser::Browser`], which knows nothing of Loom.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value as Json, json};

use crate::browser::Browser;

/// The longest one condition may take to show in the page.
pub const WAIT: Duration = Duration::from_secs(20);

pub const ROW: &str = "[data-test=call-row]";
pub const DETAIL: &str = "[data-test=detail]";

/// The relay must serve the inspector: fail (never skip) if it does not.
pub fn require_embedded_ui() {
    assert!(
        loom_relay::assets::embedded(),
        "the relay was built without the web inspector, so it cannot be tested in a browser. \
         Build the bundle (`scripts/build-web.sh`, or `trunk build --release` at the workspace \
         root) and run the tests with LOOM_WEB_DIST set to the absolute path of dist/, e.g. \
         `LOOM_WEB_DIST=$PWD/dist cargo test -p loom-tests --test it -- browser::`"
    );
}

/// The built bundle, to serve as static files: `LOOM_WEB_DIST` (at run time,
/// else as the relay was built with it).
pub fn dist_dir() -> PathBuf {
    let dir = std::env::var_os("LOOM_WEB_DIST")
        .map(PathBuf::from)
        .or_else(|| option_env!("LOOM_WEB_DIST").map(PathBuf::from));
    match dir {
        Some(dir) if dir.join("index.html").is_file() => dir,
        other => panic!(
            "no built web inspector ({}). Build it \
             (`scripts/build-web.sh`, or `trunk build --release` at the workspace root) and set \
             LOOM_WEB_DIST to the absolute path of dist/",
            match other {
                Some(dir) => format!("LOOM_WEB_DIST={} has no index.html", dir.display()),
                None => "LOOM_WEB_DIST is not set".to_owned(),
            }
        ),
    }
}

/// A row of the call list as rendered.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: u64,
    /// `package.Service/Method` (the method cell's title; it shows less).
    pub method: String,
    pub kind: String,
    pub status: String,
}

const ROWS_JS: &str = r#"
return Array.from(document.querySelectorAll('[data-test=call-row]')).map(r => ({
    id: Number(r.dataset.call),
    method: (r.querySelector('.method').title || r.querySelector('.method').textContent).trim(),
    kind: r.children[2].textContent.trim(),
    status: r.querySelector('[data-test=status]').textContent.trim(),
}));
"#;

pub fn parse_rows(value: &Json) -> Vec<Row> {
    value
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| Row {
                    id: r["id"].as_u64().unwrap_or(0),
                    method: r["method"].as_str().unwrap_or("").to_owned(),
                    kind: r["kind"].as_str().unwrap_or("").to_owned(),
                    status: r["status"].as_str().unwrap_or("").to_owned(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Wait until the rendered rows satisfy `ok`; returns them.
pub async fn wait_rows(browser: &Browser, what: &str, ok: impl Fn(&[Row]) -> bool) -> Vec<Row> {
    let value = browser
        .wait_js(what, ROWS_JS, vec![], |v| ok(&parse_rows(v)), WAIT)
        .await;
    parse_rows(&value)
}

pub fn row_css(id: u64) -> String {
    format!("{ROW}[data-call=\"{id}\"]")
}

/// Click call `id`'s row and wait until its detail is shown.
pub async fn select(browser: &Browser, id: u64, method: &str) {
    browser.click(&row_css(id), WAIT).await;
    browser
        .wait_js(
            &format!("call {id} selected"),
            "const r = document.querySelector('[data-test=call-row].selected'); \
             const m = document.querySelector('[data-test=detail-method]'); \
             return [r ? r.dataset.call : null, m ? m.textContent : null];",
            vec![],
            |v| v[0] == json!(id.to_string()) && v[1].as_str().is_some_and(|m| m.ends_with(method)),
            WAIT,
        )
        .await;
}

/// Open the capture file at `path` with the page's file input (as *Open…*
/// does), and wait until its `calls` calls are counted.
pub async fn open_capture(browser: &Browser, path: &std::path::Path, calls: usize) {
    let input = browser.wait_for("[data-test=open-file]", WAIT).await;
    input
        .send_keys(&path.to_string_lossy())
        .await
        .expect("choose the capture file");
    let want = format!("{calls} calls");
    browser
        .wait_until_text("[data-test=call-count]", |t| t == want, WAIT)
        .await;
}

/// Pick the option of value `value` in the `<select>` matching `css`, as
/// a user would.
pub async fn choose(browser: &Browser, css: &str, value: &str) {
    browser
        .wait_for(css, WAIT)
        .await
        .select_by_value(value)
        .await
        .unwrap_or_else(|e| panic!("cannot choose {value:?} in `{css}`: {e}"));
}

/// The text of the section under the detail's `<h3>` titled `title`.
pub async fn section_text(browser: &Browser, title: &str) -> Option<String> {
    browser
        .js(
            "const h = Array.from(document.querySelectorAll('[data-test=detail] h3'))
                 .find(h => h.textContent.trim() === arguments[0]);
             const next = h && h.nextElementSibling;
             return next ? next.innerText : null;",
            vec![json!(title)],
        )
        .await
        .as_str()
        .map(str::to_owned)
}

/// The page logged no errors (uncaught exceptions, failed loads). The
/// relay serves no favicon, and Chromium asks for one: that 404 is not the
/// inspector's.
pub async fn assert_no_console_errors(browser: &Browser) {
    let errors: Vec<String> = browser
        .console_errors()
        .await
        .into_iter()
        .filter(|e| !e.contains("/favicon.ico"))
        .collect();
    assert!(errors.is_empty(), "console errors: {errors:#?}");
}

/// Wait until the page says it is connected to a live relay.
pub async fn wait_live(browser: &Browser) {
    browser
        .wait_until_text("[data-test=conn]", |t| t.contains("live:"), WAIT)
        .await;
}
