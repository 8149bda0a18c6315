//! `loom-search-bench`: how the inspector copes with big captures, in real
//! headless Chromium. Run by `scripts/bench-search.sh`; read its table with
//! `docs/performance-inspector.md`.
//!
//! For each size (default 100,000 and 1,000,000 calls) it writes a
//! synthetic capture (`loom_tests::captures::synthetic`), opens it in the
//! inspector (the bundle in `LOOM_WEB_DIST`, served as static files), and
//! measures:
//! - `open`: from choosing the file until every call is counted and the
//!   loading bar is gone;
//! - each query of [`QUERIES`], entered as with Enter (no debounce), from
//!   the `change` event until the search has answered and the next frame
//!   was drawn; the first query also builds the search index;
//! - the CPU time the tab (the renderer process) used for each step, which
//!   a busy machine does not inflate the way it does wall time;
//! - the tab's memory after each step: the renderer process's resident set
//!   now and at its peak (`/proc`), and the JS heap (DevTools'
//!   `Runtime.getHeapUsage`; the WASM memory is not in it).
//!
//! Usage: `loom-search-bench [CALLS...]`; `loom-search-bench write CALLS
//! FILE` to only write the capture (for profiling elsewhere); or
//! `loom-search-bench open FILE` to open a capture natively, with the
//! inspector's engine and chunking but no browser, and print where the time
//! and the memory go (reading the records, keeping them, indexing them for
//! search): the quick loop for making opening cheaper, and what `perf`
//! profiles. A benchmark, not a test: it measures and prints, it asserts
//! nothing.

use std::time::{Duration, Instant};

use loom_tests::browser::{Browser, Options};
use loom_tests::captures;
use loom_tests::inspector::dist_dir;
use loom_tests::static_files::StaticFiles;
use serde_json::{Value as Json, json};

/// What is searched for, and what it finds: (label, query).
const QUERIES: &[(&str, &str)] = &[
    ("payload, 1 hit (builds the index)", "\"request 12345\""),
    ("header value, 1 hit", "req-00054321"),
    ("status message, 10% hit", "out of stock"),
    ("payload, 11 hits", "reply 9999"),
    ("no hit", "no such text"),
];

/// The longest one step may take before the benchmark gives up.
const STEP_TIMEOUT: Duration = Duration::from_secs(300);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [open, file] = args.as_slice()
        && open == "open"
    {
        native::open(std::path::Path::new(file));
        return;
    }
    if let [write, calls, file] = args.as_slice()
        && write == "write"
    {
        let calls: u64 = calls
            .replace(['_', ','], "")
            .parse()
            .expect("CALLS is a number");
        std::fs::write(file, captures::synthetic(calls)).expect("write the capture");
        return;
    }
    let sizes: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.replace(['_', ','], "").parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![100_000, 1_000_000]
    } else {
        sizes
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let dist = dist_dir();
        let server = StaticFiles::serve(&dist).await;
        println!("| calls | file | step | time | tab CPU | tab RSS | tab peak RSS | JS heap |");
        println!("|---:|---:|---|---:|---:|---:|---:|---:|");
        for calls in sizes {
            bench(&server, calls).await;
        }
        server.stop().await;
    });
}

async fn bench(server: &StaticFiles, calls: u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join(format!("synthetic-{calls}.loom"));
    let bytes = captures::synthetic(calls);
    let size = format!("{:.0} MB", bytes.len() as f64 / 1e6);
    std::fs::write(&file, &bytes).expect("write the capture");
    drop(bytes);

    let browser = Browser::start_with(Options::default()).await;
    browser.goto(&server.url("/")).await;
    let input = browser
        .wait_for("[data-test=open-file]", STEP_TIMEOUT)
        .await;
    let cpu = renderer(&browser).map_or(0, |r| r.cpu_ms);
    let began = Instant::now();
    input
        .send_keys(&file.to_string_lossy())
        .await
        .expect("choose the capture file");
    let counted = format!("{calls} calls");
    browser
        .wait_js(
            "the capture opened",
            "const c = document.querySelector('[data-test=call-count]');
             const loading = document.querySelector('.statusbar progress');
             return c && c.textContent === arguments[0] && !loading;",
            vec![json!(counted)],
            |v| v == &json!(true),
            STEP_TIMEOUT,
        )
        .await;
    let open = began.elapsed();
    row(&browser, calls, &size, "open", open, cpu).await;

    for (label, query) in QUERIES {
        let cpu = renderer(&browser).map_or(0, |r| r.cpu_ms);
        let ms = search(&browser, query).await;
        let took = Duration::from_secs_f64(ms / 1e3);
        row(&browser, calls, &size, label, took, cpu).await;
    }
    browser.close().await;
}

/// Enter `query` as with Enter; milliseconds until it answered and the
/// next frame was drawn (timed in the page).
async fn search(browser: &Browser, query: &str) -> f64 {
    let script = "
        const [query, done] = [arguments[0], arguments[arguments.length - 1]];
        const el = document.querySelector('[data-test=search]');
        const before = el.dataset.searches;
        const began = performance.now();
        new MutationObserver((_, observer) => {
            if (el.dataset.searches === before) return;
            observer.disconnect();
            requestAnimationFrame(() => done(performance.now() - began));
        }).observe(el, { attributes: true, attributeFilter: ['data-searches'] });
        el.value = query;
        el.dispatchEvent(new Event('change', { bubbles: true }));";
    let answer = tokio::time::timeout(
        STEP_TIMEOUT,
        browser.client().execute_async(script, vec![json!(query)]),
    )
    .await;
    match answer {
        Ok(Ok(Json::Number(ms))) => ms.as_f64().unwrap_or(f64::NAN),
        other => panic!("search for {query:?} did not answer: {other:?}"),
    }
}

