//! Many streams and slow readers on one client connection, through the
//! relay to grpc-go: a thousand bidi calls open at once all complete, and a
//! client that reads nothing of one large server stream holds back only
//! that stream, not the other calls on its connection (or on the relay's
//! connection to the upstream). Every call ends with the upstream's
//! trailers in the capture's `CallEnded.endings`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use loom_shared::pb::{EndKind, EndSide};
use loom_tests::endings::{Findings, LIMIT, Rig};
use loom_tests::events::check_first_ending;
use loom_tests::h2_client::{Outcome, Windows};
use loom_tests::peer::{Kind, Peer, Shape};
use tokio::time::error::Elapsed;
use tokio::time::timeout;

const STREAMS: usize = 1000;

/// How long a call may take beside a stream that is not read.
const PROMPTLY: Duration = Duration::from_secs(10);

/// A call beside a stream that is not read completed with `messages`
/// messages, or took over [`PROMPTLY`]: whether it finished in time.
fn promptly(
    found: &mut Findings,
    call: &str,
    out: Result<Outcome, Elapsed>,
    messages: usize,
) -> bool {
    match out {
        Ok(out) => {
            found.outcome(call, &out, 0, messages);
            true
        }
        Err(_) => {
            found.fail(format!(
                "{call} took over {PROMPTLY:?} while another stream was not read"
            ));
            false
        }
    }
}

/// A thousand bidi calls on one connection, all open at once: each sends a
/// request and reads its echo, then waits until every other one has too,
/// then half-closes and reads the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_streams_on_one_connection() {
    let mut rig = Rig::start(Kind::GrpcGo, &[]).await;
    let mut found = Findings::new();
    // One call first, so that the relay's SETTINGS have arrived.
    let out = rig.unary(Shape::Unary, &[], 1, 8).await;
    assert_eq!(out.grpc_status(), Some(0), "{}", out.summary());
    let allowed = rig.conn.max_concurrent_streams();
    assert!(
        allowed >= STREAMS,
        "the relay allows {allowed} concurrent streams on a connection, not {STREAMS}"
    );

    let started = Instant::now();
    let all_open = Arc::new(tokio::sync::Barrier::new(STREAMS));
    let echoed = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..STREAMS)
        .map(|_| {
            let conn = rig.conn.clone();
            let path = rig.method(Shape::Bidi);
            let request = rig.request(Shape::Bidi, 1, 32);
            let all_open = all_open.clone();
            let echoed = echoed.clone();
            tokio::spawn(async move {
                let mut call = conn.start(path, &[]).await;
                call.send(&request);
                let first = call.message().await;
                if !matches!(first, Ok(Some(_))) {
                    return format!("the echo: {first:?}");
                }
                echoed.fetch_add(1, Ordering::SeqCst);
                all_open.wait().await;
                call.half_close();
                let out = call.finish().await;
                if out.grpc_status() == Some(0) && out.messages.is_empty() {
                    String::new()
                } else {
                    out.summary()
                }
            })
        })
        .collect();
    let all = timeout(
        Duration::from_secs(60),
        futures_util::future::join_all(tasks),
    )
    .await;
    let Ok(results) = all else {
        panic!(
            "{} of {STREAMS} calls had their echo within 60 s (the rest never got theirs)",
            echoed.load(Ordering::SeqCst)
        );
    };
    let failed: Vec<String> = results
        .into_iter()
        .map(|r| r.expect("call task"))
        .filter(|r| !r.is_empty())
        .collect();
    found.check(failed.is_empty(), || {
        format!(
            "{} of {STREAMS} calls failed, e.g. {:?}",
            failed.len(),
            &failed[..failed.len().min(3)]
        )
    });
    eprintln!("{STREAMS} concurrent bidi calls in {:?}", started.elapsed());

    let ends = rig.ends(Shape::Bidi, STREAMS).await;
    // Not a thousand lines of the same problem: how many, and the first.
    let mut wrong = 0;
    let mut first = None;
    for (i, end) in ends.iter().enumerate() {
        let checked = check_first_ending(end, EndSide::Upstream, &[EndKind::Trailers], Some(0))
            .and_then(|()| match end.grpc_status {
                Some(0) => Ok(()),
                other => Err(format!("captured grpc_status {other:?}")),
            });
        if let Err(e) = checked {
            wrong += 1;
            first.get_or_insert(format!("call {i}: {e}"));
        }
    }
    found.check(wrong == 0, || {
        format!(
            "{wrong} of {STREAMS} captured ends are wrong; the first: {}",
            first.unwrap_or_default()
        )
    });
    found.finish();
}

/// One call reads nothing of an 8 MiB server stream (its window: 64 KiB)
/// while forty unary calls and a 1 MiB server stream on the same client
/// connection complete promptly; then it reads everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_holds_back_only_its_own_stream() {
    const BIG: u32 = 128;
    const PIECE: u32 = 64 << 10;
    let windows = Windows {
        stream: 64 << 10,
        connection: 16 << 20,
    };
    let peer = Peer::start(Kind::GrpcGo, &[]).await;
    let mut rig = Rig::around(peer, windows).await;
    let mut found = Findings::new();

    let mut slow = rig.call(Shape::ServerStream, &[]).await;
    slow.send_last(&rig.request(Shape::ServerStream, BIG, PIECE));
    timeout(LIMIT, slow.headers())
        .await
        .expect("the slow stream's headers")
        .expect("the slow stream's headers");

    let started = Instant::now();
    for i in 0..40 {
        let out = timeout(PROMPTLY, rig.unary(Shape::Unary, &[], 1, 1024)).await;
        if !promptly(&mut found, &format!("unary call {i}"), out, 1) {
            break;
        }
    }
    let out = timeout(PROMPTLY, rig.unary(Shape::ServerStream, &[], 16, PIECE)).await;
    promptly(&mut found, "the 1 MiB stream", out, 16);
    eprintln!(
        "the other calls took {:?} beside the unread stream",
        started.elapsed()
    );

    let out = slow.finish_within(LIMIT).await;
    found.outcome("the slow stream, read at last", &out, 0, BIG as usize);
    let ends = rig.ends(Shape::ServerStream, 2).await;
    found.trailers("the slow stream", &ends[0], 0);
    found.trailers("the 1 MiB stream", &ends[1], 0);
    found.finish();
}
