//! TLS through the relay (issue 20), against peers that are not tonic:
//! grpc-go and grpcio clients on the relay's TLS listen port (certificates
//! from its local CA), grpc-go and grpcio TLS servers (and mTLS) as the
//! upstream; each TLS failure as the client sees it; the listen port's
//! refusals; the key log; both hops recorded on every call.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use loom_relay::tls::ca::LocalCa;
use loom_shared::pb::{self, event::Kind};
use loom_tests::peer::{Kind as PeerKind, Peer};
use loom_tests::peer_tls::{ClientTls, ServerTls, run_tls_client};
use loom_tests::pki::{self, ClientAuth, TestPki};
use loom_tests::relay::TestRelay;
use loom_tests::tls_backend::{TlsBackend, tls_connect};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// A relay whose upstream is `https://{upstream}` trusting the test PKI's
/// CA, with a local CA (in `ca_dir`) on its listen port.
async fn tls_relay(
    upstream: SocketAddr,
    pki: &TestPki,
    ca_dir: &Path,
    tweak: impl FnOnce(&mut loom_relay::Config),
) -> TestRelay {
    let ca = pki.ca.cert.clone();
    let dir = ca_dir.to_owned();
    TestRelay::start_with(upstream, move |c| {
        c.upstream = format!("https://{upstream}").parse().expect("upstream");
        c.upstream_tls.ca = Some(ca);
        c.listen_tls.ca_dir = Some(dir);
        tweak(c);
    })
    .await
}

/// The local CA in `dir` (made now), and its certificate's path.
fn local_ca(dir: &Path) -> PathBuf {
    LocalCa::load_or_create(dir).expect("local CA").cert_path()
}

