//! A real, headless Chromium driven through chromedriver (WebDriver), for the
//! inspector's end-to-end tests.
//!
//! [`Browser::start`] runs chromedriver on a free loopback port, waits for
//! the line saying it started (never a sleep), and opens a session with a
//! fresh profile directory. Dropping the [`Browser`] ends chromedriver (which
//! takes Chromium with it) and removes the profile; [`Browser::close`] does
//! the same politely and should end every test.
//!
//! Browser tests run one at a time: [`Browser::start`] waits for the
//! previous browser of this process to be closed, so that a few Chromiums
//! never compete for two cores (which would make timings meaningless).
//!
//! Every wait polls the DOM until a condition holds or a timeout passes, and
//! a timeout panics with what the page showed at the end.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use fantoccini::elements::Element;
use fantoccini::error::CmdError;
use fantoccini::{Client, ClientBuilder, Locator};
use http_body_util::{BodyExt, Full};
use serde_json::{Value as Json, json};
use tokio::sync::{Mutex, OwnedMutexGuard};

/// How long chromedriver may take to start, and a session to open.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between two polls of the DOM.
const POLL: Duration = Duration::from_millis(50);
/// Window size of a browser by default (the README screenshot's size too).
pub const WINDOW: (u32, u32) = (1400, 900);

/// How to start a browser; [`Options::default`] is what [`Browser::start`]
/// uses.
#[derive(Debug, Clone)]
pub struct Options {
    /// The page's viewport (and the window's size) in CSS pixels.
    pub window: (u32, u32),
    /// Prefer the dark color scheme (`prefers-color-scheme: dark`).
    pub dark: bool,
    /// More Chromium command-line switches, e.g.
    /// `--ip-address-space-overrides=127.0.0.1:PORT=public`.
    pub args: Vec<String>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            window: WINDOW,
            dark: false,
            args: Vec::new(),
        }
    }
}

const SETUP_HINT: &str = "run `scripts/setup.sh test` to install Chromium and chromedriver";

/// Only one browser per test process at a time.
fn one_at_a_time() -> Arc<Mutex<()>> {
    static LOCK: OnceLock<Arc<Mutex<()>>> = OnceLock::new();
    LOCK.get_or_init(|| Arc::new(Mutex::new(()))).clone()
}

/// The first existing file among `candidates`, or `name` found on `PATH`.
fn find_program(env: &str, candidates: &[&str], name: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        return Some(PathBuf::from(path)).filter(|p| p.is_file());
    }
    candidates
        .iter()
        .map(PathBuf::from)
        .chain(
            std::env::var_os("PATH")
                .map(|p| {
                    std::env::split_paths(&p)
                        .map(|d| d.join(name))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default(),
        )
        .find(|p| p.is_file())
}

/// A free loopback port (bound and released; chromedriver binds it next).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// chromedriver, ended (with the Chromium it started) when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// SIGTERM (chromedriver then quits Chromium), and SIGKILL for the whole
    /// process group if that does not end it soon.
    fn stop(&mut self) {
        if self.child.try_wait().ok().flatten().is_some() {
            return;
        }
        let pid = self.child.id();
        signal(&["-TERM", &pid.to_string()]);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // The group is chromedriver's own (see `Browser::start`): it and any
        // Chromium process it left behind.
        // A negative pid names the process group.
        signal(&["-KILL", "--", &format!("-{pid}")]);
        let _ = self.child.wait();
    }
}

