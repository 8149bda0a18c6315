//! gRPC servers that are not tonic, run as child processes: grpc-go
//! (`tests/go`), grpc-js with `@grpc/reflection` (`tests/node`) and grpcio
//! (`tests/python/interop.py`). `scripts/setup.sh test` installs and builds
//! them; a test that needs one fails (it does not skip) when it is missing.
//!
//! Each peer prints `PORT <n>` once it listens, then one line per event
//! (`REFLECTION <path>` when a reflection stream opens, `CALL <path>` for
//! an application call, `CANCELLED <path>` when one ended cancelled, as far
//! as the server can tell). It exits when its stdin closes, so it cannot
//! outlive the test; [`Peer`] also kills it on drop. [`Peer::start_on`]
//! starts one on a given port (to start a server again where one was).
//!
//! Request metadata shapes a call on every peer (see each server's header
//! for what its implementation allows): `x-fail`, `x-delay-ms` (a slow
//! server), `x-after` with `x-stop` (the server stops, gracefully or not),
//! `x-reset` (RST_STREAM: grpc-js with any code, grpc-go with `-http-server`
//! only), `x-goaway` (grpc-js) and `x-cancel` (grpcio).
//!
//! [`unary`] calls any method with hand-written prost messages, for peers
//! whose protos the tests do not compile; [`sample_call`] makes each peer's
//! standard first call; [`Kind::method`] and [`Kind::request`] name each
//! peer's method of each [`Shape`] and encode a request for it.
//! [`client_calls`] runs the client programs of grpc-js
//! (`tests/node/client.js`) and grpcio (`interop.py calls`). TLS for the
//! servers and clients (grpc-go's client mode too) is in
//! [`crate::peer_tls`].

use std::io::{BufRead, BufReader, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tonic::transport::Channel;

/// How long a peer may take to print `PORT n` (grpcio compiles its .proto
/// first; node loads its packages).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Which implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// grpc-go 1.33 (Debian): `grpc.testing.TestService`, reflection v1alpha.
    GrpcGo,
    /// grpc-js with `@grpc/reflection`: `harness.v1.Harness`, v1 and v1alpha,
    /// files named after packages and no imports declared.
    GrpcJs,
    /// grpcio (Python) with `grpc_reflection`: `loom.interop.v1.Interop`,
    /// v1alpha only.
    Grpcio,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::GrpcGo => "grpc-go",
            Kind::GrpcJs => "grpc-js",
            Kind::Grpcio => "grpcio",
        }
    }

    /// The method of this peer's test service for calls of `shape`.
    pub fn method(self, shape: Shape) -> &'static str {
        match (self, shape) {
            (Kind::GrpcGo, Shape::Unary) => grpc_testing::UNARY_CALL,
            (Kind::GrpcGo, Shape::ServerStream) => grpc_testing::STREAMING_OUTPUT_CALL,
            (Kind::GrpcGo, Shape::ClientStream) => grpc_testing::STREAMING_INPUT_CALL,
            (Kind::GrpcGo, Shape::Bidi) => grpc_testing::FULL_DUPLEX_CALL,
            (Kind::Grpcio, Shape::Unary) => interop::UNARY,
            (Kind::Grpcio, Shape::ServerStream) => interop::SERVER_STREAM,
            (Kind::Grpcio, Shape::ClientStream) => interop::CLIENT_STREAM,
            (Kind::Grpcio, Shape::Bidi) => interop::BIDI,
            (Kind::GrpcJs, Shape::Unary) => harness::ECHO,
            (Kind::GrpcJs, Shape::ServerStream) => harness::COUNT,
            (Kind::GrpcJs, Shape::ClientStream) => harness::SUM,
            (Kind::GrpcJs, Shape::Bidi) => harness::CHAT,
        }
    }

    /// One encoded request message for a call of `shape`. A server stream
    /// asks for `responses` responses; a bidi request is answered by exactly
    /// one response; a unary or client-streaming call has one response.
    /// grpc-go's responses (and client-streaming requests) carry `size`
    /// bytes each; the others' sizes are their own (grpcio's third server
    /// stream response is 1 MiB).
    pub fn request(self, shape: Shape, responses: u32, size: u32) -> Vec<u8> {
        use prost::Message as _;
        let size = size as i32;
        match (self, shape) {
            (Kind::GrpcGo, Shape::Unary) => grpc_testing::SimpleRequest {
                response_type: grpc_testing::UNCOMPRESSABLE,
                response_size: size,
                fill_username: false,
            }
            .encode_to_vec(),
            (Kind::GrpcGo, Shape::ServerStream | Shape::Bidi) => {
                let n = if shape == Shape::Bidi { 1 } else { responses };
                grpc_testing::StreamingOutputCallRequest {
                    response_type: grpc_testing::UNCOMPRESSABLE,
                    response_parameters: (0..n)
                        .map(|_| grpc_testing::ResponseParameters {
                            size,
                            interval_us: 0,
                        })
                        .collect(),
                }
                .encode_to_vec()
            }
            (Kind::GrpcGo, Shape::ClientStream) => grpc_testing::StreamingInputCallRequest {
                payload: Some(grpc_testing::Payload {
                    r#type: grpc_testing::UNCOMPRESSABLE,
                    body: vec![0x5a; size.max(0) as usize],
                }),
            }
            .encode_to_vec(),
            (Kind::Grpcio, _) => interop::Msg {
                text: "loom".into(),
                count: if shape == Shape::ServerStream {
                    responses as i32
                } else {
                    0
                },
                ..Default::default()
            }
            .encode_to_vec(),
            (Kind::GrpcJs, Shape::Unary) => harness::EchoRequest {
                text: "loom".into(),
                ..Default::default()
            }
            .encode_to_vec(),
            (Kind::GrpcJs, Shape::ServerStream) => {
                harness::CountRequest { count: responses }.encode_to_vec()
            }
            (Kind::GrpcJs, Shape::ClientStream) => harness::Number { value: 1 }.encode_to_vec(),
            (Kind::GrpcJs, Shape::Bidi) => harness::Line {
                text: "loom".into(),
                seq: 0,
            }
            .encode_to_vec(),
        }
    }
}

