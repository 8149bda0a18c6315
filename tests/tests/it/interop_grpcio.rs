//! Independent-implementation interop: grpcio (Python, the C-core gRPC stack)
//! through the Loom relay behaves exactly as it does direct.
//!
//! `tests/python/interop.py server` serves `loom.interop.v1.Interop`
//! (tests/python/interop.proto); `interop.py client` runs unary,
//! server-streaming, client-streaming, bidi (ping-pong) and a failing call,
//! each with compression off and with gzip, and prints a canonical JSON
//! transcript of everything it observed (messages, initial and trailing
//! metadata, status). The transcript taken direct must equal, byte for byte,
//! the one taken through the relay; and the relay's capture must show every
//! call, compressed and uncompressed messages, and the failing call's status
//! and `grpc-status-details-bin`. A second test decodes such a capture with
//! the engine (`loom_shared::engine`) and checks it against the transcript.
//!
//! Needs the venv that `scripts/setup-python.sh` creates at `target/pyenv`;
//! the test fails (it does not skip) when it is missing.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use loom_shared::pb;
use loom_tests::TestRelay;

/// How long the Python server may take to print `PORT n` (it compiles the
/// .proto with grpc_tools first).
const SERVER_START_TIMEOUT: Duration = Duration::from_secs(60);
/// Wall-clock limit for one whole `interop.py client` run.
const CLIENT_RUN_TIMEOUT: Duration = Duration::from_secs(180);
/// Per-call gRPC deadline inside `interop.py client`.
const CLIENT_CALL_DEADLINE_SECS: &str = "20";
/// How long to wait for the capture to hold every call's end.
const CAPTURE_SETTLE_TIMEOUT: Duration = Duration::from_secs(10);

const SERVICE: &str = "loom.interop.v1.Interop";
/// (method, request messages, response messages) per call, as interop.py sends them.
const METHODS: [(&str, usize, usize); 5] = [
    ("Unary", 1, 1),
    ("ServerStream", 1, 5),
    ("ClientStream", 4, 1),
    ("Bidi", 6, 6),
    ("Fail", 1, 0),
];
const FAIL_MESSAGE: &str = "loom interop: deliberate failure";

fn workspace_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    root.canonicalize().unwrap_or(root)
}

fn venv_python() -> PathBuf {
    let root = workspace_root();
    let python = root.join("target/pyenv/bin/python");
    assert!(
        python.exists(),
        "the grpcio interop test needs the Python venv at {}, which is missing.\n\
         Create it with `scripts/setup-python.sh` (run from {}), then rerun `cargo test`.",
        python.display(),
        root.display(),
    );
    python
}

fn interop_script() -> PathBuf {
    let script = workspace_root().join("tests/python/interop.py");
    assert!(script.exists(), "missing {}", script.display());
    script
}

/// The Python server; killed (and reaped) on drop. Its stdin is held open:
/// the server also exits by itself when stdin closes, so it cannot outlive
/// this test process even if the test is killed.
struct PyServer {
    child: Child,
    addr: SocketAddr,
    _stdin: Option<ChildStdin>,
    _stdout: Option<BufReader<ChildStdout>>,
}

impl PyServer {
    async fn start(python: &Path, script: &Path) -> PyServer {
        Self::start_with(python, script, &[]).await
    }

    /// With more flags (TLS).
    async fn start_with(python: &Path, script: &Path, extra: &[String]) -> PyServer {
        let mut child = Command::new(python)
            .arg(script)
            .arg("server")
            .args(extra)
            .current_dir(workspace_root())
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "spawning `{} {} server`: {e}",
                    python.display(),
                    script.display()
                )
            });
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        // From here on the guard owns the child, so any panic kills it.
        let mut server = PyServer {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            _stdin: stdin,
            _stdout: None,
        };

        // Readiness is the `PORT n` line, printed once the server listens.
        let read = tokio::task::spawn_blocking(move || {
            let mut stdout = stdout;
            let mut line = String::new();
            let n = stdout.read_line(&mut line);
            (n, line, stdout)
        });
        let (n, line, stdout) = match tokio::time::timeout(SERVER_START_TIMEOUT, read).await {
            Ok(joined) => joined.expect("reader task panicked"),
            Err(_) => panic!(
                "interop.py server printed no `PORT n` line within {SERVER_START_TIMEOUT:?} \
                 (its stderr is above)"
            ),
        };
        match n {
            Ok(0) => {
                let status = server.child.wait().ok();
                panic!(
                    "interop.py server exited ({status:?}) before printing `PORT n`; its stderr is above"
                );
            }
            Ok(_) => {}
            Err(e) => panic!("reading interop.py server stdout: {e}"),
        }
        let port: u16 = line
            .trim_end()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("interop.py server printed {line:?}, expected `PORT <n>`"));
        server.addr = SocketAddr::from(([127, 0, 0, 1], port));
        server._stdout = Some(stdout);
        server
    }
}

