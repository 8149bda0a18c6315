//! The TLS test harness proves itself, without the relay: the test PKI's
//! certificates work for grpcio, grpc-go and rustls alike (peers talk TLS
//! to each other directly, mutual TLS included, over ALPN h2), the tonic
//! TLS backend serves a rustls client, and every implementation refuses the
//! expired, wrong-name and untrusted leaves.

use std::time::Duration;

use loom_tests::peer::{ClientCase, Kind, Peer, interop};
use loom_tests::peer_tls::{self, ClientTls, ServerTls, TlsClientRun};
use loom_tests::pki::{self, ClientAuth, TestPki};
use loom_tests::probe::probe_client::ProbeClient;
use loom_tests::tls_backend::{self, TlsBackend};
use rustls::CertificateError;

const SOON: Duration = Duration::from_secs(10);

fn explain(run: &TlsClientRun) -> String {
    format!(
        "{} client: exit {:?}\nstdout:\n{}\nstderr:\n{}",
        run.client.name(),
        run.exit_code,
        run.stdout,
        run.stderr
    )
}

/// grpcio's client to grpcio's server over TLS, checking the name the
/// server is reached by (`localhost`) and, without one, the IP address of
/// the target; then the case-by-case client's cancel over TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_to_grpcio() {
    let pki = TestPki::new();
    let server = Peer::start_tls(Kind::Grpcio, &ServerTls::new(&pki.server), &[]).await;
    for tls in [
        ClientTls::trusting(&pki.ca).server_name(pki::LOCALHOST),
        ClientTls::trusting(&pki.ca).server_name(pki::BACKEND_NAME),
        ClientTls::trusting(&pki.ca),
    ] {
        let run = peer_tls::run_tls_client(Kind::Grpcio, server.addr, Kind::Grpcio, &tls).await;
        assert!(run.success, "{tls:?}: {}", explain(&run));
        assert_eq!(run.calls.len(), 1);
        assert_eq!(run.calls[0].method, interop::UNARY);
    }
    assert!(
        server.wait_for("CALL /", 3, SOON).await,
        "{:?}",
        server.lines()
    );
    let results = peer_tls::tls_client_calls(
        Kind::Grpcio,
        server.addr,
        &server,
        ClientCase::CancelBeforeResponse,
        2,
        &ClientTls::trusting(&pki.ca).server_name(pki::LOCALHOST),
    )
    .await;
    assert!(results.iter().all(|r| r.code == "CANCELLED"), "{results:?}");
}

/// grpc-go's client to grpc-go's server over TLS, on grpc-go's own
/// transport and on x/net/http2 (`-http-server`): all four kinds of call
/// succeed, over TLS 1.3 with ALPN h2. grpcio's client reaches the same
/// server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_go_to_grpc_go() {
    let pki = TestPki::new();
    let tls = ClientTls::trusting(&pki.ca).server_name(pki::BACKEND_NAME);
    for args in [&[][..], &["-http-server"][..]] {
        let server = Peer::start_tls(Kind::GrpcGo, &ServerTls::new(&pki.server), args).await;
        let run = peer_tls::run_tls_client(Kind::GrpcGo, server.addr, Kind::GrpcGo, &tls).await;
        assert!(run.success, "{args:?}: {}", explain(&run));
        let responses: Vec<u64> = run.calls.iter().map(|c| c.responses).collect();
        assert_eq!(responses, [1, 3, 1, 3], "{}", explain(&run));
        let seen = run.tls.as_ref().expect("a TLS line");
        assert_eq!(seen.version, "TLS1.3");
        assert_eq!(seen.alpn.as_deref(), Some("h2"));
        assert_eq!(seen.server, pki::LOCALHOST);
        assert!(
            server.wait_for("CALL /", 4, SOON).await,
            "{:?}",
            server.lines()
        );

        let run = peer_tls::run_tls_client(Kind::Grpcio, server.addr, Kind::GrpcGo, &tls).await;
        assert!(run.success, "grpcio to grpc-go {args:?}: {}", explain(&run));
    }
}

