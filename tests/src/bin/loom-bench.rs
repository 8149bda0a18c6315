//! `loom-bench`: the tonic backend, the load generator and the WebSocket
//! consumer of `scripts/bench.sh`.
//!
//! - `loom-bench backend`: the tonic Probe backend on 127.0.0.1:0; prints
//!   `PORT n`, serves until stdin closes. (`tests/go/bench` is the grpc-go
//!   one, answering the same calls with the same bytes.)
//! - `loom-bench load --target ADDR --workload W --concurrency N --seconds S
//!   [--connections C]`: drives one workload against ADDR with N calls in
//!   flight for S seconds (after a warm-up), the calls spread round-robin
//!   over C HTTP/2 connections (default 1; each its own tonic `Channel`, so
//!   its own TCP connection), and prints one JSON line: calls, calls/s, MB/s
//!   of payload received, p50 and p99 call latency in µs, errors.
//! - `loom-bench ws --url URL`: a consumer of the relay's live feed in a
//!   process of its own. Prints `READY` once the first batch (the backlog,
//!   always sent) has arrived, reads every batch and decodes its events
//!   until SIGTERM/SIGINT or the relay closes the socket, then prints one
//!   JSON line: events, batches, bytes, the gaps that say it fell behind
//!   (and the events they name lost) and any other gaps.
//!
//! Workloads: `unary` (100-byte request and reply), `stream` (a server
//! stream of 100 × 64 KiB replies per call), `bidi` (100 ping-pong
//! messages of 100 bytes per call).
//!
//! A benchmark, not a test: it measures, it asserts nothing.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use loom_tests::backend::Backend;
use loom_tests::probe::ProbeRequest;
use loom_tests::probe::probe_client::ProbeClient;
use tonic::transport::Channel;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Workload {
    Unary,
    Stream,
    Bidi,
}

const STREAM_REPLIES: u32 = 100;
const STREAM_REPLY_BYTES: u32 = 64 << 10;
const BIDI_MESSAGES: usize = 100;
const SMALL: usize = 100;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    match args.first().map(String::as_str) {
        Some("backend") => runtime.block_on(backend()),
        Some("load") => runtime.block_on(load(&args[1..])),
        Some("ws") => runtime.block_on(ws(&args[1..])),
        _ => {
            eprintln!(
                "usage: loom-bench backend | loom-bench load --target ADDR --workload unary|stream|bidi --concurrency N --seconds S [--connections C] | loom-bench ws --url URL"
            );
            std::process::exit(2);
        }
    }
}

async fn backend() {
    let backend = Backend::start().await;
    println!("PORT {}", backend.addr.port());
    // Until stdin closes.
    let _ = tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
    })
    .await;
    backend.stop().await;
}

fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

async fn load(args: &[String]) {
    let target: SocketAddr = flag(args, "--target")
        .and_then(|t| t.parse().ok())
        .expect("--target ADDR");
    let workload = match flag(args, "--workload") {
        Some("unary") => Workload::Unary,
        Some("stream") => Workload::Stream,
        Some("bidi") => Workload::Bidi,
        other => panic!("--workload unary|stream|bidi, not {other:?}"),
    };
    let concurrency: usize = flag(args, "--concurrency")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1);
    let seconds: f64 = flag(args, "--seconds")
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let connections: usize = flag(args, "--connections")
        .and_then(|c| c.parse().ok())
        .filter(|&c| c > 0)
        .unwrap_or(1);
    // One Channel per connection: each `connect()` opens its own HTTP/2
    // connection (clones of a Channel would share one).
    let mut clients = Vec::with_capacity(connections);
    for _ in 0..connections {
        let channel = Channel::from_shared(format!("http://{target}"))
            .expect("uri")
            .initial_stream_window_size(Some(2 << 20))
            .initial_connection_window_size(Some(16 << 20))
            .connect()
            .await
            .expect("connect");
        clients.push(
            ProbeClient::new(channel)
                .max_decoding_message_size(64 << 20)
                .max_encoding_message_size(64 << 20),
        );
    }
    let clients = Arc::new(Clients {
        clients,
        next: AtomicUsize::new(0),
    });

    // Warm-up, not measured.
    run(
        clients.clone(),
        workload,
        concurrency,
        Duration::from_millis(500),
    )
    .await;
    let result = run(
        clients,
        workload,
        concurrency,
        Duration::from_secs_f64(seconds),
    )
    .await;
    let mut latencies = result.latencies;
    latencies.sort_unstable();
    let pct = |p: f64| -> u64 {
        if latencies.is_empty() {
            return 0;
        }
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i]
    };
    println!(
        "{}",
        serde_json::json!({
            "calls": latencies.len(),
            "rps": latencies.len() as f64 / result.elapsed,
            "mbps": result.bytes as f64 / result.elapsed / 1e6,
            "p50_us": pct(0.50),
            "p99_us": pct(0.99),
            "errors": result.errors,
            "connections": connections,
        })
    );
}

