//! `loom-bench`: the backend and the load generator of `scripts/bench.sh`.
//!
//! - `loom-bench backend`: the tonic Probe backend on 127.0.0.1:0; prints
//!   `PORT n`, serves until stdin closes.
//! - `loom-bench load --target ADDR --workload W --concurrency N --seconds S
//!   [--ws URL]`: drives one workload against ADDR over one HTTP/2
//!   connection with N calls in flight for S seconds (after a warm-up), and
//!   prints one JSON line: calls, calls/s, MB/s of payload received, p50 and
//!   p99 call latency in µs. With `--ws`, a WebSocket consumer reads the
//!   relay's live feed meanwhile (and its event count is reported).
//!
//! Workloads: `unary` (100-byte request and reply), `stream` (a server
//! stream of 100 × 64 KiB replies per call), `bidi` (100 ping-pong
//! messages of 100 bytes per call).
//!
//! A benchmark, not a test: it measures, it asserts nothing.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
        _ => {
            eprintln!(
                "usage: loom-bench backend | loom-bench load --target ADDR --workload unary|stream|bidi --concurrency N --seconds S [--ws URL]"
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
    let ws_events = Arc::new(AtomicU64::new(0));
    if let Some(url) = flag(args, "--ws") {
        let (mut socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("the relay's WebSocket");
        let counter = ws_events.clone();
        tokio::spawn(async move {
            while let Some(Ok(message)) = socket.next().await {
                if let tokio_tungstenite::tungstenite::Message::Binary(bytes) = message {
                    let n = loom_shared::capture::decode_batch(&bytes)
                        .map(|e| e.len())
                        .unwrap_or(0);
                    counter.fetch_add(n as u64, Ordering::Relaxed);
                }
            }
        });
    }
    let channel = Channel::from_shared(format!("http://{target}"))
        .expect("uri")
        .initial_stream_window_size(Some(2 << 20))
        .initial_connection_window_size(Some(16 << 20))
        .connect()
        .await
        .expect("connect");
    let client = ProbeClient::new(channel)
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20);

    // Warm-up, not measured.
    run(
        client.clone(),
        workload,
        concurrency,
        Duration::from_millis(500),
    )
    .await;
    let result = run(
        client,
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
            "ws_events": ws_events.load(Ordering::Relaxed),
        })
    );
}

struct Run {
    latencies: Vec<u64>,
    bytes: u64,
    errors: u64,
    elapsed: f64,
}

async fn run(
    client: ProbeClient<Channel>,
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
            let (mut client, stop, bytes, errors) =
                (client.clone(), stop.clone(), bytes.clone(), errors.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while !stop.load(Ordering::Relaxed) {
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
