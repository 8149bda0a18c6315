//! The hostile-input matrix's memory cases, against the `loom` binary: what
//! the relay or `loom decode` holds stays within the configured budgets plus
//! a fixed overhead (docs/security.md), whatever the input. Growth is the
//! resident set size after (or at its peak) minus before.

use std::convert::Infallible;
use std::ffi::OsStr;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::{TokioExecutor, TokioIo};
use loom_shared::capture;
use loom_shared::pb;
use loom_tests::backend::Backend;
use loom_tests::probe::ProbeRequest;
use loom_tests::probe_client;
use loom_tests::process::{LoomProcess, loom_binary, run_measured};
use prost::Message as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const MIB: u64 = 1 << 20;
/// The fixed overhead allowed above the budgets.
const OVERHEAD: u64 = 64 * MIB;
/// The relay's live buffer for WebSocket clients (its default).
const LIVE_BUFFER: u64 = 32 * MIB;
/// How far into its message each stuck stream gets.
const STUCK_MIB: u64 = 24;

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / MIB as f64)
}

/// `n` unary calls through `relay`, each answered with `size` bytes.
async fn big_calls(relay: SocketAddr, n: usize, size: u32) {
    let mut c = probe_client(relay, false).await;
    for i in 0..n {
        let reply = c
            .unary(ProbeRequest {
                text: format!("big {i}"),
                reply_size: size,
                ..Default::default()
            })
            .await
            .unwrap_or_else(|e| panic!("call {i}: {e}"));
        assert_eq!(reply.into_inner().blob.len(), size as usize);
    }
}

async fn healthz(ui: SocketAddr) -> serde_json::Value {
    let mut tcp = tokio::net::TcpStream::connect(ui).await.expect("connect");
    tcp.write_all(
        format!("GET /healthz HTTP/1.1\r\nhost: {ui}\r\nconnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .expect("write");
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8_lossy(&raw);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("healthz: {e}: {text}"))
}

/// Small calls fill the store with many small events, whose bookkeeping
/// outweighs their bytes: the budget counts it, so a full store of small
/// calls stays within it too (the benchmark found 2x at 256 MiB before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_small_calls_stay_within_the_budget() {
    let backend = Backend::start().await;
    let budget = 16 * MIB;
    let relay = LoomProcess::start(backend.addr, &["--max-capture-bytes", "16MiB"]).await;
    let before = relay.rss();
    // About twice what the budget holds, on 16 connections at once.
    let callers = (0..16).map(|_| tokio::spawn(small_calls(relay.relay_addr, 800)));
    for caller in callers {
        caller.await.expect("a caller");
    }
    let after = relay.rss();
    let growth = after.saturating_sub(before);
    let stats = healthz(relay.ui_addr).await;
    eprintln!(
        "12,800 small calls: RSS {} -> {} (+{}), store {}, bound {}",
        mib(before),
        mib(after),
        mib(growth),
        stats["store"],
        mib(budget + OVERHEAD)
    );
    assert!(
        stats["store"]["evicted_calls"].as_u64() > Some(0),
        "the budget was not reached: {stats}"
    );
    assert!(growth <= budget + OVERHEAD, "+{}", mib(growth));
    backend.stop().await;
}