/// The four kinds of gRPC call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    Unary,
    ServerStream,
    ClientStream,
    Bidi,
}

impl Shape {
    pub const ALL: [Shape; 4] = [
        Shape::Unary,
        Shape::ServerStream,
        Shape::ClientStream,
        Shape::Bidi,
    ];
}

/// The repository's root directory.
pub fn workspace_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    root.canonicalize().unwrap_or(root)
}

pub(crate) fn need(path: PathBuf, what: &str) -> PathBuf {
    assert!(
        path.exists(),
        "{what}: {} is missing. Run `scripts/setup.sh test` (from {}), then the tests again.",
        path.display(),
        workspace_root().display()
    );
    path
}

/// The venv's Python (grpcio, grpcurl), from `scripts/setup-python.sh`.
pub fn python() -> PathBuf {
    need(workspace_root().join("target/pyenv/bin/python"), "grpcio")
}

/// grpcurl, installed into the venv by `scripts/setup-python.sh`.
pub fn grpcurl() -> PathBuf {
    need(workspace_root().join("target/pyenv/bin/grpcurl"), "grpcurl")
}

/// A running peer server.
pub struct Peer {
    pub kind: Kind,
    pub addr: SocketAddr,
    child: Child,
    _stdin: Option<ChildStdin>,
    lines: Arc<Lines>,
}

/// A child's stdout, line by line, as it comes.
#[derive(Default)]
struct Lines {
    seen: Mutex<Vec<String>>,
    /// The child closed its stdout.
    closed: std::sync::atomic::AtomicBool,
    changed: Notify,
}

impl Lines {
    fn push(&self, line: String) {
        self.seen.lock().expect("lines lock").push(line);
        self.changed.notify_waiters();
    }

    fn close(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    fn count(&self, prefix: &str) -> usize {
        let seen = self.seen.lock().expect("lines lock");
        seen.iter().filter(|l| l.starts_with(prefix)).count()
    }

    /// Line `index` (from 0), once there is one; `None` if the child closed
    /// its stdout first or `limit` passed.
    async fn nth(&self, index: usize, limit: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.changed.notified();
            if let Some(line) = self.seen.lock().expect("lines lock").get(index) {
                return Some(line.clone());
            }
            if self.closed.load(std::sync::atomic::Ordering::SeqCst) {
                return None;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.seen.lock().expect("lines lock").get(index).cloned();
            }
        }
    }

    /// Waits until the child closed its stdout (it exits); false after `limit`.
    async fn wait_closed(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.changed.notified();
            if self.closed.load(std::sync::atomic::Ordering::SeqCst) {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.closed.load(std::sync::atomic::Ordering::SeqCst);
            }
        }
    }

    async fn wait_for(&self, prefix: &str, n: usize, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.changed.notified();
            if self.count(prefix) >= n {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.count(prefix) >= n;
            }
        }
    }
}

