//! What the relay costs a call: latency of sequential unary calls and
//! throughput of concurrent ones, direct versus through the relay, with
//! capture on. Prints the numbers (run with `--release --nocapture` for
//! meaningful ones); asserts only that the relay is not grossly slower.

use std::time::{Duration, Instant};

use loom_tests::TestRelay;
use loom_tests::backend::Backend;
use loom_tests::probe::ProbeRequest;
use loom_tests::probe::probe_client::ProbeClient;
use tonic::transport::Channel;

async fn client(addr: std::net::SocketAddr) -> ProbeClient<Channel> {
    loom_tests::probe_client(addr, false).await
}

fn req() -> ProbeRequest {
    ProbeRequest {
        text: "overhead".into(),
        blob: vec![7; 256],
        ..Default::default()
    }
}

/// Sorted latencies of `n` sequential calls.
async fn sequential(addr: std::net::SocketAddr, n: usize) -> Vec<Duration> {
    let mut c = client(addr).await;
    for _ in 0..50 {
        c.unary(req()).await.expect("warm-up call");
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        c.unary(req()).await.expect("call");
        out.push(t.elapsed());
    }
    out.sort();
    out
}

/// Calls per second with `concurrency` calls in flight on one connection.
async fn concurrent(addr: std::net::SocketAddr, concurrency: usize, total: usize) -> f64 {
    let c = client(addr).await;
    let t = Instant::now();
    let per_task = total / concurrency;
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let mut c = c.clone();
            tokio::spawn(async move {
                for _ in 0..per_task {
                    c.unary(req()).await.expect("call");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    (per_task * concurrency) as f64 / t.elapsed().as_secs_f64()
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p / 100.0).ceil() as usize).clamp(1, sorted.len()) - 1]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_overhead_is_small() {
    let backend = Backend::start().await;
    let relay = TestRelay::start(backend.addr).await;
    let n = 2000;
    let direct = sequential(backend.addr, n).await;
    let relayed = sequential(relay.relay_addr, n).await;
    let direct_rps = concurrent(backend.addr, 32, 8000).await;
    let relayed_rps = concurrent(relay.relay_addr, 32, 8000).await;
    for p in [50.0, 90.0, 99.0] {
        eprintln!(
            "unary p{p}: direct {:?}, through loom {:?} (+{:?})",
            pct(&direct, p),
            pct(&relayed, p),
            pct(&relayed, p).saturating_sub(pct(&direct, p))
        );
    }
    eprintln!(
        "32 concurrent unary calls: direct {direct_rps:.0}/s, through loom {relayed_rps:.0}/s ({:.0}%)",
        relayed_rps / direct_rps * 100.0
    );
    // Generous bounds: this runs in debug builds on loaded CI machines.
    assert!(pct(&relayed, 50.0) < pct(&direct, 50.0) * 10 + Duration::from_millis(5));
    assert!(relayed_rps > direct_rps / 10.0);
    let events = relay.capture_events().await;
    assert!(
        events.len() >= 4 * (2 * n + 50 + 8000),
        "every call captured: {}",
        events.len()
    );
    relay.shutdown().await;
    backend.stop().await;
}
