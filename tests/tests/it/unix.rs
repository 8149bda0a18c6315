//! Unix domain sockets on both sides: the relay takes clients on one
//! (`--listen unix:`: made 0600, removed on exit, never replacing a live
//! socket) and forwards to a service that listens only on one
//! (`--upstream unix:`). Against a grpcio server with grpcio, grpc-js and
//! grpcurl (`-unix`) as clients, and against containerd driven by `ctr`.
//! grpcio and grpcurl send the socket's path, percent-encoded, as the
//! `:authority`, which `h2` alone would refuse (see
//! `loom_relay::forward::authority`).

use std::os::unix::fs::PermissionsExt as _;

use loom_relay::Config;
use loom_relay::forward::unix::{UnixListenError, UnixSocketListener};
use loom_shared::pb::{self, event::Kind as EventKind};
use loom_tests::TestRelay;
use loom_tests::containerd::{Containerd, ctr};
use loom_tests::peer::{Kind, Peer};
use loom_tests::runs::{Via, run_client};

const INTEROP: &str = "loom.interop.v1.Interop";

fn upstreams_of_calls(events: &[pb::Event]) -> Vec<(String, String)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            Some(EventKind::CallStarted(s)) => Some((s.path.clone(), s.upstream.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_on_a_unix_socket_behind_a_relay_on_a_unix_socket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server_socket = dir.path().join("grpcio.sock");
    let server_path = server_socket.to_str().expect("utf-8 path");
    let _server = Peer::start(Kind::Grpcio, &["--reflection", "--unix", server_path]).await;
    let upstream = format!("unix:{server_path}");
    let relay_socket = dir.path().join("loom.sock");
    let relay = TestRelay::start_unix(
        Config::new(upstream.parse().expect("a unix upstream")),
        &relay_socket,
    )
    .await;
    let mode = std::fs::metadata(&relay_socket)
        .expect("the relay's socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "only its owner may connect");
    assert!(
        matches!(
            UnixSocketListener::bind(&relay_socket),
            Err(UnixListenError::Live(_))
        ),
        "a live socket is never replaced"
    );

    let target = format!("unix:{}", relay_socket.display());
    for client in [Kind::Grpcio, Kind::GrpcJs] {
        let run = run_client(client, &target, Kind::Grpcio, Via::Direct).await;
        assert!(run.ok, "{}:\n{}\n{}", client.name(), run.stdout, run.stderr);
    }
    // grpcurl asks for the schema through the relay (reflection, relayed
    // to the upstream's socket), then calls.
    let socket = relay_socket.display().to_string();
    let grpcurl = |args: Vec<String>| {
        let bin = loom_tests::peer::grpcurl();
        async move {
            let shown = args.join(" ");
            let out = tokio::task::spawn_blocking(move || {
                std::process::Command::new(bin)
                    .args(&args)
                    .output()
                    .expect("run grpcurl")
            })
            .await
            .expect("grpcurl thread");
            assert!(
                out.status.success(),
                "grpcurl {shown}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
    };
    let listed = grpcurl(vec![
        "-unix".into(),
        "-plaintext".into(),
        socket.clone(),
        "list".into(),
    ])
    .await;
    assert!(listed.contains(INTEROP), "{listed}");
    let answer = grpcurl(vec![
        "-unix".into(),
        "-plaintext".into(),
        "-d".into(),
        r#"{"text":"over unix sockets"}"#.into(),
        socket.clone(),
        format!("{INTEROP}/Unary"),
    ])
    .await;
    assert!(answer.contains("over unix sockets"), "{answer}");

    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let events = loop {
        let events = relay.capture_events().await;
        let schema = loom_tests::events::schema_for(&events, INTEROP).is_some();
        if schema || tokio::time::Instant::now() > deadline {
            break events;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let calls = upstreams_of_calls(&events);
    let interop = calls
        .iter()
        .filter(|(path, _)| path.starts_with(&format!("/{INTEROP}/")))
        .count();
    assert_eq!(
        interop, 5,
        "grpcio's and grpc-js's two calls, grpcurl's one: {calls:?}"
    );
    for (_, up) in &calls {
        assert_eq!(up, &upstream);
    }
    let schema = loom_tests::events::schema_for(&events, INTEROP)
        .expect("the schema, by reflection over the upstream's socket");
    assert_eq!(schema.upstream, upstream);
    relay.shutdown().await;
    assert!(!relay_socket.exists(), "removed on exit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctr_is_captured_while_loom_talks_to_containerd() {
    let dir = tempfile::tempdir().expect("tempdir");
    let containerd = Containerd::start(dir.path()).await;
    let upstream = format!("unix:{}", containerd.socket.display());
    let relay_socket = dir.path().join("loom.sock");
    let relay = TestRelay::start_unix(
        Config::new(upstream.parse().expect("a unix upstream")),
        &relay_socket,
    )
    .await;

    let direct = ctr(&containerd.socket, &["version"]).await;
    let relayed = ctr(&relay_socket, &["version"]).await;
    let server_part = |out: &str| {
        out.split("Server:")
            .nth(1)
            .map(|s| {
                s.lines()
                    .filter(|l| !l.contains("UUID"))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default()
    };
    assert!(!server_part(&direct).is_empty(), "{direct}");
    assert_eq!(
        server_part(&relayed),
        server_part(&direct),
        "the same answer through the relay"
    );
    let namespaces = ctr(&relay_socket, &["namespaces", "create", "loom-test"]).await;
    assert!(namespaces.is_empty(), "{namespaces}");
    let listed = ctr(&relay_socket, &["namespaces", "ls", "-q"]).await;
    assert!(listed.lines().any(|l| l == "loom-test"), "{listed}");

    let calls = upstreams_of_calls(&relay.capture_events().await);
    let paths: Vec<&str> = calls.iter().map(|(p, _)| p.as_str()).collect();
    for want in [
        "/containerd.services.version.v1.Version/Version",
        "/containerd.services.namespaces.v1.Namespaces/Create",
        "/containerd.services.namespaces.v1.Namespaces/List",
    ] {
        assert!(paths.contains(&want), "{want} in {paths:?}");
    }
    assert!(calls.iter().all(|(_, up)| *up == upstream), "{calls:?}");
    relay.shutdown().await;
}
