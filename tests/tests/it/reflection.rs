//! The relay learns each called service's schema in the background, by gRPC
//! Server Reflection or from local files, and ships it as a `Descriptors`
//! event, without ever delaying a call.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use loom_shared::pb::{self, event::Kind};
use loom_tests::TestRelay;
use loom_tests::events::{calls_of, descriptors, descriptors_for, ended, started_paths};
use loom_tests::probe::catalog_client::CatalogClient;
use loom_tests::probe::probe_client::ProbeClient;
use loom_tests::probe::{ItemKey, LookupReply, LookupRequest, ProbeRequest};
use loom_tests::reflection::{
    CATALOG_FILE, CATALOG_SERVICE, COMMON_FILE, MONEY_FILE, PROBE_FILE, PROBE_SERVICE,
    ReflectingBackend, ReflectionMode, ReflectionOptions, TEST_FDS, TIMESTAMP_FILE, Version,
    test_fds_subset,
};
use loom_tests::ws::WsClient;
use prost::Message as _;
use prost_types::FileDescriptorSet;
use tonic::transport::Channel;

const V1_PATH: &str = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";

/// Bound on any single wait for something the relay does in the background.
const WAIT: Duration = Duration::from_secs(10);

async fn channel(addr: SocketAddr) -> Channel {
    loom_tests::channel(addr).await
}

fn lookup_request(sku: &str) -> LookupRequest {
    LookupRequest {
        key: Some(ItemKey { sku: sku.into() }),
        ..Default::default()
    }
}

/// One Catalog/Lookup through `addr`, which must succeed.
async fn lookup(addr: SocketAddr, sku: &str) -> LookupReply {
    CatalogClient::new(channel(addr).await)
        .lookup(lookup_request(sku))
        .await
        .unwrap_or_else(|s| panic!("Lookup({sku}) failed: {s:?}"))
        .into_inner()
}

