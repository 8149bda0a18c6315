//! Connect, gRPC-Web and gRPC through the relay, between real
//! implementations: the connect-node client (and `buf curl`) calling the
//! connect-node server (`loom_tests::connect`), over HTTP/1.1 and HTTP/2,
//! in both codecs. Each call must end exactly as it does direct (code,
//! message, details, replies, trailers) and be captured with its protocol,
//! codec and HTTP version, its messages, and its status in gRPC's terms
//! beside the protocol's own.

use loom_shared::pb::{self, RpcProtocol, event::Kind};
use loom_tests::TestRelay;
use loom_tests::connect::{
    CallOutcome, Codec, Compression, ConnectServer, Http, Method, Protocol, Shape, Verb, WebCall,
    buf_curl, connect_client, descriptor_set,
};
use serde_json::json;
use tonic::Code;

/// A relay in front of `server`, with the peers' schema.
async fn relay_for(server: &ConnectServer) -> TestRelay {
    let schema = descriptor_set();
    TestRelay::start_with(server.addr, |c| c.descriptor_sets = vec![schema]).await
}

fn relay_url(relay: &TestRelay) -> http::Uri {
    format!("http://{}", relay.relay_addr).parse().expect("uri")
}

/// The capture's protocol for a call the client made as `protocol`.
fn captured_as(protocol: Protocol, shape: Shape, verb: Verb) -> RpcProtocol {
    match (protocol, shape, verb) {
        (Protocol::Connect, Shape::Unary, Verb::Get) => RpcProtocol::ConnectGet,
        (Protocol::Connect, Shape::Unary, Verb::Post) => RpcProtocol::ConnectUnary,
        (Protocol::Connect, _, _) => RpcProtocol::ConnectStream,
        (Protocol::GrpcWeb, _, _) => RpcProtocol::GrpcWeb,
        (Protocol::Grpc, _, _) => RpcProtocol::Grpc,
    }
}

/// The same call direct and through the relay: both outcomes.
async fn both(
    server: &ConnectServer,
    relay: &TestRelay,
    call: &WebCall,
) -> (Vec<CallOutcome>, Vec<CallOutcome>) {
    let direct = connect_client(&server.url(), call).await;
    let relayed = connect_client(&relay_url(relay), call).await;
    assert!(
        direct.success,
        "{call:?} direct: {:?} {}",
        direct.calls, direct.stderr
    );
    assert!(
        relayed.success,
        "{call:?} relayed: {:?} {}",
        relayed.calls, relayed.stderr
    );
    (direct.calls, relayed.calls)
}

/// What the client saw, without what legitimately differs between two
/// runs (the date).
fn seen(c: &CallOutcome) -> String {
    let (mut headers, mut trailers) = (c.headers.clone(), c.trailers.clone());
    headers.remove("date");
    trailers.remove("date");
    format!(
        "{:?} {} {:?} {:?} {:?} {:?}",
        c.code, c.message, c.details, c.replies, headers, trailers
    )
}

