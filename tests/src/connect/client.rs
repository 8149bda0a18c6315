//! [`connect_client`]: one run of `tests/connect/client.mjs`, the
//! connect-node client, described by a [`WebCall`]; what it printed, one
//! [`CallOutcome`] per call, parsed from its JSON lines.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::{
    Codec, Compression, Http, Protocol, Shape, Verb, code_from_name, code_name, peers_dir,
};
use crate::peer::without_proxy;

/// How long one run of the client may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// What the client does: `calls` calls of `shape`, one after the other.
#[derive(Debug, Clone)]
pub struct WebCall {
    pub protocol: Protocol,
    pub http: Http,
    pub codec: Codec,
    pub shape: Shape,
    /// Server stream: replies asked for; client and bidi streams: requests
    /// sent.
    pub count: u32,
    pub calls: u32,
    pub compression: Compression,
    pub verb: Verb,
    pub text: String,
    pub blob_size: u32,
    pub reply_size: u32,
    /// Ask the server to fail with this code and message.
    pub fail: Option<(tonic::Code, String)>,
    /// The server's pause before each streamed reply.
    pub delay: Duration,
    /// Each call's deadline.
    pub deadline: Duration,
    pub headers: Vec<(String, String)>,
    /// The status every call must end with for the run to succeed.
    pub expect: tonic::Code,
}

impl WebCall {
    /// One call of `shape`, streams of 3 messages, no compression, POST,
    /// expected to succeed.
    pub fn new(protocol: Protocol, http: Http, codec: Codec, shape: Shape) -> WebCall {
        WebCall {
            protocol,
            http,
            codec,
            shape,
            count: 3,
            calls: 1,
            compression: Compression::Identity,
            verb: Verb::Post,
            text: "loom".into(),
            blob_size: 0,
            reply_size: 0,
            fail: None,
            delay: Duration::ZERO,
            deadline: Duration::from_secs(20),
            headers: Vec::new(),
            expect: tonic::Code::Ok,
        }
    }

    pub fn count(mut self, count: u32) -> WebCall {
        self.count = count;
        self
    }

    pub fn calls(mut self, calls: u32) -> WebCall {
        self.calls = calls;
        self
    }

    pub fn compression(mut self, compression: Compression) -> WebCall {
        self.compression = compression;
        self
    }

    /// [`Verb::Get`] calls `Lookup` with a Connect GET (unary Connect only).
    pub fn verb(mut self, verb: Verb) -> WebCall {
        self.verb = verb;
        self
    }

    pub fn text(mut self, text: &str) -> WebCall {
        self.text = text.into();
        self
    }

    /// Bytes of blob in each request, and in each reply.
    pub fn sizes(mut self, blob_size: u32, reply_size: u32) -> WebCall {
        self.blob_size = blob_size;
        self.reply_size = reply_size;
        self
    }

    /// The server fails the call with `code` and `message` (and an
    /// ErrorInfo detail); the run expects it to.
    pub fn fail(mut self, code: tonic::Code, message: &str) -> WebCall {
        self.fail = Some((code, message.into()));
        self.expect = code;
        self
    }

    pub fn delay(mut self, delay: Duration) -> WebCall {
        self.delay = delay;
        self
    }

