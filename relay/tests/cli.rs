//! End-to-end tests of the `loom` binary: its flags and their error messages,
//! start-up failures, and the `--record` file across `kill -9`, SIGTERM and
//! the redaction flags.
//!
//! Every relay listens on `127.0.0.1:0` and is found through the addresses it
//! logs when it is ready; every wait has a deadline.

use std::io::{BufRead as _, BufReader, Read, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use loom_shared::capture::{Capture, read_capture};
use loom_shared::pb::{self, event::Kind};
use tokio::net::TcpStream;

const LOOM: &str = env!("CARGO_BIN_EXE_loom");
/// Until the relay logs that it is ready.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Until a process exits (on its own, or after a signal).
const EXIT_TIMEOUT: Duration = Duration::from_secs(15);
/// For a whole batch of gRPC calls.
const CALLS_TIMEOUT: Duration = Duration::from_secs(20);
/// Until the record file holds the events a test waits for.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(10);

const SECRET: &str = "Bearer secret";

// ---------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------

/// `loom` with a clean environment for its flags: no inherited `LOOM_*`,
/// info logging, no colours.
fn loom() -> Command {
    let mut cmd = Command::new(LOOM);
    for (key, _) in std::env::vars_os() {
        if key.to_str().is_some_and(|k| k.starts_with("LOOM_")) {
            cmd.env_remove(key);
        }
    }
    cmd.env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    cmd
}

/// Removes ANSI escape sequences (`ESC [ ... final-byte`), in case the
/// subscriber colours its output despite `NO_COLOR`.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Waits for `child` to exit, for at most `limit`; kills it and panics past that.
fn wait_exit(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait on loom") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("process {} did not exit within {limit:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn drain(mut from: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = from.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

#[derive(Debug)]
struct Finished {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Finished {
    fn stderr_lines(&self) -> Vec<&str> {
        self.stderr.lines().collect()
    }
}

/// Runs `cmd` to completion (bounded by [`EXIT_TIMEOUT`]).
fn run_to_exit(mut cmd: Command) -> Finished {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn loom");
    let stdout = drain(child.stdout.take().expect("stdout"));
    let stderr = drain(child.stderr.take().expect("stderr"));
    let status = wait_exit(&mut child, EXIT_TIMEOUT);
    Finished {
        status,
        stdout: strip_ansi(&stdout.join().expect("stdout reader")),
        stderr: strip_ansi(&stderr.join().expect("stderr reader")),
    }
}

/// A running relay. Dropping it kills the process.
struct Relay {
    child: Child,
    /// Where gRPC clients connect, as logged.
    addr: SocketAddr,
    /// The upstream, as logged (`http://host:port`).
    upstream: String,
    /// Every stderr line so far, ANSI-stripped.
    log: Arc<Mutex<Vec<String>>>,
}

impl Relay {
    /// Starts `loom` with `args` on ephemeral ports and waits until it logs
    /// that it is relaying.
    fn start(args: &[&str]) -> Relay {
        let mut cmd = loom();
        cmd.args(["--listen", "127.0.0.1:0", "--ui", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn loom");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        std::thread::spawn({
            let log = log.clone();
            move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    let line = strip_ansi(&line);
                    lock(&log).push(line.clone());
                    // The receiver is gone once the relay is ready; keep draining.
                    let _ = tx.send(line);
                }
            }
        });
        let mut relay = Relay {
            child,
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            upstream: String::new(),
            log,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some((addr, upstream, _ui)) = parse_ready(&line) {
                        relay.addr = addr;
                        relay.upstream = upstream;
                        return relay;
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!(
                    "loom did not log readiness within {START_TIMEOUT:?}; stderr:\n{}",
                    relay.log_text()
                ),
                Err(RecvTimeoutError::Disconnected) => {
                    let status = wait_exit(&mut relay.child, EXIT_TIMEOUT);
                    panic!(
                        "loom exited ({status}) before it was ready; stderr:\n{}",
                        relay.log_text()
                    );
                }
            }
        }
    }

    fn log_text(&self) -> String {
        lock(&self.log).join("\n")
    }

    fn sigterm(&self) {
        let mut kill = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .spawn()
            .expect("spawn kill");
        let status = wait_exit(&mut kill, EXIT_TIMEOUT);
        assert!(status.success(), "kill -TERM failed: {status}");
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `... relaying gRPC from <ADDR> to <UPSTREAM>; inspector at http://<UI>/`
fn parse_ready(line: &str) -> Option<(SocketAddr, String, SocketAddr)> {
    let rest = line.split_once("relaying gRPC from ")?.1;
    let (addr, rest) = rest.split_once(" to ")?;
    let (upstream, rest) = rest.split_once("; inspector at http://")?;
    let ui = rest.split_once('/')?.0;
    Some((addr.parse().ok()?, upstream.to_owned(), ui.parse().ok()?))
}

/// A loopback port that refuses connections for as long as it lives: bound
/// but never listening. A port bound and released instead can come back from
/// the OS as the relay's own UI port, and the "dead" upstream then answers.
struct DeadUpstream {
    _socket: tokio::net::TcpSocket,
    addr: SocketAddr,
}

impl DeadUpstream {
    fn addr(&self) -> SocketAddr {
        self.addr
    }
}

fn dead_upstream() -> DeadUpstream {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .expect("bind");
    let addr = socket.local_addr().expect("local_addr");
    DeadUpstream {
        _socket: socket,
        addr,
    }
}

// ---------------------------------------------------------------------------
// gRPC over a raw HTTP/2 connection
// ---------------------------------------------------------------------------

#[derive(Debug)]
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    trailers: Option<HeaderMap>,
}

fn grpc_frame(payload: &[u8]) -> Bytes {
    let mut v = Vec::with_capacity(payload.len() + 5);
    v.push(0);
    v.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
    v.extend_from_slice(payload);
    v.into()
}

/// Makes `n` unary calls to `/pkg.Svc/Method`, one after the other on one
/// HTTP/2 connection, each with one DATA frame and the extra `headers`.
fn grpc_calls(addr: SocketAddr, n: u8, headers: &[(&str, &str)]) -> Vec<Reply> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        tokio::time::timeout(CALLS_TIMEOUT, async {
            let tcp = TcpStream::connect(addr)
                .await
                .expect("connect to the relay");
            let (mut send, conn) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
                    .await
                    .expect("HTTP/2 handshake with the relay");
            tokio::spawn(conn);
            let mut replies = Vec::new();
            for i in 0..n {
                let mut req = Request::post(format!("http://{addr}/pkg.Svc/Method"))
                    .header("content-type", "application/grpc")
                    .header("te", "trailers");
                for (name, value) in headers {
                    req = req.header(*name, *value);
                }
                let req = req.body(Full::new(grpc_frame(&[i; 3]))).expect("request");
                send.ready().await.expect("connection ready");
                let res = send.send_request(req).await.expect("response");
                let (parts, body) = res.into_parts();
                let collected = body.collect().await.expect("response body");
                let trailers = collected.trailers().cloned();
                replies.push(Reply {
                    status: parts.status,
                    headers: parts.headers,
                    body: collected.to_bytes(),
                    trailers,
                });
            }
            replies
        })
        .await
        .unwrap_or_else(|_| panic!("{n} calls did not finish within {CALLS_TIMEOUT:?}"))
    })
}

/// The relay's answer when the upstream is down: trailers-only UNAVAILABLE
/// whose message names the upstream.
fn assert_unavailable(reply: &Reply, upstream: SocketAddr) {
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(
        reply.headers.get("grpc-status").map(|v| v.as_bytes()),
        Some(&b"14"[..]),
        "{reply:?}"
    );
    assert!(reply.body.is_empty(), "{reply:?}");
    assert!(
        reply.trailers.is_none(),
        "trailers-only: no separate trailers: {reply:?}"
    );
    let message = reply
        .headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .map(loom_shared::header::percent_decode_grpc_message)
        .unwrap_or_default();
    assert!(
        message.contains(&upstream.to_string()),
        "grpc-message should name {upstream}: {message:?}"
    );
}

// ---------------------------------------------------------------------------
// Record files
// ---------------------------------------------------------------------------

fn read_record(path: &Path) -> Capture {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    read_capture(&bytes).unwrap_or_else(|e| panic!("{} does not read: {e}", path.display()))
}

fn started(capture: &Capture) -> Vec<(u64, &pb::CallStarted)> {
    capture
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            Some(Kind::CallStarted(s)) => Some((e.call_id, s)),
            _ => None,
        })
        .collect()
}

