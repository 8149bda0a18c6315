//! Schemas from every real gRPC server: the relay learns the schema of
//! grpc-go, grpcio, grpc-js and tonic servers (each reflection version, in
//! any combination, and a hung one) within a second or two of the first
//! call, the capture (downloaded and recorded) decodes with field and enum
//! names, `/healthz` says where each schema came from, and no call waits.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use loom_relay::reflection::VERSION_TIMEOUT;
use loom_shared::pb::{self, SchemaOrigin, event::Kind};
use loom_tests::TestRelay;
use loom_tests::decoded::{call_at, decode_file};
use loom_tests::peer::{self, Kind as PeerKind, Peer, grpc_testing, harness, interop};
use loom_tests::probe::catalog_client::CatalogClient;
use loom_tests::probe::{ItemKey, LookupRequest};
use loom_tests::reflection::{
    CATALOG_SERVICE, ReflectingBackend, ReflectionMode, ReflectionOptions,
};
use loom_tests::ws::WsClient;
use serde_json::Value;

/// "Within a second or two of the call."
const PROMPTLY: Duration = Duration::from_secs(2);

/// The first `Descriptors` event with a schema for `service`, and when it
/// arrived.
async fn schema_for(
    ws: &mut WsClient,
    service: &str,
    limit: Duration,
) -> (pb::Descriptors, Instant) {
    let events = ws
        .until(limit, |events| {
            loom_tests::events::schema_for(events, service).is_some()
        })
        .await;
    (
        loom_tests::events::schema_for(events, service)
            .expect("found")
            .clone(),
        Instant::now(),
    )
}

/// `loom decode` of `file`: one JSON object per call.
/// What each case must show.
struct Expect {
    service: &'static str,
    path: &'static str,
    origin: SchemaOrigin,
    /// Strings the decoded call must contain (field names, enum names).
    decoded: &'static [&'static str],
    /// How long the schema may take after the call.
    within: Duration,
}