/// Mutual TLS: servers that require a client certificate signed by the
/// client CA serve a client that presents one and refuse one that does not
/// (or presents a server leaf of the other CA).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls() {
    let pki = TestPki::new();
    let server_tls = ServerTls::new(&pki.server).require_client_cert(&pki.client_ca);
    let trusting = ClientTls::trusting(&pki.ca).server_name(pki::LOCALHOST);
    for kind in [Kind::Grpcio, Kind::GrpcGo] {
        let server = Peer::start_tls(kind, &server_tls, &[]).await;
        let run = peer_tls::run_tls_client(
            kind,
            server.addr,
            kind,
            &trusting.clone().identity(&pki.client),
        )
        .await;
        assert!(
            run.success,
            "{} with a certificate: {}",
            kind.name(),
            explain(&run)
        );
        let served = run.calls.len();
        assert!(
            server.wait_for("CALL /", served, SOON).await,
            "{:?}",
            server.lines()
        );
        for (what, tls) in [
            ("no certificate", trusting.clone()),
            (
                "a certificate of the server CA",
                trusting.clone().identity(&pki.server),
            ),
        ] {
            let run = peer_tls::run_tls_client(kind, server.addr, kind, &tls).await;
            assert!(
                !run.success,
                "{} with {what}: {}",
                kind.name(),
                explain(&run)
            );
            assert!(
                run.calls.iter().all(|c| !c.ok()),
                "{} with {what}: {}",
                kind.name(),
                explain(&run)
            );
        }
        // TLS 1.3: the client's handshake ends before the server checks its
        // certificate, so the refusal reads as a closed connection
        // (grpcio "Socket closed", grpc-go "connection closed" or "broken
        // pipe"); the server saw no call of the refused clients.
        assert_eq!(server.count("CALL /"), served, "{:?}", server.lines());
    }
}

/// The tonic TLS backend, reached by rustls clients: ALPN h2 and TLS 1.3,
/// a Probe call over tonic, the handshake as the backend recorded it; with
/// a client certificate required, only a client that presents one gets a
/// call through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tonic_tls_backend() {
    let pki = TestPki::new();
    let backend = TlsBackend::start(pki.server_config(&pki.server, ClientAuth::None)).await;
    let stream = tls_backend::tls_connect(backend.addr, pki::BACKEND_NAME, pki.client_config(None))
        .await
        .expect("a TLS connection");
    let session = stream.get_ref().1;
    assert_eq!(session.alpn_protocol(), Some(pki::H2));
    assert_eq!(
        session.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    drop(stream);

    let channel = tls_backend::tls_channel(backend.addr, pki::LOCALHOST, pki.client_config(None))
        .await
        .expect("a TLS channel");
    let reply = ProbeClient::new(channel)
        .unary(loom_tests::req("over tls"))
        .await
        .expect("Probe/Unary over TLS");
    assert_eq!(reply.into_inner().text, "echo: over tls");
    let done = backend.handshakes.done();
    assert_eq!(done.len(), 2, "{done:?}");
    assert_eq!(done[0].sni.as_deref(), Some(pki::BACKEND_NAME));
    assert_eq!(done[1].sni.as_deref(), Some(pki::LOCALHOST));
    assert!(done.iter().all(|h| h.alpn.as_deref() == Some(pki::H2)));
    assert!(done.iter().all(|h| h.client_certs.is_empty()));

    let mtls = TlsBackend::start(pki.server_config(&pki.server, ClientAuth::Required)).await;
    let channel = tls_backend::tls_channel(
        mtls.addr,
        pki::LOCALHOST,
        pki.client_config(Some(&pki.client)),
    )
    .await
    .expect("a TLS channel with a client certificate");
    ProbeClient::new(channel)
        .unary(loom_tests::req("mtls"))
        .await
        .expect("Probe/Unary over mutual TLS");
    let done = mtls.handshakes.done();
    assert_eq!(
        done[0].client_certs,
        std::slice::from_ref(&pki.client.cert_der)
    );
    // TLS 1.3: the client finishes its handshake before the server has
    // checked it; the refusal arrives as the first read's error.
    let refused =
        match tls_backend::tls_channel(mtls.addr, pki::LOCALHOST, pki.client_config(None)).await {
            Err(e) => e.to_string(),
            Ok(channel) => ProbeClient::new(channel)
                .unary(loom_tests::req("no certificate"))
                .await
                .expect_err("a call without a client certificate")
                .to_string(),
        };
    assert!(mtls.handshakes.wait(2, SOON).await);
    let failed = mtls.handshakes.failed();
    // tonic's channel may have tried to connect again since.
    assert!(
        failed.iter().all(|f| f.contains("no certificates")),
        "{failed:?} ({refused})"
    );
    assert_eq!(mtls.handshakes.done().len(), 1);
}

