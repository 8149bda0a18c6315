//! `--record` loses nothing at the relay's full speed: every call a load
//! generator completed is in the file, start to end, with no gap, while a
//! WebSocket consumer is attached too; and `loom decode` reports any gap in
//! one line, exits 1, and marks the calls affected.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use loom_relay::decode::{DecodeOptions, run};
use loom_shared::capture;
use loom_shared::pb::{self, event::Kind};
use loom_tests::TestRelay;
use loom_tests::backend::Backend;
use loom_tests::peer::{self, Kind as PeerKind, Peer, grpc_testing};
use loom_tests::probe::ProbeRequest;
use loom_tests::ws::WsClient;
use tonic::transport::Channel;

/// How long each load runs.
const LOAD: Duration = Duration::from_secs(4);
const CALLERS: usize = 32;

/// Per call id: (path, started, ended OK).
fn calls_in(events: &[pb::Event]) -> BTreeMap<u64, (String, bool, bool)> {
    let mut calls: BTreeMap<u64, (String, bool, bool)> = BTreeMap::new();
    for e in events {
        let entry = calls.entry(e.call_id).or_default();
        match &e.kind {
            Some(Kind::CallStarted(s)) => {
                entry.0 = s.path.clone();
                entry.1 = true;
            }
            Some(Kind::CallEnded(end)) => entry.2 = end.grpc_status == Some(0),
            _ => {}
        }
    }
    calls.remove(&0);
    calls
}

/// Runs `CALLERS` concurrent callers of `call` for `LOAD`; returns the
/// calls completed.
async fn load<F, Fut>(channel: Channel, call: F) -> u64
where
    F: Fn(Channel) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), tonic::Status>> + Send,
{
    let call = Arc::new(call);
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (call, done, stop, channel) =
                (call.clone(), done.clone(), stop.clone(), channel.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    call(channel.clone())
                        .await
                        .expect("a call through the relay");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    tokio::time::sleep(LOAD).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("caller");
    }
    done.load(Ordering::Relaxed)
}

/// The record file of a relay in front of `upstream` under load: every
/// completed call is in it, complete, with no gap.
async fn record_under_load<F, Fut>(upstream: SocketAddr, path: &str, call: F)
where
    F: Fn(Channel) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), tonic::Status>> + Send,
{
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("load.loom");
    let relay = TestRelay::start_with(upstream, |c| c.record = Some(file.clone())).await;
    // A WebSocket consumer reads along, as a browser tab would.
    let mut ws = WsClient::connect(relay.ui_addr).await;
    let reader = tokio::spawn(async move {
        // Reads (and keeps) everything until the relay closes the socket.
        ws.closed_within(LOAD * 10).await;
        ws.events.len()
    });
    let channel = loom_tests::channel(relay.relay_addr).await;
    let started = Instant::now();
    let completed = load(channel, call).await;
    let rate = completed as f64 / started.elapsed().as_secs_f64();
    relay.shutdown().await;
    let live_events = reader.await.expect("the WebSocket reader");

    let bytes = std::fs::read(&file).expect("the record file");
    let capture = capture::read_capture(&bytes).expect("a valid capture");
    assert!(capture.truncated.is_none());
    let gaps: Vec<&pb::CaptureGap> = capture
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            Some(Kind::Gap(g)) => Some(g),
            _ => None,
        })
        .collect();
    assert!(gaps.is_empty(), "no gap: {gaps:?}");
    let calls = calls_in(&capture.events);
    let of_path: Vec<_> = calls.values().filter(|(p, _, _)| p == path).collect();
    let complete = of_path
        .iter()
        .filter(|(_, started, ok)| *started && *ok)
        .count();
    eprintln!(
        "--record under load: {completed} calls completed ({rate:.0}/s), {} recorded, \
         {complete} complete, {} events ({live_events} seen live), {} bytes",
        of_path.len(),
        capture.events.len(),
        bytes.len()
    );
    assert_eq!(
        of_path.len() as u64,
        completed,
        "every completed call is recorded"
    );
    assert_eq!(
        complete as u64, completed,
        "each with its start and its end"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_keeps_every_call_at_full_speed_tonic() {
    let backend = Backend::start().await;
    record_under_load(
        backend.addr,
        "/loom.test.v1.Probe/Unary",
        |channel| async move {
            let mut client = loom_tests::probe::probe_client::ProbeClient::new(channel);
            client
                .unary(ProbeRequest {
                    text: "load".into(),
                    blob: vec![7; 100],
                    ..Default::default()
                })
                .await
                .map(|_| ())
        },
    )
    .await;
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_keeps_every_call_at_full_speed_grpc_go() {
    let server = Peer::start(PeerKind::GrpcGo, &[]).await;
    record_under_load(server.addr, grpc_testing::EMPTY_CALL, |channel| async move {
        peer::unary::<(), ()>(channel, grpc_testing::EMPTY_CALL, (), &[]).await
    })
    .await;
}

/// A capture with a gap, as a recorder that fell behind writes it.
fn gapped_capture() -> Vec<u8> {
    let started = |id: u64| {
        pb::Event::new(
            id,
            pb::CallStarted {
                path: "/a.B/C".into(),
                start_unix_nanos: 1_700_000_000_000_000_000 + id as i64,
                ..Default::default()
            },
        )
    };
    let ended = |id: u64| {
        pb::Event::new(
            id,
            pb::CallEnded {
                grpc_status: Some(0),
                ..Default::default()
            },
        )
    };
    capture::encode_file(&[
        started(1),
        ended(1),
        started(2),
        pb::Event::gap(
            pb::GapKind::Lagged,
            3,
            "the record file's writer fell behind \u{1b}[2J",
            vec![2, 3],
        ),
        // Call 3 lost its start; call 2 lost its end.
        ended(3),
        started(4),
        ended(4),
    ])
}

#[test]
fn decode_reports_gaps_in_one_line_and_exits_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("gapped.loom");
    std::fs::write(&file, gapped_capture()).expect("write");
    let mut out = Vec::new();
    let mut err = Vec::new();
    let outcome = run(
        &DecodeOptions {
            input: file,
            ..Default::default()
        },
        &mut out,
        &mut err,
    )
    .expect("decodes");
    assert_eq!(outcome.exit_code(), 1, "an incomplete capture");
    assert_eq!(outcome.lost_events, 3);
    let err = String::from_utf8(err).expect("utf-8");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one summary line: {err}");
    assert!(lines[0].contains("3 events lost in 1 gap"), "{err}");
    assert!(lines[0].contains("2 calls affected"), "{err}");
    assert!(
        !err.contains('\u{1b}'),
        "control characters are escaped: {err:?}"
    );
    let calls: BTreeMap<u64, serde_json::Value> = String::from_utf8(out)
        .expect("utf-8")
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON");
            (v["id"].as_u64().expect("id"), v)
        })
        .collect();
    let missing = |id: u64| -> BTreeSet<String> {
        calls[&id]["missing"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert!(calls[&1].get("incomplete").is_none(), "{:#}", calls[&1]);
    assert_eq!(missing(2), ["end".to_owned(), "events".to_owned()].into());
    assert_eq!(missing(3), ["events".to_owned(), "start".to_owned()].into());
    assert_eq!(calls[&2]["incomplete"], true);
    assert!(calls[&4].get("missing").is_none());
}