/// The connections of one load, taken in turn call by call.
struct Clients {
    clients: Vec<ProbeClient<Channel>>,
    next: AtomicUsize,
}

impl Clients {
    /// The client for the next call (round-robin over the connections).
    fn next(&self) -> ProbeClient<Channel> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.clients.len();
        self.clients[i].clone()
    }
}

struct Run {
    latencies: Vec<u64>,
    bytes: u64,
    errors: u64,
    elapsed: f64,
}

async fn run(
    clients: Arc<Clients>,
    workload: Workload,
    concurrency: usize,
    duration: Duration,
) -> Run {
    let stop = Arc::new(AtomicBool::new(false));
    let bytes = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (clients, stop, bytes, errors) =
                (clients.clone(), stop.clone(), bytes.clone(), errors.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let mut client = clients.next();
                    let t = Instant::now();
                    match one(&mut client, workload).await {
                        Ok(n) => {
                            bytes.fetch_add(n, Ordering::Relaxed);
                            latencies.push(t.elapsed().as_micros() as u64);
                        }
                        Err(_) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                latencies
            })
        })
        .collect();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap_or_default());
    }
    Run {
        latencies,
        bytes: bytes.load(Ordering::Relaxed),
        errors: errors.load(Ordering::Relaxed),
        elapsed: started.elapsed().as_secs_f64(),
    }
}

/// One call; the payload bytes it received.
async fn one(client: &mut ProbeClient<Channel>, workload: Workload) -> Result<u64, tonic::Status> {
    match workload {
        Workload::Unary => {
            let reply = client
                .unary(ProbeRequest {
                    blob: vec![7; SMALL],
                    reply_size: SMALL as u32,
                    ..Default::default()
                })
                .await?
                .into_inner();
            Ok(reply.blob.len() as u64)
        }
        Workload::Stream => {
            let mut stream = client
                .server_stream(ProbeRequest {
                    count: STREAM_REPLIES,
                    reply_size: STREAM_REPLY_BYTES,
                    ..Default::default()
                })
                .await?
                .into_inner();
            let mut n = 0;
            while let Some(reply) = stream.next().await {
                n += reply?.blob.len() as u64;
            }
            Ok(n)
        }
        Workload::Bidi => {
            let requests = futures_util::stream::iter((0..BIDI_MESSAGES).map(|_| ProbeRequest {
                blob: vec![7; SMALL],
                ..Default::default()
            }));
            let mut replies = client.bidi(requests).await?.into_inner();
            let mut n = 0;
            while let Some(reply) = replies.next().await {
                n += reply?.blob.len() as u64;
            }
            Ok(n)
        }
    }
}

/// The live-feed consumer: reads and decodes every batch until told to stop
/// (SIGTERM, SIGINT) or the relay closes the socket, then reports.
async fn ws(args: &[String]) {
    use loom_shared::pb::GapKind;
    use loom_shared::pb::event::Kind;
    use tokio::signal::unix::{SignalKind, signal};
    use tokio_tungstenite::tungstenite::Message;

    let url = flag(args, "--url").expect("--url ws://HOST:PORT/ws");
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("the relay's WebSocket");
    let (mut events, mut batches, mut bytes, mut bad) = (0u64, 0u64, 0u64, 0u64);
    let (mut lagged, mut lost, mut other_gaps) = (0u64, 0u64, 0u64);
    let mut ended = "stopped";
    loop {
        let message = tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            message = socket.next() => message,
        };
        match message {
            Some(Ok(Message::Binary(batch))) => {
                if batches == 0 {
                    println!("READY");
                }
                batches += 1;
                bytes += batch.len() as u64;
                match loom_shared::capture::decode_batch(&batch) {
                    Ok(decoded) => {
                        events += decoded.len() as u64;
                        for event in &decoded {
                            match &event.kind {
                                Some(Kind::Gap(gap)) if gap.kind == GapKind::Lagged as i32 => {
                                    lagged += 1;
                                    lost += gap.dropped_events;
                                }
                                Some(Kind::Gap(_)) => other_gaps += 1,
                                _ => {}
                            }
                        }
                    }
                    Err(_) => bad += 1,
                }
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => {
                ended = "closed by the relay";
                break;
            }
        }
    }
    println!(
        "{}",
        serde_json::json!({
            "events": events,
            "batches": batches,
            "bytes": bytes,
            "lagged": lagged,
            "lost": lost,
            "other_gaps": other_gaps,
            "undecodable_batches": bad,
            "ended": ended,
        })
    );
}