/// The whole check, against a server at `upstream` that `call` calls.
async fn schema_arrives_and_decodes<F, Fut>(upstream: SocketAddr, expect: Expect, call: F)
where
    F: FnOnce(SocketAddr) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("tempdir");
    let record = dir.path().join("record.loom");
    let relay = TestRelay::start_with(upstream, |c| c.record = Some(record.clone())).await;
    let mut ws = WsClient::connect(relay.ui_addr).await;

    call(relay.relay_addr).await;
    let called = Instant::now();
    let (set, arrived) = schema_for(&mut ws, expect.service, expect.within + PROMPTLY).await;
    let took = arrived - called;
    eprintln!(
        "{}: schema {:?} {took:?} after the call",
        expect.service,
        set.origin()
    );
    assert!(took <= expect.within, "the schema took {took:?}");
    assert_eq!(set.origin(), expect.origin, "{set:?}");
    assert!(
        set.warnings.is_empty(),
        "a complete schema: {:?}",
        set.warnings
    );

    let (_, _, health) = relay.get("/healthz", &[]).await;
    let health: Value = serde_json::from_slice(&health).expect("healthz JSON");
    let state = &health["schemas"][expect.service];
    assert_eq!(state["state"], "loaded", "{health:#}");
    assert_eq!(state["origin"], expect.origin.as_str_name(), "{health:#}");

    let downloaded = dir.path().join("download.loom");
    std::fs::write(&downloaded, relay.capture_bytes().await).expect("write");
    relay.shutdown().await;
    for file in [&downloaded, &record] {
        let calls = decode_file(file);
        let call = call_at(&calls, expect.path);
        assert_eq!(call["kindInferred"], false, "{call:#}");
        assert!(call.get("schemaNote").is_none(), "{call:#}");
        let text = call.to_string();
        for want in expect.decoded {
            assert!(
                text.contains(want),
                "{} lacks {want}: {call:#}",
                file.display()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_go_reflection_v1alpha() {
    let server = Peer::start(PeerKind::GrpcGo, &[]).await;
    let expect = Expect {
        service: grpc_testing::SERVICE,
        path: grpc_testing::UNARY_CALL,
        origin: SchemaOrigin::ReflectionV1alpha,
        decoded: &[
            "\"responseType\":\"UNCOMPRESSABLE\"",
            "\"fillUsername\":true",
            "\"username\":\"loom-go\"",
        ],
        within: PROMPTLY,
    };
    schema_arrives_and_decodes(server.addr, expect, |relay| {
        peer::sample_call(PeerKind::GrpcGo, relay)
    })
    .await;
    assert_eq!(server.count("REFLECTION"), 1, "{:?}", server.lines());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpcio_reflection_v1alpha() {
    let server = Peer::start(PeerKind::Grpcio, &["--reflection"]).await;
    let expect = Expect {
        service: interop::SERVICE,
        path: interop::UNARY,
        origin: SchemaOrigin::ReflectionV1alpha,
        decoded: &["\"mood\":\"MOOD_CALM\"", "\"text\":\"unary:hello\""],
        within: PROMPTLY,
    };
    schema_arrives_and_decodes(server.addr, expect, |relay| {
        peer::sample_call(PeerKind::Grpcio, relay)
    })
    .await;
}

/// grpc-js names files after packages and declares no imports: the relay
/// repairs the graph by symbol, where grpcurl gives up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_js_reflection_with_a_broken_graph() {
    let server = Peer::start(PeerKind::GrpcJs, &[]).await;
    let expect = Expect {
        service: harness::SERVICE,
        path: harness::ECHO,
        origin: SchemaOrigin::ReflectionV1,
        decoded: &[
            "\"mood\":\"MOOD_HAPPY\"",
            "\"level\":\"LEVEL_HIGH\"",
            // A google.protobuf.Timestamp, rendered as one.
            "\"at\":\"2023-11-14T22:13:20.000000005Z\"",
            "\"textBytes\":\"5\"",
        ],
        within: PROMPTLY,
    };
    schema_arrives_and_decodes(server.addr, expect, |relay| {
        peer::sample_call(PeerKind::GrpcJs, relay)
    })
    .await;
}

fn lookup_request() -> LookupRequest {
    LookupRequest {
        key: Some(ItemKey { sku: "peer".into() }),
        ..Default::default()
    }
}

async fn catalog_lookup(relay: SocketAddr) {
    CatalogClient::new(loom_tests::channel(relay).await)
        .lookup(lookup_request())
        .await
        .expect("Lookup");
}

async fn tonic_case(mode: ReflectionMode, origin: SchemaOrigin, within: Duration) {
    let backend = ReflectingBackend::start(ReflectionOptions::mode(mode)).await;
    let expect = Expect {
        service: CATALOG_SERVICE,
        path: "/loom.test.v1.Catalog/Lookup",
        origin,
        decoded: &["\"sku\":\"peer\"", "\"asOf\":\"2023-11-14T22:13:20Z\""],
        within,
    };
    schema_arrives_and_decodes(backend.addr, expect, catalog_lookup).await;
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tonic_v1_only() {
    tonic_case(ReflectionMode::V1Only, SchemaOrigin::ReflectionV1, PROMPTLY).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tonic_v1alpha_only() {
    tonic_case(
        ReflectionMode::V1AlphaOnly,
        SchemaOrigin::ReflectionV1alpha,
        PROMPTLY,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tonic_both_versions() {
    tonic_case(ReflectionMode::Both, SchemaOrigin::ReflectionV1, PROMPTLY).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tonic_reflections_own_v1alpha_and_both() {
    tonic_case(
        ReflectionMode::TonicV1Alpha,
        SchemaOrigin::ReflectionV1alpha,
        PROMPTLY,
    )
    .await;
    tonic_case(
        ReflectionMode::TonicBoth,
        SchemaOrigin::ReflectionV1,
        PROMPTLY,
    )
    .await;
}

/// A v1 that neither answers nor refuses costs one short timeout, then
/// v1alpha answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_v1_is_skipped_for_v1alpha() {
    tonic_case(
        ReflectionMode::V1Hangs,
        SchemaOrigin::ReflectionV1alpha,
        VERSION_TIMEOUT + PROMPTLY,
    )
    .await;
}

/// The stampede against grpc-go: 500 concurrent first calls while its
/// reflection takes 2 s. No call waits for it, and it is asked once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stampede_against_grpc_go_waits_for_nothing_and_reflects_once() {
    const DELAY: Duration = Duration::from_secs(2);
    const CALLS: usize = 500;
    const CHANNELS: usize = 10;
    let server = Peer::start(PeerKind::GrpcGo, &["-reflection-delay", "2s"]).await;
    let relay = TestRelay::start(server.addr).await;
    let mut channels = Vec::new();
    for _ in 0..CHANNELS {
        channels.push(loom_tests::channel(relay.relay_addr).await);
    }
    let start = Instant::now();
    let calls = (0..CALLS).map(|i| {
        let channel = channels[i % CHANNELS].clone();
        async move { peer::unary::<(), ()>(channel, grpc_testing::EMPTY_CALL, (), &[]).await }
    });
    let results = futures_util::future::join_all(calls).await;
    let all_done = start.elapsed();
    let failed: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        failed.is_empty(),
        "{} calls failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(3)]
    );
    eprintln!("grpc-go stampede: {CALLS} calls done in {all_done:?}");
    assert!(
        all_done < DELAY,
        "every call finished before reflection could answer ({all_done:?})"
    );
    let mut ws = WsClient::connect(relay.ui_addr).await;
    let (_, arrived) = schema_for(&mut ws, grpc_testing::SERVICE, Duration::from_secs(15)).await;
    assert!(
        arrived - start >= DELAY,
        "the reflection answer was delayed"
    );
    assert_eq!(
        server.count("REFLECTION"),
        1,
        "one exchange: {:?}",
        server.lines()
    );
    assert_eq!(
        server.count("CALL /grpc.testing.TestService/EmptyCall"),
        CALLS
    );
    relay.shutdown().await;
}

/// `/healthz` shows a fetch under way as pending, then where it came from;
/// a server without reflection as failed, with why and when it is retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_shows_pending_loaded_and_failed() {
    let slow = Peer::start(PeerKind::GrpcGo, &["-reflection-delay", "2s"]).await;
    let relay = TestRelay::start(slow.addr).await;
    peer::sample_call(PeerKind::GrpcGo, relay.relay_addr).await;
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let (_, _, body) = relay.get("/healthz", &[]).await;
        let health: Value = serde_json::from_slice(&body).expect("JSON");
        let state = health["schemas"][grpc_testing::SERVICE].clone();
        let word = state["state"].as_str().unwrap_or("absent").to_owned();
        if seen.last() != Some(&word) {
            seen.push(word.clone());
        }
        if word == "loaded" {
            assert_eq!(state["reflection_version"], "v1alpha", "{state:#}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen.contains(&"pending".to_owned()), "{seen:?}");
    assert_eq!(seen.last().map(String::as_str), Some("loaded"), "{seen:?}");
    relay.shutdown().await;

    let bare = Peer::start(PeerKind::GrpcGo, &["-no-reflection"]).await;
    let relay = TestRelay::start(bare.addr).await;
    let mut ws = WsClient::connect(relay.ui_addr).await;
    peer::sample_call(PeerKind::GrpcGo, relay.relay_addr).await;
    let before = std::time::SystemTime::now();
    let events = ws
        .until(Duration::from_secs(10), |events| {
            events
                .iter()
                .any(|e| matches!(&e.kind, Some(Kind::Descriptors(d)) if d.is_failure()))
        })
        .await;
    let notice = events
        .iter()
        .find_map(|e| match &e.kind {
            Some(Kind::Descriptors(d)) if d.is_failure() => Some(d.clone()),
            _ => None,
        })
        .expect("a failure notice");
    let failure = notice.failure.expect("typed failure");
    assert!(failure.reason.contains("UNIMPLEMENTED"), "{failure:?}");
    let retry = std::time::UNIX_EPOCH + Duration::from_nanos(failure.retry_unix_nanos as u64);
    let wait = retry
        .duration_since(before)
        .expect("retry is in the future");
    assert!(wait <= Duration::from_secs(31), "{wait:?}");
    let (_, _, body) = relay.get("/healthz", &[]).await;
    let health: Value = serde_json::from_slice(&body).expect("JSON");
    let state = &health["schemas"][grpc_testing::SERVICE];
    assert_eq!(state["state"], "failed", "{health:#}");
    assert!(
        state["reason"]
            .as_str()
            .unwrap_or("")
            .contains("UNIMPLEMENTED")
    );
    assert!(state["retry_unix"].as_f64().is_some(), "{state:#}");
    relay.shutdown().await;
}

/// grpcurl's own reflection calls through the relay are captured and
/// decoded with Loom's bundled reflection schema: a known bidi call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clients_reflection_calls_decode() {
    let server = Peer::start(PeerKind::GrpcGo, &[]).await;
    let relay = TestRelay::start(server.addr).await;
    let target = relay.relay_addr.to_string();
    let grpcurl = peer::grpcurl();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(grpcurl)
            .args(["-plaintext", &target, "describe", grpc_testing::SERVICE])
            .output()
            .expect("run grpcurl")
    })
    .await
    .expect("grpcurl thread");
    assert!(
        out.status.success(),
        "grpcurl describe through the relay: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("rpc FullDuplexCall"));
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("capture.loom");
    std::fs::write(&file, relay.capture_bytes().await).expect("write");
    relay.shutdown().await;
    let calls = decode_file(&file);
    let call = call_at(
        &calls,
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    );
    assert_eq!(call["kind"], "bidi_streaming", "{call:#}");
    assert_eq!(call["kindInferred"], false, "{call:#}");
    let text = call.to_string();
    assert!(
        text.contains("\"fileContainingSymbol\":\"grpc.testing.TestService\""),
        "{call:#}"
    );
    assert!(text.contains("\"fileDescriptorResponse\""), "{call:#}");
}