fn ended(capture: &Capture) -> Vec<(u64, &pb::CallEnded)> {
    capture
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            Some(Kind::CallEnded(s)) => Some((e.call_id, s)),
            _ => None,
        })
        .collect()
}

/// Re-reads the record file until it holds `n` CallEnded events (the
/// recorder flushes each call's end, asynchronously).
fn wait_for_call_ends(path: &Path, n: usize) -> Capture {
    let deadline = Instant::now() + FLUSH_TIMEOUT;
    loop {
        let capture = read_record(path);
        let got = ended(&capture).len();
        assert!(got <= n, "more calls ended than were made: {got} > {n}");
        if got == n {
            return capture;
        }
        assert!(
            Instant::now() < deadline,
            "{} holds {got} of {n} CallEnded events after {FLUSH_TIMEOUT:?}: {capture:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn header<'a>(headers: &'a [pb::Header], name: &str) -> &'a pb::Header {
    let mut found = headers.iter().filter(|h| h.name == name);
    let first = found
        .next()
        .unwrap_or_else(|| panic!("no {name} header in {headers:?}"));
    assert!(found.next().is_none(), "{name} appears twice: {headers:?}");
    first
}

fn assert_redacted(headers: &[pb::Header], name: &str) {
    let h = header(headers, name);
    assert!(
        h.redacted && h.value.is_empty(),
        "{name} should be redacted: {h:?}"
    );
}

fn assert_kept(headers: &[pb::Header], name: &str, value: &str) {
    let h = header(headers, name);
    assert!(
        !h.redacted && h.value == value.as_bytes(),
        "{name} should be kept as {value:?}: {h:?}"
    );
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[test]
fn help_documents_every_flag_and_env_twin() {
    let mut cmd = loom();
    cmd.arg("--help");
    let out = run_to_exit(cmd);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stderr, "", "{out:?}");
    let flags = [
        ("--listen", "LOOM_LISTEN"),
        ("--upstream", "LOOM_UPSTREAM"),
        ("--ui", "LOOM_UI"),
        ("--record", "LOOM_RECORD"),
        ("--max-capture-bytes", "LOOM_MAX_CAPTURE_BYTES"),
        ("--allow-origin", "LOOM_ALLOW_ORIGIN"),
        ("--redact-header", "LOOM_REDACT_HEADER"),
        ("--keep-secrets", "LOOM_KEEP_SECRETS"),
        ("--shutdown-grace", "LOOM_SHUTDOWN_GRACE"),
        ("--upstream-ca", "LOOM_UPSTREAM_CA"),
        ("--upstream-insecure", "LOOM_UPSTREAM_INSECURE"),
        ("--upstream-cert", "LOOM_UPSTREAM_CERT"),
        ("--upstream-server-name", "LOOM_UPSTREAM_SERVER_NAME"),
        ("--listen-tls-only", "LOOM_LISTEN_TLS_ONLY"),
        ("--listen-cert", "LOOM_LISTEN_CERT"),
        ("--ca-dir", "LOOM_CA_DIR"),
    ];
    for (flag, env) in flags {
        assert!(
            out.stdout.contains(&format!("{flag} ")) || out.stdout.contains(&format!("{flag}\n")),
            "--help does not document {flag}:\n{}",
            out.stdout
        );
        assert!(
            out.stdout.contains(&format!("[env: {env}")),
            "--help does not mention {env}:\n{}",
            out.stdout
        );
    }
}

#[test]
fn bad_flag_values_give_one_line_and_exit_2() {
    let cases: &[(&[&str], &[&str])] = &[
        (&["--listen", "nope"], &["--listen", "nope"]),
        (
            &["--upstream", "ftp://x:1"],
            &["ftp://x:1", "https://host:port"],
        ),
        (&["--upstream-cert", "c.pem"], &["--upstream-key"]),
        (&["--upstream", "localhost"], &["localhost", "no port"]),
        (
            &["--max-capture-bytes", "12parsecs"],
            &["--max-capture-bytes", "parsecs"],
        ),
        (
            &["--allow-origin", "example.com"],
            &["--allow-origin", "example.com", "scheme://host"],
        ),
        (&["--frobnicate"], &["--frobnicate"]),
    ];
    for (args, expected) in cases {
        let mut cmd = loom();
        // Should a bad value be accepted after all, don't take real ports.
        for flag in ["--listen", "--ui"] {
            if !args.contains(&flag) {
                cmd.args([flag, "127.0.0.1:0"]);
            }
        }
        cmd.args(*args);
        let out = run_to_exit(cmd);
        check_usage_error(&out, &format!("{args:?}"), expected);
    }

    let mut cmd = loom();
    cmd.args(["--listen", "127.0.0.1:0", "--ui", "127.0.0.1:0"])
        .env("LOOM_UPSTREAM", "garbage::");
    let out = run_to_exit(cmd);
    check_usage_error(
        &out,
        "LOOM_UPSTREAM=garbage::",
        &["garbage::", "--upstream"],
    );
}

fn check_usage_error(out: &Finished, case: &str, expected: &[&str]) {
    assert_eq!(out.status.code(), Some(2), "{case}: {out:?}");
    assert_eq!(out.stdout, "", "{case}: {out:?}");
    let lines = out.stderr_lines();
    assert_eq!(
        lines.len(),
        1,
        "{case}: expected one line on stderr: {:?}",
        out.stderr
    );
    for text in expected {
        assert!(
            lines[0].contains(text),
            "{case}: {:?} should mention {text:?}",
            lines[0]
        );
    }
}

#[test]
fn record_refuses_an_existing_file_and_leaves_it_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("rec.loom");
    let original = b"not a capture, and precious".to_vec();
    std::fs::write(&path, &original).expect("write");
    let dead = dead_upstream();
    let upstream = dead.addr().to_string();
    let mut cmd = loom();
    cmd.args(["--listen", "127.0.0.1:0", "--ui", "127.0.0.1:0"])
        .args(["--upstream", &upstream])
        .arg("--record")
        .arg(&path);
    let out = run_to_exit(cmd);
    assert!(!out.status.success(), "{out:?}");
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 1, "one message expected: {:?}", out.stderr);
    assert!(
        lines[0].contains(&path.display().to_string()) && lines[0].contains("already exists"),
        "the message should name {}: {:?}",
        path.display(),
        lines[0]
    );
    assert_eq!(std::fs::read(&path).expect("read"), original);
}