/// A rustls client trusting the relay's local CA `ca`, offering `alpn`.
fn trusting(ca: &LocalCa, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let mut config = (*pki::client_config_trusting(ca.cert_der())).clone();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// The capture, once `n` calls have ended in it.
async fn ended_calls(relay: &TestRelay, n: usize) -> Vec<pb::Event> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let events = relay.capture_events().await;
        if loom_tests::events::ended_ids(&events).len() >= n {
            return events;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "fewer than {n} calls ended"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Each call's two hops, from the capture.
fn hops(events: &[pb::Event]) -> Vec<(Option<pb::TlsSession>, Option<pb::TlsSession>)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            Some(Kind::CallStarted(s)) => Some((e.call_id, s.client_tls.as_deref().cloned())),
            _ => None,
        })
        .map(|(id, client)| {
            let upstream = loom_tests::events::ended(events, id)
                .and_then(|end| end.upstream_tls.as_deref().cloned());
            (client, upstream)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_go_tls_client_through_loom_to_a_grpc_go_tls_server() {
    let pki = TestPki::new();
    let server = Peer::start_tls(PeerKind::GrpcGo, &ServerTls::new(&pki.server), &[]).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = local_ca(tmp.path());
    let relay = tls_relay(server.addr, &pki, tmp.path(), |_| {}).await;
    let tls = ClientTls {
        ca,
        server_name: Some(pki::BACKEND_NAME.into()),
        identity: None,
    };
    let run = run_tls_client(PeerKind::GrpcGo, relay.relay_addr, PeerKind::GrpcGo, &tls).await;
    assert!(run.success, "{run:?}");
    assert_eq!(run.calls.len(), 4, "{run:?}");
    let seen = run.tls.as_ref().expect("the client's TLS");
    assert_eq!(seen.alpn.as_deref(), Some("h2"), "{seen:?}");
    let events = ended_calls(&relay, 4).await;
    let hops = hops(&events);
    assert_eq!(hops.len(), 4);
    for (client, upstream) in hops {
        let client = client.expect("the client hop is TLS");
        assert_eq!(client.alpn, "h2");
        assert_eq!(client.sni, pki::BACKEND_NAME, "the name the client dialed");
        let served = client.server_certificate.expect("the relay's certificate");
        assert!(
            served.names.iter().any(|n| n == pki::BACKEND_NAME),
            "{served:?}"
        );
        assert!(served.issuer.contains("Loom local CA"), "{served:?}");
        let upstream = upstream.expect("the upstream hop is TLS");
        assert_eq!(upstream.alpn, "h2");
        let cert = upstream
            .server_certificate
            .expect("the upstream's certificate");
        assert!(cert.names.iter().any(|n| n == "127.0.0.1"), "{cert:?}");
    }
    // Reflection reaches the upstream over the same TLS.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let events = relay.capture_events().await;
        let reflected = events.iter().any(|e| match &e.kind {
            Some(Kind::Descriptors(d)) => {
                d.services.iter().any(|s| s == "grpc.testing.TestService")
            }
            _ => false,
        });
        if reflected {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no schema by reflection over TLS"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_through_loom_to_a_grpcio_server_that_requires_a_client_certificate() {
    let pki = TestPki::new();
    let server_tls = ServerTls::new(&pki.server).require_client_cert(&pki.client_ca);
    let server = Peer::start_tls(PeerKind::Grpcio, &server_tls, &[]).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = local_ca(tmp.path());
    let (cert, key) = (pki.client.cert.clone(), pki.client.key.clone());
    let relay = tls_relay(server.addr, &pki, tmp.path(), move |c| {
        c.upstream_tls.identity = Some(loom_relay::config::Identity { cert, key });
    })
    .await;
    let tls = ClientTls {
        ca: ca.clone(),
        server_name: Some("localhost".into()),
        identity: None,
    };
    let run = run_tls_client(PeerKind::Grpcio, relay.relay_addr, PeerKind::Grpcio, &tls).await;
    assert!(run.success, "{run:?}");
    let events = ended_calls(&relay, 1).await;
    let (_, upstream) = hops(&events).pop().expect("a call");
    let upstream = upstream.expect("TLS to the upstream");
    let mine = upstream
        .client_certificate
        .expect("the relay's client certificate");
    assert!(mine.names.iter().any(|n| n == pki::CLIENT_NAME), "{mine:?}");
    relay.shutdown().await;

    // Without a client certificate: UNAVAILABLE, and the message says why.
    let relay = tls_relay(server.addr, &pki, tmp.path(), |_| {}).await;
    let run = run_tls_client(PeerKind::Grpcio, relay.relay_addr, PeerKind::Grpcio, &tls).await;
    assert!(!run.success, "{run:?}");
    let call = run.calls.first().expect("the call's outcome");
    assert_eq!(call.code, "UNAVAILABLE", "{run:?}");
    assert!(call.message.contains("client certificate"), "{call:?}");
    relay.shutdown().await;
}

/// Each failure of the upstream's TLS reaches the client as UNAVAILABLE
/// naming it, and is recorded on the call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_upstream_tls_failure_is_named_to_the_client_and_in_the_capture() {
    let pki = TestPki::new();
    let mut no_alpn = (*pki.server_config(&pki.server, ClientAuth::None)).clone();
    no_alpn.alpn_protocols.clear();
    let cases = [
        (pki.server_config(&pki.expired, ClientAuth::None), "expired"),
        (
            pki.server_config(&pki.wrong_name, ClientAuth::None),
            "not valid for the name",
        ),
        (
            pki.server_config(&pki.untrusted, ClientAuth::None),
            "unknown CA",
        ),
        (
            pki.server_config(&pki.server, ClientAuth::Required),
            "client certificate",
        ),
        (Arc::new(no_alpn), "ALPN h2"),
    ];
    let tmp = tempfile::tempdir().expect("tempdir");
    for (config, words) in cases {
        let backend = TlsBackend::start(config).await;
        let relay = tls_relay(backend.addr, &pki, tmp.path(), |_| {}).await;
        let mut client = loom_tests::probe_client(relay.relay_addr, false).await;
        let status = client
            .unary(loom_tests::req(words))
            .await
            .expect_err("the upstream is refused");
        assert_eq!(
            status.code(),
            tonic::Code::Unavailable,
            "{words}: {status:?}"
        );
        assert!(
            status.message().contains(words),
            "{words}: {}",
            status.message()
        );
        let events = ended_calls(&relay, 1).await;
        let id = loom_tests::events::started_ids(&events)[0];
        let end = loom_tests::events::ended(&events, id).expect("ended");
        let endings = format!("{:?}", end.endings);
        assert!(endings.contains(words), "{words}: {endings}");
        relay.shutdown().await;
        backend.stop().await;
    }

    // --upstream-insecure takes the expired certificate (and says so).
    let backend = TlsBackend::start(pki.server_config(&pki.expired, ClientAuth::None)).await;
    let relay = tls_relay(backend.addr, &pki, tmp.path(), |c| {
        c.upstream_tls.ca = None;
        c.upstream_tls.insecure = true;
    })
    .await;
    let mut client = loom_tests::probe_client(relay.relay_addr, false).await;
    client
        .unary(loom_tests::req("anyway"))
        .await
        .expect("insecure: accepted");
    let (_, _, body) = relay.get("/healthz", &[]).await;
    let health = String::from_utf8_lossy(&body);
    assert!(health.contains("tls-unverified"), "{health}");
    relay.shutdown().await;
}

/// A client that dials TLS on the listen port gets a certificate for the
/// name it asked for; HTTP/1.1 and preface-without-ALPN clients are
/// refused in their own protocol; a TLS-only port refuses cleartext.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listen_port_serves_tls_by_name_and_refuses_clearly() {
    let pki = TestPki::new();
    let backend = TlsBackend::start(pki.server_config(&pki.server, ClientAuth::None)).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = LocalCa::load_or_create(tmp.path()).expect("CA");
    let relay = tls_relay(backend.addr, &pki, tmp.path(), |c| {
        c.listen_tls.tls_only = true
    })
    .await;
    let trusting = |alpn: &[&[u8]]| trusting(&ca, alpn);
    // A real backend name, validated against the local CA.
    let tls = tls_connect(relay.relay_addr, "api.backend.example", trusting(&[b"h2"]))
        .await
        .expect("a certificate for the name asked");
    let (_, session) = tls.get_ref();
    assert_eq!(session.alpn_protocol(), Some(&b"h2"[..]));
    drop(tls);

    // HTTP/1.1 over TLS: the HTTP/1 answer, in words.
    let mut tls = tls_connect(relay.relay_addr, "localhost", trusting(&[b"http/1.1"]))
        .await
        .expect("handshake");
    tls.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("write");
    let mut answer = vec![0; 4096];
    let n = tls.read(&mut answer).await.expect("read");
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 415"), "{answer}");
    assert!(answer.contains("gRPC"), "{answer}");

    // The HTTP/2 preface without ALPN h2: GOAWAY, with the reason.
    let mut tls = tls_connect(relay.relay_addr, "localhost", trusting(&[]))
        .await
        .expect("handshake");
    tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .expect("write");
    let mut frames = Vec::new();
    let _ = tls.read_to_end(&mut frames).await;
    let text = String::from_utf8_lossy(&frames);
    assert!(text.contains("ALPN h2"), "{text}");

    // Cleartext on a TLS-only port: refused in HTTP/2, saying why.
    let mut tcp = tokio::net::TcpStream::connect(relay.relay_addr)
        .await
        .expect("tcp");
    tcp.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .expect("write");
    let mut frames = Vec::new();
    let _ = tcp.read_to_end(&mut frames).await;
    let text = String::from_utf8_lossy(&frames);
    assert!(text.contains("TLS only"), "{text}");
    relay.shutdown().await;
}

/// `SSLKEYLOGFILE`: both hops' secrets, NSS format.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_log_has_both_hops() {
    let pki = TestPki::new();
    let backend = TlsBackend::start(pki.server_config(&pki.server, ClientAuth::None)).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = LocalCa::load_or_create(&tmp.path().join("ca")).expect("CA");
    let key_log = tmp.path().join("keys.log");
    let path = key_log.clone();
    let relay = tls_relay(backend.addr, &pki, &tmp.path().join("ca"), move |c| {
        c.key_log = Some(path);
    })
    .await;
    let config = trusting(&ca, &[b"h2"]);
    let channel = loom_tests::tls_backend::tls_channel(relay.relay_addr, "localhost", config)
        .await
        .expect("TLS channel to the relay");
    let mut client = loom_tests::probe::probe_client::ProbeClient::new(channel);
    client.unary(loom_tests::req("keys")).await.expect("call");
    relay.shutdown().await;
    let text = std::fs::read_to_string(&key_log).expect("key log");
    let randoms: std::collections::BTreeSet<&str> = text
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            assert_eq!(fields.len(), 3, "{line}");
            assert!(
                fields[0]
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit()),
                "{line}"
            );
            assert_eq!(fields[1].len(), 64, "client random: {line}");
            assert!(
                fields[1]
                    .chars()
                    .chain(fields[2].chars())
                    .all(|c| c.is_ascii_hexdigit()),
                "{line}"
            );
            fields[1]
        })
        .collect();
    assert!(text.contains("CLIENT_TRAFFIC_SECRET_0"), "{text}");
    assert!(randoms.len() >= 2, "a session per hop: {text}");
}