/// One Probe/Unary through `addr`, which must succeed.
async fn probe(addr: SocketAddr, text: &str) {
    let reply = ProbeClient::new(channel(addr).await)
        .unary(ProbeRequest {
            text: text.into(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|s| panic!("Probe/Unary failed: {s:?}"))
        .into_inner();
    assert_eq!(reply.text, format!("echo: {text}"));
}

/// Wait on `ws` for a `Descriptors` event describing `service`; the first one.
async fn await_descriptors(ws: &mut WsClient, service: &str) -> pb::Descriptors {
    let events = ws
        .until(WAIT, |events| !descriptors_for(events, service).is_empty())
        .await;
    descriptors_for(events, service)[0].clone()
}

fn decode_set(d: &pb::Descriptors) -> FileDescriptorSet {
    FileDescriptorSet::decode(&d.file_descriptor_set[..])
        .unwrap_or_else(|e| panic!("file_descriptor_set of {d:?} does not decode: {e}"))
}

fn file_names(set: &FileDescriptorSet) -> Vec<String> {
    set.file.iter().map(|f| f.name().to_owned()).collect()
}

/// Dependencies named by files of `set` that are not in it.
fn missing_dependencies(set: &FileDescriptorSet) -> Vec<String> {
    let names = file_names(set);
    let mut missing: Vec<String> = set
        .file
        .iter()
        .flat_map(|f| f.dependency.iter())
        .filter(|dep| !names.contains(dep))
        .cloned()
        .collect();
    missing.sort();
    missing.dedup();
    missing
}

/// Assert `d` is the full reflected schema of Catalog from `backend`.
fn assert_complete_catalog(d: &pb::Descriptors, backend: &ReflectingBackend, source: &str) {
    assert_eq!(d.source, source, "{d:?}");
    assert_eq!(d.upstream, backend.upstream(), "{d:?}");
    assert!(
        d.services.iter().any(|s| s == CATALOG_SERVICE),
        "services: {:?}",
        d.services
    );
    let set = decode_set(d);
    let names = file_names(&set);
    for file in [CATALOG_FILE, COMMON_FILE, MONEY_FILE, TIMESTAMP_FILE] {
        assert!(names.iter().any(|n| n == file), "{file} missing: {names:?}");
    }
    assert_eq!(
        missing_dependencies(&set),
        Vec::<String>::new(),
        "closure incomplete: {names:?}"
    );
    assert!(
        d.warnings.is_empty(),
        "the server provided everything, yet: {:?}",
        d.warnings
    );
}

/// The error and all its sources, as one line.
fn error_text(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_reflection_assembles_the_whole_closure() {
    // Servers that send the file with its dependencies, and servers that send
    // only the requested file: the relay ends up with the same complete set.
    for only_requested_file in [true, false] {
        let backend = ReflectingBackend::start(ReflectionOptions {
            only_requested_file,
            ..ReflectionOptions::mode(ReflectionMode::V1Only)
        })
        .await;
        let relay = TestRelay::start(backend.addr).await;
        let mut ws = WsClient::connect(relay.ui_addr).await;
        let reply = lookup(relay.relay_addr, "sku-1").await;
        assert_eq!(reply.item.expect("an item").title, "item sku-1 #0");
        let d = await_descriptors(&mut ws, CATALOG_SERVICE).await;
        assert_complete_catalog(&d, &backend, "reflection/v1");
        let event = ws
            .events
            .iter()
            .find(|e| matches!(&e.kind, Some(Kind::Descriptors(_))))
            .expect("descriptors event");
        assert_eq!(event.call_id, 0, "descriptors belong to no call");

        let stats = &backend.stats;
        assert_eq!(stats.exchanges(), 1, "{}", stats.summary());
        let requests = stats.all_requests();
        assert_eq!(
            requests.first().map(String::as_str),
            Some("symbol:loom.test.v1.Catalog"),
            "{requests:?}"
        );
        if only_requested_file {
            for file in [COMMON_FILE, MONEY_FILE] {
                let wanted = format!("file:{file}");
                assert!(requests.contains(&wanted), "{wanted} in {requests:?}");
            }
        } else {
            assert_eq!(requests.len(), 1, "nothing was missing: {requests:?}");
        }
        relay.shutdown().await;
        backend.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tonic_reflections_own_server_is_understood() {
    let backend = ReflectingBackend::start(ReflectionOptions::mode(ReflectionMode::TonicV1)).await;
    let relay = TestRelay::start(backend.addr).await;
    let mut ws = WsClient::connect(relay.ui_addr).await;
    lookup(relay.relay_addr, "t").await;
    let d = await_descriptors(&mut ws, CATALOG_SERVICE).await;
    assert_complete_catalog(&d, &backend, "reflection/v1");
    assert_eq!(backend.stats.requests_to(V1_PATH), 1, "one exchange");
    relay.shutdown().await;
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1alpha_only_server_is_reflected_with_v1alpha() {
    let backend = ReflectingBackend::start(ReflectionOptions {
        only_requested_file: true,
        ..ReflectionOptions::mode(ReflectionMode::V1AlphaOnly)
    })
    .await;
    let relay = TestRelay::start(backend.addr).await;
    let mut ws = WsClient::connect(relay.ui_addr).await;
    lookup(relay.relay_addr, "a").await;
    let d = await_descriptors(&mut ws, CATALOG_SERVICE).await;
    assert_complete_catalog(&d, &backend, "reflection/v1alpha");
    let stats = &backend.stats;
    assert_eq!(
        stats.v1alpha_exchanges.load(Ordering::SeqCst),
        1,
        "{}",
        stats.summary()
    );

    // A second service on the same upstream is reflected with v1alpha too.
    probe(relay.relay_addr, "p").await;
    let d = await_descriptors(&mut ws, PROBE_SERVICE).await;
    assert_eq!(d.source, "reflection/v1alpha", "{d:?}");
    assert!(file_names(&decode_set(&d)).contains(&PROBE_FILE.to_owned()));
    assert_eq!(
        stats.v1alpha_exchanges.load(Ordering::SeqCst),
        2,
        "{}",
        stats.summary()
    );
    assert!(stats.log().iter().all(|e| e.version == Version::V1Alpha));
    // v1 was tried once, for the first service; the relay then remembered.
    assert_eq!(
        stats.requests_to(V1_PATH),
        1,
        "v1 attempts: {}",
        stats.summary()
    );
    relay.shutdown().await;
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_without_reflection_is_forwarded_and_reported() {
    let backend = ReflectingBackend::start(ReflectionOptions::mode(ReflectionMode::None)).await;
    let relay = TestRelay::start(backend.addr).await;
    let mut ws = WsClient::connect(relay.ui_addr).await;
    for i in 0..3 {
        lookup(relay.relay_addr, &format!("n{i}")).await;
    }
    let d = await_descriptors(&mut ws, CATALOG_SERVICE).await;
    assert!(d.file_descriptor_set.is_empty(), "{d:?}");
    assert_eq!(d.services, vec![CATALOG_SERVICE.to_owned()]);
    assert_eq!(d.upstream, backend.upstream());
    assert!(d.source.starts_with("reflection"), "{d:?}");
    assert!(
        d.warnings.iter().any(|w| {
            let w = w.to_lowercase();
            w.contains("unimplemented") || w.contains("reflection")
        }),
        "a warning says why: {:?}",
        d.warnings
    );

    let events = relay.capture_events().await;
    let calls = calls_of(&events, "/loom.test.v1.Catalog/Lookup");
    assert_eq!(calls.len(), 3, "every call was captured");
    for id in calls {
        let end = ended(&events, id).expect("call ended");
        assert_eq!(end.grpc_status, Some(0), "{end:?}");
    }
    let with_content: Vec<_> = descriptors(&events)
        .into_iter()
        .filter(|d| !d.file_descriptor_set.is_empty())
        .collect();
    assert!(with_content.is_empty(), "{with_content:?}");
    relay.shutdown().await;
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dependency_the_server_lacks_is_named_in_warnings() {
    for only_requested_file in [true, false] {
        let backend = ReflectingBackend::start(ReflectionOptions {
            omit_files: vec![COMMON_FILE.to_owned()],
            only_requested_file,
            ..ReflectionOptions::mode(ReflectionMode::V1Only)
        })
        .await;
        let relay = TestRelay::start(backend.addr).await;
        let mut ws = WsClient::connect(relay.ui_addr).await;
        lookup(relay.relay_addr, "x").await;
        let d = await_descriptors(&mut ws, CATALOG_SERVICE).await;
        assert_eq!(d.source, "reflection/v1", "{d:?}");
        let names = file_names(&decode_set(&d));
        assert!(names.contains(&CATALOG_FILE.to_owned()), "{names:?}");
        assert!(names.contains(&TIMESTAMP_FILE.to_owned()), "{names:?}");
        assert!(!names.contains(&COMMON_FILE.to_owned()), "{names:?}");
        assert!(
            d.warnings.iter().any(|w| w.contains(COMMON_FILE)),
            "only_requested_file={only_requested_file}: warnings {:?}",
            d.warnings
        );
        relay.shutdown().await;
        backend.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn well_known_types_the_server_lacks_come_from_the_relay() {
    for only_requested_file in [true, false] {
        let backend = ReflectingBackend::start(ReflectionOptions {
            omit_files: vec![TIMESTAMP_FILE.to_owned()],
            only_requested_file,
            ..ReflectionOptions::mode(ReflectionMode::V1Only)
        })
        .await;
        let relay = TestRelay::start(backend.addr).await;
        let mut ws = WsClient::connect(relay.ui_addr).await;
        lookup(relay.relay_addr, "wkt").await;
        let d = await_descriptors(&mut ws, CATALOG_SERVICE).await;
        assert_eq!(d.source, "reflection/v1", "{d:?}");
        let set = decode_set(&d);
        let names = file_names(&set);
        assert!(
            names.contains(&TIMESTAMP_FILE.to_owned()),
            "only_requested_file={only_requested_file}: {names:?}"
        );
        assert_eq!(
            missing_dependencies(&set),
            Vec::<String>::new(),
            "{names:?}"
        );
        relay.shutdown().await;
        backend.stop().await;
    }
}

const STAMPEDE_CHANNELS: usize = 10;
const STAMPEDE_PER_CHANNEL: usize = 50;
const STAMPEDE_CALLS: usize = STAMPEDE_CHANNELS * STAMPEDE_PER_CHANNEL;

/// What a stampede of concurrent first calls through the relay saw.
struct Stampede {
    /// From the burst's start until every call had completed.
    all_done: Duration,
    median: Duration,
    max: Duration,
    /// Reflection responses the backend had sent when the last call completed.
    responses_when_done: u64,
    exchanges_when_done: u64,
    /// Calls that failed, and the distinct errors.
    failed: usize,
    errors: Vec<String>,
}

impl Stampede {
    fn numbers(&self) -> String {
        format!(
            "{STAMPEDE_CALLS} calls on {STAMPEDE_CHANNELS} channels done in {:?}; latency median \
             {:?}, max {:?}; {} failed",
            self.all_done, self.median, self.max, self.failed
        )
    }

    /// Every call succeeded; checked last, so the reflection assertions
    /// speak first.
    fn assert_all_succeeded(&self) {
        assert_eq!(
            self.failed, 0,
            "{} of {STAMPEDE_CALLS} concurrent calls failed; distinct errors: {:#?}",
            self.failed, self.errors
        );
    }
}

/// Fire `STAMPEDE_CALLS` concurrent Catalog/Lookup calls through `relay`
/// over `STAMPEDE_CHANNELS` connections, all started together.
async fn stampede(relay: &TestRelay, backend: &ReflectingBackend) -> Stampede {
    let mut channels = Vec::new();
    for _ in 0..STAMPEDE_CHANNELS {
        channels.push(channel(relay.relay_addr).await);
    }
    let start = Instant::now();
    let calls = (0..STAMPEDE_CALLS).map(|i| {
        let mut client = CatalogClient::new(channels[i % STAMPEDE_CHANNELS].clone());
        async move {
            let t = Instant::now();
            let result = client.lookup(lookup_request(&format!("s{i}"))).await;
            (result, t.elapsed())
        }
    });
    let results = futures_util::future::join_all(calls).await;
    let all_done = start.elapsed();
    let responses_when_done = backend.stats.responses();
    let exchanges_when_done = backend.stats.exchanges();

    let mut latencies = Vec::new();
    let mut errors = Vec::new();
    for (i, (result, latency)) in results.into_iter().enumerate() {
        match result {
            Ok(reply) => assert_eq!(
                reply.into_inner().item.expect("item").title,
                format!("item s{i} #0")
            ),
            Err(status) => errors.push(format!("{:?}: {}", status.code(), status.message())),
        }
        latencies.push(latency);
    }
    let failed = errors.len();
    errors.sort();
    errors.dedup();
    latencies.sort();
    Stampede {
        all_done,
        median: latencies[latencies.len() / 2],
        max: *latencies.last().expect("latencies"),
        responses_when_done,
        exchanges_when_done,
        failed,
        errors,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stampede_of_first_calls_waits_for_nothing_and_reflects_once() {
    const DELAY: Duration = Duration::from_secs(2);
    let backend = ReflectingBackend::start(ReflectionOptions {
        delay: DELAY,
        ..ReflectionOptions::mode(ReflectionMode::V1Only)
    })
    .await;
    let relay = TestRelay::start(backend.addr).await;
    let start = Instant::now();
    let s = stampede(&relay, &backend).await;
    eprintln!(
        "stampede: {}; reflection responses sent by then: {}, exchanges open: {}",
        s.numbers(),
        s.responses_when_done,
        s.exchanges_when_done,
    );
    assert_eq!(
        s.responses_when_done, 0,
        "every call completed before reflection answered (took {:?})",
        s.all_done
    );

    let mut ws = WsClient::connect(relay.ui_addr).await;
    let events = ws
        .until(Duration::from_secs(15), |events| {
            !descriptors_for(events, CATALOG_SERVICE).is_empty()
        })
        .await;
    let to_descriptors = start.elapsed();
    let catalog = descriptors_for(events, CATALOG_SERVICE);
    assert_eq!(catalog.len(), 1, "one Descriptors event: {catalog:?}");
    assert!(
        !catalog[0].file_descriptor_set.is_empty(),
        "{:?}",
        catalog[0]
    );
    let stats = &backend.stats;
    eprintln!(
        "stampede: descriptors {to_descriptors:?} after the first call; reflection exchanges {}, \
         requests {}, responses {}",
        stats.exchanges(),
        stats.requests.load(Ordering::SeqCst),
        stats.responses()
    );
    assert_eq!(stats.exchanges(), 1, "{}", stats.summary());
    assert!(to_descriptors >= DELAY, "the reflection answer was delayed");

    let events = relay.capture_events().await;
    assert_eq!(
        calls_of(&events, "/loom.test.v1.Catalog/Lookup").len(),
        STAMPEDE_CALLS,
        "every call was captured"
    );
    s.assert_all_succeeded();
    relay.shutdown().await;
    backend.stop().await;
}

/// The same stampede with reflection off: the latency baseline, and proof
/// that whatever fails under it is not reflection's doing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stampede_without_reflection_is_the_baseline() {
    let backend = ReflectingBackend::start(ReflectionOptions::mode(ReflectionMode::V1Only)).await;
    let relay = TestRelay::start_with(backend.addr, |c| c.reflection = false).await;
    let s = stampede(&relay, &backend).await;
    eprintln!("stampede baseline (reflection off): {}", s.numbers());
    assert_eq!(backend.stats.exchanges(), 0);
    s.assert_all_succeeded();
    relay.shutdown().await;
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_is_cached_for_the_retry_window() {
    let backend = ReflectingBackend::start(ReflectionOptions::mode(ReflectionMode::Failing)).await;
    let relay = TestRelay::start_with(backend.addr, |c| {
        c.reflection_retry = Duration::from_secs(60);
    })
    .await;
    let mut ws = WsClient::connect(relay.ui_addr).await;
    lookup(relay.relay_addr, "first").await;
    let d = await_descriptors(&mut ws, CATALOG_SERVICE).await;
    assert!(d.file_descriptor_set.is_empty(), "{d:?}");
    assert!(d.source.starts_with("reflection"), "{d:?}");
    assert!(!d.warnings.is_empty(), "a warning says why: {d:?}");
    let after_first = backend.stats.exchanges();
    assert!(
        (1..=2).contains(&after_first),
        "{}",
        backend.stats.summary()
    );

    for i in 0..49 {
        lookup(relay.relay_addr, &format!("again{i}")).await;
    }
    // Barrier: a different service's first attempt, started after all those
    // calls, has finished too.
    probe(relay.relay_addr, "barrier").await;
    await_descriptors(&mut ws, PROBE_SERVICE).await;
    let stats = &backend.stats;
    eprintln!(
        "negative cache: 50 Catalog calls -> {} reflection exchanges for Catalog",
        stats.exchanges_for(CATALOG_SERVICE)
    );
    assert!(
        stats.exchanges_for(CATALOG_SERVICE) <= 2,
        "50 calls within the window: {}",
        stats.summary()
    );
    assert_eq!(
        descriptors_for(&ws.events, CATALOG_SERVICE).len(),
        1,
        "one failure report per window"
    );
    relay.shutdown().await;
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_is_retried_after_the_window() {
    let retry = Duration::from_millis(200);
    let backend = ReflectingBackend::start(ReflectionOptions::mode(ReflectionMode::Failing)).await;
    let relay = TestRelay::start_with(backend.addr, |c| c.reflection_retry = retry).await;
    let mut ws = WsClient::connect(relay.ui_addr).await;
    lookup(relay.relay_addr, "first").await;
    await_descriptors(&mut ws, CATALOG_SERVICE).await;
    let failed_at = Instant::now();
    let first = backend.stats.exchanges_for(CATALOG_SERVICE);
    assert!(first >= 1, "{}", backend.stats.summary());

    // Keep calling until a call after the window starts a new attempt.
    let deadline = Instant::now() + WAIT;
    loop {
        lookup(relay.relay_addr, "retry").await;
        let stats = &backend.stats;
        if stats
            .wait_within(Duration::from_millis(50), |s| {
                s.exchanges_for(CATALOG_SERVICE) > first
            })
            .await
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no retry within {WAIT:?}: {}",
            stats.summary()
        );
    }
    // The first attempt failed after its stream opened, so the retry cannot
    // open sooner than the window after that.
    let opened: Vec<Instant> = backend
        .stats
        .log()
        .iter()
        .filter(|e| e.first_symbol() == Some(CATALOG_SERVICE))
        .map(|e| e.opened)
        .collect();
    let gap = opened[first] - opened[0];
    eprintln!(
        "negative cache: retried {:?} after the failure was reported, {gap:?} after the first \
         attempt opened (window {retry:?})",
        failed_at.elapsed()
    );
    assert!(
        gap >= retry,
        "retried after {gap:?}, within the {retry:?} window"
    );
    relay.shutdown().await;
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_websocket_client_gets_descriptors_before_calls() {
    let backend = ReflectingBackend::start(ReflectionOptions::mode(ReflectionMode::V1Only)).await;
    let relay = TestRelay::start(backend.addr).await;
    let mut ws = WsClient::connect(relay.ui_addr).await;
    lookup(relay.relay_addr, "one").await;
    await_descriptors(&mut ws, CATALOG_SERVICE).await;
    lookup(relay.relay_addr, "two").await;

    let mut late = WsClient::connect(relay.ui_addr).await;
    // Two complete calls (each at least started, response, end) and the schema.
    let events = late
        .until(WAIT, |events| {
            !descriptors(events).is_empty()
                && events
                    .iter()
                    .filter(|e| matches!(e.kind, Some(Kind::CallEnded(_))))
                    .count()
                    >= 2
        })
        .await;
    assert!(
        matches!(events[0].kind, Some(Kind::Descriptors(_))),
        "first event: {:?}",
        events[0]
    );
    let last_descriptors = events
        .iter()
        .rposition(|e| matches!(e.kind, Some(Kind::Descriptors(_))))
        .expect("descriptors");
    let first_call = events
        .iter()
        .position(|e| e.call_id != 0)
        .expect("call events");
    assert!(
        last_descriptors < first_call,
        "descriptors replay before any call event: {events:#?}"
    );
    relay.shutdown().await;
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relays_reflection_is_not_captured_but_a_clients_is() {
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};

    let backend = ReflectingBackend::start(ReflectionOptions {
        only_requested_file: true,
        ..ReflectionOptions::mode(ReflectionMode::V1Only)
    })
    .await;
    let relay = TestRelay::start(backend.addr).await;
    let mut ws = WsClient::connect(relay.ui_addr).await;
    lookup(relay.relay_addr, "a").await;
    probe(relay.relay_addr, "b").await;
    await_descriptors(&mut ws, CATALOG_SERVICE).await;
    await_descriptors(&mut ws, PROBE_SERVICE).await;
    assert!(backend.stats.exchanges() >= 2);
    let events = relay.capture_events().await;
    let paths = started_paths(&events);
    assert_eq!(paths.len(), 2, "only the two client calls: {paths:?}");
    assert!(
        !paths.iter().any(|p| p.starts_with("/grpc.reflection.")),
        "{paths:?}"
    );

    // A client's own reflection call through the relay is an ordinary call.
    let mut client = ServerReflectionClient::new(channel(relay.relay_addr).await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .expect("reflection through the relay")
        .into_inner();
    let response: ServerReflectionResponse = responses
        .message()
        .await
        .expect("a response")
        .expect("not the end");
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("not a service list: {response:?}");
    };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    assert!(names.contains(&CATALOG_SERVICE.to_owned()), "{names:?}");
    assert!(responses.message().await.expect("clean end").is_none());

    let events = relay.capture_events().await;
    let ids = calls_of(&events, V1_PATH);
    assert_eq!(ids.len(), 1, "{:?}", started_paths(&events));
    let end = ended(&events, ids[0]).expect("the reflection call ended");
    assert_eq!(end.grpc_status, Some(0), "{end:?}");
    relay.shutdown().await;
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflect_headers_go_on_reflection_requests() {
    let backend = ReflectingBackend::start(ReflectionOptions::mode(ReflectionMode::V1Only)).await;
    let relay = TestRelay::start_with(backend.addr, |c| {
        c.reflect_headers = vec![("authorization".into(), "Bearer r".into())];
    })
    .await;
    let mut ws = WsClient::connect(relay.ui_addr).await;
    lookup(relay.relay_addr, "h").await;
    await_descriptors(&mut ws, CATALOG_SERVICE).await;
    let log = backend.stats.log();
    assert!(!log.is_empty());
    for exchange in &log {
        assert!(
            exchange
                .metadata
                .iter()
                .any(|(k, v)| k == "authorization" && v == "Bearer r"),
            "{exchange:?}"
        );
    }
    relay.shutdown().await;
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_can_be_turned_off() {
    let backend = ReflectingBackend::start(ReflectionOptions::mode(ReflectionMode::Both)).await;
    let relay = TestRelay::start_with(backend.addr, |c| c.reflection = false).await;
    lookup(relay.relay_addr, "off").await;
    probe(relay.relay_addr, "off").await;
    // Nothing to await for an absence: give a background task ample time.
    let reflected = backend
        .stats
        .wait_within(Duration::from_millis(500), |s| s.exchanges() > 0)
        .await;
    assert!(!reflected, "{}", backend.stats.summary());
    // Each service gets one notice saying why it has no schema, never retried.
    let events = relay.capture_events().await;
    let notices = descriptors(&events);
    let mut services: Vec<&str> = notices
        .iter()
        .flat_map(|d| d.services.iter().map(String::as_str))
        .collect();
    services.sort();
    assert_eq!(services, [CATALOG_SERVICE, PROBE_SERVICE], "{notices:?}");
    for d in notices {
        let failure = d.failure.as_ref().expect("a failure notice");
        assert!(failure.reason.contains("--no-reflection"), "{failure:?}");
        assert_eq!(failure.retry_unix_nanos, 0, "never retried");
    }
    relay.shutdown().await;
    backend.stop().await;
}

/// Calls Catalog (locally described) many times, then Probe, and waits for
/// Probe's reflected schema: by then any reflection of Catalog would have
/// been asked for too.
async fn assert_catalog_never_reflected(relay: &TestRelay, backend: &ReflectingBackend) {
    let mut ws = WsClient::connect(relay.ui_addr).await;
    for i in 0..20 {
        lookup(relay.relay_addr, &format!("local{i}")).await;
    }
    probe(relay.relay_addr, "barrier").await;
    let d = await_descriptors(&mut ws, PROBE_SERVICE).await;
    assert_eq!(d.source, "reflection/v1", "{d:?}");
    let stats = &backend.stats;
    assert_eq!(
        stats.exchanges_for(CATALOG_SERVICE),
        0,
        "{}",
        stats.summary()
    );
    assert_eq!(stats.exchanges(), 1, "Probe only: {}", stats.summary());
    let requests = stats.all_requests();
    assert!(
        !requests.iter().any(|r| r.contains("Catalog")),
        "{requests:?}"
    );
    let catalog = descriptors_for(&ws.events, CATALOG_SERVICE);
    assert_eq!(catalog.len(), 1, "only the local schema: {catalog:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_descriptor_set_replaces_reflection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("catalog.fds");
    // Catalog and its dependencies, not Probe: Probe still gets reflected.
    std::fs::write(
        &path,
        test_fds_subset(&[CATALOG_FILE, COMMON_FILE, MONEY_FILE, TIMESTAMP_FILE]),
    )
    .expect("write descriptor set");
    let backend = ReflectingBackend::start(ReflectionOptions::mode(ReflectionMode::Both)).await;
    let relay =
        TestRelay::start_with(backend.addr, |c| c.descriptor_sets = vec![path.clone()]).await;

    // Present from the start, before any call.
    let mut ws = WsClient::connect(relay.ui_addr).await;
    let d = await_descriptors(&mut ws, CATALOG_SERVICE).await;
    assert!(d.source.starts_with("descriptor-set:"), "{d:?}");
    assert!(d.source.ends_with("catalog.fds"), "{d:?}");
    assert_eq!(d.services, vec![CATALOG_SERVICE.to_owned()]);
    assert_eq!(d.upstream, "", "local files have no upstream");
    assert!(ws.events.iter().all(|e| e.call_id == 0));
    let names = file_names(&decode_set(&d));
    assert!(names.contains(&CATALOG_FILE.to_owned()), "{names:?}");

    assert_catalog_never_reflected(&relay, &backend).await;
    relay.shutdown().await;
    backend.stop().await;

    // The whole test set: neither service is ever reflected.
    std::fs::write(&path, TEST_FDS).expect("write descriptor set");
    let backend = ReflectingBackend::start(ReflectionOptions::mode(ReflectionMode::Both)).await;
    let relay =
        TestRelay::start_with(backend.addr, |c| c.descriptor_sets = vec![path.clone()]).await;
    let mut ws = WsClient::connect(relay.ui_addr).await;
    let d = await_descriptors(&mut ws, CATALOG_SERVICE).await;
    assert!(d.services.contains(&PROBE_SERVICE.to_owned()), "{d:?}");
    for _ in 0..10 {
        lookup(relay.relay_addr, "x").await;
        probe(relay.relay_addr, "y").await;
    }
    // Nothing to await for an absence: give a background task ample time.
    let reflected = backend
        .stats
        .wait_within(Duration::from_millis(500), |s| s.exchanges() > 0)
        .await;
    assert!(!reflected, "{}", backend.stats.summary());
    relay.shutdown().await;
    backend.stop().await;
}

fn test_proto(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_protos_replace_reflection() {
    let catalog = test_proto("proto/loom/test/v1/catalog.proto");
    let backend = ReflectingBackend::start(ReflectionOptions::mode(ReflectionMode::Both)).await;
    let relay = TestRelay::start_with(backend.addr, |c| {
        c.protos = vec![catalog.clone()];
        c.proto_includes = vec![test_proto("proto")];
    })
    .await;
    let mut ws = WsClient::connect(relay.ui_addr).await;
    let d = await_descriptors(&mut ws, CATALOG_SERVICE).await;
    assert!(d.source.starts_with("proto:"), "{d:?}");
    assert!(d.source.ends_with("catalog.proto"), "{d:?}");
    assert_eq!(d.services, vec![CATALOG_SERVICE.to_owned()]);
    let set = decode_set(&d);
    let names = file_names(&set);
    assert!(names.contains(&CATALOG_FILE.to_owned()), "{names:?}");
    // Imports are in the set, so it can decode messages on its own.
    let missing: Vec<_> = missing_dependencies(&set)
        .into_iter()
        .filter(|f| !f.starts_with("google/protobuf/"))
        .collect();
    assert!(missing.is_empty(), "{missing:?} missing from {names:?}");
    assert_catalog_never_reflected(&relay, &backend).await;
    relay.shutdown().await;
    backend.stop().await;

    // Without includes, the proto's own directory is the import path.
    let backend = ReflectingBackend::start(ReflectionOptions::mode(ReflectionMode::Both)).await;
    let relay = TestRelay::start_with(backend.addr, |c| {
        c.protos = vec![test_proto("proto/loom/test/v1/probe.proto")];
    })
    .await;
    let mut ws = WsClient::connect(relay.ui_addr).await;
    let d = await_descriptors(&mut ws, PROBE_SERVICE).await;
    assert!(d.source.starts_with("proto:"), "{d:?}");
    assert_eq!(d.services, vec![PROBE_SERVICE.to_owned()]);
    // Probe is local, Catalog is reflected.
    probe(relay.relay_addr, "p").await;
    lookup(relay.relay_addr, "c").await;
    let reflected = await_descriptors(&mut ws, CATALOG_SERVICE).await;
    assert_eq!(reflected.source, "reflection/v1");
    let stats = &backend.stats;
    assert_eq!(stats.exchanges_for(PROBE_SERVICE), 0, "{}", stats.summary());
    relay.shutdown().await;
    backend.stop().await;
}

/// A config for start-up failures: nothing is ever called.
fn config_with(tweak: impl FnOnce(&mut loom_relay::Config)) -> loom_relay::Config {
    let mut config = loom_relay::Config::new("127.0.0.1:9".parse().expect("upstream"));
    tweak(&mut config);
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_proto_fails_start_up_with_its_location() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("broken.proto");
    std::fs::write(&path, "syntax = \"proto3\"; message A { int32 x = }\n").expect("write proto");
    let result = TestRelay::try_start(config_with(|c| c.protos = vec![path.clone()])).await;
    let Err(err) = result else {
        panic!("a broken proto must fail start-up");
    };
    let text = error_text(&err);
    eprintln!("broken proto: {text}");
    assert!(text.contains("broken.proto"), "{text}");
    assert!(
        text.contains(":1:") || text.contains("line 1"),
        "line number: {text}"
    );
    assert!(
        text.contains("expected") && text.contains("found"),
        "the parser's message: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_descriptor_set_fails_start_up_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.fds");
    let garbage = dir.path().join("garbage.fds");
    std::fs::write(&garbage, b"\xff\xff\xff not a descriptor set").expect("write garbage");
    for path in [missing, garbage] {
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let result =
            TestRelay::try_start(config_with(|c| c.descriptor_sets = vec![path.clone()])).await;
        let Err(err) = result else {
            panic!("{name} must fail start-up");
        };
        let text = error_text(&err);
        eprintln!("{name}: {text}");
        assert!(text.contains(&name), "{text}");
    }
}
