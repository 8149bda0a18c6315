//! How calls end when the upstream ends them, through the relay, against
//! servers that are not tonic: RST_STREAM (grpc-js with any code, grpc-go
//! on x/net/http2 with INTERNAL_ERROR: grpc-go's own transport cannot send
//! one on demand; grpcio cannot either), GOAWAY mid-call (grpc-js, and an
//! upstream of hand-made frames for a GOAWAY that covers the call), the
//! server stopping gracefully and abruptly (all three), grpcio cancelling a
//! call itself, and each server restarted on the same port. The client gets
//! UNAVAILABLE from the relay when the upstream broke the call, and the
//! capture's `CallEnded.endings` (format 1.2) says who ended it and how.

use loom_shared::pb::{self, EndKind, EndSide};
use loom_tests::endings::{Findings, LIMIT, Rig};
use loom_tests::h2_client::{Conn, Windows};
use loom_tests::peer::{Kind, Peer, Shape};
use loom_tests::raw::GoawayUpstream;
use loom_tests::ws::WsClient;
use loom_tests::{TestRelay, each_server, events};

/// UNAVAILABLE.
const UNAVAILABLE: u32 = 14;

/// The capture says the upstream ended the call with `kinds` (and `code`),
/// and that the relay told the client UNAVAILABLE.
fn broken_by_upstream(
    found: &mut Findings,
    call: &str,
    end: &pb::CallEnded,
    kinds: &[EndKind],
    code: Option<u32>,
) {
    found.ending(call, end, EndSide::Upstream, kinds, code);
    found.status(call, end, Some(UNAVAILABLE));
    found.check(!end.relay_error.is_empty(), || {
        format!("{call}: no relay_error")
    });
}

/// grpc-js resets streams with the code asked: INTERNAL_ERROR after one
/// response of a server stream, REFUSED_STREAM before a unary call's
/// response, CANCEL after a bidi call's first echo (an upstream's CANCEL is
/// not the client's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_resets_from_grpc_js() {
    let mut rig = Rig::start(Kind::GrpcJs, &[]).await;
    let mut found = Findings::new();
    let resets = [
        ("INTERNAL_ERROR mid-stream", Shape::ServerStream, 2),
        ("REFUSED_STREAM", Shape::Unary, 7),
        ("CANCEL from the upstream", Shape::Bidi, 8),
    ];
    let after_one = [("x-reset", "2"), ("x-after", "1")];
    let out = rig.unary(Shape::ServerStream, &after_one, 3, 0).await;
    found.outcome(resets[0].0, &out, UNAVAILABLE, 1);
    let out = rig.unary(Shape::Unary, &[("x-reset", "7")], 1, 0).await;
    found.outcome(resets[1].0, &out, UNAVAILABLE, 0);
    let mut call = rig
        .call(Shape::Bidi, &[("x-reset", "8"), ("x-after", "1")])
        .await;
    call.send(&rig.request(Shape::Bidi, 1, 0));
    found.message("the first echo", &mut call).await;
    // The second echo is where the server resets.
    call.send(&rig.request(Shape::Bidi, 1, 0));
    let out = call.finish_within(LIMIT).await;
    found.outcome(resets[2].0, &out, UNAVAILABLE, 0);

    for (call, shape, code) in resets {
        let end = rig.end(shape).await;
        broken_by_upstream(&mut found, call, &end, &[EndKind::Reset], Some(code));
    }
    found.finish();
}

/// grpc-go served by Go's x/net/http2 (`-http-server`) resets a stream
/// (INTERNAL_ERROR) after its first response.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_reset_from_grpc_go_on_x_net_http2() {
    let mut rig = Rig::start(Kind::GrpcGo, &["-http-server"]).await;
    let mut found = Findings::new();
    let call = "INTERNAL_ERROR mid-stream";
    let after_one = [("x-reset", "2"), ("x-after", "1")];
    let out = rig.unary(Shape::ServerStream, &after_one, 3, 8).await;
    found.outcome(call, &out, UNAVAILABLE, 1);
    let end = rig.end(Shape::ServerStream).await;
    broken_by_upstream(&mut found, call, &end, &[EndKind::Reset], Some(2));
    found.finish();
}

/// grpc-js sends GOAWAY (INTERNAL_ERROR) mid-call, after one response of
/// a server stream, with the call's own stream as the last one, then closes
/// the connection: a GOAWAY or the connection lost, either may be what the
/// relay reports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_goaway_and_close_mid_call_from_grpc_js() {
    let mut rig = Rig::start(Kind::GrpcJs, &[]).await;
    let mut found = Findings::new();
    let call = "GOAWAY and close";
    let after_one = [("x-goaway", "2"), ("x-after", "1")];
    let out = rig.unary(Shape::ServerStream, &after_one, 5, 0).await;
    found.outcome(call, &out, UNAVAILABLE, 1);
    let end = rig.end(Shape::ServerStream).await;
    found.ending_either(
        call,
        &end,
        &[
            (EndSide::Upstream, &[EndKind::Goaway], Some(2)),
            (EndSide::Upstream, &[EndKind::Disconnect], None),
        ],
    );
    found.status(call, &end, Some(UNAVAILABLE));
    found.finish();
}