impl Drop for PyServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct ClientRun {
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

/// Runs `interop.py client --target <target>` to completion (killed after
/// CLIENT_RUN_TIMEOUT) on a blocking thread, leaving the runtime's workers
/// free to drive the in-process relay. Panics with the client's stderr on
/// failure.
async fn run_client(python: &Path, script: &Path, target: SocketAddr, label: &str) -> ClientRun {
    run_client_with(python, script, target, label, &[]).await
}

/// [`run_client`] with more flags (TLS).
async fn run_client_with(
    python: &Path,
    script: &Path,
    target: SocketAddr,
    label: &str,
    extra: &[String],
) -> ClientRun {
    let mut cmd = Command::new(python);
    cmd.arg(script)
        .args(["client", "--target", &target.to_string()])
        .args(extra)
        .args(["--timeout", CLIENT_CALL_DEADLINE_SECS])
        .current_dir(workspace_root())
        // Talk to exactly this target, whatever proxy the environment names.
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env_remove("grpc_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let label_owned = label.to_owned();
    let run = tokio::task::spawn_blocking(move || -> Result<ClientRun, String> {
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("spawning interop.py client: {e}"))?;
        let mut out = child.stdout.take().expect("piped stdout");
        let mut err = child.stderr.take().expect("piped stderr");
        let out_reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        });
        let err_reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() > CLIENT_RUN_TIMEOUT => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let stderr = err_reader.join().unwrap_or_default();
                    return Err(format!(
                        "interop.py client ({label_owned}) still running after {CLIENT_RUN_TIMEOUT:?}; killed.\n\
                         --- its stderr ---\n{stderr}"
                    ));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => return Err(format!("waiting for interop.py client: {e}")),
            }
        };
        let stdout = out_reader.join().unwrap_or_default();
        let stderr = err_reader.join().unwrap_or_default();
        if !status.success() {
            return Err(format!(
                "interop.py client ({label_owned}) failed: {status}\n--- its stderr ---\n{stderr}"
            ));
        }
        Ok(ClientRun {
            stdout,
            stderr,
            elapsed: started.elapsed(),
        })
    });
    match run.await.expect("client runner panicked") {
        Ok(r) => {
            if !r.stderr.trim().is_empty() {
                eprintln!("interop.py client ({label}) stderr:\n{}", r.stderr);
            }
            r
        }
        Err(msg) => panic!("{msg}"),
    }
}

fn check_transcript_shape(transcript: &str, label: &str) {
    assert!(
        transcript.contains("\"format\": \"loom-interop-transcript/1\""),
        "{label} transcript has no format marker:\n{transcript}"
    );
    for compression in ["none", "gzip"] {
        assert!(
            transcript.contains(&format!("\"compression\": \"{compression}\"")),
            "{label} transcript lacks compression {compression}"
        );
    }
    for scenario in ["unary", "server_stream", "client_stream", "bidi", "fail"] {
        assert!(
            transcript.contains(&format!("\"scenario\": \"{scenario}\"")),
            "{label} transcript lacks scenario {scenario}"
        );
    }
}