#[test]
fn taken_port_is_a_clear_error() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("local_addr").to_string();
    let dead = dead_upstream();
    let upstream = dead.addr().to_string();
    for (flag, other) in [("--listen", "--ui"), ("--ui", "--listen")] {
        let mut cmd = loom();
        cmd.args([flag, &addr, other, "127.0.0.1:0", "--upstream", &upstream]);
        let out = run_to_exit(cmd);
        assert!(!out.status.success(), "{flag}: {out:?}");
        let lines = out.stderr_lines();
        assert_eq!(
            lines.len(),
            1,
            "{flag}: one message expected: {:?}",
            out.stderr
        );
        assert!(
            lines[0].contains(&addr) && lines[0].contains(flag),
            "{flag}: the message should name {addr} and {flag}: {:?}",
            lines[0]
        );
    }
    drop(taken);
}

#[test]
fn record_survives_kill_9() {
    const CALLS: u8 = 5;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("rec.loom");
    let dead = dead_upstream();
    let upstream = dead.addr();
    let mut relay = Relay::start(&[
        "--record",
        path.to_str().expect("utf-8 path"),
        "--upstream",
        &upstream.to_string(),
    ]);
    assert_eq!(relay.upstream, format!("http://{upstream}"));

    let replies = grpc_calls(relay.addr, CALLS, &[("authorization", SECRET)]);
    assert_eq!(replies.len(), usize::from(CALLS));
    for reply in &replies {
        assert_unavailable(reply, upstream);
    }
    wait_for_call_ends(&path, usize::from(CALLS));

    relay.child.kill().expect("SIGKILL");
    let status = wait_exit(&mut relay.child, EXIT_TIMEOUT);
    assert_eq!(status.signal(), Some(9), "{status}");

    let capture = read_record(&path);
    let started = started(&capture);
    let ended = ended(&capture);
    assert_eq!(started.len(), usize::from(CALLS), "{capture:?}");
    assert_eq!(ended.len(), usize::from(CALLS), "{capture:?}");
    let mut ids: Vec<u64> = started.iter().map(|(id, _)| *id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), usize::from(CALLS), "call ids must be distinct");
    for (id, call) in &started {
        assert_eq!(call.path, "/pkg.Svc/Method");
        assert_eq!(call.upstream, format!("http://{upstream}"));
        assert_redacted(&call.headers, "authorization");
        assert!(
            ended.iter().any(|(end_id, _)| end_id == id),
            "call {id} has no end"
        );
    }
    for (id, end) in &ended {
        assert_eq!(end.grpc_status, Some(14), "call {id}: {end:?}");
        assert!(end.trailers_only, "call {id}: {end:?}");
        assert!(
            end.relay_error.contains(&upstream.to_string()),
            "call {id}: relay_error should name {upstream}: {:?}",
            end.relay_error
        );
    }
}

