//! Calls of every kind through the relay behave exactly as they do direct,
//! and every message, header and trailer lands in the capture.

use std::time::Duration;

use futures_util::StreamExt;
use loom_shared::pb::{self, Direction, event::Kind};
use loom_tests::TestRelay;
use loom_tests::backend::Backend;
use loom_tests::events::{calls_of, ended, messages};
use loom_tests::probe::probe_client::ProbeClient;
use loom_tests::probe::{ProbeReply, ProbeRequest};
use loom_tests::raw::{self, grpc_frame};
use loom_tests::req;
use prost::Message as _;
use tonic::transport::Channel;

async fn client(addr: std::net::SocketAddr, gzip: bool) -> ProbeClient<Channel> {
    loom_tests::probe_client(addr, gzip).await
}

/// Runs one of each call kind and returns the replies.
async fn all_kinds(c: &mut ProbeClient<Channel>) -> Vec<ProbeReply> {
    let mut out = Vec::new();
    out.push(c.unary(req("u")).await.expect("unary").into_inner());
    let mut s = c
        .server_stream(ProbeRequest {
            count: 3,
            reply_size: 10,
            ..req("s")
        })
        .await
        .expect("server stream")
        .into_inner();
    while let Some(r) = s.next().await {
        out.push(r.expect("server stream item"));
    }
    let reqs = futures_util::stream::iter(vec![req("a"), req("b"), req("c")]);
    out.push(
        c.client_stream(reqs)
            .await
            .expect("client stream")
            .into_inner(),
    );
    let reqs = futures_util::stream::iter(vec![req("x"), req("y")]);
    let mut s = c.bidi(reqs).await.expect("bidi").into_inner();
    while let Some(r) = s.next().await {
        out.push(r.expect("bidi item"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_kind_matches_direct_and_is_captured() {
    let backend = Backend::start().await;
    let relay = TestRelay::start(backend.addr).await;
    // Streaming calls are recorded as ended a little after their trailers
    // (the relay waits for a client's late reset): wait for the ends.
    let mut ws = loom_tests::ws::WsClient::connect(relay.ui_addr).await;
    for gzip in [false, true] {
        let direct = all_kinds(&mut client(backend.addr, gzip).await).await;
        let relayed = all_kinds(&mut client(relay.relay_addr, gzip).await).await;
        assert_eq!(direct, relayed, "gzip={gzip}");
        assert_eq!(relayed.len(), 1 + 3 + 1 + 2);
    }
    ws.until(std::time::Duration::from_secs(10), |events| {
        loom_tests::events::ended_ids(events).len() >= 8
    })
    .await;
    let events = relay.capture_events().await;
    for (method, requests, responses) in [
        ("/Unary", 1, 1),
        ("/ServerStream", 1, 3),
        ("/ClientStream", 3, 1),
        ("/Bidi", 2, 2),
    ] {
        let ids = calls_of(&events, method);
        assert_eq!(ids.len(), 2, "{method}: one plain, one gzip call");
        for (i, id) in ids.into_iter().enumerate() {
            let end = ended(&events, id).unwrap_or_else(|| panic!("{method} ended"));
            assert_eq!(end.grpc_status, Some(0), "{method}");
            assert!(end.relay_error.is_empty(), "{method}: {}", end.relay_error);
            let req_msgs = messages(&events, id, Direction::Request);
            let res_msgs = messages(&events, id, Direction::Response);
            assert_eq!(
                (req_msgs.len(), res_msgs.len()),
                (requests, responses),
                "{method}"
            );
            let gzip = i == 1;
            assert!(
                req_msgs
                    .iter()
                    .chain(&res_msgs)
                    .all(|m| m.compressed == gzip),
                "{method} gzip={gzip}"
            );
            if !gzip {
                // Uncompressed payloads are the protobuf messages themselves.
                for m in res_msgs {
                    ProbeReply::decode(m.payload.clone()).expect("payload is a ProbeReply");
                }
            }
        }
    }
    relay.shutdown().await;
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_bytes_headers_and_trailers_are_identical_to_direct() {
    let backend = Backend::start().await;
    let relay = TestRelay::start(backend.addr).await;
    let payload = ProbeRequest {
        text: "bytes".into(),
        blob: vec![1, 2, 3],
        ..Default::default()
    }
    .encode_to_vec();
    let frame = grpc_frame(false, &payload);
    let headers: &[(&str, &[u8])] = &[
        ("x-probe", b"hello"),
        ("x-trace-bin", b"AAECAwQ"),
        ("grpc-timeout", b"5S"),
    ];
    let path = "/loom.test.v1.Probe/Unary";
    let direct = raw::call(backend.addr, path, headers, vec![frame.clone()]).await;
    let relayed = raw::call(relay.relay_addr, path, headers, vec![frame]).await;
    assert_eq!(direct.status, relayed.status);
    assert_eq!(direct.stable_headers(), relayed.stable_headers());
    assert_eq!(direct.body, relayed.body, "response bytes differ");
    assert_eq!(direct.trailers, relayed.trailers);
    // The backend saw our metadata and deadline through the relay.
    let reply = ProbeReply::decode(&relayed.body[5..]).expect("reply");
    assert_eq!(reply.grpc_timeout, "5S", "grpc-timeout reached the backend");
    assert_eq!(
        reply.echoed.get("x-probe").map(String::as_str),
        Some("hello")
    );
    assert_eq!(relayed.headers["x-echo-x-trace-bin"], "AAECAwQ");

    let events = relay.capture_events().await;
    let id = calls_of(&events, "/Unary")[0];
    let started = events
        .iter()
        .find_map(|e| match &e.kind {
            Some(Kind::CallStarted(s)) if e.call_id == id => Some(s),
            _ => None,
        })
        .expect("call started");
    assert_eq!(started.path, path);
    assert_eq!(started.upstream, format!("http://{}", backend.addr));
    assert!(started.start_unix_nanos > 0);
    let header = |name: &str| {
        started
            .headers
            .iter()
            .find(|h| h.name == name)
            .map(|h| h.value.to_vec())
    };
    assert_eq!(header("x-probe"), Some(b"hello".to_vec()));
    assert_eq!(
        header("x-trace-bin"),
        Some(vec![0, 1, 2, 3, 4]),
        "-bin values are kept as bytes"
    );
    let response_headers = events
        .iter()
        .find_map(|e| match &e.kind {
            Some(Kind::ResponseHeaders(h)) if e.call_id == id => Some(h),
            _ => None,
        })
        .expect("response headers captured");
    assert_eq!(response_headers.http_status, 200);
    assert!(
        response_headers
            .headers
            .iter()
            .any(|h| h.name == "x-echo-x-trace-bin" && h.value[..] == [0, 1, 2, 3, 4])
    );
    let end = ended(&events, id).expect("ended");
    assert!(!end.trailers_only);
    assert!(end.trailers.iter().any(|h| h.name == "grpc-status"));
    let req = &messages(&events, id, Direction::Request)[0];
    assert_eq!(
        req.payload.to_vec(),
        payload,
        "captured payload is the wire payload"
    );
    assert!(end.offset_nanos >= response_headers.offset_nanos);
    relay.shutdown().await;
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_split_across_frames_and_packed_into_one_frame() {
    let backend = Backend::start().await;
    let relay = TestRelay::start(backend.addr).await;
    let texts = ["one", "two", "three", "four"];
    let frames: Vec<Vec<u8>> = texts
        .iter()
        .map(|t| grpc_frame(false, &req(t).encode_to_vec()))
        .collect();
    // All four messages in one DATA frame.
    let packed = vec![frames.concat()];
    // The same bytes cut every 3 bytes, so prefixes and bodies straddle frames.
    let shredded: Vec<Vec<u8>> = frames.concat().chunks(3).map(<[u8]>::to_vec).collect();
    let path = "/loom.test.v1.Probe/ClientStream";
    for chunks in [packed, shredded] {
        let direct = raw::call(backend.addr, path, &[], chunks.clone()).await;
        let relayed = raw::call(relay.relay_addr, path, &[], chunks).await;
        assert_eq!(direct.body, relayed.body);
        let reply = ProbeReply::decode(&relayed.body[5..]).expect("reply");
        assert_eq!(reply.text, "one,two,three,four");
    }
    let events = relay.capture_events().await;
    for id in calls_of(&events, "/ClientStream") {
        let got: Vec<String> = messages(&events, id, Direction::Request)
            .iter()
            .map(|m| {
                ProbeRequest::decode(m.payload.clone())
                    .expect("request")
                    .text
            })
            .collect();
        assert_eq!(got, texts);
    }
    relay.shutdown().await;
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_mib_messages_both_ways_plain_and_gzip() {
    let backend = Backend::start().await;
    let relay = TestRelay::start(backend.addr).await;
    let big = 8 << 20;
    for gzip in [false, true] {
        let mut c = client(relay.relay_addr, gzip).await;
        let reply = c
            .unary(ProbeRequest {
                blob: vec![0x5a; big],
                reply_size: big as u32,
                ..Default::default()
            })
            .await
            .expect("8 MiB unary")
            .into_inner();
        assert_eq!(reply.blob.len(), big);
        assert!(reply.blob.iter().all(|b| *b == 0xab));
    }
    let events = relay.capture_events().await;
    let ids = calls_of(&events, "/Unary");
    let plain_req = messages(&events, ids[0], Direction::Request)[0];
    assert!(!plain_req.compressed && !plain_req.truncated);
    assert_eq!(plain_req.payload.len(), plain_req.declared_length as usize);
    assert!(plain_req.payload.len() > big);
    let gz_res = messages(&events, ids[1], Direction::Response)[0];
    assert!(
        gz_res.compressed,
        "gzip response captured with its flag, still compressed"
    );
    assert!(
        gz_res.payload.len() < big / 10,
        "compressed bytes are kept as on the wire"
    );
    assert_eq!(&gz_res.payload[..2], &[0x1f, 0x8b], "a gzip stream");
    relay.shutdown().await;
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trailers_only_errors_keep_their_details() {
    let backend = Backend::start().await;
    let relay = TestRelay::start(backend.addr).await;
    let fail = ProbeRequest {
        fail_code: 3,
        fail_message: "bad field ✗ 100%".into(),
        ..Default::default()
    };
    let direct = client(backend.addr, false)
        .await
        .unary(fail.clone())
        .await
        .expect_err("fails");
    let relayed = client(relay.relay_addr, false)
        .await
        .unary(fail)
        .await
        .expect_err("fails");
    assert_eq!(relayed.code(), tonic::Code::InvalidArgument);
    assert_eq!(relayed.message(), direct.message());
    assert_eq!(relayed.details(), direct.details());
    let events = relay.capture_events().await;
    let id = calls_of(&events, "/Unary")[0];
    let end = ended(&events, id).expect("ended");
    assert!(end.trailers_only);
    assert_eq!(end.grpc_status, Some(3), "an error is never recorded as OK");
    assert_eq!(end.grpc_message, "bad field ✗ 100%");
    assert_eq!(&end.grpc_status_details[..], b"\x08\x03\x12\x04nope");
    assert_eq!(end.http_status, 200);
    assert!(
        !events
            .iter()
            .any(|e| e.call_id == id && matches!(e.kind, Some(Kind::ResponseHeaders(_)))),
        "trailers-only has no separate response headers"
    );
    relay.shutdown().await;
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_cancel_mid_stream_reaches_the_backend() {
    let backend = Backend::start().await;
    let relay = TestRelay::start(backend.addr).await;
    let mut ws = loom_tests::ws::WsClient::connect(relay.ui_addr).await;
    let mut c = client(relay.relay_addr, false).await;
    let mut stream = c
        .server_stream(ProbeRequest {
            count: 0,
            delay_ms: 5,
            ..req("forever")
        })
        .await
        .expect("stream")
        .into_inner();
    for _ in 0..3 {
        stream.next().await.expect("item").expect("ok");
    }
    drop(stream);
    tokio::time::timeout(
        Duration::from_secs(10),
        backend.observed.cancelled_at_least(1),
    )
    .await
    .expect("the backend saw the cancellation");
    let events = ws
        .until(Duration::from_secs(10), |evs| {
            evs.iter()
                .any(|e| matches!(e.kind, Some(Kind::CallEnded(_))))
        })
        .await;
    let end = events
        .iter()
        .find_map(|e| match &e.kind {
            Some(Kind::CallEnded(end)) => Some(end),
            _ => None,
        })
        .expect("ended");
    assert_eq!(
        end.grpc_status, None,
        "a cancelled call has no status, not OK"
    );
    assert!(end.relay_error.contains("client"), "{}", end.relay_error);
    relay.shutdown().await;
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_are_captured_live_while_open() {
    let backend = Backend::start().await;
    let relay = TestRelay::start(backend.addr).await;
    let mut ws = loom_tests::ws::WsClient::connect(relay.ui_addr).await;
    let mut c = client(relay.relay_addr, false).await;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let mut replies = c
        .bidi(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .expect("bidi")
        .into_inner();
    // Ping-pong: each echo must arrive before the next request is sent, so
    // neither the forward path nor the capture may wait for the stream's end.
    for i in 0..3u32 {
        tx.send(req(&format!("ping {i}"))).await.expect("send");
        let reply = replies.next().await.expect("echo").expect("ok");
        assert_eq!(reply.text, format!("echo: ping {i}"));
        let want = 2 * (i as usize + 1);
        ws.until(Duration::from_secs(10), |evs| {
            evs.iter()
                .filter(|e| matches!(e.kind, Some(Kind::Message(_))))
                .count()
                >= want
        })
        .await;
    }
    assert!(
        !ws.events
            .iter()
            .any(|e| matches!(e.kind, Some(Kind::CallEnded(_)))),
        "still open"
    );
    drop(tx);
    assert!(replies.next().await.is_none());
    ws.until(Duration::from_secs(10), |evs| {
        evs.iter()
            .any(|e| matches!(&e.kind, Some(Kind::CallEnded(end)) if end.grpc_status == Some(0)))
    })
    .await;
    relay.shutdown().await;
    backend.stop().await;
}

/// Message offsets grow and sit between the call's start and end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_are_ordered() {
    let backend = Backend::start().await;
    let relay = TestRelay::start(backend.addr).await;
    let mut c = client(relay.relay_addr, false).await;
    let mut s = c
        .server_stream(ProbeRequest {
            count: 5,
            delay_ms: 2,
            ..req("t")
        })
        .await
        .expect("stream")
        .into_inner();
    while s.next().await.is_some() {}
    let events = relay.capture_events().await;
    let id = calls_of(&events, "/ServerStream")[0];
    let offsets: Vec<u64> = messages(&events, id, Direction::Response)
        .iter()
        .map(|m| m.offset_nanos)
        .collect();
    assert_eq!(offsets.len(), 5);
    assert!(offsets.windows(2).all(|w| w[0] <= w[1]), "{offsets:?}");
    let end = ended(&events, id).expect("ended");
    assert!(end.offset_nanos >= *offsets.last().unwrap_or(&0));
    assert!(matches!(
        events
            .iter()
            .find(|e| e.call_id == id)
            .and_then(|e| e.kind.as_ref()),
        Some(pb::event::Kind::CallStarted(_))
    ));
    relay.shutdown().await;
    backend.stop().await;
}
