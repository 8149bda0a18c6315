//! The hostile-input matrix, the relay in-process: one client's input never
//! breaks another client's calls, reflection does bounded work for made-up
//! names, slow or silent connections are closed, the UI port refuses what is
//! not text, and `loom decode` prints nothing a capture can turn into a shell
//! command or a terminal escape. Every case checks the relay still serves a
//! normal call afterwards. (The memory cases, against the `loom` binary, are
//! in `hardening_memory`.)

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use loom_relay::decode::{DecodeOptions, run};
use loom_relay::forward::upstream::Connect as _;
use loom_shared::capture;
use loom_shared::pb::{self, event::Kind};
use loom_tests::backend::Backend;
use loom_tests::events::{calls_of, ended};
use loom_tests::peer::{self, Kind as PeerKind, Peer};
use loom_tests::probe::ProbeRequest;
use loom_tests::raw::{self, grpc_frame};
use loom_tests::req;
use loom_tests::{TestRelay, probe_client};
use prost::Message as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A normal call succeeds through the relay.
async fn healthy(relay: SocketAddr) {
    let mut c = probe_client(relay, false).await;
    let reply = tokio::time::timeout(Duration::from_secs(10), c.unary(req("still fine")))
        .await
        .expect("in time")
        .expect("a normal call after the hostile input");
    assert_eq!(reply.into_inner().text, "echo: still fine");
}

/// A server stream (one reply every 20 ms, until cancelled) that must keep
/// flowing while other clients misbehave; returns how many replies came.
fn bystander(relay: SocketAddr) -> tokio::task::JoinHandle<Result<usize, tonic::Status>> {
    tokio::spawn(async move {
        let mut c = probe_client(relay, false).await;
        let mut stream = c
            .server_stream(ProbeRequest {
                count: 60,
                delay_ms: 20,
                ..req("bystander")
            })
            .await?
            .into_inner();
        let mut got = 0;
        while let Some(reply) = stream.next().await {
            reply?;
            got += 1;
        }
        Ok(got)
    })
}

fn unary_frame() -> Vec<u8> {
    grpc_frame(false, &req("big headers").encode_to_vec())
}