#[test]
fn sigterm_shuts_down_cleanly_with_a_complete_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("rec.loom");
    let dead = dead_upstream();
    let upstream = dead.addr();
    let mut relay = Relay::start(&[
        "--record",
        path.to_str().expect("utf-8 path"),
        "--upstream",
        &upstream.to_string(),
    ]);
    let replies = grpc_calls(relay.addr, 1, &[]);
    assert_unavailable(&replies[0], upstream);

    let asked = Instant::now();
    relay.sigterm();
    let status = wait_exit(&mut relay.child, EXIT_TIMEOUT);
    assert!(
        status.success(),
        "{status} after SIGTERM; stderr:\n{}",
        relay.log_text()
    );
    eprintln!("loom exited {:?} after SIGTERM", asked.elapsed());

    let capture = read_record(&path);
    assert_eq!(
        capture.truncated, None,
        "the file must end at a record boundary"
    );
    assert_eq!(started(&capture).len(), 1, "{capture:?}");
    let ended = ended(&capture);
    assert_eq!(ended.len(), 1, "{capture:?}");
    assert_eq!(ended[0].1.grpc_status, Some(14));
}

#[test]
fn keep_secrets_keeps_authorization_in_the_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("rec.loom");
    let dead = dead_upstream();
    let upstream = dead.addr();
    let relay = Relay::start(&[
        "--record",
        path.to_str().expect("utf-8 path"),
        "--upstream",
        &upstream.to_string(),
        "--keep-secrets",
    ]);
    let replies = grpc_calls(relay.addr, 1, &[("authorization", SECRET)]);
    assert_unavailable(&replies[0], upstream);
    let capture = wait_for_call_ends(&path, 1);
    let started = started(&capture);
    assert_eq!(started.len(), 1, "{capture:?}");
    assert_kept(&started[0].1.headers, "authorization", SECRET);
}