async fn small_calls(relay: SocketAddr, n: usize) {
    let mut c = probe_client(relay, false).await;
    for i in 0..n {
        c.unary(ProbeRequest {
            text: format!("small {i}"),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("call {i}: {e}"));
    }
}

/// A WebSocket client that stops reading pins nothing: the relay holds its
/// store budget and its live buffer, not the traffic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_websocket_client_pins_nothing() {
    let backend = Backend::start().await;
    let budget = 32 * MIB;
    let relay = LoomProcess::start(backend.addr, &["--max-capture-bytes", "32MiB"]).await;
    big_calls(relay.relay_addr, 5, 1 << 20).await;
    let before = relay.rss();
    let (stalled, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", relay.ui_addr))
        .await
        .expect("websocket");
    big_calls(relay.relay_addr, 200, 1 << 20).await;
    let after = relay.rss();
    let growth = after.saturating_sub(before);
    eprintln!(
        "stalled WebSocket: 200 MiB relayed, RSS {} -> {} (+{}), bound {}",
        mib(before),
        mib(after),
        mib(growth),
        mib(budget + LIVE_BUFFER + OVERHEAD)
    );
    assert!(
        growth <= budget + LIVE_BUFFER + OVERHEAD,
        "+{}",
        mib(growth)
    );
    drop(stalled);
    backend.stop().await;
}

/// Slow concurrent downloads share one snapshot of pointers and stream it;
/// at most two run at once, the rest are told to come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_downloads_do_not_copy_the_store() {
    let backend = Backend::start().await;
    let relay = LoomProcess::start(backend.addr, &["--max-capture-bytes", "256MiB"]).await;
    big_calls(relay.relay_addr, 200, 1 << 20).await;
    let before = relay.rss();
    let ui = relay.ui_addr;
    let downloads = (0..6).map(|_| async move {
        let mut tcp = tokio::net::TcpStream::connect(ui).await.expect("connect");
        tcp.write_all(
            format!(
                "GET /api/capture HTTP/1.1\r\nhost: {ui}\r\nx-loom-client: test\r\nconnection: close\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .expect("write");
        let mut head = vec![0u8; 16];
        tcp.read_exact(&mut head).await.expect("status line");
        let status = String::from_utf8_lossy(&head[9..12]).into_owned();
        // Read slowly: 64 KiB every 20 ms, for about two seconds.
        let mut buf = vec![0u8; 64 << 10];
        let mut total = 0;
        for _ in 0..100 {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        (status, total)
    });
    let sampler = async {
        let mut peak = 0;
        for _ in 0..40 {
            peak = peak.max(relay.rss());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        peak
    };
    let (results, peak) = tokio::join!(futures_util::future::join_all(downloads), sampler);
    let ok = results.iter().filter(|(s, _)| s == "200").count();
    let busy = results.iter().filter(|(s, _)| s == "503").count();
    let growth = peak.max(relay.rss()).saturating_sub(before);
    eprintln!(
        "6 slow downloads of a ~200 MiB store: {ok} served, {busy} told to wait; RSS {} peak +{}",
        mib(before),
        mib(growth)
    );
    assert_eq!((ok, busy), (2, 4), "{results:?}");
    assert!(growth <= OVERHEAD, "+{}", mib(growth));
    backend.stop().await;
}

/// An upstream that reads every request body and never answers.
async fn sink() -> (SocketAddr, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let counter = counter.clone();
                        async move {
                            let mut body = req.into_body();
                            while let Some(Ok(frame)) = body.frame().await {
                                if let Some(data) = frame.data_ref() {
                                    counter.fetch_add(data.len() as u64, Ordering::Relaxed);
                                }
                            }
                            std::future::pending::<()>().await;
                            Ok::<_, Infallible>(http::Response::new(
                                http_body_util::Empty::<Bytes>::new(),
                            ))
                        }
                    });
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .initial_stream_window_size(8 << 20)
                    .initial_connection_window_size(64 << 20)
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    (addr, received)
}

/// Eight streams stuck 24 MiB into a 64 MiB message: what the relay keeps of
/// them is bounded by --max-partial-bytes (32 MiB here; unbounded, it would
/// be 192 MiB); forwarding is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incomplete_messages_are_budgeted() {
    let (upstream, received) = sink().await;
    let relay = LoomProcess::start(upstream, &["--max-partial-bytes", "32MiB"]).await;
    let before = relay.rss();
    let tcp = tokio::net::TcpStream::connect(relay.relay_addr)
        .await
        .expect("connect");
    let (mut send, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .initial_stream_window_size(8 << 20)
        .initial_connection_window_size(64 << 20)
        .handshake(TokioIo::new(tcp))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let mut senders = Vec::new();
    let mut pending = Vec::new();
    for _ in 0..8 {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(4);
        let body = StreamBody::new(tokio_stream::wrappers::ReceiverStream::new(rx));
        let req = http::Request::post("http://relay/loom.test.v1.Probe/ClientStream")
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(body)
            .expect("request");
        send.ready().await.expect("ready");
        pending.push(send.send_request(req));
        senders.push(tx);
    }
    let responses = tokio::spawn(futures_util::future::join_all(pending));
    let chunk = Bytes::from(vec![7u8; 1 << 20]);
    let feeders: Vec<_> = senders
        .into_iter()
        .map(|tx| {
            let chunk = chunk.clone();
            tokio::spawn(async move {
                let mut prefix = vec![0u8];
                prefix.extend_from_slice(&(64u32 << 20).to_be_bytes());
                tx.send(Ok(Frame::data(Bytes::from(prefix))))
                    .await
                    .expect("send");
                for _ in 0..STUCK_MIB {
                    tx.send(Ok(Frame::data(chunk.clone()))).await.expect("send");
                }
                tx // held open: the message never completes
            })
        })
        .collect();
    let mut held = Vec::new();
    for f in feeders {
        held.push(f.await.expect("feeder"));
    }
    let want = 8 * (STUCK_MIB * MIB + 5);
    let deadline = Instant::now() + Duration::from_secs(60);
    while received.load(Ordering::Relaxed) < want && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // (The relay's own reflection request reaches the sink too.)
    assert!(
        received.load(Ordering::Relaxed) >= want,
        "everything was forwarded"
    );
    let health = healthz(relay.ui_addr).await;
    let held_bytes = health["partial_messages"]["bytes"].as_u64().expect("bytes");
    let after = relay.rss();
    let growth = after.saturating_sub(before);
    eprintln!(
        "8 streams stuck {STUCK_MIB} MiB into a message: partial {} of 32 MiB, RSS +{}",
        mib(held_bytes),
        mib(growth)
    );
    assert!(held_bytes <= 32 * MIB);
    assert!(growth <= 32 * MIB + OVERHEAD, "+{}", mib(growth));
    drop(held);
    responses.abort();
}

fn write_capture(dir: &std::path::Path, name: &str, events: &[pb::Event]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, capture::encode_file(events)).expect("write");
    path
}

fn decode_peak(file: &std::path::Path) -> (std::process::Output, u64) {
    let (output, peak) = run_measured(&loom_binary(), &[OsStr::new("decode"), file.as_os_str()]);
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "loom decode: {:?} {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    (output, peak)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

/// `loom decode` on small hostile files: memory follows the largest call or
/// message, not the file.
#[test]
fn decode_memory_is_bounded_by_the_largest_call() {
    let dir = tempfile::tempdir().expect("tempdir");
    let started = |id: u64| {
        pb::Event::new(
            id,
            pb::CallStarted {
                path: "/a.B/C".into(),
                headers: vec![loom_shared::header::header("grpc-encoding", "gzip")],
                ..Default::default()
            },
        )
    };

    // 32 gzip messages of 60 MiB of zeros, in one call: a 2 MB file.
    let bomb = gzip(&vec![0u8; 60 << 20]);
    let mut events = vec![started(1)];
    for i in 0..32 {
        events.push(pb::Event::new(
            1,
            pb::Message::new(pb::Direction::Request, i, true, bomb.clone()),
        ));
    }
    let bombs = write_capture(dir.path(), "bombs.loom", &events);
    let (_, peak) = decode_peak(&bombs);
    eprintln!(
        "32 x 60 MiB gzip bombs ({} file): peak RSS {}",
        mib(std::fs::metadata(&bombs).map(|m| m.len()).unwrap_or(0)),
        mib(peak)
    );
    assert!(peak <= 256 * MIB, "peak {}", mib(peak));

    // 8 MiB of zero bytes after the header: 8M empty records.
    let zeros = dir.path().join("zeros.loom");
    let mut bytes = capture::file_header().to_vec();
    bytes.extend(vec![0u8; 8 << 20]);
    std::fs::write(&zeros, bytes).expect("write");
    let (_, peak) = decode_peak(&zeros);
    eprintln!("8M empty records: peak RSS {}", mib(peak));
    assert!(peak <= 64 * MIB, "peak {}", mib(peak));

    // 300,000 one-message calls.
    let events: Vec<pb::Event> = (1..=300_000u64)
        .map(|id| {
            pb::Event::new(
                id,
                pb::Message::new(pb::Direction::Request, 0, false, vec![8, 1]),
            )
        })
        .collect();
    let many = write_capture(dir.path(), "many.loom", &events);
    let (output, peak) = decode_peak(&many);
    eprintln!(
        "300k one-message calls ({} file): peak RSS {}",
        mib(std::fs::metadata(&many).map(|m| m.len()).unwrap_or(0)),
        mib(peak)
    );
    assert_eq!(
        output.stdout.iter().filter(|&&b| b == b'\n').count(),
        300_000
    );
    assert!(peak <= 128 * MIB, "peak {}", mib(peak));
}

/// 2,000 distinct descriptor sets in one file: merging them is linear.
#[test]
fn many_descriptor_sets_merge_in_linear_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut events = Vec::new();
    for i in 0..2000 {
        let file = prost_types::FileDescriptorProto {
            name: Some(format!("f{i}.proto")),
            package: Some(format!("p{i}")),
            message_type: vec![prost_types::DescriptorProto {
                name: Some("M".into()),
                ..Default::default()
            }],
            syntax: Some("proto3".into()),
            ..Default::default()
        };
        let set = prost_types::FileDescriptorSet { file: vec![file] }.encode_to_vec();
        events.push(pb::Event::descriptors(pb::Descriptors::schema(
            set,
            vec![],
            pb::SchemaOrigin::ReflectionV1,
            "",
            "http://u:1",
            vec![],
        )));
    }
    let file = write_capture(dir.path(), "sets.loom", &events);
    let started = Instant::now();
    let (output, _) = decode_peak(&file);
    let took = started.elapsed();
    eprintln!("2000 descriptor sets decoded in {took:?}");
    assert!(output.status.success());
    // A bound for runaway work, not a measurement (that is the benchmark's).
    assert!(took < Duration::from_secs(60), "{took:?}");
}