/// One 64 KiB header, and 10,000 small ones: refused here, with
/// RESOURCE_EXHAUSTED, while another client's stream on the shared upstream
/// connection goes on untouched.
async fn oversized_headers_are_refused_locally(upstream: SocketAddr, path: &str) {
    let relay = TestRelay::start(upstream).await;
    let running = bystander(relay.relay_addr);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let big = vec![b'x'; 64 << 10];
    let many: Vec<(String, Vec<u8>)> = (0..10_000)
        .map(|i| (format!("x-h{i}"), b"v".to_vec()))
        .collect();
    let cases: [Vec<(&str, &[u8])>; 2] = [
        vec![("x-big", big.as_slice())],
        many.iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
            .collect(),
    ];
    for headers in cases {
        let reply = raw::call(relay.relay_addr, path, &headers, vec![unary_frame()]).await;
        let trailers = reply.trailers.as_ref().unwrap_or(&reply.headers);
        assert_eq!(
            trailers.get("grpc-status").map(|v| v.as_bytes()),
            Some(&b"8"[..]),
            "RESOURCE_EXHAUSTED: {reply:?}"
        );
        let message = trailers
            .get("grpc-message")
            .map(|v| v.to_str().unwrap_or_default().to_owned())
            .unwrap_or_default();
        assert!(message.contains("not forwarded"), "{message}");
    }
    let got = running
        .await
        .expect("bystander task")
        .expect("the bystander's stream");
    assert_eq!(got, 60, "every reply of the other client's stream arrived");
    healthy(relay.relay_addr).await;
    // The refused calls are in the capture, ended by the relay.
    let events = relay.capture_events().await;
    let refused: Vec<u64> = calls_of(&events, path)
        .into_iter()
        .filter(|&id| ended(&events, id).is_some_and(|e| e.grpc_status == Some(8)))
        .collect();
    assert_eq!(refused.len(), 2);
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_headers_never_reach_a_tonic_upstream() {
    let backend = Backend::start().await;
    // hyper advertises 16 KiB: the relay reads it from the upstream's SETTINGS.
    let limit = loom_relay::forward::header_limit::probe(
        loom_relay::forward::upstream::TcpConnect.connect(&backend.addr.into()),
    )
    .await
    .expect("probe");
    assert!(limit.is_some_and(|l| l < 64 << 10), "{limit:?}");
    oversized_headers_are_refused_locally(backend.addr, "/loom.test.v1.Probe/Unary").await;
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_headers_never_reach_a_grpc_go_upstream() {
    // grpc-go advertises no limit: the relay's default applies. The
    // bystander is a tonic stream on another relay; here the point is that
    // grpc-go's shared connection survives and serves a normal call.
    let server = Peer::start(PeerKind::GrpcGo, &[]).await;
    let relay = TestRelay::start(server.addr).await;
    let big = vec![b'x'; 100 << 10];
    let reply = raw::call(
        relay.relay_addr,
        peer::grpc_testing::EMPTY_CALL,
        &[("x-big", big.as_slice())],
        vec![grpc_frame(false, &[])],
    )
    .await;
    let trailers = reply.trailers.as_ref().unwrap_or(&reply.headers);
    assert_eq!(
        trailers.get("grpc-status").map(|v| v.as_bytes()),
        Some(&b"8"[..])
    );
    peer::sample_call(PeerKind::GrpcGo, relay.relay_addr).await;
    relay.shutdown().await;
}

/// Made-up service names: long ones are never reflected, short ones only a
/// few at a time; their failures are folded, their events never crowd out
/// the calls, and the next real call is captured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_services_cannot_blind_the_capture() {
    let backend = Backend::start().await;
    let relay = TestRelay::start_with(backend.addr, |c| {
        c.max_capture_bytes = 2 << 20;
    })
    .await;
    let started = Instant::now();
    for i in 0..400 {
        let long = format!("/{}{i}/M", "x".repeat(12 << 10));
        let short = format!("/made.up.Service{i}/M");
        for path in [long, short] {
            let reply = raw::call(relay.relay_addr, &path, &[], vec![grpc_frame(false, &[])]).await;
            let trailers = reply.trailers.as_ref().unwrap_or(&reply.headers);
            // The backend answers UNIMPLEMENTED for services it lacks.
            assert_eq!(
                trailers.get("grpc-status").map(|v| v.as_bytes()),
                Some(&b"12"[..])
            );
        }
    }
    eprintln!("800 made-up calls in {:?}", started.elapsed());
    let (_, _, body) = relay.get("/healthz", &[]).await;
    let health: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    let bounds = &health["reflection"];
    assert_eq!(bounds["overlong_names"], 400, "{health:#}");
    assert!(
        bounds["in_flight"].as_u64().unwrap_or(99) <= 4,
        "{health:#}"
    );
    assert!(
        bounds["deferred_calls"].as_u64().unwrap_or(0) > 0,
        "rate-limited: {health:#}"
    );
    let store = &health["store"];
    assert!(
        store["schema_bytes"].as_u64() <= store["max_schema_bytes"].as_u64(),
        "{health:#}"
    );
    // The next real call is there, whole.
    healthy(relay.relay_addr).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let events = relay.capture_events().await;
    let unary = calls_of(&events, "/loom.test.v1.Probe/Unary");
    assert_eq!(unary.len(), 1);
    assert_eq!(
        ended(&events, unary[0]).and_then(|e| e.grpc_status),
        Some(0)
    );
    let notices: Vec<&pb::Descriptors> = events
        .iter()
        .filter_map(|e| match &e.kind {
            Some(Kind::Descriptors(d)) if d.is_failure() => Some(d),
            _ => None,
        })
        .collect();
    let named: usize = notices.iter().map(|d| d.services.len()).sum();
    assert!(
        notices.len() < named,
        "failures were folded: {} events for {named} services",
        notices.len()
    );
    assert!(
        notices
            .iter()
            .all(|d| d.services.iter().all(|s| s.len() <= 256))
    );
    relay.shutdown().await;
    backend.stop().await;
}

/// Connections that never send a request (nothing at all, or half a
/// preface) are closed after the first-request timeout; a real client is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_are_closed() {
    let backend = Backend::start().await;
    let relay = TestRelay::start_with(backend.addr, |c| {
        c.first_request_timeout = Duration::from_millis(500);
    })
    .await;
    let mut idle = Vec::new();
    for i in 0..200 {
        let mut tcp = tokio::net::TcpStream::connect(relay.relay_addr)
            .await
            .expect("connect");
        if i % 2 == 0 {
            tcp.write_all(b"PRI * HTTP/2.0\r\n")
                .await
                .expect("half a preface");
        }
        idle.push(tcp);
    }
    // A real client with a slow first call is not cut.
    let mut c = probe_client(relay.relay_addr, false).await;
    let slow = c
        .server_stream(ProbeRequest {
            count: 3,
            delay_ms: 400,
            ..req("slow")
        })
        .await
        .expect("a stream")
        .into_inner();
    let closed = futures_util::future::join_all(idle.iter_mut().map(|tcp| async move {
        let mut buf = [0u8; 1024];
        loop {
            match tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => continue,
                Err(_) => return false,
            }
        }
    }))
    .await;
    assert!(
        closed.iter().all(|c| *c),
        "every silent connection was closed"
    );
    let replies: Vec<_> = slow.collect().await;
    assert_eq!(replies.len(), 3);
    assert!(replies.iter().all(Result::is_ok));
    healthy(relay.relay_addr).await;
    relay.shutdown().await;
    backend.stop().await;
}