#[test]
fn redact_header_redacts_it_in_the_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("rec.loom");
    let dead = dead_upstream();
    let upstream = dead.addr();
    let relay = Relay::start(&[
        "--record",
        path.to_str().expect("utf-8 path"),
        "--upstream",
        &upstream.to_string(),
        "--redact-header",
        "x-api-key",
    ]);
    let replies = grpc_calls(
        relay.addr,
        1,
        &[
            ("authorization", SECRET),
            ("x-api-key", "k-123"),
            ("x-trace", "t-1"),
        ],
    );
    assert_unavailable(&replies[0], upstream);
    let capture = wait_for_call_ends(&path, 1);
    let started = started(&capture);
    assert_eq!(started.len(), 1, "{capture:?}");
    let headers = &started[0].1.headers;
    assert_redacted(headers, "x-api-key");
    assert_redacted(headers, "authorization");
    assert_kept(headers, "x-trace", "t-1");
}

/// `loom decode -` reads standard input and prints the same lines as with a
/// path; a cut-off capture exits 1 with a warning, garbage exits 2 with one line.
#[test]
fn decode_reads_stdin_and_reports_through_its_exit_code() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
    let capture = std::fs::read(fixtures.join("decode-probe.loom")).expect("fixture");
    let expected = std::fs::read_to_string(fixtures.join("decode-probe.jsonl")).expect("fixture");

    let decode_stdin = |input: Vec<u8>| {
        let mut child = loom()
            .args(["decode", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn loom decode");
        let mut stdin = child.stdin.take().expect("stdin");
        let writer = std::thread::spawn(move || stdin.write_all(&input));
        let out = child.wait_with_output().expect("loom decode output");
        writer.join().expect("writer thread").expect("write stdin");
        out
    };

    let whole = decode_stdin(capture.clone());
    assert_eq!(
        whole.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&whole.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&whole.stdout), expected);

    let cut = decode_stdin(capture[..capture.len() - 3].to_vec());
    assert_eq!(cut.status.code(), Some(1));
    let warning = String::from_utf8_lossy(&cut.stderr);
    assert!(
        warning.contains("cut off") || warning.contains("mid-record"),
        "{warning}"
    );
    assert!(
        !cut.stdout.is_empty(),
        "the complete calls are still decoded"
    );

    let garbage = decode_stdin(b"GIF89a not a capture".to_vec());
    assert_eq!(garbage.status.code(), Some(2));
    let error = String::from_utf8_lossy(&garbage.stderr);
    assert_eq!(error.trim().lines().count(), 1, "{error}");
    assert!(error.contains("not a Loom capture"), "{error}");
}

