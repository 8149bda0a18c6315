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
use loom_tests::TestRelay;
use loom_tests::endings::{Findings, LIMIT, Rig};
use loom_tests::events;
use loom_tests::h2_client::{Conn, Outcome, Windows};
use loom_tests::peer::{Kind, Peer, Shape};
use loom_tests::raw::GoawayUpstream;
use loom_tests::ws::WsClient;
use tokio::time::timeout;

/// UNAVAILABLE.
const UNAVAILABLE: u32 = 14;

/// The client got `messages` messages, then UNAVAILABLE (from the relay).
fn unavailable_after(found: &mut Findings, call: &str, out: &Outcome, messages: usize) {
    found.check(
        out.grpc_status() == Some(UNAVAILABLE) && out.messages.len() == messages,
        || {
            format!(
                "{call}: want {messages} messages, then UNAVAILABLE; got {}",
                out.summary()
            )
        },
    );
}

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
    let out = rig
        .conn
        .unary(
            rig.method(Shape::ServerStream),
            &[("x-reset", "2"), ("x-after", "1")],
            &rig.request(Shape::ServerStream, 3, 0),
        )
        .await;
    unavailable_after(&mut found, "INTERNAL_ERROR mid-stream", &out, 1);
    let out = rig
        .conn
        .unary(
            rig.method(Shape::Unary),
            &[("x-reset", "7")],
            &rig.request(Shape::Unary, 1, 0),
        )
        .await;
    unavailable_after(&mut found, "REFUSED_STREAM", &out, 0);
    let mut call = rig
        .call(Shape::Bidi, &[("x-reset", "8"), ("x-after", "1")])
        .await;
    call.send(&rig.request(Shape::Bidi, 1, 0));
    match timeout(LIMIT, call.message()).await {
        Ok(Ok(Some(_))) => {}
        other => found.fail(format!("the first echo: {other:?}")),
    }
    // The second echo is where the server resets.
    call.send(&rig.request(Shape::Bidi, 1, 0));
    let out = call.finish_within(LIMIT).await;
    unavailable_after(&mut found, "CANCEL from the upstream", &out, 0);

    let end = &rig.ends(Shape::ServerStream, 1).await[0];
    broken_by_upstream(
        &mut found,
        "INTERNAL_ERROR mid-stream",
        end,
        &[EndKind::Reset],
        Some(2),
    );
    let end = &rig.ends(Shape::Unary, 1).await[0];
    broken_by_upstream(
        &mut found,
        "REFUSED_STREAM",
        end,
        &[EndKind::Reset],
        Some(7),
    );
    let end = &rig.ends(Shape::Bidi, 1).await[0];
    broken_by_upstream(
        &mut found,
        "CANCEL from the upstream",
        end,
        &[EndKind::Reset],
        Some(8),
    );
    found.finish();
}

/// grpc-go served by Go's x/net/http2 (`-http-server`) resets a stream
/// (INTERNAL_ERROR) after its first response.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_reset_from_grpc_go_on_x_net_http2() {
    let mut rig = Rig::start(Kind::GrpcGo, &["-http-server"]).await;
    let mut found = Findings::new();
    let out = rig
        .conn
        .unary(
            rig.method(Shape::ServerStream),
            &[("x-reset", "2"), ("x-after", "1")],
            &rig.request(Shape::ServerStream, 3, 8),
        )
        .await;
    unavailable_after(&mut found, "INTERNAL_ERROR mid-stream", &out, 1);
    let end = &rig.ends(Shape::ServerStream, 1).await[0];
    broken_by_upstream(
        &mut found,
        "INTERNAL_ERROR mid-stream",
        end,
        &[EndKind::Reset],
        Some(2),
    );
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
    let out = rig
        .conn
        .unary(
            rig.method(Shape::ServerStream),
            &[("x-goaway", "2"), ("x-after", "1")],
            &rig.request(Shape::ServerStream, 5, 0),
        )
        .await;
    unavailable_after(&mut found, "GOAWAY and close", &out, 1);
    let end = &rig.ends(Shape::ServerStream, 1).await[0];
    found.ending_either(
        "GOAWAY and close",
        end,
        &[
            (EndSide::Upstream, &[EndKind::Goaway], Some(2)),
            (EndSide::Upstream, &[EndKind::Disconnect], None),
        ],
    );
    found.status("GOAWAY and close", end, Some(UNAVAILABLE));
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
        unavailable_after(&mut found, &call, &out, 1);
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