/// `Host` and `Origin` that are not ASCII text are refused, not ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_that_are_not_text_are_refused() {
    let backend = Backend::start().await;
    let relay = TestRelay::start(backend.addr).await;
    for (name, value) in [
        ("origin", &b"http://127.0.0.1\xff"[..]),
        ("host", &b"127.0.0.1\xff"[..]),
        ("sec-fetch-site", &b"same-origin\xff"[..]),
    ] {
        let mut tcp = tokio::net::TcpStream::connect(relay.ui_addr)
            .await
            .expect("connect");
        let mut request = b"GET /healthz HTTP/1.1\r\n".to_vec();
        if name != "host" {
            request.extend_from_slice(format!("host: {}\r\n", relay.ui_addr).as_bytes());
        }
        request.extend_from_slice(name.as_bytes());
        request.extend_from_slice(b": ");
        request.extend_from_slice(value);
        request.extend_from_slice(b"\r\nconnection: close\r\n\r\n");
        tcp.write_all(&request).await.expect("write");
        let mut answer = Vec::new();
        tcp.read_to_end(&mut answer).await.expect("read");
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 403"), "{name}: {answer}");
    }
    healthy(relay.relay_addr).await;
    relay.shutdown().await;
    backend.stop().await;
}

/// A capture whose `:path` and headers hold newlines and escapes.
fn hostile_capture() -> Vec<u8> {
    let started = |id: u64, path: &str| {
        pb::Event::new(
            id,
            pb::CallStarted {
                path: path.into(),
                upstream: "http://127.0.0.1:1".into(),
                headers: vec![loom_shared::header::header(
                    "x-evil",
                    "a\nTouch PWNED\u{1b}]0;title\u{7}",
                )],
                ..Default::default()
            },
        )
    };
    let ended = |id: u64| {
        pb::Event::new(
            id,
            pb::CallEnded {
                grpc_status: Some(0),
                grpc_message: "done \u{1b}[2J".into(),
                ..Default::default()
            },
        )
    };
    capture::encode_file(&[
        started(1, "/x.Y/Z\ntouch PWNED\n#"),
        pb::Event::new(
            1,
            pb::Message::new(pb::Direction::Request, 1, false, vec![0x0a, 0x01, b'a']),
        ),
        ended(1),
        started(2, "/loom.test.v1.Probe/Unary\ntouch PWNED"),
        ended(2),
        pb::Event::gap(
            pb::GapKind::Lagged,
            1,
            "lost \u{1b}[2J\u{1b}]0;pwned\u{7}",
            vec![2],
        ),
        // A call with a schema: a real command, its hostile header quoted.
        started(3, "/loom.test.v1.Probe/Unary"),
        pb::Event::new(
            3,
            pb::Message::new(
                pb::Direction::Request,
                1,
                false,
                req("x'\n$(touch PWNED)\u{1b}[2J").encode_to_vec(),
            ),
        ),
        ended(3),
    ])
}