/// A server leaf no client should accept, and what each client says of it.
struct BadLeaf<'a> {
    what: &'static str,
    leaf: &'a pki::CertKey,
    /// rustls' error is the expected one.
    rustls_says: fn(&CertificateError) -> bool,
    /// What grpc-go's message contains.
    go_says: &'static str,
}

/// A client trusting the test CA refuses the expired leaf, the wrong-name
/// leaf and the leaf of an untrusted CA: rustls (with its exact error),
/// grpc-go and grpcio.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_leaves_are_refused() {
    let pki = TestPki::new();
    let cases = [
        BadLeaf {
            what: "expired",
            leaf: &pki.expired,
            rustls_says: |e| {
                matches!(
                    e,
                    CertificateError::Expired | CertificateError::ExpiredContext { .. }
                )
            },
            go_says: "expired",
        },
        BadLeaf {
            what: "wrong name",
            leaf: &pki.wrong_name,
            rustls_says: |e| {
                matches!(
                    e,
                    CertificateError::NotValidForName
                        | CertificateError::NotValidForNameContext { .. }
                )
            },
            go_says: "valid for",
        },
        BadLeaf {
            what: "untrusted",
            leaf: &pki.untrusted,
            rustls_says: |e| matches!(e, CertificateError::UnknownIssuer),
            go_says: "unknown authority",
        },
    ];
    for BadLeaf {
        what,
        leaf,
        rustls_says,
        go_says,
    } in cases
    {
        let backend = TlsBackend::start(pki.server_config(leaf, ClientAuth::None)).await;
        let error = tls_backend::tls_connect(backend.addr, pki::LOCALHOST, pki.client_config(None))
            .await
            .expect_err(what);
        match tls_backend::rustls_error(&error) {
            Some(rustls::Error::InvalidCertificate(e)) if rustls_says(e) => {}
            other => panic!("{what}: rustls said {other:?} ({error})"),
        }

        let tls = ClientTls::trusting(&pki.ca).server_name(pki::LOCALHOST);
        let go = Peer::start_tls(Kind::GrpcGo, &ServerTls::new(leaf), &[]).await;
        let run = peer_tls::run_tls_client(Kind::GrpcGo, go.addr, Kind::GrpcGo, &tls).await;
        assert!(!run.success, "grpc-go, {what}: {}", explain(&run));
        assert!(
            run.calls
                .iter()
                .all(|c| c.code == "Unavailable" && c.message.contains(go_says)),
            "grpc-go, {what}: {}",
            explain(&run)
        );
        assert_eq!(run.tls, None, "grpc-go, {what}: no TLS connection");

        let run = peer_tls::run_tls_client(Kind::Grpcio, go.addr, Kind::GrpcGo, &tls).await;
        assert!(!run.success, "grpcio, {what}: {}", explain(&run));
        assert!(
            run.calls.iter().all(|c| c.code == "UNAVAILABLE"),
            "grpcio, {what}: {}",
            explain(&run)
        );
        assert_eq!(go.count("CALL /"), 0, "{what}: {:?}", go.lines());
    }
}
