//! One relay for every backend: gRPC clients that are not tonic (grpcio,
//! grpc-js, grpc-go) use the relay as their proxy through one environment
//! variable and reach two backends that are not tonic either (a grpc-go
//! and a grpcio server); every call is captured with its upstream and
//! decoded by reflection from that upstream. Then what the proxy refuses
//! (a target it may not reach: 403) and what it cannot reach (UNAVAILABLE
//! naming the target), and routing without a proxy, by `:authority` and
//! by path prefix.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use loom_relay::config::{Pins, ResolvePin, RouteRule};
use loom_shared::pb::{self, event::Kind as EventKind};
use loom_tests::peer::{Kind, Peer, Shape};
use loom_tests::peer_tls::{ClientTls, ServerTls};
use loom_tests::pki::{self, TestPki};
use loom_tests::runs::{Via, run_client, run_client_with};
use loom_tests::{RefusingPort, TestRelay, decoded, raw};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const GO_SERVICE: &str = "grpc.testing.TestService";
const PY_SERVICE: &str = "loom.interop.v1.Interop";
/// How long a schema may take to arrive once its calls are done.
const SCHEMAS_WITHIN: Duration = Duration::from_secs(20);

/// The name each backend is dialed by: grpc-go never proxies loopback
/// names, so every client dials these and the relay's `--resolve` pins
/// them.
fn name_of(kind: Kind, peer: &Peer) -> String {
    let host = match kind {
        Kind::GrpcGo => "go.backend.test",
        Kind::Grpcio => "py.backend.test",
        Kind::GrpcJs => "js.backend.test",
    };
    format!("{host}:{}", peer.addr.port())
}

fn pin(name: &str, to: SocketAddr) -> ResolvePin {
    format!("{name}={to}").parse().expect("a pin")
}