impl Peer {
    /// Starts `kind` with extra `args` (see each server's usage) and waits
    /// for its port.
    pub async fn start(kind: Kind, args: &[&str]) -> Peer {
        let root = workspace_root();
        let mut command = match kind {
            Kind::GrpcGo => Command::new(need(root.join("target/loom-grpc-go"), "grpc-go")),
            Kind::GrpcJs => {
                need(
                    root.join("tests/node/node_modules/@grpc/reflection"),
                    "grpc-js",
                );
                let mut c = Command::new("node");
                c.arg(root.join("tests/node/server.js"));
                c
            }
            Kind::Grpcio => {
                let mut c = Command::new(python());
                c.arg(root.join("tests/python/interop.py")).arg("server");
                c.env("PYTHONUNBUFFERED", "1");
                c
            }
        };
        let mut child = command
            .args(args)
            .current_dir(&root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting the {} server: {e}", kind.name()));
        forward_stderr(&mut child);
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let lines = Arc::new(Lines::default());
        let (port_tx, port_rx) = tokio::sync::oneshot::channel();
        let sink = lines.clone();
        std::thread::spawn(move || {
            let mut port_tx = Some(port_tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(port) = line.strip_prefix("PORT ") {
                    if let Some(tx) = port_tx.take() {
                        let _ = tx.send(port.trim().parse::<u16>().ok());
                    }
                    continue;
                }
                sink.push(line);
            }
            sink.close();
        });
        // From here on the guard owns the child, so any panic kills it.
        let mut peer = Peer {
            kind,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            child,
            _stdin: stdin,
            lines,
        };
        let port = match tokio::time::timeout(START_TIMEOUT, port_rx).await {
            Ok(Ok(Some(port))) => port,
            Ok(Ok(None)) => panic!("the {} server printed a bad PORT line", kind.name()),
            Ok(Err(_)) => {
                let status = peer.child.wait().ok();
                panic!(
                    "the {} server exited ({status:?}) before printing its port; its stderr is above",
                    kind.name()
                )
            }
            Err(_) => panic!(
                "the {} server printed no port within {START_TIMEOUT:?}",
                kind.name()
            ),
        };
        peer.addr = SocketAddr::from(([127, 0, 0, 1], port));
        peer
    }

    /// Starts `kind` listening on `port` of 127.0.0.1 (0: any), with extra
    /// `args`.
    pub async fn start_on(kind: Kind, port: u16, args: &[&str]) -> Peer {
        let port = port.to_string();
        let addr = format!("127.0.0.1:{port}");
        let mut all: Vec<&str> = match kind {
            Kind::GrpcGo => vec!["-addr", &addr],
            Kind::GrpcJs | Kind::Grpcio => vec!["--port", &port],
        };
        all.extend_from_slice(args);
        Self::start(kind, &all).await
    }

    /// Event lines that start with `prefix` (`REFLECTION`, `CALL /x/Y`).
    pub fn count(&self, prefix: &str) -> usize {
        self.lines.count(prefix)
    }

    /// Waits until `count(prefix) >= n`; false after `limit`.
    pub async fn wait_for(&self, prefix: &str, n: usize, limit: Duration) -> bool {
        self.lines.wait_for(prefix, n, limit).await
    }

    /// Kills the server now (as a crash would), and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Every event line so far, for failure messages.
    pub fn lines(&self) -> Vec<String> {
        self.lines.seen.lock().expect("lines lock").clone()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A case of the peers' client programs (see `tests/node/client.js`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientCase {
    /// A unary call, answered: OK.
    Complete,
    /// A unary call the server holds, cancelled once the server has it.
    CancelBeforeResponse,
    /// The interop case: a client stream cancelled once the server has it,
    /// before any message.
    CancelAfterBegin,
    /// The interop case: bidi, one request, one response read, cancel.
    CancelAfterFirstResponse,
    /// A unary call with a 300 ms deadline that the server holds.
    Deadline,
}

impl ClientCase {
    pub const ALL: [ClientCase; 5] = [
        ClientCase::Complete,
        ClientCase::CancelBeforeResponse,
        ClientCase::CancelAfterBegin,
        ClientCase::CancelAfterFirstResponse,
        ClientCase::Deadline,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ClientCase::Complete => "complete",
            ClientCase::CancelBeforeResponse => "cancel_before_response",
            ClientCase::CancelAfterBegin => "cancel_after_begin",
            ClientCase::CancelAfterFirstResponse => "cancel_after_first_response",
            ClientCase::Deadline => "deadline",
        }
    }

    /// The shape of the case's calls.
    pub fn shape(self) -> Shape {
        match self {
            ClientCase::CancelAfterBegin => Shape::ClientStream,
            ClientCase::CancelAfterFirstResponse => Shape::Bidi,
            _ => Shape::Unary,
        }
    }

    /// The status every call of the case must end with, as grpc names it.
    pub fn expected_code(self) -> &'static str {
        match self {
            ClientCase::Complete => "OK",
            ClientCase::Deadline => "DEADLINE_EXCEEDED",
            _ => "CANCELLED",
        }
    }

