//! How calls end, through the relay, against servers that are not tonic
//! (grpc-go, grpcio, grpc-js), with a client that chooses every HTTP/2 frame
//! (`loom_tests::h2_client`): every kind of call completes; deadlines; the
//! client's cancel at each point of a call. Each case checks what the client
//! saw and the capture's `CallEnded.endings` (format 1.2): its first entry
//! says what ended the call, and the entries are in offset order.
//!
//! The upstream's own ends (resets, GOAWAY, stops, restarts) are in
//! `call_end_upstream`, load in `call_end_load`, other clients in
//! `call_end_interop`.

use std::time::Duration;

use h2::Reason;
use loom_shared::pb::{EndKind, EndSide};
use loom_tests::each_server;
use loom_tests::endings::{CANCEL, Findings, LIMIT, Rig};
use loom_tests::peer::{Kind, Shape};
use tokio::time::timeout_at;

/// Every kind of call completes, with the upstream's trailers as its end.
async fn every_kind_completes(kind: Kind) {
    let mut rig = Rig::start(kind, &[]).await;
    let mut found = Findings::new();

    let out = rig.unary(Shape::Unary, &[], 1, 16).await;
    found.outcome("unary", &out, 0, 1);
    let out = rig.unary(Shape::ServerStream, &[], 3, 16).await;
    found.outcome("server stream", &out, 0, 3);

    let mut call = rig.call(Shape::ClientStream, &[]).await;
    for _ in 0..3 {
        call.send(&rig.request(Shape::ClientStream, 1, 16));
    }
    call.half_close();
    let out = call.finish_within(LIMIT).await;
    found.outcome("client stream", &out, 0, 1);

    // Ping-pong: each echo arrives before the next request goes.
    let mut call = rig.call(Shape::Bidi, &[]).await;
    for i in 0..2 {
        call.send(&rig.request(Shape::Bidi, 1, 16));
        found.message(&format!("bidi echo {i}"), &mut call).await;
    }
    call.half_close();
    let out = call.finish_within(LIMIT).await;
    found.outcome("bidi", &out, 0, 0);

    for shape in Shape::ALL {
        let end = rig.end(shape).await;
        found.answered(&format!("{shape:?}"), &end, 0);
    }
    found.finish();
}

each_server!(
    every_kind_completes: every_kind_completes_against_grpc_go,
    every_kind_completes_against_grpcio,
    every_kind_completes_against_grpc_js
);

/// A unary call with `grpc-timeout: <deadline>m` that the server holds; the
/// client resets it (CANCEL) `reset_after` after it started, as a gRPC
/// client does when its deadline passes, unless the server answered first.
/// Returns whether the server had answered.
async fn deadline_call(rig: &Rig, deadline_ms: u64, reset_after: Duration) -> bool {
    let grpc_timeout = format!("{deadline_ms}m");
    let mut call = rig
        .call(
            Shape::Unary,
            &[("grpc-timeout", &grpc_timeout), ("x-delay-ms", "10000")],
        )
        .await;
    call.send_last(&rig.request(Shape::Unary, 1, 16));
    let answered = timeout_at(call.sent_at + reset_after, call.headers())
        .await
        .is_ok();
    if !answered {
        call.reset(Reason::CANCEL);
    }
    answered
}