fn started(events: &[pb::Event]) -> Vec<&pb::CallStarted> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            Some(EventKind::CallStarted(s)) => Some(s),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_reaches_two_backends_through_one_relay_as_its_proxy() {
    let go = Peer::start(Kind::GrpcGo, &[]).await;
    let py = Peer::start(Kind::Grpcio, &["--reflection"]).await;
    let (go_name, py_name) = (name_of(Kind::GrpcGo, &go), name_of(Kind::Grpcio, &py));
    // The default upstream refuses: only the tunnels' targets can answer.
    let nowhere = RefusingPort::bind();
    let dir = tempfile::tempdir().expect("tempdir");
    let record = dir.path().join("proxy.loom");
    let pins = Pins::new(vec![pin(&go_name, go.addr), pin(&py_name, py.addr)]);
    let relay = TestRelay::start_with(nowhere.addr(), |c| {
        c.resolve = pins;
        c.record = Some(record.clone());
    })
    .await;

    let mut expected: BTreeMap<String, usize> = BTreeMap::new();
    for client in [Kind::Grpcio, Kind::GrpcJs, Kind::GrpcGo] {
        for (server, name) in [(Kind::GrpcGo, &go_name), (Kind::Grpcio, &py_name)] {
            let run = run_client(client, name, server, Via::Proxy(relay.relay_addr)).await;
            assert!(
                run.ok,
                "{} → {} through the proxy:\n{}\n{}",
                client.name(),
                server.name(),
                run.stdout,
                run.stderr
            );
            *expected.entry(format!("http://{name}")).or_default() += run.calls_ok;
        }
    }

    let want_schemas = [(GO_SERVICE, &go_name), (PY_SERVICE, &py_name)];
    let deadline = tokio::time::Instant::now() + SCHEMAS_WITHIN;
    let events = loop {
        let events = relay.capture_events().await;
        let have = want_schemas.iter().all(|(service, name)| {
            loom_tests::events::descriptors_for(&events, service)
                .iter()
                .any(|d| {
                    d.upstream == format!("http://{name}") && !d.file_descriptor_set.is_empty()
                })
        });
        if have || tokio::time::Instant::now() > deadline {
            break events;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Each call with its upstream: the name the client asked the proxy for.
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for call in started(&events) {
        let want = if call.path.starts_with(&format!("/{GO_SERVICE}/")) {
            &go_name
        } else {
            assert!(
                call.path.starts_with(&format!("/{PY_SERVICE}/")),
                "{call:?}"
            );
            &py_name
        };
        assert_eq!(call.upstream, format!("http://{want}"), "{call:?}");
        *seen.entry(call.upstream.clone()).or_default() += 1;
    }
    assert_eq!(seen, expected, "every call captured, once");
    // Each schema from its own upstream's reflection.
    for (service, name) in want_schemas {
        let sets = loom_tests::events::descriptors_for(&events, service);
        assert!(
            sets.iter().any(
                |d| d.upstream == format!("http://{name}") && !d.file_descriptor_set.is_empty()
            ),
            "{service} reflected from {name}: {sets:?}"
        );
        assert!(
            sets.iter().all(|d| d.upstream == format!("http://{name}")),
            "{service} asked of its own upstream only: {sets:?}"
        );
    }
    let (_, _, health) = relay.get("/healthz", &[]).await;
    let health: serde_json::Value = serde_json::from_slice(&health).expect("healthz JSON");
    for (service, name) in want_schemas {
        let state = &health["upstreams"][format!("http://{name}")][service];
        assert_eq!(state["state"], "loaded", "{health:#}");
    }
    relay.shutdown().await;

    // Decoded, offline, each with its upstream's schema.
    let calls = decoded::decode_file(&record);
    assert_eq!(calls.len(), expected.values().sum::<usize>());
    for call in &calls {
        assert_eq!(call["kindInferred"], false, "{call:#}");
        assert!(call.get("schemaNote").is_none(), "{call:#}");
    }
    let go_unary = decoded::call_at(&calls, Kind::GrpcGo.method(Shape::Unary));
    assert!(
        go_unary.to_string().contains("responseSize"),
        "{go_unary:#}"
    );
    let py_unary = decoded::call_at(&calls, Kind::Grpcio.method(Shape::Unary));
    assert!(py_unary.to_string().contains("\"text\""), "{py_unary:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_starts_tls_in_its_tunnel_gets_the_local_ca_and_tls_upstream() {
    let pki = TestPki::new();
    let backend = Peer::start_tls(Kind::GrpcGo, &ServerTls::new(&pki.server), &[]).await;
    // The name the backend's certificate is for; grpc-go (and the relay's
    // minted leaf) go by it, the relay's --resolve pins it.
    let name = format!("{}:{}", pki::BACKEND_NAME, backend.addr.port());
    let ca_dir = tempfile::tempdir().expect("tempdir");
    // Made now (the relay would make it on first use), for its certificate.
    loom_relay::tls::ca::LocalCa::load_or_create(ca_dir.path()).expect("a local CA");
    let pins = Pins::new(vec![pin(&name, backend.addr)]);
    let relay = TestRelay::start_with(RefusingPort::bind().addr(), |c| {
        c.resolve = pins;
        c.listen_tls.ca_dir = Some(ca_dir.path().to_owned());
        c.upstream_tls.ca = Some(pki.ca.cert.clone());
    })
    .await;
    // The clients trust the relay's local CA alone: the backend's own
    // certificate would not do.
    let local_ca = ClientTls {
        ca: ca_dir.path().join(loom_relay::tls::ca::CERT_FILE),
        server_name: None,
        identity: None,
    };
    for client in [Kind::GrpcGo, Kind::Grpcio] {
        let run = run_client_with(
            client,
            &name,
            Kind::GrpcGo,
            Via::Proxy(relay.relay_addr),
            &local_ca.args(client),
        )
        .await;
        assert!(run.ok, "{}:\n{}\n{}", client.name(), run.stdout, run.stderr);
    }
    let events = relay.capture_events().await;
    let mut calls = 0;
    for event in &events {
        match &event.kind {
            Some(EventKind::CallStarted(s)) => {
                calls += 1;
                assert_eq!(s.upstream, format!("https://{name}"), "{s:?}");
                let tls = s.client_tls.as_ref().expect("the client's TLS, recorded");
                assert_eq!(tls.sni, pki::BACKEND_NAME, "{tls:?}");
            }
            Some(EventKind::CallEnded(e)) => {
                let tls = e
                    .upstream_tls
                    .as_ref()
                    .expect("the upstream's TLS, recorded");
                assert_eq!(tls.sni, pki::BACKEND_NAME, "{tls:?}");
            }
            _ => {}
        }
    }
    assert!(calls >= 5, "grpc-go's four calls and grpcio's two: {calls}");
    relay.shutdown().await;
}

/// Sends `CONNECT target` on a fresh connection to the relay: the status,
/// the response's body (for a refusal), and the connection, positioned
/// just after the response head (for a tunnel).
async fn connect(relay: SocketAddr, target: &str) -> (u16, String, TcpStream) {
    let mut tcp = TcpStream::connect(relay)
        .await
        .expect("connect to the relay");
    let request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n");
    tcp.write_all(request.as_bytes())
        .await
        .expect("send CONNECT");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tcp.read(&mut byte).await.expect("read the answer");
        assert!(
            n > 0,
            "the relay hung up: {}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).expect("an ASCII head");
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a status line: {head}"));
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    tcp.read_exact(&mut body).await.expect("the answer's body");
    (status, String::from_utf8_lossy(&body).into_owned(), tcp)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_not_allowed_is_refused_and_one_unreachable_is_named() {
    let py = Peer::start(Kind::Grpcio, &[]).await;
    let nowhere = RefusingPort::bind();
    let relay = TestRelay::start(py.addr).await;

    // Not loopback, and not asked for: 403, saying how to allow it.
    let (status, text, _) = connect(relay.relay_addr, "example.com:443").await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("--allow-upstream example.com:443"), "{text}");
    let (status, text, _) = connect(relay.relay_addr, "10.1.2.3:50051").await;
    assert_eq!(status, 403, "{text}");

    // Allowed (loopback), but nothing answers there: the call inside the
    // tunnel is UNAVAILABLE, and says where it could not go.
    let target = nowhere.addr().to_string();
    let (status, text, tunnel) = connect(relay.relay_addr, &target).await;
    assert_eq!(status, 200, "{text}");
    let body = vec![raw::grpc_frame(
        false,
        &Kind::Grpcio.request(Shape::Unary, 1, 8),
    )];
    let reply = raw::call_over(
        tunnel,
        &target,
        Kind::Grpcio.method(Shape::Unary),
        &[],
        body,
    )
    .await;
    let (code, message) = reply.grpc_status();
    assert_eq!(code.as_deref(), Some("14"), "{reply:?}");
    assert!(message.contains(&target), "{message}");

    // A working tunnel to the grpcio server, for contrast.
    let target = py.addr.to_string();
    let (status, _, tunnel) = connect(relay.relay_addr, &target).await;
    assert_eq!(status, 200);
    let body = vec![raw::grpc_frame(
        false,
        &Kind::Grpcio.request(Shape::Unary, 1, 8),
    )];
    let reply = raw::call_over(
        tunnel,
        &target,
        Kind::Grpcio.method(Shape::Unary),
        &[],
        body,
    )
    .await;
    assert_eq!(reply.grpc_status().0.as_deref(), Some("0"), "{reply:?}");
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_pick_the_upstream_by_authority_and_by_path_prefix() {
    let go = Peer::start(Kind::GrpcGo, &[]).await;
    let py = Peer::start(Kind::Grpcio, &[]).await;
    let nowhere = RefusingPort::bind();
    let go_upstream = format!("http://{}", go.addr);
    let py_upstream = format!("http://{}", py.addr);
    let routes = vec![
        RouteRule::authority(&format!("python.svc={py_upstream}")).expect("route"),
        RouteRule::path(&format!("/{GO_SERVICE}/={go_upstream}")).expect("route"),
    ];
    let relay = TestRelay::start_with(nowhere.addr(), |c| c.routes = routes).await;

    let unary = |kind: Kind| vec![raw::grpc_frame(false, &kind.request(Shape::Unary, 1, 8))];
    // By path prefix, whatever the authority.
    let tcp = TcpStream::connect(relay.relay_addr).await.expect("connect");
    let reply = raw::call_over(
        tcp,
        "anything:1",
        Kind::GrpcGo.method(Shape::Unary),
        &[],
        unary(Kind::GrpcGo),
    )
    .await;
    assert_eq!(reply.grpc_status().0.as_deref(), Some("0"), "{reply:?}");
    // By authority (any port, as the route names none).
    let tcp = TcpStream::connect(relay.relay_addr).await.expect("connect");
    let reply = raw::call_over(
        tcp,
        "python.svc:443",
        Kind::Grpcio.method(Shape::Unary),
        &[],
        unary(Kind::Grpcio),
    )
    .await;
    assert_eq!(reply.grpc_status().0.as_deref(), Some("0"), "{reply:?}");
    // Neither: the default upstream, which refuses.
    let tcp = TcpStream::connect(relay.relay_addr).await.expect("connect");
    let reply = raw::call_over(
        tcp,
        "other.svc",
        Kind::Grpcio.method(Shape::Unary),
        &[],
        unary(Kind::Grpcio),
    )
    .await;
    assert_eq!(reply.grpc_status().0.as_deref(), Some("14"), "{reply:?}");

    let events = relay.capture_events().await;
    let upstreams: Vec<&str> = started(&events)
        .iter()
        .map(|s| s.upstream.as_str())
        .collect();
    assert_eq!(
        upstreams,
        [
            go_upstream.as_str(),
            py_upstream.as_str(),
            &format!("http://{}", nowhere.addr())
        ],
    );
    relay.shutdown().await;
}