    /// Whether the client waits for the server to have the call (`BEGUN`).
    fn syncs(self) -> bool {
        matches!(
            self,
            ClientCase::CancelBeforeResponse | ClientCase::CancelAfterBegin
        )
    }
}

/// One call of a client program, as it reported it.
#[derive(Debug, Clone)]
pub struct ClientResult {
    pub i: usize,
    /// The status code's name (`CANCELLED`).
    pub code: String,
    pub details: String,
    pub responses: u64,
    pub millis: u64,
}

/// How long a client program may take for one line of output.
const CLIENT_LINE_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `client`'s client program (grpc-js: `tests/node/client.js`;
/// grpcio: `interop.py calls`) against `target` (the relay, normally) in
/// front of `server`: `count` calls of `case`, one after the other. A cancel
/// "once begun" waits for `server` to print the call's `CALL` line. Returns
/// what the client saw of each call; panics if it fails.
pub async fn client_calls(
    client: Kind,
    target: SocketAddr,
    server: &Peer,
    case: ClientCase,
    count: usize,
) -> Vec<ClientResult> {
    client_calls_with(client, target, server, case, count, &[]).await
}

/// [`client_calls`] with extra arguments for the client program (its TLS
/// flags: [`crate::peer_tls::ClientTls::args`]).
pub async fn client_calls_with(
    client: Kind,
    target: SocketAddr,
    server: &Peer,
    case: ClientCase,
    count: usize,
    extra: &[String],
) -> Vec<ClientResult> {
    let root = workspace_root();
    let mut command = match client {
        Kind::GrpcJs => {
            need(
                root.join("tests/node/node_modules/@grpc/grpc-js"),
                "grpc-js",
            );
            let mut c = Command::new("node");
            c.arg(root.join("tests/node/client.js"));
            c
        }
        Kind::Grpcio => {
            let mut c = Command::new(python());
            c.arg(root.join("tests/python/interop.py")).arg("calls");
            c.env("PYTHONUNBUFFERED", "1");
            c
        }
        Kind::GrpcGo => panic!("there is no grpc-go client program"),
    };
    let count_arg = count.to_string();
    let target_arg = target.to_string();
    command
        .args(["--target", &target_arg, "--server", server.kind.name()])
        .args(["--case", case.name(), "--count", &count_arg, "--sync"])
        .args(extra)
        .current_dir(&root);
    without_proxy(&mut command);
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting the {} client: {e}", client.name()));
    forward_stderr(&mut child);
    let mut stdin = child.stdin.take().expect("piped stdin");
    let stdout = child.stdout.take().expect("piped stdout");
    let guard = Reaper(child);
    let lines = Arc::new(Lines::default());
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            sink.push(line);
        }
        sink.close();
    });
    let begun_prefix = format!("CALL {}", server.kind.method(case.shape()));
    let begun_base = server.count(&begun_prefix);
    let mut begun = 0;
    let mut results = Vec::new();
    for index in 0.. {
        let Some(line) = lines.nth(index, CLIENT_LINE_TIMEOUT).await else {
            panic!(
                "the {} client ({} x{count}) stopped after {} results: {:?}",
                client.name(),
                case.name(),
                results.len(),
                lines.seen.lock().expect("lines lock")
            );
        };
        if line.starts_with("BEGUN ") {
            assert!(case.syncs(), "{line}");
            begun += 1;
            assert!(
                server
                    .wait_for(&begun_prefix, begun_base + begun, CLIENT_LINE_TIMEOUT)
                    .await,
                "the {} server never saw call {begun} of {}: {:?}",
                server.kind.name(),
                case.name(),
                server.lines()
            );
            writeln!(stdin, "go").expect("write to the client");
            stdin.flush().expect("flush");
        } else if let Some(json) = line.strip_prefix("RESULT ") {
            let v: serde_json::Value = serde_json::from_str(json).expect("a JSON result");
            results.push(ClientResult {
                i: v["i"].as_u64().expect("i") as usize,
                code: v["code"].as_str().expect("code").to_owned(),
                details: v["details"].as_str().unwrap_or("").to_owned(),
                responses: v["responses"].as_u64().unwrap_or(0),
                millis: v["ms"].as_u64().unwrap_or(0),
            });
        } else if line.starts_with("DONE ") {
            break;
        } else {
            panic!("the {} client printed {line:?}", client.name());
        }
    }
    drop(stdin);
    assert!(
        lines.wait_closed(CLIENT_LINE_TIMEOUT).await,
        "the {} client did not exit after DONE",
        client.name()
    );
    let status = guard.wait().await;
    assert!(status.success(), "the {} client: {status}", client.name());
    assert_eq!(results.len(), count, "one result per call");
    results
}

