//! gRPC servers that are not tonic, run as child processes: grpc-go
//! (`tests/go`), grpc-js with `@grpc/reflection` (`tests/node`) and grpcio
//! (`tests/python/interop.py`). `scripts/setup.sh test` installs and builds
//! them; a test that needs one fails (it does not skip) when it is missing.
//!
//! Each peer prints `PORT <n>` once it listens, then one line per event
//! (`REFLECTION <path>` when a reflection stream opens, `CALL <path>` for
//! an application call; grpcio prints none). It exits when its stdin
//! closes, so it cannot outlive the test; [`Peer`] also kills it on drop.
//!
//! [`unary`] calls any method with hand-written prost messages, for peers
//! whose protos the tests do not compile; [`sample_call`] makes each peer's
//! standard first call.

use std::io::{BufRead, BufReader};
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
}

/// The repository's root directory.
pub fn workspace_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    root.canonicalize().unwrap_or(root)
}

fn need(path: PathBuf, what: &str) -> PathBuf {
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

#[derive(Default)]
struct Lines {
    seen: Mutex<Vec<String>>,
    changed: Notify,
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
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting the {} server: {e}", kind.name()));
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
                sink.seen.lock().expect("lines lock").push(line);
                sink.changed.notify_waiters();
            }
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

    /// Event lines that start with `prefix` (`REFLECTION`, `CALL /x/Y`).
    pub fn count(&self, prefix: &str) -> usize {
        let seen = self.lines.seen.lock().expect("lines lock");
        seen.iter().filter(|l| l.starts_with(prefix)).count()
    }

    /// Waits until `count(prefix) >= n`; false after `limit`.
    pub async fn wait_for(&self, prefix: &str, n: usize, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.lines.changed.notified();
            if self.count(prefix) >= n {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.count(prefix) >= n;
            }
        }
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
                    mood: 0,
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
}

/// Hand-written messages of `harness.v1` (the grpc-js test service).
pub mod harness {
    pub const ECHO: &str = "/harness.v1.Harness/Echo";
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
}

/// Hand-written messages of `loom.interop.v1` (the grpcio test service).
pub mod interop {
    pub const UNARY: &str = "/loom.interop.v1.Interop/Unary";
    pub const SERVICE: &str = "loom.interop.v1.Interop";

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Msg {
        #[prost(string, tag = "1")]
        pub text: String,
        #[prost(int64, tag = "2")]
        pub number: i64,
        #[prost(int32, tag = "7")]
        pub mood: i32,
    }
}
