//! gRPC-Web and Connect through the relay, byte by byte, over HTTP/1.1 and
//! HTTP/2, against a scripted upstream (`loom_tests::scripted`): each is
//! forwarded untouched both ways and captured with its protocol, its
//! messages and its status in gRPC's terms beside the protocol's own; and
//! what no real server sends (a trailer frame mid-stream, bad base64, an
//! envelope longer than its body, an end-of-stream that is not JSON) is
//! forwarded as it came and captured with a protocol error. The same
//! through real implementations (connect-node, buf curl) is in
//! `connect_peers`.

use base64::Engine as _;
use loom_shared::pb::{self, Codec, RpcProtocol, event::Kind};
use loom_tests::scripted::{Answer, Http, Scripted, envelope, send};
use loom_tests::{RefusingPort, TestRelay};

const PATH: &str = "/loom.test.v1.Probe/Unary";

fn started(events: &[pb::Event]) -> Vec<&pb::CallStarted> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            Some(Kind::CallStarted(s)) => Some(s),
            _ => None,
        })
        .collect()
}

fn ended(events: &[pb::Event]) -> Vec<&pb::CallEnded> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            Some(Kind::CallEnded(s)) => Some(s),
            _ => None,
        })
        .collect()
}

fn messages(events: &[pb::Event], direction: pb::Direction) -> Vec<Vec<u8>> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            Some(Kind::Message(m)) if m.direction() == direction => Some(m.payload.to_vec()),
            _ => None,
        })
        .collect()
}

/// What one call through the relay came to: the reply, what the upstream
/// got, the capture, and the answer the upstream gave.
type Through = (
    loom_tests::scripted::Reply,
    Vec<loom_tests::scripted::Got>,
    Vec<pb::Event>,
    Answer,
);