/// `--upstream-server-name`: the name sent and verified, when the upstream
/// is dialed by an address its certificate does not name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstream_server_name_is_the_name_verified() {
    let pki = TestPki::new();
    // A leaf for `other.test` only: not valid for 127.0.0.1.
    let backend = TlsBackend::start(pki.server_config(&pki.wrong_name, ClientAuth::None)).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let relay = tls_relay(backend.addr, &pki, tmp.path(), |c| {
        c.upstream_tls.server_name = Some(pki::WRONG_NAME.into());
    })
    .await;
    let mut client = loom_tests::probe_client(relay.relay_addr, false).await;
    client
        .unary(loom_tests::req("by name"))
        .await
        .expect("valid for the name given");
    let handshakes = backend.handshakes.done();
    assert_eq!(
        handshakes[0].sni.as_deref(),
        Some(pki::WRONG_NAME),
        "the SNI sent"
    );
    let events = ended_calls(&relay, 1).await;
    let (_, upstream) = hops(&events).pop().expect("a call");
    assert_eq!(upstream.expect("TLS").sni, pki::WRONG_NAME);
    relay.shutdown().await;
}

/// `--listen-cert`: the listen port serves the given certificate, not one
/// the local CA mints.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listen_port_serves_a_given_certificate() {
    let pki = TestPki::new();
    let backend = TlsBackend::start(pki.server_config(&pki.server, ClientAuth::None)).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let (cert, key) = (pki.server.cert.clone(), pki.server.key.clone());
    let relay = tls_relay(backend.addr, &pki, tmp.path(), move |c| {
        c.listen_tls.ca_dir = None;
        c.listen_tls.identity = Some(loom_relay::config::Identity { cert, key });
    })
    .await;
    let channel = loom_tests::tls_backend::tls_channel(
        relay.relay_addr,
        pki::BACKEND_NAME,
        pki::client_config_trusting(&pki.ca.cert_der),
    )
    .await
    .expect("TLS channel to the relay, trusting the test CA");
    let mut client = loom_tests::probe::probe_client::ProbeClient::new(channel);
    client.unary(loom_tests::req("given")).await.expect("call");
    let events = ended_calls(&relay, 1).await;
    let (client_hop, _) = hops(&events).pop().expect("a call");
    let served = client_hop
        .expect("TLS")
        .server_certificate
        .expect("the certificate served");
    assert!(!served.issuer.contains("Loom local CA"), "{served:?}");
    assert!(!tmp.path().join("ca.pem").exists(), "no CA made");
    relay.shutdown().await;
}