/// How a call ends when its server stops abruptly.
enum Abrupt {
    /// The connection breaks: the relay answers UNAVAILABLE.
    Broken(&'static [EndKind]),
    /// The server answers the call itself first, with this status.
    Status(u32),
}

/// The server stops after one response of a two-response server stream:
/// gracefully (GOAWAY), the call finishes and the next one finds nobody
/// there; abruptly, the call dies with the connection, or the server ends
/// it. (Small responses only: grpcio, stopped gracefully, closes its
/// connection once its handlers are done, and a large response still on
/// the way is then cut by the TCP reset; grpcio's third is 1 MiB.)
async fn upstream_stops(kind: Kind, abrupt: Abrupt) {
    let mut found = Findings::new();
    let slowly = ("x-delay-ms", "50");

    let mut rig = Rig::start(kind, &[]).await;
    let out = rig
        .conn
        .unary(
            rig.method(Shape::ServerStream),
            &[("x-stop", "graceful"), ("x-after", "1"), slowly],
            &rig.request(Shape::ServerStream, 2, 8),
        )
        .await;
    found.check(
        out.grpc_status() == Some(0) && out.messages.len() == 2,
        || format!("graceful stop: the call should finish; {}", out.summary()),
    );
    let out = rig
        .conn
        .unary(
            rig.method(Shape::Unary),
            &[],
            &rig.request(Shape::Unary, 1, 8),
        )
        .await;
    unavailable_after(&mut found, "after a graceful stop", &out, 0);
    let end = &rig.ends(Shape::ServerStream, 1).await[0];
    found.ending(
        "graceful stop",
        end,
        EndSide::Upstream,
        &[EndKind::Trailers],
        Some(0),
    );
    let end = &rig.ends(Shape::Unary, 1).await[0];
    broken_by_upstream(
        &mut found,
        "after a graceful stop",
        end,
        &[EndKind::Disconnect],
        None,
    );

    let mut rig = Rig::start(kind, &[]).await;
    let out = rig
        .conn
        .unary(
            rig.method(Shape::ServerStream),
            &[("x-stop", "abrupt"), ("x-after", "1"), slowly],
            &rig.request(Shape::ServerStream, 2, 8),
        )
        .await;
    unavailable_after(&mut found, "abrupt stop", &out, 1);
    let end = &rig.ends(Shape::ServerStream, 1).await[0];
    match abrupt {
        Abrupt::Broken(kinds) => broken_by_upstream(&mut found, "abrupt stop", end, kinds, None),
        Abrupt::Status(code) => {
            found.ending(
                "abrupt stop",
                end,
                EndSide::Upstream,
                &[EndKind::Trailers],
                Some(code),
            );
            found.status("abrupt stop", end, Some(code));
        }
    }
    found.finish();
}

/// grpcio cancels a call itself (`ServicerContext.cancel()`) after one
/// response. grpc core sends that as trailers (CANCELLED), not as a reset:
/// the upstream's status, which is not the client's cancel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_cancel_from_grpcio_is_its_status() {
    let mut rig = Rig::start(Kind::Grpcio, &[]).await;
    let mut found = Findings::new();
    let out = rig
        .conn
        .unary(
            rig.method(Shape::ServerStream),
            &[("x-cancel", "1"), ("x-after", "1")],
            &rig.request(Shape::ServerStream, 3, 0),
        )
        .await;
    found.check(
        out.grpc_status() == Some(1) && out.messages.len() == 1,
        || format!("want 1 message, then CANCELLED; got {}", out.summary()),
    );
    let end = &rig.ends(Shape::ServerStream, 1).await[0];
    let call = "the server's cancel";
    found.ending(call, end, EndSide::Upstream, &[EndKind::Trailers], Some(1));
    found.status(call, end, Some(1));
    found.finish();
}

/// grpcio's stop without grace ends the calls under way itself, with
/// UNAVAILABLE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_stops_grpcio() {
    upstream_stops(Kind::Grpcio, Abrupt::Status(UNAVAILABLE)).await;
}

/// grpc-go's Stop closes connections without a GOAWAY.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_stops_grpc_go() {
    upstream_stops(Kind::GrpcGo, Abrupt::Broken(&[EndKind::Disconnect])).await;
}

/// grpc-js's forceShutdown sends GOAWAY (CANCEL) and closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_stops_grpc_js() {
    upstream_stops(
        Kind::GrpcJs,
        Abrupt::Broken(&[EndKind::Goaway, EndKind::Disconnect]),
    )
    .await;
}

/// The upstream dies; a call while it is down is UNAVAILABLE (the upstream
/// unreachable); started again on the same port, the next call succeeds.
async fn upstream_restarts(kind: Kind) {
    let mut found = Findings::new();
    let peer = Peer::start(kind, &[]).await;
    let port = peer.addr.port();
    let mut rig = Rig::around(peer, Windows::default()).await;
    let call = |rig: &Rig| {
        let conn = rig.conn.clone();
        let path = rig.method(Shape::Unary);
        let request = rig.request(Shape::Unary, 1, 8);
        async move { conn.unary(path, &[], &request).await }
    };
    let out = call(&rig).await;
    found.check(out.grpc_status() == Some(0), || {
        format!("before: {}", out.summary())
    });
    rig.peer.kill();
    let out = call(&rig).await;
    unavailable_after(&mut found, "while it is down", &out, 0);
    rig.peer = Peer::start_on(kind, port, &[]).await;
    let out = call(&rig).await;
    found.check(out.grpc_status() == Some(0), || {
        format!("the first call after the restart: {}", out.summary())
    });

    let ends = rig.ends(Shape::Unary, 3).await;
    found.ending(
        "before",
        &ends[0],
        EndSide::Upstream,
        &[EndKind::Trailers],
        Some(0),
    );
    broken_by_upstream(
        &mut found,
        "while it is down",
        &ends[1],
        &[EndKind::Disconnect],
        None,
    );
    found.ending(
        "after the restart",
        &ends[2],
        EndSide::Upstream,
        &[EndKind::Trailers],
        Some(0),
    );
    found.status("after the restart", &ends[2], Some(0));
    found.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_restarts_grpc_go() {
    upstream_restarts(Kind::GrpcGo).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_restarts_grpcio() {
    upstream_restarts(Kind::Grpcio).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_restarts_grpc_js() {
    upstream_restarts(Kind::GrpcJs).await;
}