/// Makes a client talk to exactly its target, whatever proxy the
/// environment names.
pub(crate) fn without_proxy(command: &mut Command) {
    for name in [
        "http_proxy",
        "https_proxy",
        "grpc_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
    ] {
        command.env_remove(name);
    }
}

/// Copies a child's stderr to the test's, line by line. Not inherited: Node
/// makes its stdio non-blocking, which, on a shared pipe, makes the test
/// harness's own writes fail (EAGAIN).
fn forward_stderr(child: &mut Child) {
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

/// Kills a child on drop (a wait after the kill reaps it).
pub(crate) struct Reaper(pub(crate) Child);

impl Reaper {
    /// Waits for the child to exit, off the runtime's threads.
    pub(crate) async fn wait(mut self) -> std::process::ExitStatus {
        tokio::task::spawn_blocking(move || self.0.wait())
            .await
            .expect("wait thread")
            .expect("wait for the child")
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Calls `path` once with `request` on `channel`.
pub async fn unary<Req, Res>(
    channel: Channel,
    path: &'static str,
    request: Req,
    metadata: &[(&'static str, &str)],
) -> Result<Res, tonic::Status>
where
    Req: prost::Message + Send + Sync + 'static,
    Res: prost::Message + Default + Send + Sync + 'static,
{
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let mut req = tonic::Request::new(request);
    for (k, v) in metadata {
        req.metadata_mut()
            .insert(*k, v.parse().expect("metadata value"));
    }
    let codec = tonic_prost::ProstCodec::<Req, Res>::default();
    grpc.unary(req, http::uri::PathAndQuery::from_static(path), codec)
        .await
        .map(tonic::Response::into_inner)
}

/// One call of `kind`'s unary method through `relay`, with an enum set
/// (and, for grpc-js, a type from its second package); it must succeed.
pub async fn sample_call(kind: Kind, relay: SocketAddr) {
    let channel = crate::channel(relay).await;
    match kind {
        Kind::GrpcGo => {
            let reply: grpc_testing::SimpleResponse = unary(
                channel,
                grpc_testing::UNARY_CALL,
                grpc_testing::SimpleRequest {
                    response_type: grpc_testing::UNCOMPRESSABLE,
                    response_size: 3,
                    fill_username: true,
                },
                &[],
            )
            .await
            .expect("UnaryCall");
            assert_eq!(reply.username, "loom-go");
        }
        Kind::Grpcio => {
            let reply: interop::Msg = unary(
                channel,
                interop::UNARY,
                interop::Msg {
                    text: "hello".into(),
                    number: 1,
                    ..Default::default()
                },
                &[],
            )
            .await
            .expect("Unary");
            assert_eq!(reply.mood, 1, "MOOD_CALM");
        }
        Kind::GrpcJs => {
            let reply: harness::EchoReply = unary(
                channel,
                harness::ECHO,
                harness::EchoRequest {
                    text: "hello".into(),
                    mood: harness::MOOD_HAPPY,
                    tags: vec![harness::Tag {
                        key: "k".into(),
                        value: "v".into(),
                        level: harness::LEVEL_HIGH,
                    }],
                },
                &[],
            )
            .await
            .expect("Echo");
            assert_eq!(reply.text, "hello");
        }
    }
}

/// Hand-written messages of `grpc.testing` (grpc-go's test service).
pub mod grpc_testing {
    pub const UNARY_CALL: &str = "/grpc.testing.TestService/UnaryCall";
    pub const EMPTY_CALL: &str = "/grpc.testing.TestService/EmptyCall";
    pub const STREAMING_OUTPUT_CALL: &str = "/grpc.testing.TestService/StreamingOutputCall";
    pub const STREAMING_INPUT_CALL: &str = "/grpc.testing.TestService/StreamingInputCall";
    pub const FULL_DUPLEX_CALL: &str = "/grpc.testing.TestService/FullDuplexCall";
    pub const SERVICE: &str = "grpc.testing.TestService";
    /// `PayloadType.UNCOMPRESSABLE`.
    pub const UNCOMPRESSABLE: i32 = 1;

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Payload {
        #[prost(int32, tag = "1")]
        pub r#type: i32,
        #[prost(bytes = "vec", tag = "2")]
        pub body: Vec<u8>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SimpleRequest {
        #[prost(int32, tag = "1")]
        pub response_type: i32,
        #[prost(int32, tag = "2")]
        pub response_size: i32,
        #[prost(bool, tag = "4")]
        pub fill_username: bool,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SimpleResponse {
        #[prost(message, optional, tag = "1")]
        pub payload: Option<Payload>,
        #[prost(string, tag = "2")]
        pub username: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ResponseParameters {
        #[prost(int32, tag = "1")]
        pub size: i32,
        #[prost(int32, tag = "2")]
        pub interval_us: i32,
    }

    /// StreamingOutputCall and FullDuplexCall: one response per parameter.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct StreamingOutputCallRequest {
        #[prost(int32, tag = "1")]
        pub response_type: i32,
        #[prost(message, repeated, tag = "2")]
        pub response_parameters: Vec<ResponseParameters>,
    }

    /// Also the shape of `StreamingOutputCallResponse` (its payload is field 1).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct StreamingInputCallRequest {
        #[prost(message, optional, tag = "1")]
        pub payload: Option<Payload>,
    }
}

/// Hand-written messages of `harness.v1` (the grpc-js test service).
pub mod harness {
    pub const ECHO: &str = "/harness.v1.Harness/Echo";
    pub const COUNT: &str = "/harness.v1.Harness/Count";
    pub const SUM: &str = "/harness.v1.Harness/Sum";
    pub const CHAT: &str = "/harness.v1.Harness/Chat";
    pub const SERVICE: &str = "harness.v1.Harness";
    pub const MOOD_HAPPY: i32 = 1;
    pub const LEVEL_HIGH: i32 = 2;

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct EchoRequest {
        #[prost(string, tag = "1")]
        pub text: String,
        #[prost(int32, tag = "2")]
        pub mood: i32,
        #[prost(message, repeated, tag = "3")]
        pub tags: Vec<Tag>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct EchoReply {
        #[prost(string, tag = "1")]
        pub text: String,
        #[prost(int32, tag = "2")]
        pub mood: i32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Tag {
        #[prost(string, tag = "1")]
        pub key: String,
        #[prost(string, tag = "2")]
        pub value: String,
        #[prost(int32, tag = "3")]
        pub level: i32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct CountRequest {
        #[prost(uint32, tag = "1")]
        pub count: u32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Number {
        #[prost(int64, tag = "1")]
        pub value: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Line {
        #[prost(string, tag = "1")]
        pub text: String,
        #[prost(uint32, tag = "2")]
        pub seq: u32,
    }
}

/// Hand-written messages of `loom.interop.v1` (the grpcio test service).
pub mod interop {
    pub const UNARY: &str = "/loom.interop.v1.Interop/Unary";
    pub const SERVER_STREAM: &str = "/loom.interop.v1.Interop/ServerStream";
    pub const CLIENT_STREAM: &str = "/loom.interop.v1.Interop/ClientStream";
    pub const BIDI: &str = "/loom.interop.v1.Interop/Bidi";
    pub const SERVICE: &str = "loom.interop.v1.Interop";

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Msg {
        #[prost(string, tag = "1")]
        pub text: String,
        #[prost(int64, tag = "2")]
        pub number: i64,
        /// ServerStream: how many responses.
        #[prost(int32, tag = "6")]
        pub count: i32,
        #[prost(int32, tag = "7")]
        pub mood: i32,
    }
}