/// `kill ARGS` (the command: no unsafe code for a signal).
fn signal(args: &[&str]) {
    let _ = Command::new("kill")
        .args(args)
        .stderr(Stdio::null())
        .status();
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A headless Chromium session. Field order is drop order: the session, then
/// chromedriver (and Chromium), then the profile directory.
pub struct Browser {
    client: Client,
    driver: Driver,
    profile: tempfile::TempDir,
    session: String,
    _turn: OwnedMutexGuard<()>,
}

impl Browser {
    /// Start chromedriver and open a headless Chromium session. Panics, naming
    /// `scripts/setup.sh test`, when either program is missing.
    pub async fn start() -> Browser {
        Browser::start_with(Options::default()).await
    }

    /// [`Browser::start`] with a window size, color scheme and switches.
    pub async fn start_with(options: Options) -> Browser {
        crate::init_tracing();
        let turn = one_at_a_time().lock_owned().await;
        let driver_path = find_program(
            "LOOM_CHROMEDRIVER",
            &["/usr/bin/chromedriver"],
            "chromedriver",
        )
        .unwrap_or_else(|| panic!("chromedriver is not installed: {SETUP_HINT}"));
        let chromium = find_program(
            "LOOM_CHROMIUM",
            &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
            "chromium",
        )
        .unwrap_or_else(|| panic!("Chromium is not installed: {SETUP_HINT}"));

        let port = free_port();
        let mut command = Command::new(&driver_path);
        command
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        // Its own process group, so that nothing it starts can outlive it.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}; {SETUP_HINT}", driver_path.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let driver = Driver { child, port };

        // Its "started successfully" line says it is listening. The thread
        // keeps reading so that chromedriver never blocks on a full pipe.
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<()>();
        let output = Arc::new(std::sync::Mutex::new(String::new()));
        let seen = output.clone();
        std::thread::spawn(move || {
            let mut ready = Some(ready_tx);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if ready.is_some() {
                    if let Ok(mut seen) = seen.lock() {
                        seen.push_str(&line);
                        seen.push('\n');
                    }
                    if line.contains("started successfully")
                        && let Some(tx) = ready.take()
                    {
                        let _ = tx.send(());
                    }
                }
            }
        });
        match tokio::time::timeout(START_TIMEOUT, ready_rx).await {
            Ok(Ok(())) => {}
            outcome => {
                let said = output.lock().map(|s| s.clone()).unwrap_or_default();
                let why = if outcome.is_err() {
                    "did not start in time"
                } else {
                    "exited"
                };
                panic!(
                    "chromedriver ({}) {why}; it said:\n{said}\n(if it is missing or broken, {SETUP_HINT})",
                    driver_path.display()
                );
            }
        }

        let profile = tempfile::Builder::new()
            .prefix("loom-chromium-")
            .tempdir()
            .expect("a profile directory");
        let mut args = vec![
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            format!("--window-size={},{}", options.window.0, options.window.1),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        if options.dark {
            args.push("--force-dark-mode".to_owned());
            args.push("--blink-settings=preferredColorScheme=0".to_owned());
        }
        args.extend(options.args);
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium.to_string_lossy(),
                "args": args,
                // Downloads (saved captures) land in the profile's downloads/.
                "prefs": {
                    "download.default_directory": profile.path().join("downloads").to_string_lossy(),
                    "download.prompt_for_download": false,
                },
            }),
        );
        caps.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let mut builder = ClientBuilder::new(connector);
        builder.capabilities(caps);
        let url = driver.url();
        let connecting = builder.connect(&url);
        let client = match tokio::time::timeout(START_TIMEOUT, connecting).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => panic!(
                "chromedriver could not start {}: {e}; {SETUP_HINT}",
                chromium.display()
            ),
            Err(_) => panic!(
                "no browser session within {START_TIMEOUT:?} ({}); {SETUP_HINT}",
                chromium.display()
            ),
        };
        let session = client
            .session_id()
            .await
            .ok()
            .flatten()
            .expect("a WebDriver session id");
        let browser = Browser {
            client,
            driver,
            profile,
            session,
            _turn: turn,
        };
        browser.set_viewport(options.window).await;
        browser
    }

    /// Make the page's viewport `width`×`height` CSS pixels (DevTools'
    /// device metrics, kept across navigations): headless Chromium's window
    /// keeps some of its height for itself, so `--window-size` alone gives
    /// the page less.
    pub async fn set_viewport(&self, (width, height): (u32, u32)) {
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
        )
        .await;
    }

    /// The WebDriver client, for anything the helpers do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Where the page's downloads land.
    pub fn downloads_dir(&self) -> std::path::PathBuf {
        self.profile.path().join("downloads")
    }

    /// The bytes of the first finished download whose name starts with
    /// `prefix` (Chromium writes `*.crdownload` until it is done).
    pub async fn download(&self, prefix: &str, timeout: Duration) -> (String, Vec<u8>) {
        let dir = self.downloads_dir();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let found = std::fs::read_dir(&dir).ok().and_then(|entries| {
                entries.filter_map(Result::ok).find_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    (name.starts_with(prefix) && !name.ends_with(".crdownload"))
                        .then_some((name, e.path()))
                })
            });
            if let Some((name, path)) = found
                && let Ok(bytes) = std::fs::read(&path)
                && !bytes.is_empty()
            {
                let _ = std::fs::remove_file(&path);
                return (name, bytes);
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no download named {prefix}* within {timeout:?} in {}",
                dir.display()
            );
            // Polling the file system for a condition, bounded by `timeout`.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Navigate and wait for the page's load event.
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    }

    /// Run `script` (a function body; `return` gives the result) in the page.
    pub async fn js(&self, script: &str, args: Vec<Json>) -> Json {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// What the page shows of itself, for failure messages: connection,
    /// notice, status bar, and the start of the page text.
    pub async fn page_state(&self) -> String {
        let state = self
            .client
            .execute(
                r#"
                const t = (s) => { const e = document.querySelector(s); return e ? e.innerText : null; };
                const body = document.body ? document.body.innerText : '';
                return JSON.stringify({
                    url: location.href,
                    conn: t('[data-test=conn]'),
                    notice: t('[data-test=notice]'),
                    calls: t('[data-test=call-count]'),
                    rows: document.querySelectorAll('[data-test=call-row]').length,
                    page: body.slice(0, 1500),
                }, null, 1);
                "#,
                vec![],
            )
            .await;
        match state {
            Ok(Json::String(s)) => s,
            Ok(other) => other.to_string(),
            Err(e) => format!("(page state unavailable: {e})"),
        }
    }

    /// Wait until an element matches `css` (WebDriver's own polling).
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> Element {
        match self
            .client
            .wait()
            .at_most(timeout)
            .every(POLL)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => panic!(
                "no `{css}` within {timeout:?} ({e}); the page:\n{}",
                self.page_state().await
            ),
        }
    }

    /// The rendered text of the first element matching `css`, if any.
    pub async fn text_of(&self, css: &str) -> Option<String> {
        let text = self
            .js(
                "const e = document.querySelector(arguments[0]); return e ? e.innerText : null;",
                vec![json!(css)],
            )
            .await;
        text.as_str().map(str::to_owned)
    }

    /// Wait until the first element matching `css` exists and its text
    /// satisfies `ok`; returns that text.
    pub async fn wait_until_text(
        &self,
        css: &str,
        ok: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> String {
        let deadline = Instant::now() + timeout;
        let mut last = None;
        loop {
            let text = self.text_of(css).await;
            if let Some(t) = &text
                && ok(t)
            {
                return t.clone();
            }
            last = text.or(last);
            if Instant::now() >= deadline {
                panic!(
                    "`{css}` never had the expected text within {timeout:?}; last: {last:?}; the page:\n{}",
                    self.page_state().await
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Poll `script` until `ok` accepts its result; returns that result.
    /// `what` describes the condition for the failure message.
    pub async fn wait_js(
        &self,
        what: &str,
        script: &str,
        args: Vec<Json>,
        ok: impl Fn(&Json) -> bool,
        timeout: Duration,
    ) -> Json {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.js(script, args.clone()).await;
            if ok(&value) {
                return value;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{what}: not within {timeout:?}; last result: {value}; the page:\n{}",
                    self.page_state().await
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// How many elements match `css`.
    pub async fn count(&self, css: &str) -> usize {
        self.js(
            "return document.querySelectorAll(arguments[0]).length;",
            vec![json!(css)],
        )
        .await
        .as_u64()
        .unwrap_or(0) as usize
    }

    /// Click the element matching `css` like a user (WebDriver click), finding
    /// it again if the page re-rendered it in between.
    pub async fn click(&self, css: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let element = self
                .wait_for(css, deadline.saturating_duration_since(Instant::now()))
                .await;
            match element.click().await {
                Ok(()) => return,
                Err(CmdError::Standard(e))
                    if Instant::now() < deadline
                        && matches!(
                            e.error,
                            fantoccini::error::ErrorStatus::StaleElementReference
                                | fantoccini::error::ErrorStatus::NoSuchElement
                                | fantoccini::error::ErrorStatus::ElementClickIntercepted
                        ) =>
                {
                    tokio::time::sleep(POLL).await;
                }
                Err(e) => panic!(
                    "cannot click `{css}`: {e}; the page:\n{}",
                    self.page_state().await
                ),
            }
        }
    }

    /// Save a PNG of the window to `path` (creating its directory).
    pub async fn screenshot(&self, path: &Path) {
        let png = self.client.screenshot().await.expect("a screenshot");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("the screenshot's directory");
        }
        std::fs::write(path, png)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }

    /// The browser's console messages at level SEVERE (errors, uncaught
    /// exceptions, failed loads) since the last call. Chromium hands each
    /// entry out once.
    pub async fn console_errors(&self) -> Vec<String> {
        let entries = self.browser_log().await;
        entries
            .iter()
            .filter(|e| e["level"] == "SEVERE")
            .filter_map(|e| e["message"].as_str().map(str::to_owned))
            .collect()
    }

    /// chromedriver's `se/log` for the browser (not part of W3C WebDriver,
    /// so it is asked directly).
    async fn browser_log(&self) -> Vec<Json> {
        let value = self
            .driver_post("se/log", json!({ "type": "browser" }))
            .await;
        match value.get("value") {
            Some(Json::Array(entries)) => entries.clone(),
            _ => panic!("chromedriver gave no console log: {value}"),
        }
    }

    /// Run a DevTools protocol command (e.g. `Browser.grantPermissions`)
    /// through chromedriver; returns its result.
    pub async fn cdp(&self, cmd: &str, params: Json) -> Json {
        let value = self
            .driver_post("goog/cdp/execute", json!({ "cmd": cmd, "params": params }))
            .await;
        if let Some(error) = value["value"].get("error") {
            panic!(
                "DevTools command {cmd} failed: {error}: {}",
                value["value"]["message"]
            );
        }
        value["value"].clone()
    }

    /// POST `body` to chromedriver's `/session/{id}/{what}` (commands that
    /// are not W3C WebDriver, so fantoccini does not know them).
    async fn driver_post(&self, what: &str, body: Json) -> Json {
        let url = format!("{}/session/{}/{what}", self.driver.url(), self.session);
        let client: hyper_util::client::legacy::Client<_, Full<Bytes>> =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(hyper_util::client::legacy::connect::HttpConnector::new());
        let request = http::Request::post(&url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .expect("a chromedriver request");
        let response = client
            .request(request)
            .await
            .unwrap_or_else(|e| panic!("cannot reach chromedriver for {what}: {e}"));
        let body = response
            .into_body()
            .collect()
            .await
            .unwrap_or_else(|e| panic!("chromedriver's answer to {what}: {e}"))
            .to_bytes();
        serde_json::from_slice(&body).unwrap_or_else(|_| {
            panic!(
                "chromedriver's answer to {what} is not JSON: {}",
                String::from_utf8_lossy(&body)
            )
        })
    }

    /// End the session (Chromium quits), then chromedriver.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(10), self.client.clone().close()).await;
        self.driver.stop();
    }
}

/// The page URL of a UI served at `addr`.
pub fn ui_url(addr: SocketAddr) -> String {
    format!("http://{addr}/")
}