/// One call through a fresh relay to a scripted upstream.
async fn through(
    answer: Answer,
    http: Http,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Through {
    let upstream = Scripted::start(answer.clone()).await;
    let relay = TestRelay::start(upstream.addr).await;
    let reply = send(relay.relay_addr, http, method, path, headers, body).await;
    let events = relay.capture_events().await;
    relay.shutdown().await;
    (reply, upstream.got(), events, answer)
}

fn grpc_web_answer(body: Vec<Vec<u8>>, content_type: &str) -> Answer {
    Answer {
        status: 200,
        headers: vec![("content-type", content_type.into())],
        chunks: body,
        trailers: vec![],
    }
}

fn trailer_frame(status: u32, message: &str) -> Vec<u8> {
    loom_shared::web_protocol::grpc_web::trailer_frame(&[
        ("grpc-status", &status.to_string()),
        ("grpc-message", message),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_web_binary_passes_untouched_and_ends_by_its_trailer_frame() {
    for http in [Http::H1, Http::H2] {
        let answer = grpc_web_answer(
            vec![envelope(0, b"\x0a\x02hi"), trailer_frame(0, "")],
            "application/grpc-web+proto",
        );
        let request = envelope(0, b"\x0a\x03yes");
        let headers = [
            ("content-type", "application/grpc-web+proto"),
            ("x-grpc-web", "1"),
        ];
        let (reply, got, events, answer) =
            through(answer, http, "POST", PATH, &headers, request.clone()).await;
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.body,
            answer.chunks.concat(),
            "{http:?}: the response, byte for byte"
        );
        assert_eq!(got[0].body, request, "{http:?}: the request, byte for byte");
        let s = started(&events)[0];
        assert_eq!(
            (s.protocol(), s.codec()),
            (RpcProtocol::GrpcWeb, Codec::Proto)
        );
        let want_http = if http == Http::H1 {
            "HTTP/1.1"
        } else {
            "HTTP/2"
        };
        assert_eq!(s.http_version, want_http);
        assert_eq!(
            messages(&events, pb::Direction::Request),
            [b"\x0a\x03yes".to_vec()]
        );
        assert_eq!(
            messages(&events, pb::Direction::Response),
            [b"\x0a\x02hi".to_vec()]
        );
        let e = ended(&events)[0];
        assert_eq!(e.grpc_status, Some(0), "{e:?}");
        assert_eq!(e.status_source, "body-trailers");
        assert!(e.trailers.iter().any(|h| h.name == "grpc-status"), "{e:?}");
        assert!(e.protocol_errors.is_empty(), "{e:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_web_text_decodes_padding_mid_body() {
    let b64 = |b: &[u8]| {
        base64::engine::general_purpose::STANDARD
            .encode(b)
            .into_bytes()
    };
    // Each flushed piece its own base64, padded.
    let answer = grpc_web_answer(
        vec![
            b64(&envelope(0, b"\x0a\x01x")),
            b64(&trailer_frame(5, "not%20here")),
        ],
        "application/grpc-web-text+proto",
    );
    let request = b64(&envelope(0, b"\x0a\x01q"));
    let headers = [("content-type", "application/grpc-web-text")];
    let (reply, _, events, answer) =
        through(answer, Http::H1, "POST", PATH, &headers, request).await;
    assert_eq!(reply.body, answer.chunks.concat());
    assert_eq!(started(&events)[0].protocol(), RpcProtocol::GrpcWebText);
    assert_eq!(
        messages(&events, pb::Direction::Request),
        [b"\x0a\x01q".to_vec()]
    );
    assert_eq!(
        messages(&events, pb::Direction::Response),
        [b"\x0a\x01x".to_vec()]
    );
    let e = ended(&events)[0];
    assert_eq!(
        (e.grpc_status, e.grpc_message.as_str()),
        (Some(5), "not here")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_unary_errors_keep_their_code_and_details() {
    let error = r#"{"code":"not_found","message":"no such item","details":[{"type":"google.rpc.ErrorInfo","value":"CgNmb28"}]}"#;
    for http in [Http::H1, Http::H2] {
        let answer = Answer {
            status: 404,
            headers: vec![("content-type", "application/json".into())],
            chunks: vec![error.as_bytes().to_vec()],
            trailers: vec![],
        };
        let headers = [
            ("content-type", "application/json"),
            ("connect-protocol-version", "1"),
        ];
        let (reply, got, events, _) = through(
            answer,
            http,
            "POST",
            PATH,
            &headers,
            br#"{"text":"x"}"#.to_vec(),
        )
        .await;
        assert_eq!(
            (reply.status.as_u16(), &reply.body[..]),
            (404, error.as_bytes())
        );
        assert_eq!(&got[0].body[..], br#"{"text":"x"}"#);
        let s = started(&events)[0];
        assert_eq!(
            (s.protocol(), s.codec()),
            (RpcProtocol::ConnectUnary, Codec::Json)
        );
        assert_eq!(
            messages(&events, pb::Direction::Request),
            [br#"{"text":"x"}"#.to_vec()]
        );
        assert!(
            messages(&events, pb::Direction::Response).is_empty(),
            "an error is not a message"
        );
        let e = ended(&events)[0];
        assert_eq!(e.grpc_status, Some(5));
        assert_eq!(
            (e.connect_code.as_str(), e.response_http_status),
            ("not_found", 404)
        );
        assert_eq!(e.status_source, "http-status");
        let status =
            <loom_shared::rpc::Status as prost::Message>::decode(&e.grpc_status_details[..])
                .expect("details");
        assert_eq!(
            status.details[0].type_url,
            "type.googleapis.com/google.rpc.ErrorInfo"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_unary_ok_streaming_end_and_get() {
    // Unary, proto: the body is the message.
    let answer = Answer {
        status: 200,
        headers: vec![("content-type", "application/proto".into())],
        chunks: vec![b"\x0a\x02ok".to_vec()],
        trailers: vec![],
    };
    let headers = [
        ("content-type", "application/proto"),
        ("connect-protocol-version", "1"),
    ];
    let (_, _, events, _) = through(
        answer.clone(),
        Http::H2,
        "POST",
        PATH,
        &headers,
        b"\x0a\x01a".to_vec(),
    )
    .await;
    assert_eq!(
        messages(&events, pb::Direction::Response),
        [b"\x0a\x02ok".to_vec()]
    );
    assert_eq!(ended(&events)[0].grpc_status, Some(0));

    // GET: the request message is in the query.
    let query = format!(
        "{PATH}?connect=v1&encoding=proto&base64=1&message={}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b"\x0a\x03get")
    );
    let (reply, got, events, _) = through(answer, Http::H1, "GET", &query, &[], vec![]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(got[0].method, "GET");
    assert_eq!(started(&events)[0].protocol(), RpcProtocol::ConnectGet);
    assert_eq!(
        messages(&events, pb::Direction::Request),
        [b"\x0a\x03get".to_vec()]
    );

    // Streaming: envelopes, then the end-of-stream with an error and metadata.
    let end = br#"{"error":{"code":"invalid_argument","message":"bad"},"metadata":{"x-a":["b"]}}"#;
    let answer = Answer {
        status: 200,
        headers: vec![("content-type", "application/connect+proto".into())],
        chunks: vec![envelope(0, b"\x0a\x01m"), envelope(2, end)],
        trailers: vec![],
    };
    let headers = [("content-type", "application/connect+proto")];
    let (reply, _, events, answer) = through(
        answer,
        Http::H2,
        "POST",
        PATH,
        &headers,
        envelope(0, b"\x0a\x01r"),
    )
    .await;
    assert_eq!(reply.body, answer.chunks.concat());
    assert_eq!(started(&events)[0].protocol(), RpcProtocol::ConnectStream);
    assert_eq!(
        messages(&events, pb::Direction::Response),
        [b"\x0a\x01m".to_vec()]
    );
    let e = ended(&events)[0];
    assert_eq!(
        (e.grpc_status, e.connect_code.as_str()),
        (Some(3), "invalid_argument")
    );
    assert_eq!(e.status_source, "end-stream");
    assert!(
        e.trailers
            .iter()
            .any(|h| h.name == "x-a" && &h.value[..] == b"b"),
        "{e:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_forwarded_as_it_came_and_captured_with_a_protocol_error() {
    let web = [("content-type", "application/grpc-web+proto")];
    // What, the upstream's answer, the request's headers, what the capture says.
    type Case<'a> = (&'a str, Answer, &'a [(&'a str, &'a str)], &'a str);
    let cases: Vec<Case> = vec![
        (
            "a trailer frame mid-stream",
            grpc_web_answer(
                vec![trailer_frame(0, ""), envelope(0, b"late")],
                "application/grpc-web",
            ),
            &web,
            "after the body's end",
        ),
        (
            "bad base64",
            grpc_web_answer(vec![b"AAAA!!!!".to_vec()], "application/grpc-web-text"),
            &[("content-type", "application/grpc-web-text")],
            "not valid gRPC-Web text",
        ),
        (
            "an envelope longer than its body",
            grpc_web_answer(
                vec![b"\x00\x00\x10\x00\x00abc".to_vec()],
                "application/grpc-web",
            ),
            &web,
            "ended inside a message",
        ),
        (
            "an end-of-stream that is not JSON",
            Answer {
                status: 200,
                headers: vec![("content-type", "application/connect+proto".into())],
                chunks: vec![envelope(2, b"<html>")],
                trailers: vec![],
            },
            &[("content-type", "application/connect+proto")],
            "does not parse",
        ),
    ];
    for (what, answer, headers, says) in cases {
        for http in [Http::H1, Http::H2] {
            let (reply, _, events, answer) = through(
                answer.clone(),
                http,
                "POST",
                PATH,
                headers,
                envelope(0, b""),
            )
            .await;
            assert_eq!(
                reply.body,
                answer.chunks.concat(),
                "{what} {http:?}: forwarded as it came"
            );
            let e = ended(&events)[0];
            let all = format!("{} {:?}", e.relay_error, e.protocol_errors);
            assert!(all.contains(says), "{what} {http:?}: {e:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relays_own_answers_speak_the_calls_protocol() {
    let nowhere = RefusingPort::bind();
    let relay = TestRelay::start(nowhere.addr()).await;
    let connect = [
        ("content-type", "application/json"),
        ("connect-protocol-version", "1"),
    ];
    for http in [Http::H1, Http::H2] {
        let reply = send(
            relay.relay_addr,
            http,
            "POST",
            PATH,
            &connect,
            b"{}".to_vec(),
        )
        .await;
        assert_eq!(reply.status, 503, "{http:?}");
        let body: serde_json::Value = serde_json::from_slice(&reply.body).expect("JSON");
        assert_eq!(body["code"], "unavailable", "{body}");
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.contains(&nowhere.addr().to_string())),
            "{body}"
        );
        let web = [("content-type", "application/grpc-web+proto")];
        let reply = send(relay.relay_addr, http, "POST", PATH, &web, envelope(0, b"")).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.headers["grpc-status"], "14", "{http:?}");
        let stream = [("content-type", "application/connect+proto")];
        let reply = send(
            relay.relay_addr,
            http,
            "POST",
            PATH,
            &stream,
            envelope(0, b""),
        )
        .await;
        assert_eq!(reply.body[0], 0x02, "{http:?}: an end-of-stream envelope");
        let end =
            loom_shared::web_protocol::connect::EndStream::parse(&reply.body[5..]).expect("JSON");
        assert_eq!(end.error.expect("an error").code, "unavailable");
    }
    let events = relay.capture_events().await;
    assert_eq!(ended(&events).len(), 6);
    assert!(ended(&events).iter().all(|e| e.grpc_status == Some(14)));
    relay.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connect_error_without_a_code_takes_the_http_statuss() {
    let answer = Answer {
        status: 503,
        headers: vec![("content-type", "application/json".into())],
        chunks: vec![b"{}".to_vec()],
        trailers: vec![],
    };
    let headers = [
        ("content-type", "application/proto"),
        ("connect-protocol-version", "1"),
    ];
    let (reply, _, events, _) = through(answer, Http::H1, "POST", PATH, &headers, vec![]).await;
    assert_eq!(reply.status, 503);
    let e = ended(&events)[0];
    assert_eq!(
        (e.grpc_status, e.response_http_status),
        (Some(14), 503),
        "{e:?}"
    );
}