#[test]
fn loom_ca_makes_the_ca_once_and_says_how_to_trust_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_dir = dir.path().join("loom/ca");
    let run = || {
        let mut cmd = loom();
        cmd.args(["ca", "--ca-dir"]).arg(&ca_dir);
        run_to_exit(cmd)
    };
    let first = run();
    assert!(first.status.success(), "{first:?}");
    for words in [
        "-----BEGIN CERTIFICATE-----",
        "grpcurl -cacert",
        "ssl_target_name_override",
        "NODE_EXTRA_CA_CERTS",
        "grpc-java",
    ] {
        assert!(first.stdout.contains(words), "{words}: {}", first.stdout);
    }
    use std::os::unix::fs::PermissionsExt as _;
    for file in ["ca.pem", "ca.key"] {
        let mode = std::fs::metadata(ca_dir.join(file))
            .expect(file)
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
    let second = run();
    assert_eq!(first.stdout, second.stdout, "the same CA the second time");
}

/// `loom demo --tls`: the binary starts the demo over TLS on both hops,
/// says how to call it, and stops cleanly.
#[test]
fn demo_tls_starts_with_a_tls_upstream_and_stops_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = loom();
    cmd.args([
        "demo",
        "--tls",
        "--listen",
        "127.0.0.1:0",
        "--ui",
        "127.0.0.1:0",
        "--ca-dir",
    ])
    .arg(dir.path().join("ca"))
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn loom demo");
    let stdout = drain(child.stdout.take().expect("stdout"));
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(strip_ansi(&line));
        }
    });
    let deadline = Instant::now() + START_TIMEOUT;
    let mut log = Vec::new();
    let upstream = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = rx.recv_timeout(left) else {
            let _ = child.kill();
            panic!("no readiness; stderr:\n{}", log.join("\n"));
        };
        if let Some((_, upstream, _)) = parse_ready(&line) {
            break upstream;
        }
        log.push(line);
    };
    assert!(upstream.starts_with("https://127.0.0.1:"), "{upstream}");
    let mut kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .spawn()
        .expect("spawn kill");
    assert!(wait_exit(&mut kill, EXIT_TIMEOUT).success());
    let status = wait_exit(&mut child, EXIT_TIMEOUT);
    assert!(status.success(), "{status}");
    let banner = stdout.join().expect("stdout");
    assert!(banner.contains("over TLS on both hops"), "{banner}");
    assert!(banner.contains("grpcurl -cacert"), "{banner}");
    assert!(dir.path().join("ca/ca.pem").exists());
}

#[test]
fn listens_on_a_unix_socket_of_its_own_and_removes_it_on_sigterm() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("loom.sock");
    let listen = format!("unix:{}", path.display());
    let dead = dead_upstream();
    let upstream = dead.addr().to_string();
    let args = [
        "--listen",
        &listen,
        "--ui",
        "127.0.0.1:0",
        "--upstream",
        &upstream,
    ];
    let mut child = loom()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn loom");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(strip_ansi(&line));
        }
    });
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).expect("loom logs that it is ready");
        if line.contains(&format!("relaying gRPC from {listen} to ")) {
            break;
        }
    }
    let mode = std::fs::metadata(&path)
        .expect("the socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // A second relay on the same path is refused, and leaves it alone.
    let second = loom().args(args).output().expect("run a second loom");
    assert!(!second.status.success());
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(
        said.contains("a server is already listening there"),
        "{said}"
    );
    assert!(path.exists());

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(kill.success());
    let status = wait_exit(&mut child, EXIT_TIMEOUT);
    assert!(status.success(), "{status}");
    assert!(!path.exists(), "removed on exit");
}
