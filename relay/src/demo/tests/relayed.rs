//! The demo's reflection, its descriptor set, the traffic generator and
//! `demo::run` end to end through the relay.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use loom_shared::pb::{self, event::Kind};
use prost::Message as _;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::{channel, start_backend};
use crate::demo::backend::{ELAPSED_TRAILER, REQUEST_ID_HEADER, SERVER_HEADER};
use crate::demo::{FILE_DESCRIPTOR_SET, SERVICE_NAME, banner, generate_traffic, run};

#[test]
fn the_descriptor_set_holds_the_demo_files_and_their_imports() {
    let fds = prost_types::FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).unwrap();
    let names: Vec<&str> = fds.file.iter().map(|f| f.name()).collect();
    for want in [
        "loom/demo/v1/demo.proto",
        "loom/demo/v1/types.proto",
        "google/protobuf/any.proto",
        "google/protobuf/duration.proto",
        "google/protobuf/field_mask.proto",
        "google/protobuf/struct.proto",
        "google/protobuf/timestamp.proto",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    let demo = fds
        .file
        .iter()
        .find(|f| f.name() == "loom/demo/v1/demo.proto")
        .unwrap();
    let methods: Vec<&str> = demo.service[0].method.iter().map(|m| m.name()).collect();
    assert_eq!(
        methods,
        [
            "GetItem",
            "ListItems",
            "ImportItems",
            "UpdateItem",
            "GetThumbnail",
            "Watch"
        ]
    );
}