async fn row(browser: &Browser, calls: u64, size: &str, step: &str, took: Duration, cpu: u64) {
    let heap = browser.cdp("Runtime.getHeapUsage", json!({})).await;
    let heap = heap["usedSize"].as_f64().unwrap_or(0.0);
    let tab = renderer(browser);
    let mib = |kb: u64| format!("{} MiB", kb / 1024);
    let (cpu, rss, peak) = tab.map_or_else(
        || ("?".to_owned(), "?".to_owned(), "?".to_owned()),
        |t| {
            (
                format!("{} ms", t.cpu_ms.saturating_sub(cpu)),
                mib(t.rss_kb),
                mib(t.peak_kb),
            )
        },
    );
    println!(
        "| {calls} | {size} | {step} | {:.0} ms | {cpu} | {rss} | {peak} | {:.0} MiB |",
        took.as_secs_f64() * 1e3,
        heap / 1048576.0
    );
}

/// The tab: the renderer process of a browser.
struct Renderer {
    /// CPU time used so far (user and system, every thread).
    cpu_ms: u64,
    /// Resident set now.
    rss_kb: u64,
    /// Resident set at its peak.
    peak_kb: u64,
}

/// The renderer of `browser` (the largest `--type=renderer` process of the
/// Chromium whose profile holds its downloads directory), from `/proc`.
fn renderer(browser: &Browser) -> Option<Renderer> {
    let downloads = browser.downloads_dir();
    let profile = downloads.parent()?.to_string_lossy().into_owned();
    // (pid, ppid, cpu ms, command line)
    let procs: Vec<(u32, u32, u64, String)> = std::fs::read_dir("/proc")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // `pid (comm) state ppid ...`: the comm may hold spaces.
            let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
            let ppid = fields.get(1)?.parse().ok()?;
            let ticks: u64 =
                fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
            // Clock ticks are 10 ms on Linux (USER_HZ = 100).
            Some((pid, ppid, ticks * 10, cmdline))
        })
        .collect();
    let root = procs
        .iter()
        .find(|p| p.3.contains(&profile) && !p.3.contains("--type="))?
        .0;
    let descends = |mut pid: u32| {
        for _ in 0..16 {
            if pid == root {
                return true;
            }
            match procs.iter().find(|p| p.0 == pid) {
                Some(p) => pid = p.1,
                None => return false,
            }
        }
        false
    };
    procs
        .iter()
        .filter(|p| p.3.contains("--type=renderer") && descends(p.0))
        .filter_map(|p| {
            let status = std::fs::read_to_string(format!("/proc/{}/status", p.0)).ok()?;
            let field = |name: &str| -> Option<u64> {
                status
                    .lines()
                    .find(|l| l.starts_with(name))?
                    .split_whitespace()
                    .nth(1)?
                    .parse()
                    .ok()
            };
            Some(Renderer {
                cpu_ms: p.2,
                rss_kb: field("VmRSS:")?,
                peak_kb: field("VmHWM:")?,
            })
        })
        .max_by_key(|r| r.rss_kb)
}

/// Opening a capture without a browser: the same engine, the same chunks.
mod native {
    use std::time::{Duration, Instant};

    use loom_shared::capture::StreamDecoder;
    use loom_shared::engine::{Search, Session};

    /// The inspector's chunk (`web/src/files.rs`).
    const CHUNK: usize = 4 << 20;

    /// This process's resident set, in bytes (`/proc/self/statm`).
    fn resident() -> u64 {
        std::fs::read_to_string("/proc/self/statm")
            .ok()
            .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
            .map_or(0, |pages| pages * 4096)
    }

    fn timed<T>(total: &mut Duration, f: impl FnOnce() -> T) -> T {
        let began = Instant::now();
        let out = f();
        *total += began.elapsed();
        out
    }

    pub(crate) fn open(file: &std::path::Path) {
        let bytes = std::fs::read(file).expect("read the capture");
        let before = resident();
        let (mut read, mut keep, mut index) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
        let mut decoder = StreamDecoder::new();
        let mut session = Session::new();
        for chunk in bytes.chunks(CHUNK) {
            // The page copies each chunk into WASM memory.
            let chunk = timed(&mut read, || chunk.to_vec());
            let events = timed(&mut read, || decoder.push(&chunk)).expect("a readable capture");
            timed(&mut keep, || session.ingest_all(events));
        }
        decoder.finish().expect("a complete capture");
        let opened = resident().saturating_sub(before);
        let hits = timed(&mut index, || {
            let mut search = Search::new("\"request 12345\"");
            while !search.step(&mut session, 100_000) {}
            search.hits().len()
        });
        let indexed = resident().saturating_sub(before);
        let calls = session.len().max(1) as u64;
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!("{} calls, {} MB", session.len(), bytes.len() / 1_000_000);
        println!("  read (decode the records): {:.0} ms", ms(read));
        println!("  keep (Session::ingest):    {:.0} ms", ms(keep));
        println!(
            "  index (first search):      {:.0} ms, {hits} hit",
            ms(index)
        );
        println!(
            "  resident: +{} MiB open ({} B a call), +{} MiB indexed",
            opened >> 20,
            opened / calls,
            indexed >> 20
        );
    }
}