/// The capture once `calls` calls have ended (a call whose upstream end
/// may have crossed a client's cancel is recorded a moment after it was
/// forwarded).
async fn after(relay: &TestRelay, calls: usize) -> Vec<pb::Event> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let events = relay.capture_events().await;
        let ended = events
            .iter()
            .filter(|e| matches!(e.kind, Some(Kind::CallEnded(_))))
            .count();
        if ended >= calls || tokio::time::Instant::now() > deadline {
            return events;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn last_call(events: &[pb::Event]) -> (&pb::CallStarted, &pb::CallEnded, Vec<&pb::Message>) {
    let id = events
        .iter()
        .rev()
        .find(|e| matches!(e.kind, Some(Kind::CallEnded(_))))
        .map(|e| e.call_id)
        .expect("a call ended");
    let mut started = None;
    let mut ended = None;
    let mut messages = Vec::new();
    for e in events.iter().filter(|e| e.call_id == id) {
        match &e.kind {
            Some(Kind::CallStarted(s)) => started = Some(s),
            Some(Kind::CallEnded(x)) => ended = Some(x),
            Some(Kind::Message(m)) => messages.push(m),
            _ => {}
        }
    }
    (started.expect("started"), ended.expect("ended"), messages)
}

#[tokio::test]
async fn every_kind_through_the_relay_ends_as_it_does_direct_and_is_captured() {
    for http in Http::ALL {
        let server = ConnectServer::start(http).await;
        let relay = relay_for(&server).await;
        let mut made = 0;
        for protocol in Protocol::ALL {
            for codec in Codec::ALL {
                for shape in Shape::ALL {
                    if !protocol.allows(http, shape) {
                        continue;
                    }
                    let what = format!("{protocol:?} {http:?} {codec:?} {shape:?}");
                    let call = WebCall::new(protocol, http, codec, shape)
                        .count(2)
                        .header("x-echo-case", "relay");
                    let (direct, relayed) = both(&server, &relay, &call).await;
                    assert_eq!(seen(&relayed[0]), seen(&direct[0]), "{what}");
                    made += 1;
                    let events = after(&relay, made).await;
                    let (s, e, messages) = last_call(&events);
                    assert_eq!(
                        s.protocol(),
                        captured_as(protocol, shape, Verb::Post),
                        "{what}"
                    );
                    let want_codec = if codec == Codec::Json {
                        pb::Codec::Json
                    } else {
                        pb::Codec::Proto
                    };
                    assert_eq!(s.codec(), want_codec, "{what}");
                    let want_http = if http == Http::H1 {
                        "HTTP/1.1"
                    } else {
                        "HTTP/2"
                    };
                    assert_eq!(s.http_version, want_http, "{what}");
                    assert_eq!(e.grpc_status, Some(0), "{what}: {e:?}");
                    assert!(
                        e.protocol_errors.is_empty() && e.relay_error.is_empty(),
                        "{what}: {e:?}"
                    );
                    let (requests, responses) = match shape {
                        Shape::Unary => (1, 1),
                        Shape::ServerStream => (1, 2),
                        Shape::ClientStream => (2, 1),
                        Shape::Bidi => (2, 2),
                    };
                    let count = |d| messages.iter().filter(|m| m.direction() == d).count();
                    assert_eq!(count(pb::Direction::Request), requests, "{what}");
                    assert_eq!(count(pb::Direction::Response), responses, "{what}");
                }
            }
        }
        relay.shutdown().await;
    }
}

#[tokio::test]
async fn errors_keep_code_message_and_details_through_the_relay() {
    for http in Http::ALL {
        let server = ConnectServer::start(http).await;
        let relay = relay_for(&server).await;
        let mut made = 0;
        for protocol in Protocol::ALL {
            for shape in [Shape::Unary, Shape::ServerStream] {
                if !protocol.allows(http, shape) {
                    continue;
                }
                let what = format!("{protocol:?} {http:?} {shape:?}");
                let call = WebCall::new(protocol, http, Codec::Proto, shape)
                    .count(2)
                    .fail(Code::NotFound, "deliberate");
                let (direct, relayed) = both(&server, &relay, &call).await;
                assert_eq!(seen(&relayed[0]), seen(&direct[0]), "{what}");
                assert_eq!(relayed[0].code, Code::NotFound, "{what}");
                made += 1;
                let events = after(&relay, made).await;
                let (_, e, _) = last_call(&events);
                assert_eq!(e.grpc_status, Some(5), "{what}: {e:?}");
                assert_eq!(e.grpc_message, "deliberate", "{what}");
                let status = <loom_shared::rpc::Status as prost::Message>::decode(
                    &e.grpc_status_details[..],
                )
                .unwrap_or_else(|err| panic!("{what}: details {err}: {e:?}"));
                assert_eq!(
                    status.details[0].type_url, "type.googleapis.com/google.rpc.ErrorInfo",
                    "{what}"
                );
                let (connect_code, source) = match (protocol, shape) {
                    (Protocol::Connect, Shape::Unary) => ("not_found", "http-status"),
                    (Protocol::Connect, _) => ("not_found", "end-stream"),
                    (Protocol::GrpcWeb, _) if http == Http::H1 => ("", "body-trailers"),
                    _ => ("", e.status_source.as_str()),
                };
                assert_eq!(
                    (e.connect_code.as_str(), e.status_source.as_str()),
                    (connect_code, source),
                    "{what}"
                );
            }
        }
        relay.shutdown().await;
    }
}

#[tokio::test]
async fn gzip_and_a_connect_get_through_the_relay() {
    for http in Http::ALL {
        let server = ConnectServer::start(http).await;
        let relay = relay_for(&server).await;
        let mut made = 0;
        for protocol in Protocol::ALL {
            if !protocol.allows(http, Shape::Unary) {
                continue;
            }
            let what = format!("{protocol:?} {http:?} gzip");
            let call = WebCall::new(protocol, http, Codec::Proto, Shape::Unary)
                .sizes(4096, 4096)
                .compression(Compression::Gzip);
            let (direct, relayed) = both(&server, &relay, &call).await;
            assert_eq!(seen(&relayed[0]), seen(&direct[0]), "{what}");
            made += 1;
            let events = after(&relay, made).await;
            let (_, e, messages) = last_call(&events);
            assert_eq!(e.grpc_status, Some(0), "{what}");
            assert!(
                messages.iter().all(|m| m.compressed),
                "{what}: every message compressed"
            );
        }
        let call = WebCall::new(Protocol::Connect, http, Codec::Proto, Shape::Unary)
            .verb(Verb::Get)
            .text("a GET");
        let (direct, relayed) = both(&server, &relay, &call).await;
        assert_eq!(seen(&relayed[0]), seen(&direct[0]), "GET {http:?}");
        let events = after(&relay, made + 1).await;
        let (s, e, messages) = last_call(&events);
        assert_eq!(
            (s.protocol(), s.method.as_str()),
            (RpcProtocol::ConnectGet, "GET")
        );
        assert_eq!(e.grpc_status, Some(0));
        let request = messages
            .iter()
            .find(|m| m.direction() == pb::Direction::Request)
            .expect("the query's message");
        assert!(
            request.payload.windows(5).any(|w| w == b"a GET"),
            "{request:?}"
        );
        relay.shutdown().await;
    }
}

#[tokio::test]
async fn buf_curl_through_the_relay() {
    for http in Http::ALL {
        let server = ConnectServer::start(http).await;
        let relay = relay_for(&server).await;
        for protocol in [Protocol::GrpcWeb, Protocol::Connect] {
            let what = format!("buf curl {protocol:?} {http:?}");
            let unary = buf_curl(
                &relay_url(&relay),
                protocol,
                http,
                Method::Unary,
                &[json!({"text": "curl"})],
                &[],
            )
            .await;
            assert_eq!(unary.code, Code::Ok, "{what}: {}", unary.stderr);
            assert_eq!(unary.replies[0]["text"], "curl", "{what}");
            let stream = buf_curl(
                &relay_url(&relay),
                protocol,
                http,
                Method::ServerStream,
                &[json!({"count": 3})],
                &[],
            )
            .await;
            assert_eq!(stream.code, Code::Ok, "{what}: {}", stream.stderr);
            assert_eq!(stream.replies.len(), 3, "{what}");
            let failed = buf_curl(
                &relay_url(&relay),
                protocol,
                http,
                Method::Unary,
                &[json!({"failCode": 7, "failMessage": "no entry"})],
                &[],
            )
            .await;
            assert_eq!(
                failed.code,
                Code::PermissionDenied,
                "{what}: {}",
                failed.stderr
            );
        }
        let events = after(&relay, 6).await;
        let ends: Vec<Option<u32>> = events
            .iter()
            .filter_map(|e| match &e.kind {
                Some(Kind::CallEnded(x)) => Some(x.grpc_status),
                _ => None,
            })
            .collect();
        assert_eq!(
            ends,
            [Some(0), Some(0), Some(7), Some(0), Some(0), Some(7)],
            "{http:?}"
        );
        relay.shutdown().await;
    }
}

/// A page on another origin (a static server) calls through the relay with
/// connect-web and grpc-web: the browser's CORS preflights pass through to
/// the upstream, which answers them, and every call is captured with its
/// protocol.
#[tokio::test]
async fn a_browser_page_on_another_origin_calls_through_the_relay() {
    use loom_tests::connect::{PageClient, page_dir, page_query};
    let server = ConnectServer::start(Http::H1).await;
    let relay = relay_for(&server).await;
    let site = loom_tests::static_files::StaticFiles::serve(page_dir()).await;
    let browser = loom_tests::browser::Browser::start().await;
    let clients = [
        PageClient::ConnectWeb(Protocol::Connect, Codec::Json),
        PageClient::ConnectWeb(Protocol::GrpcWeb, Codec::Proto),
        PageClient::GrpcWebText,
    ];
    for client in clients {
        let what = format!("{client:?}");
        browser
            .goto(&(site.url("index.html") + &page_query(&relay_url(&relay), client)))
            .await;
        for (name, code) in [
            ("unary", "OK"),
            ("server", "OK"),
            ("error", "FAILED_PRECONDITION"),
        ] {
            let css = format!("[data-test={name}][data-done='1']");
            browser
                .wait_for(&css, std::time::Duration::from_secs(20))
                .await;
            let text = browser.text_of(&css).await.expect("the outcome");
            let outcome: serde_json::Value = serde_json::from_str(&text).expect("JSON");
            assert_eq!(outcome["code"], code, "{what} {name}: {outcome}");
        }
    }
    browser.close().await;
    let events = after(&relay, 9).await;
    let protocols: Vec<RpcProtocol> = events
        .iter()
        .filter_map(|e| match &e.kind {
            Some(Kind::CallStarted(s)) => Some(s.protocol()),
            _ => None,
        })
        .collect();
    for want in [
        RpcProtocol::ConnectUnary,
        RpcProtocol::ConnectStream,
        RpcProtocol::GrpcWeb,
        RpcProtocol::GrpcWebText,
    ] {
        assert!(protocols.contains(&want), "{want:?} in {protocols:?}");
    }
    assert!(
        !protocols.is_empty()
            && events.iter().all(|e| match &e.kind {
                Some(Kind::CallStarted(s)) => s.method == "POST",
                _ => true,
            }),
        "preflights (OPTIONS) are forwarded, not captured as calls"
    );
    relay.shutdown().await;
}