/// Every line `loom decode --grpcurl` prints is a quoted grpcurl command or
/// a comment, and nothing printed carries a control character.
#[test]
fn decode_output_cannot_run_commands_or_steer_the_terminal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("hostile.loom");
    std::fs::write(&file, hostile_capture()).expect("write");
    let schema = dir.path().join("test.protoset");
    std::fs::write(&schema, loom_tests::reflection::TEST_FDS).expect("write");
    for grpcurl in [true, false] {
        let mut out = Vec::new();
        let mut err = Vec::new();
        run(
            &DecodeOptions {
                input: file.clone(),
                grpcurl,
                descriptor_sets: vec![schema.clone()],
                ..Default::default()
            },
            &mut out,
            &mut err,
        )
        .expect("decodes");
        let out = String::from_utf8(out).expect("utf-8");
        let err = String::from_utf8(err).expect("utf-8");
        for text in [&out, &err] {
            assert!(
                !text.chars().any(|c| c.is_control() && c != '\n'),
                "a control character: {text:?}"
            );
        }
        if grpcurl {
            assert!(out.lines().any(|l| l.starts_with("grpcurl ")), "{out}");
            for line in out.lines() {
                assert!(
                    line.starts_with("grpcurl ") || line.starts_with('#'),
                    "{line:?}"
                );
            }
            // And the shell agrees: run it, with grpcurl a harmless function.
            let script = format!("cd {} && grpcurl() {{ :; }}\n{out}", dir.path().display());
            let status = std::process::Command::new("bash")
                .arg("-c")
                .arg(&script)
                .status()
                .expect("bash");
            assert!(status.success());
            assert!(
                !dir.path().join("PWNED").exists(),
                "the capture ran a command"
            );
        }
    }
}

/// Reads from `tcp` until the peer closes (true) or `limit` passes (false).
async fn closed_within(tcp: &mut tokio::net::TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 16 << 10];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
            Err(_) => return false,
        }
    }
}

/// Rapid reset (CVE-2023-44487): thousands of streams opened and reset at
/// once. The relay sheds the connection or absorbs it, and serves others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rapid_reset_flood_leaves_the_relay_serving() {
    use loom_tests::raw::frames::*;
    let backend = Backend::start().await;
    let relay = TestRelay::start(backend.addr).await;
    let running = bystander(relay.relay_addr);
    let mut tcp = tokio::net::TcpStream::connect(relay.relay_addr)
        .await
        .expect("connect");
    let mut flood = preface();
    let block = grpc_request_block("/loom.test.v1.Probe/Unary");
    for i in 0..10_000u32 {
        let stream = 1 + 2 * i;
        flood.extend(frame(HEADERS, END_HEADERS, stream, &block));
        flood.extend(frame(RST_STREAM, 0, stream, &8u32.to_be_bytes()));
    }
    // The relay may close the connection before it has read it all.
    let _ = tcp.write_all(&flood).await;
    let _ = closed_within(&mut tcp, Duration::from_secs(5)).await;
    let got = running
        .await
        .expect("bystander task")
        .expect("the bystander's stream");
    assert_eq!(got, 60);
    healthy(relay.relay_addr).await;
    relay.shutdown().await;
    backend.stop().await;
}

/// A header block that never ends (CONTINUATION frames without
/// END_HEADERS): the connection is cut once it exceeds the header limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_continuation_flood_is_cut_off() {
    use loom_tests::raw::frames::*;
    let backend = Backend::start().await;
    let relay = TestRelay::start(backend.addr).await;
    let mut tcp = tokio::net::TcpStream::connect(relay.relay_addr)
        .await
        .expect("connect");
    let mut start = preface();
    start.extend(frame(
        HEADERS,
        0,
        1,
        &grpc_request_block("/loom.test.v1.Probe/Unary"),
    ));
    tcp.write_all(&start).await.expect("write");
    let piece = frame(CONTINUATION, 0, 1, &literal("x-flood", &"v".repeat(100)));
    let mut sent = 0usize;
    let mut cut = false;
    // Up to 64 MiB of CONTINUATION frames: far past the 1 MiB limit.
    while sent < 64 << 20 {
        let batch: Vec<u8> = piece
            .iter()
            .copied()
            .cycle()
            .take(piece.len() * 1000)
            .collect();
        if tcp.write_all(&batch).await.is_err() {
            cut = true;
            break;
        }
        sent += batch.len();
    }
    assert!(
        cut || closed_within(&mut tcp, Duration::from_secs(5)).await,
        "sent {sent} bytes"
    );
    eprintln!("CONTINUATION flood: cut after {} KiB", sent >> 10);
    healthy(relay.relay_addr).await;
    relay.shutdown().await;
    backend.stop().await;
}