    pub fn deadline(mut self, deadline: Duration) -> WebCall {
        self.deadline = deadline;
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> WebCall {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The client program's arguments.
    fn args(&self, target: &http::Uri) -> Vec<String> {
        let kind = match self.shape {
            Shape::Unary => "unary",
            Shape::ServerStream => "server",
            Shape::ClientStream => "client",
            Shape::Bidi => "bidi",
        };
        let mut args: Vec<String> = vec![
            "--target".into(),
            target.to_string().trim_end_matches('/').into(),
            "--protocol".into(),
            self.protocol.arg().into(),
            "--http".into(),
            self.http.arg().into(),
            "--codec".into(),
            self.codec.arg().into(),
            "--kind".into(),
            kind.into(),
            "--count".into(),
            self.count.to_string(),
            "--calls".into(),
            self.calls.to_string(),
            "--text".into(),
            self.text.clone(),
            "--blob-size".into(),
            self.blob_size.to_string(),
            "--reply-size".into(),
            self.reply_size.to_string(),
            "--delay-ms".into(),
            self.delay.as_millis().to_string(),
            "--timeout-ms".into(),
            self.deadline.as_millis().to_string(),
            "--expect".into(),
            code_name(self.expect).into(),
        ];
        if self.compression == Compression::Gzip {
            args.push("--gzip".into());
        }
        if self.verb == Verb::Get {
            args.push("--get".into());
        }
        if let Some((code, message)) = &self.fail {
            args.extend([
                "--fail-code".into(),
                (*code as i32).to_string(),
                "--fail-message".into(),
                message.clone(),
            ]);
        }
        for (name, value) in &self.headers {
            args.extend(["--header".into(), format!("{name}={value}")]);
        }
        args
    }
}

/// One run of the client.
#[derive(Debug, Clone)]
pub struct ClientOutcome {
    /// It exited 0: every call ended with [`WebCall::expect`].
    pub success: bool,
    pub calls: Vec<CallOutcome>,
    pub stderr: String,
}

/// One call, as the client saw it.
#[derive(Debug, Clone)]
pub struct CallOutcome {
    pub code: tonic::Code,
    pub message: String,
    pub details: Vec<Detail>,
    pub replies: Vec<Reply>,
    /// Response headers (lower-case names); empty when the call failed
    /// before connect reported them.
    pub headers: BTreeMap<String, String>,
    /// Trailers; for a failed call, the error's metadata (connect merges
    /// headers and trailers there).
    pub trailers: BTreeMap<String, String>,
}

/// An error detail; a `google.rpc.ErrorInfo`'s fields when it is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detail {
    /// Its full type name (`google.rpc.ErrorInfo`).
    pub type_name: String,
    pub reason: String,
    pub domain: String,
    pub metadata: BTreeMap<String, String>,
}

/// A `WebReply`, as the client received it (its blob by size).
#[derive(Debug, Clone)]
pub struct Reply {
    pub text: String,
    pub index: u64,
    pub blob_bytes: u64,
    /// ClientStream: how many requests the server received.
    pub requests: u64,
    pub echoed: BTreeMap<String, String>,
    /// How the call reached the server: `connect`, `grpc`, `grpc-web`.
    pub protocol: String,
    /// `1.1` or `2.0`.
    pub http_version: String,
    /// `GET` or `POST`.
    pub http_method: String,
    pub content_type: String,
    /// The request's message compression (`gzip`), "" for none.
    pub request_encoding: String,
}

/// Runs the connect-node client against `target` (the server's or the
/// relay's base URL). Panics if it cannot start, runs past a minute or
/// prints anything but one JSON object per call.
pub async fn connect_client(target: &http::Uri, call: &WebCall) -> ClientOutcome {
    let dir = peers_dir();
    let mut command = Command::new("node");
    command
        .arg("client.mjs")
        .args(call.args(target))
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    without_proxy(&mut command);
    let child = command
        .spawn()
        .unwrap_or_else(|e| panic!("starting the connect-node client: {e}"));
    let output = wait_bounded(child, "the connect-node client").await;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let calls: Vec<CallOutcome> = stdout
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| {
                panic!("the connect-node client printed {line:?} ({e}); stderr: {stderr}")
            });
            call_outcome(&v)
        })
        .collect();
    assert_eq!(
        calls.len(),
        call.calls as usize,
        "one line per call from the connect-node client ({call:?}); stdout: {stdout}; stderr: {stderr}"
    );
    ClientOutcome {
        success: output.status.success(),
        calls,
        stderr,
    }
}

/// Waits for `child` to exit, at most [`RUN_TIMEOUT`]; kills it and panics
/// after that.
pub(super) async fn wait_bounded(child: Child, what: &str) -> std::process::Output {
    let pid = child.id();
    let run = tokio::task::spawn_blocking(move || child.wait_with_output());
    let Ok(output) = tokio::time::timeout(RUN_TIMEOUT, run).await else {
        // SIGKILL, so that the waiting thread returns.
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        panic!("{what} ran past {RUN_TIMEOUT:?}");
    };
    output
        .expect("the child's waiter")
        .unwrap_or_else(|e| panic!("{what}'s output: {e}"))
}

fn string(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|o| o.iter().map(|(k, v)| (k.clone(), string(v))).collect())
        .unwrap_or_default()
}

fn call_outcome(v: &Value) -> CallOutcome {
    let code = v["code"].as_str().unwrap_or_default();
    CallOutcome {
        code: code_from_name(code).unwrap_or_else(|| panic!("a status code name: {code:?}")),
        message: string(&v["message"]),
        details: v["details"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| Detail {
                type_name: string(&d["type"]),
                reason: string(&d["reason"]),
                domain: string(&d["domain"]),
                metadata: string_map(&d["metadata"]),
            })
            .collect(),
        replies: v["replies"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| Reply {
                text: string(&r["text"]),
                index: r["index"].as_u64().unwrap_or_default(),
                blob_bytes: r["blob_bytes"].as_u64().unwrap_or_default(),
                requests: r["requests"].as_u64().unwrap_or_default(),
                echoed: string_map(&r["echoed"]),
                protocol: string(&r["protocol"]),
                http_version: string(&r["http_version"]),
                http_method: string(&r["http_method"]),
                content_type: string(&r["content_type"]),
                request_encoding: string(&r["request_encoding"]),
            })
            .collect(),
        headers: string_map(&v["headers"]),
        trailers: string_map(&v["trailers"]),
    }
}

/// Copies a child's stderr to the test's, line by line (not inherited: Node
/// makes its stdio non-blocking, which breaks the harness's own writes to a
/// shared pipe).
pub(super) fn forward_stderr(child: &mut Child) {
    let Some(stderr) = child.stderr.take() else {
        return;
    };
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            eprintln!("{line}");
        }
    });
}