/// An upstream answers a call in part (headers, one message), then sends a
/// GOAWAY whose last stream is below the call's, so the GOAWAY covers it:
/// the call is over, with NO_ERROR (a graceful GOAWAY is no reason to wait)
/// and with ENHANCE_YOUR_CALM (11). The connection stays open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_goaway_covering_the_call() {
    let mut found = Findings::new();
    for code in [0, 11] {
        let upstream = GoawayUpstream::start(code).await;
        let relay = TestRelay::start_with(upstream.addr, |c| c.reflection = false).await;
        let mut ws = WsClient::connect(relay.ui_addr).await;
        let conn = Conn::connect(relay.relay_addr).await;
        let call = format!("GOAWAY {code} covering the call");
        let out = conn.unary("/raw.Upstream/Call", &[], b"").await;
        found.outcome(&call, &out, UNAVAILABLE, 1);
        let ended = ws
            .within(LIMIT, |events| {
                !events::ended_calls(events, "/raw.Upstream/Call").is_empty()
            })
            .await;
        match events::ended_calls(&ws.events, "/raw.Upstream/Call").first() {
            Some((_, end)) if ended => {
                broken_by_upstream(&mut found, &call, end, &[EndKind::Goaway], Some(code));
            }
            _ => found.fail(format!("{call}: the call did not end in the capture")),
        }
    }
    found.finish();
}

/// The server stops after one response of a two-response server stream:
/// gracefully (GOAWAY), the call finishes and the next one finds nobody
/// there; abruptly, the call dies with the connection, or the server ends
/// it. (Small responses only: grpcio, stopped gracefully, closes its
/// connection once its handlers are done, and a large response still on
/// the way is then cut by the TCP reset; grpcio's third is 1 MiB.)
async fn upstream_stops(kind: Kind) {
    let mut found = Findings::new();
    let slowly = ("x-delay-ms", "50");

    let mut rig = Rig::start(kind, &[]).await;
    let graceful = [("x-stop", "graceful"), ("x-after", "1"), slowly];
    let out = rig.unary(Shape::ServerStream, &graceful, 2, 8).await;
    found.outcome("graceful stop: the call should finish", &out, 0, 2);
    let out = rig.unary(Shape::Unary, &[], 1, 8).await;
    found.outcome("after a graceful stop", &out, UNAVAILABLE, 0);
    let end = rig.end(Shape::ServerStream).await;
    found.trailers("graceful stop", &end, 0);
    let end = rig.end(Shape::Unary).await;
    let call = "after a graceful stop";
    broken_by_upstream(&mut found, call, &end, &[EndKind::Disconnect], None);

    let mut rig = Rig::start(kind, &[]).await;
    let abrupt = [("x-stop", "abrupt"), ("x-after", "1"), slowly];
    let out = rig.unary(Shape::ServerStream, &abrupt, 2, 8).await;
    found.outcome("abrupt stop", &out, UNAVAILABLE, 1);
    let end = rig.end(Shape::ServerStream).await;
    let call = "abrupt stop";
    match kind {
        // grpcio's stop without grace ends the calls under way itself, with
        // UNAVAILABLE.
        Kind::Grpcio => found.answered(call, &end, UNAVAILABLE),
        // grpc-go's Stop closes connections without a GOAWAY.
        Kind::GrpcGo => broken_by_upstream(&mut found, call, &end, &[EndKind::Disconnect], None),
        // grpc-js's forceShutdown sends GOAWAY (CANCEL) and closes.
        Kind::GrpcJs => {
            let kinds = [EndKind::Goaway, EndKind::Disconnect];
            broken_by_upstream(&mut found, call, &end, &kinds, None);
        }
    }
    found.finish();
}

each_server!(
    upstream_stops: upstream_stops_grpc_go,
    upstream_stops_grpcio,
    upstream_stops_grpc_js
);

/// grpcio cancels a call itself (`ServicerContext.cancel()`) after one
/// response. grpc core sends that as trailers (CANCELLED), not as a reset:
/// the upstream's status, which is not the client's cancel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_cancel_from_grpcio_is_its_status() {
    let mut rig = Rig::start(Kind::Grpcio, &[]).await;
    let mut found = Findings::new();
    let call = "the server's cancel";
    let after_one = [("x-cancel", "1"), ("x-after", "1")];
    let out = rig.unary(Shape::ServerStream, &after_one, 3, 0).await;
    found.outcome(call, &out, 1, 1);
    let end = rig.end(Shape::ServerStream).await;
    found.answered(call, &end, 1);
    found.finish();
}

/// The upstream dies; a call while it is down is UNAVAILABLE (the upstream
/// unreachable); started again on the same port, the next call succeeds.
async fn upstream_restarts(kind: Kind) {
    let mut found = Findings::new();
    let peer = Peer::start(kind, &[]).await;
    let port = peer.addr.port();
    let mut rig = Rig::around(peer, Windows::default()).await;
    let out = rig.unary(Shape::Unary, &[], 1, 8).await;
    found.check(out.grpc_status() == Some(0), || {
        format!("before: {}", out.summary())
    });
    rig.peer.kill();
    let out = rig.unary(Shape::Unary, &[], 1, 8).await;
    found.outcome("while it is down", &out, UNAVAILABLE, 0);
    rig.peer = Peer::start_on(kind, port, &[]).await;
    let out = rig.unary(Shape::Unary, &[], 1, 8).await;
    found.check(out.grpc_status() == Some(0), || {
        format!("the first call after the restart: {}", out.summary())
    });

    let ends = rig.ends(Shape::Unary, 3).await;
    found.trailers("before", &ends[0], 0);
    let call = "while it is down";
    broken_by_upstream(&mut found, call, &ends[1], &[EndKind::Disconnect], None);
    found.answered("after the restart", &ends[2], 0);
    found.finish();
}

each_server!(
    upstream_restarts: upstream_restarts_grpc_go,
    upstream_restarts_grpcio,
    upstream_restarts_grpc_js
);
