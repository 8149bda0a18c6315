//! The rig of the tests of how calls end (`tests/tests/it/call_end*.rs`): a
//! peer server that is not tonic behind the relay, an [`h2_client`]
//! connection to the relay, and the relay's live events; and [`Findings`],
//! which collects what a test found wrong so that one run reports all of it
//! (the capture's `CallEnded.endings` and the statuses clients saw).
//!
//! [`h2_client`]: crate::h2_client

use std::time::Duration;

use loom_shared::pb::{self, EndKind, EndSide};
use tokio::time::timeout;

use crate::TestRelay;
use crate::events::{self, check_first_ending, describe_endings};
use crate::h2_client::{Call, Conn, Outcome, Windows};
use crate::peer::{Kind, Peer, Shape};
use crate::ws::WsClient;

/// How long anything in these tests may take (they take far less).
pub const LIMIT: Duration = Duration::from_secs(20);

/// HTTP/2 CANCEL, what a gRPC client resets a stream with.
pub const CANCEL: u32 = 8;

/// One test for each server that is not tonic, each running `$case(kind)`:
/// `each_server!(case: case_against_grpc_go, case_against_grpcio,
/// case_against_grpc_js);` (the names spelled out, so that they can be
/// searched for).
#[macro_export]
macro_rules! each_server {
    ($case:ident: $grpc_go:ident, $grpcio:ident, $grpc_js:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $grpc_go() {
            $case($crate::peer::Kind::GrpcGo).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $grpcio() {
            $case($crate::peer::Kind::Grpcio).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $grpc_js() {
            $case($crate::peer::Kind::GrpcJs).await;
        }
    };
}

/// A peer behind the relay, a client connection to the relay and its events.
pub struct Rig {
    pub peer: Peer,
    pub relay: TestRelay,
    pub ws: WsClient,
    pub conn: Conn,
}

impl Rig {
    /// `kind` started with `args`, behind a new relay.
    pub async fn start(kind: Kind, args: &[&str]) -> Rig {
        Self::around(Peer::start(kind, args).await, Windows::default()).await
    }

    /// A relay in front of `peer` (without reflection: the only streams to
    /// the upstream are the test's), and a client connection with `windows`.
    pub async fn around(peer: Peer, windows: Windows) -> Rig {
        let relay = TestRelay::start_with(peer.addr, |c| c.reflection = false).await;
        let ws = WsClient::connect(relay.ui_addr).await;
        let conn = Conn::connect_with(relay.relay_addr, windows).await;
        Rig {
            peer,
            relay,
            ws,
            conn,
        }
    }

    /// The peer's method for calls of `shape`.
    pub fn method(&self, shape: Shape) -> &'static str {
        self.peer.kind.method(shape)
    }

    /// See [`Kind::request`].
    pub fn request(&self, shape: Shape, responses: u32, size: u32) -> Vec<u8> {
        self.peer.kind.request(shape, responses, size)
    }

    /// Opens a call of `shape` through the relay.
    pub async fn call(&self, shape: Shape, metadata: &[(&str, &str)]) -> Call {
        self.conn.start(self.method(shape), metadata).await
    }

    /// A call of `shape` with one request (see [`Kind::request`]), then
    /// half-closed, read to its end: what the client saw.
    pub async fn unary(
        &self,
        shape: Shape,
        metadata: &[(&str, &str)],
        responses: u32,
        size: u32,
    ) -> Outcome {
        let request = self.request(shape, responses, size);
        self.conn
            .unary(self.method(shape), metadata, &request)
            .await
    }

    /// Waits until the peer has seen `n` calls of `shape` in all.
    pub async fn upstream_has(&self, shape: Shape, n: usize) {
        let prefix = format!("CALL {}", self.method(shape));
        assert!(
            self.peer.wait_for(&prefix, n, LIMIT).await,
            "the {} server saw {} of {n} calls of {}: {:?}",
            self.peer.kind.name(),
            self.peer.count(&prefix),
            self.method(shape),
            self.peer.lines()
        );
    }

    /// Whether the peer saw `n` calls of `shape` cancelled (within `LIMIT`).
    pub async fn upstream_cancelled(&self, shape: Shape, n: usize) -> bool {
        let prefix = format!("CANCELLED {}", self.method(shape));
        self.peer.wait_for(&prefix, n, LIMIT).await
    }

    /// The end of the first call of `shape`, once it has ended.
    pub async fn end(&mut self, shape: Shape) -> pb::CallEnded {
        self.ends(shape, 1).await.remove(0)
    }

    /// The ends of the first `n` calls of `shape`, once they have ended.
    pub async fn ends(&mut self, shape: Shape, n: usize) -> Vec<pb::CallEnded> {
        let method = self.method(shape);
        self.ends_of(method, n).await
    }

    /// The ends of the first `n` calls of `method`, once they have ended.
    pub async fn ends_of(&mut self, method: &str, n: usize) -> Vec<pb::CallEnded> {
        let done = |events: &[pb::Event]| {
            let ids = events::calls_of(events, method);
            ids.len() >= n
                && ids[..n]
                    .iter()
                    .all(|&id| events::ended(events, id).is_some())
        };
        if !self.ws.within(LIMIT, done).await {
            let events = &self.ws.events;
            let ids = events::calls_of(events, method);
            let ended = ids
                .iter()
                .filter(|&&id| events::ended(events, id).is_some())
                .count();
            panic!(
                "{} calls of {method} started and {ended} ended within {LIMIT:?}; {n} should have ended",
                ids.len()
            );
        }
        let events = &self.ws.events;
        events::calls_of(events, method)[..n]
            .iter()
            .map(|&id| events::ended(events, id).expect("ended").clone())
            .collect()
    }
}

/// What a test found wrong, reported all at once by [`Findings::finish`].
#[derive(Default)]
pub struct Findings(Vec<String>);

impl Findings {
    pub fn new() -> Findings {
        Findings::default()
    }

    /// Notes `what` unless `ok`.
    pub fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.0.push(what());
        }
    }

    /// Notes `what` whatever happens: something that cannot go on.
    pub fn fail(&mut self, what: String) {
        self.0.push(what);
    }

    /// The client saw `messages` messages, then `status`.
    pub fn outcome(&mut self, call: &str, out: &Outcome, status: u32, messages: usize) {
        self.check(
            out.grpc_status() == Some(status) && out.messages.len() == messages,
            || {
                format!(
                    "{call}: want {messages} message(s), then status {status}; got {}",
                    out.summary()
                )
            },
        );
    }

    /// The next message of `call` arrives (within `LIMIT`): whether it did;
    /// if not, notes what came instead.
    pub async fn message(&mut self, what: &str, call: &mut Call) -> bool {
        match timeout(LIMIT, call.message()).await {
            Ok(Ok(Some(_))) => true,
            other => {
                self.0.push(format!("{what}: {other:?}"));
                false
            }
        }
    }

    /// The first of `end.endings` must be `side` with one of `kinds` (and
    /// `code`, when given); see [`check_first_ending`].
    pub fn ending(
        &mut self,
        call: &str,
        end: &pb::CallEnded,
        side: EndSide,
        kinds: &[EndKind],
        code: Option<u32>,
    ) {
        if let Err(e) = check_first_ending(end, side, kinds, code) {
            self.0.push(format!("{call}: {e}"));
        }
    }

    /// The upstream's trailers, with `code`, ended the call first.
    pub fn trailers(&mut self, call: &str, end: &pb::CallEnded, code: u32) {
        self.ending(
            call,
            end,
            EndSide::Upstream,
            &[EndKind::Trailers],
            Some(code),
        );
    }

    /// The upstream answered the call: its trailers, with `code`, ended it
    /// first, and `code` is the captured `grpc_status`.
    pub fn answered(&mut self, call: &str, end: &pb::CallEnded, code: u32) {
        self.trailers(call, end, code);
        self.status(call, end, Some(code));
    }

    /// The client's reset (CANCEL), read as `kind` (RESET, or DEADLINE at or
    /// after the call's deadline), ended the call first, and no
    /// `grpc_status` was captured.
    pub fn client_reset(&mut self, call: &str, end: &pb::CallEnded, kind: EndKind) {
        self.ending(call, end, EndSide::Client, &[kind], Some(CANCEL));
        self.status(call, end, None);
    }

    /// Like [`Findings::ending`], with several acceptable firsts (a race
    /// that real implementations lose either way).
    pub fn ending_either(
        &mut self,
        call: &str,
        end: &pb::CallEnded,
        firsts: &[(EndSide, &[EndKind], Option<u32>)],
    ) {
        let errors: Vec<String> = firsts
            .iter()
            .filter_map(|(side, kinds, code)| check_first_ending(end, *side, kinds, *code).err())
            .collect();
        if errors.len() == firsts.len() {
            self.0.push(format!("{call}: {}", errors.join("; nor ")));
        }
    }

    /// The captured `grpc_status` must be `status`.
    pub fn status(&mut self, call: &str, end: &pb::CallEnded, status: Option<u32>) {
        if end.grpc_status != status {
            self.0.push(format!(
                "{call}: captured grpc_status {:?}, not {status:?} (relay_error {:?}, endings [{}])",
                end.grpc_status,
                end.relay_error,
                describe_endings(end)
            ));
        }
    }

    /// The client ended the call first: the status it saw
    /// (`CallEnded::client_status`) is `status` (CANCELLED or
    /// DEADLINE_EXCEEDED), and the captured `grpc_status` is none, or,
    /// when the upstream's trailers crossed the client's cancel (they
    /// follow it in the endings), theirs.
    pub fn client_ended(&mut self, call: &str, end: &pb::CallEnded, status: u32) {
        if end.client_status() != Some(status) {
            self.0.push(format!(
                "{call}: the client saw {:?}, not {status} (endings [{}])",
                end.client_status(),
                describe_endings(end)
            ));
        }
        let crossed = end
            .endings
            .iter()
            .skip(1)
            .find(|e| e.side() == EndSide::Upstream && e.kind() == EndKind::Trailers)
            .map(|e| e.code);
        if end.grpc_status.is_some() && end.grpc_status != crossed {
            self.0.push(format!(
                "{call}: captured grpc_status {:?} although the client ended the call first                  (endings [{}])",
                end.grpc_status,
                describe_endings(end)
            ));
        }
    }

    /// Panics with everything found, if anything was.
    pub fn finish(self) {
        assert!(
            self.0.is_empty(),
            "{} problem(s):\n  - {}",
            self.0.len(),
            self.0.join("\n  - ")
        );
    }
}