/// Asks a reflection service (v1 or v1alpha, same shapes) for its services,
/// then walks the import closure of `loom.demo.v1.Inventory` one file at a
/// time, the way grpcurl does.
macro_rules! reflect {
    ($version:ident, $addr:expr) => {{
        use tonic_reflection::pb::$version::ServerReflectionRequest;
        use tonic_reflection::pb::$version::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::$version::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::$version::server_reflection_response::MessageResponse;
        let mut client = ServerReflectionClient::new(channel($addr).await);
        let mut ask = async |request| {
            let request = ServerReflectionRequest {
                host: String::new(),
                message_request: Some(request),
            };
            client
                .server_reflection_info(futures_util::stream::iter([request]))
                .await
                .expect("reflection call")
                .into_inner()
                .message()
                .await
                .expect("reflection response")
                .and_then(|r| r.message_response)
                .expect("an answer")
        };
        let services = match ask(MessageRequest::ListServices(String::new())).await {
            MessageResponse::ListServicesResponse(list) => {
                list.service.into_iter().map(|s| s.name).collect::<Vec<_>>()
            }
            other => panic!("unexpected reflection response {other:?}"),
        };
        let mut files = std::collections::BTreeSet::new();
        let mut pending = vec![MessageRequest::FileContainingSymbol(SERVICE_NAME.into())];
        while let Some(request) = pending.pop() {
            let MessageResponse::FileDescriptorResponse(fd) = ask(request).await else {
                panic!("no file descriptor");
            };
            for bytes in &fd.file_descriptor_proto {
                let file = prost_types::FileDescriptorProto::decode(bytes.as_slice())
                    .expect("a file descriptor");
                if files.insert(file.name().to_owned()) {
                    for dep in file.dependency.iter().filter(|d| !files.contains(*d)) {
                        pending.push(MessageRequest::FileByFilename(dep.clone()));
                    }
                }
            }
        }
        (services, files)
    }};
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_v1_and_v1alpha_both_list_the_inventory_and_its_imports() {
    let backend = start_backend().await;
    let v1 = reflect!(v1, backend.addr);
    let v1alpha = reflect!(v1alpha, backend.addr);
    for (version, (services, files)) in [("v1", v1), ("v1alpha", v1alpha)] {
        assert!(
            services.iter().any(|s| s == SERVICE_NAME),
            "{version}: {services:?}"
        );
        for want in [
            "loom/demo/v1/demo.proto",
            "loom/demo/v1/types.proto",
            "google/protobuf/any.proto",
            "google/protobuf/field_mask.proto",
            "google/protobuf/struct.proto",
        ] {
            assert!(files.contains(want), "{version}: {want} not in {files:?}");
        }
    }
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_traffic_generator_stops_promptly_even_with_nothing_to_call() {
    // A port nobody listens on any more.
    let gone = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = gone.local_addr().unwrap();
    drop(gone);
    let (stop, stopped) = crate::shutdown::signal();
    let generator = tokio::spawn(generate_traffic(
        target.into(),
        std::sync::Arc::new(crate::forward::upstream::TcpConnect),
        stopped,
    ));
    // Let it fail a first call and its first Watch stream.
    tokio::task::yield_now().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!generator.is_finished(), "failures never end the generator");
    let started = Instant::now();
    stop.stop();
    tokio::time::timeout(Duration::from_secs(1), generator)
        .await
        .expect("stops within a second")
        .expect("no panic");
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn the_banner_shows_where_to_look_and_what_to_paste() {
    let text = banner(
        "127.0.0.1:9998".parse().unwrap(),
        "127.0.0.1:9999".parse().unwrap(),
        "127.0.0.1:40000".parse().unwrap(),
        None,
    );
    assert!(text.contains("http://127.0.0.1:9998/"), "{text}");
    assert!(text.contains("127.0.0.1:40000"), "{text}");
    assert!(
        text.contains("grpcurl -plaintext 127.0.0.1:9999 list"),
        "{text}"
    );
    assert!(
        text.contains(
            r#"grpcurl -plaintext -d '{"id":"sku-1"}' 127.0.0.1:9999 loom.demo.v1.Inventory/GetItem"#
        ),
        "{text}"
    );
}

/// The relay's capture so far; empty while the UI is not answering yet.
async fn capture(ui: SocketAddr) -> Vec<pb::Event> {
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new())
        .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let req = http::Request::get(format!("http://{ui}/api/capture"))
        .header(crate::access::CLIENT_HEADER, "demo-tests")
        .body(Empty::new())
        .expect("request");
    let Ok(res) = client.request(req).await else {
        return Vec::new();
    };
    assert_eq!(res.status(), http::StatusCode::OK);
    let body = res.into_body().collect().await.expect("body").to_bytes();
    loom_shared::capture::read_capture(&body)
        .expect("a valid capture")
        .events
}

/// The first call to `method` that ended OK, with its request headers,
/// response headers and trailers.
fn finished_ok(events: &[pb::Event], method: &str) -> Option<[Vec<String>; 3]> {
    let names = |headers: &[pb::Header]| headers.iter().map(|h| h.name.clone()).collect();
    events.iter().find_map(|e| {
        let Some(Kind::CallStarted(start)) = &e.kind else {
            return None;
        };
        if start.path != format!("/{SERVICE_NAME}/{method}") {
            return None;
        }
        let of_call = || events.iter().filter(|x| x.call_id == e.call_id);
        let response = of_call().find_map(|x| match &x.kind {
            Some(Kind::ResponseHeaders(h)) => Some(names(&h.headers)),
            _ => None,
        })?;
        let trailers = of_call().find_map(|x| match &x.kind {
            Some(Kind::CallEnded(end)) if end.grpc_status == Some(0) => Some(names(&end.trailers)),
            _ => None,
        })?;
        Some([names(&start.headers), response, trailers])
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_run_relays_generated_traffic_and_shuts_down_cleanly() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ui = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ui_addr = ui.local_addr().unwrap();
    let backend =
        super::super::DemoBackend::start(TcpListener::bind("127.0.0.1:0").await.unwrap()).await;
    let config = crate::Config::new(super::super::upstream_of(&backend));
    let (stop, stopped) = oneshot::channel::<()>();
    let demo = tokio::spawn(run(config, backend, listener, ui, async {
        let _ = stopped.await;
    }));

    let methods = ["GetItem", "ListItems", "ImportItems"];
    let deadline = Instant::now() + Duration::from_secs(12);
    let found = loop {
        let events = capture(ui_addr).await;
        let found: Vec<_> = methods
            .iter()
            .filter_map(|m| finished_ok(&events, m))
            .collect();
        if found.len() == methods.len() {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {methods:?} seen",
            found.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for [request, response, trailers] in &found {
        assert!(
            request.iter().any(|h| h == REQUEST_ID_HEADER),
            "{request:?}"
        );
        assert!(response.iter().any(|h| h == SERVER_HEADER), "{response:?}");
        assert!(
            trailers.iter().any(|h| h == ELAPSED_TRAILER),
            "{trailers:?}"
        );
    }

    stop_cleanly(stop, demo).await;
}

/// `loom demo --tls`: both hops TLS, with certificates from a local CA;
/// each call records both sessions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_run_over_tls_records_both_hops() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = crate::tls::ca::LocalCa::load_or_create(&tmp.path().join("ca")).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ui = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ui_addr = ui.local_addr().unwrap();
    let backend = super::super::DemoBackend::start_tls(
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        ca.leaf(None).unwrap(),
        ca.cert_path(),
    )
    .await;
    let upstream = super::super::upstream_of(&backend);
    assert!(upstream.is_tls(), "{upstream}");
    let mut config = crate::Config::new(upstream);
    config.upstream_tls.ca = backend.tls_ca.clone();
    config.listen_tls.ca_dir = Some(ca.dir().to_owned());
    config.listen_tls.tls_only = true;
    let (stop, stopped) = oneshot::channel::<()>();
    let demo = tokio::spawn(run(config, backend, listener, ui, async {
        let _ = stopped.await;
    }));
    let deadline = Instant::now() + Duration::from_secs(12);
    let (client, upstream) = loop {
        let events = capture(ui_addr).await;
        let ok = events.iter().find_map(|e| match &e.kind {
            Some(Kind::CallEnded(end)) if end.grpc_status == Some(0) => {
                Some((e.call_id, end.upstream_tls.clone()))
            }
            _ => None,
        });
        if let Some((id, upstream)) = ok {
            let client = events.iter().find_map(|e| match &e.kind {
                Some(Kind::CallStarted(s)) if e.call_id == id => s.client_tls.clone(),
                _ => None,
            });
            break (client, upstream);
        }
        assert!(Instant::now() < deadline, "no call succeeded over TLS");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let client = client.expect("the client hop is TLS");
    let upstream = upstream.expect("the upstream hop is TLS");
    for hop in [&client, &upstream] {
        assert_eq!(hop.alpn, "h2");
        assert!(hop.version.starts_with("TLSv1."), "{hop:?}");
        assert!(!hop.cipher_suite.is_empty(), "{hop:?}");
        let cert = hop.server_certificate.as_ref().expect("a certificate");
        assert!(cert.issuer.contains("Loom local CA"), "{cert:?}");
        assert!(cert.names.iter().any(|n| n == "127.0.0.1"), "{cert:?}");
    }
    stop_cleanly(stop, demo).await;
}

/// Stops a `demo::run` and checks it returns, without error, within 5 s.
async fn stop_cleanly(
    stop: oneshot::Sender<()>,
    demo: tokio::task::JoinHandle<Result<(), crate::RelayError>>,
) {
    let started = Instant::now();
    stop.send(()).unwrap();
    let result = tokio::time::timeout(Duration::from_secs(5), demo)
        .await
        .expect("run returns within 5 s of shutdown")
        .expect("no panic");
    assert!(result.is_ok(), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}