/// A client's reset at or after its deadline reads as DEADLINE; before it,
/// as a plain RESET. grpc-go enforces no deadline on its own, so its calls
/// end only by the client; grpcio and grpc-js answer DEADLINE_EXCEEDED
/// themselves when `grpc-timeout` passes, which may cross the client's
/// reset at the deadline (either may then come first).
async fn deadlines(kind: Kind) {
    let mut rig = Rig::start(kind, &[]).await;
    let mut found = Findings::new();
    let server_enforces = kind != Kind::GrpcGo;

    // Reset exactly when the deadline passes, as real clients do.
    let answered = deadline_call(&rig, 200, Duration::from_millis(200)).await;
    found.check(!answered || server_enforces, || {
        "at the deadline: the server answered".to_owned()
    });
    // Reset well before the deadline: a cancel, not a deadline.
    deadline_call(&rig, 10_000, Duration::from_millis(100)).await;
    if !server_enforces {
        // Reset well after the deadline.
        deadline_call(&rig, 100, Duration::from_millis(300)).await;
    }

    let ends = rig
        .ends(Shape::Unary, if server_enforces { 2 } else { 3 })
        .await;
    if server_enforces {
        found.ending_either(
            "reset at the deadline",
            &ends[0],
            &[
                (EndSide::Client, &[EndKind::Deadline], Some(CANCEL)),
                (EndSide::Upstream, &[EndKind::Trailers], Some(4)),
            ],
        );
        if ends[0].endings.first().map(|e| e.side()) == Some(EndSide::Upstream) {
            found.status("the server's deadline", &ends[0], Some(4));
        } else {
            found.status("reset at the deadline", &ends[0], None);
        }
    } else {
        found.client_reset("reset at the deadline", &ends[0], EndKind::Deadline);
        found.client_reset("reset after the deadline", &ends[2], EndKind::Deadline);
    }
    found.client_reset("reset before the deadline", &ends[1], EndKind::Reset);
    found.finish();
}

each_server!(
    deadlines: deadlines_against_grpc_go,
    deadlines_against_grpcio,
    deadlines_against_grpc_js
);

/// The client cancels (RST_STREAM CANCEL) at each point of a call: before
/// the response headers (bidi, the server holding its answer), after the
/// first response (bidi), in the middle of a client stream, and after
/// half-closing (unary, the server holding its answer). Each ends as the
/// client's RESET with no status, and the cancel reaches the server.
async fn client_cancels(kind: Kind) {
    let mut rig = Rig::start(kind, &[]).await;
    let mut found = Findings::new();
    let hold = [("x-delay-ms", "10000")];

    // Before the response headers.
    let mut call = rig.call(Shape::Bidi, &hold).await;
    call.send(&rig.request(Shape::Bidi, 1, 16));
    rig.upstream_has(Shape::Bidi, 1).await;
    call.reset(Reason::CANCEL);

    // After the first response.
    let mut call = rig.call(Shape::Bidi, &[]).await;
    call.send(&rig.request(Shape::Bidi, 1, 16));
    if found.message("the first response", &mut call).await {
        call.reset(Reason::CANCEL);
    }

    // In the middle of a client stream.
    let mut call = rig.call(Shape::ClientStream, &[]).await;
    call.send(&rig.request(Shape::ClientStream, 1, 16));
    call.send(&rig.request(Shape::ClientStream, 1, 16));
    rig.upstream_has(Shape::ClientStream, 1).await;
    call.reset(Reason::CANCEL);

    // After half-closing.
    let mut call = rig.call(Shape::Unary, &hold).await;
    call.send_last(&rig.request(Shape::Unary, 1, 16));
    rig.upstream_has(Shape::Unary, 1).await;
    call.reset(Reason::CANCEL);

    let bidi = rig.ends(Shape::Bidi, 2).await;
    let client_stream = rig.ends(Shape::ClientStream, 1).await;
    let unary = rig.ends(Shape::Unary, 1).await;
    for (call, end) in [
        ("before the response headers", &bidi[0]),
        ("after the first response", &bidi[1]),
        ("in the middle of a client stream", &client_stream[0]),
        ("after half-closing", &unary[0]),
    ] {
        found.client_reset(call, end, EndKind::Reset);
    }
    for (shape, n) in [
        (Shape::Bidi, 2),
        (Shape::ClientStream, 1),
        (Shape::Unary, 1),
    ] {
        let reached = rig.upstream_cancelled(shape, n).await;
        found.check(reached, || {
            format!(
                "the {} server saw fewer than {n} cancelled calls of {}: {:?}",
                kind.name(),
                rig.method(shape),
                rig.peer.lines()
            )
        });
    }
    found.finish();
}

each_server!(
    client_cancels: client_cancels_at_each_point_against_grpc_go,
    client_cancels_at_each_point_against_grpcio,
    client_cancels_at_each_point_against_grpc_js
);
