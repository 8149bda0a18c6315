//! Dead, failing and misbehaving peers: clients always get a proper answer,
//! the capture records what happened, and the relay keeps serving.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{StreamExt, stream};
use http::{Request, Response};
use http_body_util::StreamBody;
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use loom_shared::pb::{Direction, event::Kind};
use loom_tests::TestRelay;
use loom_tests::backend::Backend;
use loom_tests::events::{calls_of, ended, messages};
use loom_tests::raw::{self, grpc_frame};
use tokio::net::TcpListener;
use tokio::sync::Notify;

const UNARY: &str = "/loom.test.v1.Probe/Unary";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_down_gives_unavailable_then_recovers() {
    // A port with nothing listening on it.
    let parked = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = parked.local_addr().expect("addr");
    drop(parked);
    let relay = TestRelay::start(addr).await;

    let reply = raw::call(relay.relay_addr, UNARY, &[], raw::probe_unary_body("down")).await;
    assert_eq!(reply.status, 200);
    assert!(
        reply.trailers.is_none() && reply.body.is_empty(),
        "trailers-only"
    );
    let (status, message) = reply.grpc_status();
    assert_eq!(status.as_deref(), Some("14"), "UNAVAILABLE");
    assert!(
        message.contains(&addr.to_string()),
        "names the upstream: {message}"
    );

    // The upstream comes back on the same port; the relay reconnects.
    let backend = Backend::start_on(TcpListener::bind(addr).await.expect("rebind")).await;
    let reply = raw::call(relay.relay_addr, UNARY, &[], raw::probe_unary_body("up")).await;
    assert_eq!(reply.grpc_status().0.as_deref(), Some("0"));

    let events = relay.capture_events().await;
    let ids = calls_of(&events, "/Unary");
    assert_eq!(ids.len(), 2);
    let down = ended(&events, ids[0]).expect("recorded");
    assert_eq!(down.grpc_status, Some(14));
    assert!(down.trailers_only);
    assert!(
        down.relay_error.contains(&addr.to_string()),
        "{}",
        down.relay_error
    );
    assert_eq!(ended(&events, ids[1]).and_then(|e| e.grpc_status), Some(0));
    relay.shutdown().await;
    backend.stop().await;
}