/// Panics with a diff-friendly report when the transcripts differ: the first
/// differing line with context, and both transcripts written to files.
fn assert_transcripts_equal(direct: &str, relayed: &str) {
    if direct == relayed {
        return;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("interop_grpcio");
    let _ = std::fs::create_dir_all(&dir);
    let direct_path = dir.join("direct.json");
    let relayed_path = dir.join("relayed.json");
    let _ = std::fs::write(&direct_path, direct);
    let _ = std::fs::write(&relayed_path, relayed);

    let a: Vec<&str> = direct.lines().collect();
    let b: Vec<&str> = relayed.lines().collect();
    let first = a
        .iter()
        .zip(&b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let lo = first.saturating_sub(8);
    let mut report = String::new();
    for i in lo..(first + 8).max(lo).min(a.len().max(b.len())) {
        let (x, y) = (a.get(i).copied(), b.get(i).copied());
        if x == y {
            report.push_str(&format!("  {:>5} {}\n", i + 1, x.unwrap_or("")));
        } else {
            if let Some(x) = x {
                report.push_str(&format!("- {:>5} {x}\n", i + 1));
            }
            if let Some(y) = y {
                report.push_str(&format!("+ {:>5} {y}\n", i + 1));
            }
        }
    }
    // Each call's JSON object starts with its "call": "<scenario>/<compression>" key.
    let call = a[..first.min(a.len())]
        .iter()
        .rev()
        .find_map(|l| l.trim().trim_end_matches(',').strip_prefix("\"call\": "))
        .unwrap_or("(before the first call)");
    panic!(
        "grpcio behaves differently through the relay than direct.\n\
         first difference at line {} in call {call} (- direct, + relayed; {} vs {} lines):\n{report}\n\
         full transcripts: diff -u {} {}",
        first + 1,
        a.len(),
        b.len(),
        direct_path.display(),
        relayed_path.display(),
    );
}

#[derive(Default, Debug)]
struct CapturedCall {
    path: String,
    request_headers: Vec<(String, Vec<u8>)>,
    /// (direction, compressed) per message, in capture order.
    messages: Vec<(pb::Direction, bool)>,
    ended: Option<pb::CallEnded>,
}

impl CapturedCall {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.request_headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
    fn count(&self, dir: pb::Direction) -> usize {
        self.messages.iter().filter(|(d, _)| *d == dir).count()
    }
}

fn group_calls(events: &[pb::Event]) -> (BTreeMap<u64, CapturedCall>, Vec<pb::CaptureGap>) {
    let mut calls: BTreeMap<u64, CapturedCall> = BTreeMap::new();
    let mut gaps = Vec::new();
    for ev in events {
        match &ev.kind {
            Some(pb::event::Kind::CallStarted(s)) => {
                let call = calls.entry(ev.call_id).or_default();
                call.path = s.path.clone();
                call.request_headers = s
                    .headers
                    .iter()
                    .map(|h| (h.name.clone(), h.value.to_vec()))
                    .collect();
            }
            Some(pb::event::Kind::Message(m)) => {
                calls
                    .entry(ev.call_id)
                    .or_default()
                    .messages
                    .push((m.direction(), m.compressed));
            }
            Some(pb::event::Kind::CallEnded(e)) => {
                calls.entry(ev.call_id).or_default().ended = Some(e.clone());
            }
            Some(pb::event::Kind::Gap(g)) => gaps.push(g.clone()),
            _ => {}
        }
    }
    (calls, gaps)
}

/// The capture is written asynchronously; wait (bounded) until every one of
/// the ten interop calls has ended, then return the events.
async fn settled_capture(relay: &TestRelay) -> Vec<pb::Event> {
    let deadline = Instant::now() + CAPTURE_SETTLE_TIMEOUT;
    loop {
        let events = relay.capture_events().await;
        let (calls, _) = group_calls(&events);
        let ended = calls
            .values()
            .filter(|c| c.path.starts_with(&format!("/{SERVICE}/")) && c.ended.is_some())
            .count();
        if ended >= 2 * METHODS.len() || Instant::now() > deadline {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn check_capture(events: &[pb::Event]) {
    let (calls, gaps) = group_calls(events);
    assert!(gaps.is_empty(), "capture has gaps: {gaps:?}");
    let summary: Vec<String> = calls
        .iter()
        .map(|(id, c)| {
            format!(
                "  call {id}: {} msgs={:?} status={:?}",
                c.path,
                c.messages,
                c.ended.as_ref().map(|e| e.grpc_status)
            )
        })
        .collect();
    let summary = if summary.is_empty() {
        "  (no calls captured)".to_owned()
    } else {
        summary.join("\n")
    };

    let expected_details = {
        // google.rpc.Status{code: 3, message: FAIL_MESSAGE}, as interop.py hand-encodes it.
        let mut b = vec![0x08, 3, 0x12, FAIL_MESSAGE.len() as u8];
        b.extend_from_slice(FAIL_MESSAGE.as_bytes());
        b
    };

    let mut saw_compressed = false;
    let mut saw_uncompressed = false;
    for (method, n_req, n_resp) in METHODS {
        let path = format!("/{SERVICE}/{method}");
        let these: Vec<&CapturedCall> = calls.values().filter(|c| c.path == path).collect();
        assert_eq!(
            these.len(),
            2,
            "expected 2 captured calls of {path} (compression none and gzip), got {}; capture:\n{summary}",
            these.len()
        );
        let mut modes = Vec::new();
        for call in these {
            let mode = call
                .header("x-compression")
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_else(|| {
                    panic!("{path}: captured request headers lack x-compression: {call:?}")
                });
            let gzip = match mode.as_str() {
                "gzip" => true,
                "none" => false,
                other => panic!("{path}: unexpected x-compression {other:?}"),
            };
            modes.push(mode.clone());
            if gzip {
                assert_eq!(
                    call.header("grpc-encoding"),
                    Some(&b"gzip"[..]),
                    "{path} (gzip): request grpc-encoding header not captured as gzip"
                );
            }
            assert_eq!(
                (
                    call.count(pb::Direction::Request),
                    call.count(pb::Direction::Response)
                ),
                (n_req, n_resp),
                "{path} ({mode}): captured (request, response) message counts; messages {:?}",
                call.messages
            );
            // interop.py pads every message so gzip always shrinks it, so
            // grpc core sets the compressed flag on every message of a gzip
            // call, both directions, and on none of a plain call.
            for (i, (dir, compressed)) in call.messages.iter().enumerate() {
                assert_eq!(
                    *compressed, gzip,
                    "{path} ({mode}): message {i} ({dir:?}) compressed flag is {compressed}"
                );
                saw_compressed |= *compressed;
                saw_uncompressed |= !*compressed;
            }
            let ended = call.ended.as_ref().unwrap_or_else(|| {
                panic!("{path} ({mode}): no CallEnded captured; capture:\n{summary}")
            });
            assert!(
                ended.relay_error.is_empty(),
                "{path} ({mode}): relay error {:?}",
                ended.relay_error
            );
            if method == "Fail" {
                assert_eq!(ended.grpc_status, Some(3), "{path} ({mode}): grpc_status");
                assert_eq!(
                    ended.grpc_message, FAIL_MESSAGE,
                    "{path} ({mode}): grpc_message"
                );
                assert!(
                    !ended.grpc_status_details.is_empty(),
                    "{path} ({mode}): grpc_status_details is empty"
                );
                assert_eq!(
                    &ended.grpc_status_details[..],
                    expected_details.as_slice(),
                    "{path} ({mode}): grpc_status_details bytes"
                );
            } else {
                assert_eq!(ended.grpc_status, Some(0), "{path} ({mode}): grpc_status");
            }
        }
        modes.sort();
        assert_eq!(
            modes,
            ["gzip", "none"],
            "{path}: one call per compression mode"
        );
    }
    assert!(saw_compressed, "no compressed message captured");
    assert!(saw_uncompressed, "no uncompressed message captured");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_through_relay_matches_direct() {
    let python = venv_python();
    let script = interop_script();

    let server = PyServer::start(&python, &script).await;
    eprintln!("interop.py server listening on {}", server.addr);

    let direct = run_client(&python, &script, server.addr, "direct").await;
    eprintln!(
        "direct run: {:?}, {} bytes of transcript",
        direct.elapsed,
        direct.stdout.len()
    );
    check_transcript_shape(&direct.stdout, "direct");

    let relay = TestRelay::start(server.addr).await;
    eprintln!(
        "relay on {} (ui {}) -> {}",
        relay.relay_addr, relay.ui_addr, server.addr
    );

    let relayed = run_client(&python, &script, relay.relay_addr, "through the relay").await;
    eprintln!("relayed run: {:?}", relayed.elapsed);

    assert_transcripts_equal(&direct.stdout, &relayed.stdout);

    let events = settled_capture(&relay).await;
    check_capture(&events);

    relay.shutdown().await;
    drop(server);
}

/// The same, over TLS on both hops, to a server that requires a client
/// certificate: the client trusts the relay's local CA, the relay trusts
/// the server's CA and presents its own certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_over_tls_and_mtls_through_relay_matches_direct() {
    use loom_tests::peer::Kind;
    use loom_tests::peer_tls::{ClientTls, ServerTls};
    let python = venv_python();
    let script = interop_script();
    let pki = loom_tests::pki::TestPki::new();
    let server_tls = ServerTls::new(&pki.server).require_client_cert(&pki.client_ca);
    let server = PyServer::start_with(&python, &script, &server_tls.args(Kind::Grpcio)).await;
    let direct_tls = ClientTls::trusting(&pki.ca)
        .server_name("localhost")
        .identity(&pki.client);
    let direct = run_client_with(
        &python,
        &script,
        server.addr,
        "direct over TLS",
        &direct_tls.args(Kind::Grpcio),
    )
    .await;
    check_transcript_shape(&direct.stdout, "direct over TLS");

    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = loom_relay::tls::ca::LocalCa::load_or_create(tmp.path()).expect("local CA");
    let (ca_dir, server_ca) = (tmp.path().to_owned(), pki.ca.cert.clone());
    let (cert, key) = (pki.client.cert.clone(), pki.client.key.clone());
    let upstream = server.addr;
    let relay = TestRelay::start_with(upstream, move |c| {
        c.upstream = format!("https://{upstream}").parse().expect("upstream");
        c.upstream_tls.ca = Some(server_ca);
        c.upstream_tls.identity = Some(loom_relay::config::Identity { cert, key });
        c.listen_tls.ca_dir = Some(ca_dir);
    })
    .await;
    let relayed_tls = ClientTls {
        ca: ca.cert_path(),
        server_name: Some("localhost".into()),
        identity: None,
    };
    let relayed = run_client_with(
        &python,
        &script,
        relay.relay_addr,
        "through the relay over TLS",
        &relayed_tls.args(Kind::Grpcio),
    )
    .await;
    assert_transcripts_equal(&direct.stdout, &relayed.stdout);
    let events = settled_capture(&relay).await;
    check_capture(&events);
    for event in &events {
        match &event.kind {
            Some(pb::event::Kind::CallStarted(s)) => {
                assert!(s.client_tls.is_some(), "client hop: {s:?}")
            }
            Some(pb::event::Kind::CallEnded(e)) => {
                let tls = e.upstream_tls.as_deref().expect("upstream hop");
                assert!(tls.client_certificate.is_some(), "mTLS: {tls:?}");
            }
            _ => {}
        }
    }
    relay.shutdown().await;
    drop(server);
}

/// Bytes a standard (padded) base64 string decodes to.
fn base64_len(text: &str) -> usize {
    let padding = text.bytes().rev().take_while(|&b| b == b'=').count();
    text.len() / 4 * 3 - padding
}

/// Lower-case hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// "name: value" entries as interop.py prints metadata (`-bin` values as hex).
fn canon_headers(headers: &[loom_shared::engine::HeaderView]) -> Vec<String> {
    use loom_shared::engine::HeaderValue;
    headers
        .iter()
        .filter_map(|h| match &h.value {
            HeaderValue::Text(text) => Some(format!("{}: {text}", h.name)),
            HeaderValue::Binary(bytes) => Some(format!("{}: {}", h.name, hex(bytes))),
            HeaderValue::Redacted => None,
        })
        .collect()
}

/// The capture of grpcio's calls, decoded by the engine with interop.proto
/// compiled locally, holds exactly the messages, metadata and statuses that
/// grpcio's own transcript shows (proto3 JSON both sides: grpcio's
/// `MessageToDict` is an independent implementation of the mapping), and
/// the unary request is exactly what interop.py sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_capture_decodes_to_the_values_sent() {
    use loom_shared::engine::{JsonOptions, Session};
    use serde_json::{Value, json};

    let python = venv_python();
    let script = interop_script();
    let server = PyServer::start(&python, &script).await;
    let relay = TestRelay::start(server.addr).await;
    let run = run_client(&python, &script, relay.relay_addr, "through the relay").await;
    let events = settled_capture(&relay).await;
    relay.shutdown().await;
    drop(server);

    let proto = workspace_root().join("tests/python/interop.proto");
    let schema = loom_relay::schema::load(&[], &[proto], &[]).expect("interop.proto compiles");
    let mut session = Session::from_events(events);
    session.ingest_all(schema.into_iter().map(pb::Event::descriptors));
    // MessageToDict leaves out default values.
    session.set_options(JsonOptions {
        show_defaults: false,
        unknown_fields: true,
    });

    let transcript: Value = serde_json::from_str(&run.stdout).expect("the transcript is JSON");
    let calls = transcript["calls"].as_array().expect("calls");
    assert_eq!(calls.len(), 2 * METHODS.len());
    let ids: Vec<u64> = session.calls().map(|c| c.id).collect();
    for call in calls {
        let scenario = call["scenario"].as_str().expect("scenario");
        let compression = call["compression"].as_str().expect("compression");
        let method = match scenario {
            "unary" => "Unary",
            "server_stream" => "ServerStream",
            "client_stream" => "ClientStream",
            "bidi" => "Bidi",
            "fail" => "Fail",
            other => panic!("unknown scenario {other}"),
        };
        let label = format!("{scenario}/{compression}");
        let path = format!("/{SERVICE}/{method}");
        let detail = ids
            .iter()
            .filter_map(|&id| session.detail(id))
            .find(|d| {
                *d.summary.path == *path
                    && canon_headers(&d.request_headers)
                        .contains(&format!("x-compression: {compression}"))
            })
            .unwrap_or_else(|| panic!("{label}: no captured call"));
        assert!(!detail.summary.kind_inferred, "{label}");

        // Responses, field by field.
        let want = call["responses"].as_array().expect("responses");
        let got: Vec<&Value> = detail
            .responses()
            .map(|m| {
                m.body
                    .json()
                    .unwrap_or_else(|| panic!("{label}: {:?}", m.body))
            })
            .collect();
        assert_eq!(got.len(), want.len(), "{label}");
        for (i, (got, want)) in got.iter().zip(want).enumerate() {
            let mut want = want["fields"].clone();
            let mut got = (*got).clone();
            if let Some(summary) = want.get("blob").filter(|b| b.is_object()).cloned() {
                // interop.py summarises long blobs by length and digest.
                let blob = got["blob"].as_str().expect("a blob");
                assert_eq!(
                    json!(base64_len(blob)),
                    summary["len"],
                    "{label} response {i}"
                );
                want.as_object_mut().unwrap().remove("blob");
                got.as_object_mut().unwrap().remove("blob");
            }
            assert_eq!(got, want, "{label} response {i}");
        }

        // Metadata and status.
        for (key, headers) in [
            ("initial_metadata", &detail.response_headers),
            ("trailing_metadata", &detail.trailers),
        ] {
            let have = canon_headers(headers);
            for entry in call[key].as_array().expect("metadata") {
                let entry = entry.as_str().expect("an entry");
                assert!(
                    have.iter().any(|h| h == entry),
                    "{label}: {entry} not in {have:?}"
                );
            }
        }
        let status = detail.summary.status.as_ref().expect("ended");
        assert_eq!(json!(status.name()), call["code"], "{label}");
        assert_eq!(json!(status.message), call["details"], "{label}");
        if scenario == "fail" {
            assert_eq!(
                detail.status_details.as_ref().and_then(|b| b.json()),
                Some(&json!({"code": 3, "message": FAIL_MESSAGE}))
            );
        }

        // The unary request, as interop.py builds it.
        if scenario == "unary" {
            let requests: Vec<&Value> = detail.requests().filter_map(|m| m.body.json()).collect();
            let blob: Vec<u8> = (0..=255).collect();
            let padding = "loom-interop-padding ".repeat(12);
            assert_eq!(
                requests,
                [&json!({
                    "text": format!("hello {padding}"),
                    "number": "-1099511627776",
                    "values": ["0", "1", "-1", "4611686018427387904", "-4611686018427387904"],
                    "blob": base64_of(&blob),
                    "labels": {"k1": "v1", "k2": "", "ünï": "cødé ✓"},
                })],
                "{label}"
            );
            if compression == "gzip" {
                assert!(detail.messages.iter().all(|m| m.compressed), "{label}");
            }
        }
    }
}

/// Standard padded base64 (the tests crate has no base64 dependency).
fn base64_of(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