/// An upstream that answers with headers and one message, then, once
/// `crash` is notified, resets the stream.
async fn resetting_upstream(crash: Arc<Notify>) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let crash = crash.clone();
            let service = hyper::service::service_fn(move |_req: Request<Incoming>| {
                let crash = crash.clone();
                async move {
                    let first = Ok::<_, std::io::Error>(Frame::data(Bytes::from(grpc_frame(
                        false,
                        b"\x0a\x02hi",
                    ))));
                    let then_crash = stream::once(async move {
                        crash.notified().await;
                        Err(std::io::Error::other("backend crashed"))
                    });
                    let body = StreamBody::new(stream::iter([first]).chain(then_crash));
                    let res = Response::builder()
                        .header("content-type", "application/grpc")
                        .body(body)
                        .expect("response");
                    Ok::<_, Infallible>(res)
                }
            });
            tokio::spawn(
                hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tcp), service),
            );
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_reset_mid_call_becomes_unavailable_trailers() {
    let crash = Arc::new(Notify::new());
    let upstream = resetting_upstream(crash.clone()).await;
    // No reflection: its stream to this upstream would wait on the same
    // crash, and could be the one that `notify_one` wakes.
    let relay = TestRelay::start_with(upstream, |c| c.reflection = false).await;
    let mut ws = loom_tests::ws::WsClient::connect(relay.ui_addr).await;
    let call = tokio::spawn(raw::call(
        relay.relay_addr,
        UNARY,
        &[],
        raw::probe_unary_body("x"),
    ));
    // Crash only once the first response message has passed the relay.
    ws.until(Duration::from_secs(10), |evs| {
        evs.iter().any(|e| matches!(&e.kind, Some(Kind::Message(m)) if m.direction == Direction::Response as i32))
    })
    .await;
    crash.notify_one();
    let reply = tokio::time::timeout(Duration::from_secs(20), call)
        .await
        .expect("the call ends once the upstream crashed")
        .expect("call task");
    assert_eq!(
        reply.body,
        grpc_frame(false, b"\x0a\x02hi"),
        "what arrived is forwarded"
    );
    let trailers = reply.trailers.as_ref().expect("synthesized trailers");
    assert_eq!(trailers["grpc-status"], "14");
    let (_, message) = reply.grpc_status();
    assert!(message.contains(&upstream.to_string()), "{message}");

    let events = relay.capture_events().await;
    let id = calls_of(&events, "/Unary")[0];
    assert_eq!(messages(&events, id, Direction::Response).len(), 1);
    let end = ended(&events, id).expect("ended");
    assert_eq!(end.grpc_status, Some(14));
    assert!(!end.trailers_only);
    assert!(
        end.relay_error.contains("failed during the call"),
        "{}",
        end.relay_error
    );
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_grpc_requests_get_a_clear_http_error() {
    let backend = Backend::start().await;
    let relay = TestRelay::start(backend.addr).await;
    // HTTP/1.1, as a browser or curl would send.
    let client: hyper_util::client::legacy::Client<_, http_body_util::Empty<Bytes>> =
        hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let res = client
        .get(
            format!("http://{}/", relay.relay_addr)
                .parse()
                .expect("uri"),
        )
        .await
        .expect("response");
    assert_eq!(res.status(), 415);
    let body = http_body_util::BodyExt::collect(res.into_body())
        .await
        .expect("body")
        .to_bytes();
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains("gRPC") && text.contains(&relay.ui_addr.to_string()),
        "{text}"
    );

    // HTTP/2 but not gRPC.
    let tcp = tokio::net::TcpStream::connect(relay.relay_addr)
        .await
        .expect("connect");
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("handshake");
    tokio::spawn(conn);
    let req = Request::post(format!("http://{}/upload", relay.relay_addr))
        .header("content-type", "text/plain")
        .body(http_body_util::Full::new(Bytes::from_static(b"hello")))
        .expect("request");
    let res = send.send_request(req).await.expect("response");
    assert_eq!(res.status(), 415);
    // Neither reached the capture as a call.
    assert!(relay.capture_events().await.is_empty());
    relay.shutdown().await;
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_framing_is_recorded_and_harms_no_other_stream() {
    let backend = Backend::start().await;
    let relay = TestRelay::start(backend.addr).await;
    // A long-lived healthy stream runs alongside.
    let mut ws = loom_tests::ws::WsClient::connect(relay.ui_addr).await;

    // A bad compressed-flag byte: the body is not gRPC-framed at all.
    let bad = raw::call(
        relay.relay_addr,
        UNARY,
        &[],
        vec![b"GET / HTTP/1.1\r\n\r\n".to_vec()],
    )
    .await;
    assert_ne!(bad.grpc_status().0.as_deref(), Some("0"));
    // A truncated message: the prefix promises 100 bytes, 3 arrive.
    let mut truncated = vec![0, 0, 0, 0, 100];
    truncated.extend_from_slice(b"abc");
    let cut = raw::call(relay.relay_addr, UNARY, &[], vec![truncated]).await;
    assert_ne!(cut.grpc_status().0.as_deref(), Some("0"));
    // A good call still works.
    let good = raw::call(relay.relay_addr, UNARY, &[], raw::probe_unary_body("fine")).await;
    assert_eq!(good.grpc_status().0.as_deref(), Some("0"));

    let events = ws
        .until(Duration::from_secs(10), |evs| {
            evs.iter()
                .filter(|e| matches!(e.kind, Some(Kind::CallEnded(_))))
                .count()
                >= 3
        })
        .await
        .to_vec();
    let ids = calls_of(&events, "/Unary");
    let bad_end = ended(&events, ids[0]).expect("ended");
    assert!(
        bad_end
            .protocol_errors
            .iter()
            .any(|p| p.contains("not gRPC-framed")),
        "{:?}",
        bad_end.protocol_errors
    );
    assert_ne!(bad_end.grpc_status, Some(0));
    let cut_end = ended(&events, ids[1]).expect("ended");
    assert!(
        cut_end
            .protocol_errors
            .iter()
            .any(|p| p.contains("inside a message")),
        "{:?}",
        cut_end.protocol_errors
    );
    let partial = messages(&events, ids[1], Direction::Request);
    assert_eq!(partial.len(), 1);
    assert!(partial[0].truncated);
    assert_eq!(partial[0].declared_length, 100);
    assert_eq!(&partial[0].payload[..], b"abc");
    assert_eq!(ended(&events, ids[2]).and_then(|e| e.grpc_status), Some(0));
    relay.shutdown().await;
    backend.stop().await;
}
