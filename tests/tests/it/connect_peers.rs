//! The Connect, gRPC and gRPC-Web peers, proven directly (client → server,
//! no relay), so that the relay's tests can then put the relay between
//! them: the connect-node client in every protocol, HTTP version and codec
//! against the connect-node server, for every call kind each allows; errors
//! with a `google.rpc.ErrorInfo` detail; gzip both ways; a Connect GET;
//! `buf curl` in gRPC-Web, Connect and gRPC; and ([`web`]) gRPC-Web's
//! text form by hand and, in headless Chromium, connect-web and grpc-web's
//! text mode.

mod web;

use std::time::Duration;

use loom_tests::connect::{
    CallOutcome, Codec, Compression, ConnectServer, Http, Method, Protocol, Shape, Verb, WebCall,
    buf_curl, connect_client,
};
use serde_json::{Value, json};
use tonic::Code;

/// How long the server's `CALL` line may take to reach the test, once the
/// client has its reply.
const SERVER_LINE: Duration = Duration::from_secs(5);

/// Runs `call` against `server`; it must succeed with every call OK.
async fn ok(server: &ConnectServer, call: WebCall) -> Vec<CallOutcome> {
    let outcome = connect_client(&server.url(), &call).await;
    assert!(
        outcome.success,
        "{call:?} failed: {:?}\nstderr: {}",
        outcome.calls, outcome.stderr
    );
    outcome.calls
}

/// The replies a call of `shape` gets when streams carry `count` messages.
fn expected_replies(shape: Shape, count: u32) -> usize {
    match shape {
        Shape::Unary | Shape::ClientStream => 1,
        Shape::ServerStream | Shape::Bidi => count as usize,
    }
}

/// Every call kind `protocol` allows, over both HTTP versions, in both
/// codecs: the replies say the call came as asked, and the peer's header,
/// trailer and echoed metadata arrive.
async fn every_kind(protocol: Protocol) {
    for http in Http::ALL {
        let server = ConnectServer::start(http).await;
        for codec in Codec::ALL {
            for shape in Shape::ALL {
                if !protocol.allows(http, shape) {
                    continue;
                }
                let call = WebCall::new(protocol, http, codec, shape)
                    .count(3)
                    .header("x-echo-case", "matrix");
                let what = format!("{protocol:?} {http:?} {codec:?} {shape:?}");
                let before = server.count(Method::of(shape), protocol);
                let calls = ok(&server, call).await;
                let c = &calls[0];
                assert_eq!(c.replies.len(), expected_replies(shape, 3), "{what}");
                for (i, r) in c.replies.iter().enumerate() {
                    assert_eq!(r.protocol, protocol.reported(), "{what}");
                    assert_eq!(r.http_version, http.reported(), "{what}");
                    assert_eq!(r.http_method, "POST", "{what}");
                    let json = r.content_type.contains("json");
                    assert_eq!(json, codec == Codec::Json, "{what}: {}", r.content_type);
                    assert_eq!(r.request_encoding, "", "{what}");
                    assert_eq!(
                        r.echoed.get("x-echo-case").map(String::as_str),
                        Some("matrix")
                    );
                    if shape != Shape::ClientStream {
                        assert_eq!(r.index as usize, i, "{what}");
                    }
                }
                if shape == Shape::ClientStream {
                    assert_eq!(c.replies[0].requests, 3, "{what}");
                }
                assert_eq!(
                    c.headers.get("x-loom-peer").map(String::as_str),
                    Some("connect-node"),
                    "{what}: {:?}",
                    c.headers
                );
                assert_eq!(
                    c.headers.get("x-echo-case").map(String::as_str),
                    Some("matrix"),
                    "{what}"
                );
                assert_eq!(
                    c.trailers.get("x-loom-trailer").map(String::as_str),
                    Some(Method::of(shape).name()),
                    "{what}: {:?}",
                    c.trailers
                );
                assert!(
                    server
                        .wait_for(Method::of(shape), protocol, before + 1, SERVER_LINE)
                        .await,
                    "{what}: the server never said it had the call: {:?}",
                    server.calls()
                );
            }
        }
        // The server saw each call exactly once, and nothing else.
        let expected: usize = Shape::ALL
            .iter()
            .filter(|s| protocol.allows(http, **s))
            .count()
            * Codec::ALL.len();
        assert_eq!(server.calls().len(), expected, "{:?}", server.calls());
    }
}

#[tokio::test]
async fn connect_every_kind_both_http_versions_both_codecs() {
    every_kind(Protocol::Connect).await;
}

#[tokio::test]
async fn grpc_web_every_kind_both_http_versions_both_codecs() {
    every_kind(Protocol::GrpcWeb).await;
}

#[tokio::test]
async fn grpc_every_kind_both_codecs() {
    every_kind(Protocol::Grpc).await;
}

/// The ErrorInfo the server attaches to a failure with `code`.
fn assert_error_info(c: &CallOutcome, code: Code, what: &str) {
    assert_eq!(c.code, code, "{what}: {c:?}");
    assert_eq!(c.message, "deliberate", "{what}");
    assert_eq!(c.details.len(), 1, "{what}: {:?}", c.details);
    let d = &c.details[0];
    assert_eq!(d.type_name, "google.rpc.ErrorInfo", "{what}");
    assert_eq!(d.reason, "LOOM_TEST_FAILURE", "{what}");
    assert_eq!(d.domain, "loom.test", "{what}");
    let code_number = (code as i32).to_string();
    assert_eq!(d.metadata.get("code"), Some(&code_number), "{what}");
}

#[tokio::test]
async fn errors_carry_their_code_message_and_details_in_every_protocol() {
    for http in Http::ALL {
        let server = ConnectServer::start(http).await;
        for protocol in Protocol::ALL {
            for codec in Codec::ALL {
                let what = format!("{protocol:?} {http:?} {codec:?}");
                if protocol.allows(http, Shape::Unary) {
                    let call = WebCall::new(protocol, http, codec, Shape::Unary)
                        .fail(Code::NotFound, "deliberate");
                    let calls = ok(&server, call).await;
                    assert_error_info(&calls[0], Code::NotFound, &what);
                    assert!(calls[0].replies.is_empty());
                    // The trailer set before the failure arrives with it.
                    assert_eq!(
                        calls[0].trailers.get("x-loom-trailer").map(String::as_str),
                        Some("Unary"),
                        "{what}: {:?}",
                        calls[0].trailers
                    );
                }
                if protocol.allows(http, Shape::ServerStream) {
                    // Two replies, then the error at the stream's end.
                    let call = WebCall::new(protocol, http, codec, Shape::ServerStream)
                        .count(2)
                        .fail(Code::FailedPrecondition, "deliberate");
                    let calls = ok(&server, call).await;
                    assert_error_info(&calls[0], Code::FailedPrecondition, &what);
                    assert_eq!(calls[0].replies.len(), 2, "{what}");
                }
            }
        }
    }
}

#[tokio::test]
async fn gzip_compresses_requests_and_responses_in_every_protocol() {
    let server = ConnectServer::start(Http::H2).await;
    for protocol in Protocol::ALL {
        for shape in [Shape::Unary, Shape::ServerStream, Shape::ClientStream] {
            let what = format!("{protocol:?} {shape:?}");
            let call = WebCall::new(protocol, Http::H2, Codec::Proto, shape)
                .count(2)
                .sizes(4096, 4096)
                .compression(Compression::Gzip);
            let calls = ok(&server, call).await;
            let c = &calls[0];
            assert_eq!(c.replies[0].request_encoding, "gzip", "{what}");
            assert_eq!(c.replies[0].blob_bytes, 4096, "{what}");
            // Where each protocol says a response's messages are compressed.
            let header = match (protocol, shape) {
                (Protocol::Connect, Shape::Unary) => "content-encoding",
                (Protocol::Connect, _) => "connect-content-encoding",
                (Protocol::Grpc | Protocol::GrpcWeb, _) => "grpc-encoding",
            };
            assert_eq!(
                c.headers.get(header).map(String::as_str),
                Some("gzip"),
                "{what}: {:?}",
                c.headers
            );
        }
    }
}

#[tokio::test]
async fn a_connect_get_calls_the_idempotent_method() {
    for http in Http::ALL {
        let server = ConnectServer::start(http).await;
        for codec in Codec::ALL {
            for compression in [Compression::Identity, Compression::Gzip] {
                let what = format!("{http:?} {codec:?} {compression:?}");
                let call = WebCall::new(Protocol::Connect, http, codec, Shape::Unary)
                    .verb(Verb::Get)
                    .compression(compression)
                    .sizes(64, 16)
                    .text("a GET");
                let calls = ok(&server, call).await;
                let r = &calls[0].replies[0];
                assert_eq!(r.http_method, "GET", "{what}");
                assert_eq!(r.text, "a GET", "{what}");
                assert_eq!(r.content_type, "", "{what}: a GET has no body");
                let gzip = compression == Compression::Gzip;
                assert_eq!(r.request_encoding == "gzip", gzip, "{what}");
                assert_eq!(
                    calls[0].trailers.get("x-loom-trailer").map(String::as_str),
                    Some("Lookup"),
                    "{what}"
                );
            }
        }
        assert!(
            server
                .wait_for(Method::Lookup, Protocol::Connect, 4, SERVER_LINE)
                .await,
            "{:?}",
            server.calls()
        );
        assert!(server.calls().iter().all(|l| l.ends_with(" GET")));
    }
}

#[tokio::test]
async fn buf_curl_speaks_grpc_web_connect_and_grpc() {
    for http in Http::ALL {
        let server = ConnectServer::start(http).await;
        for protocol in Protocol::ALL {
            if !protocol.allows(http, Shape::ServerStream) {
                continue;
            }
            let what = format!("buf curl {protocol:?} {http:?}");
            let url = server.url();
            let unary = buf_curl(
                &url,
                protocol,
                http,
                Method::Unary,
                &[json!({"text": "curl"})],
                &[("x-echo-tool", "buf")],
            )
            .await;
            assert_eq!(unary.code, Code::Ok, "{what}: {}", unary.stderr);
            assert_eq!(unary.replies.len(), 1, "{what}");
            let r = &unary.replies[0];
            assert_eq!(r["text"], "curl", "{what}");
            assert_eq!(r["protocol"], protocol.reported(), "{what}");
            assert_eq!(r["httpVersion"], http.reported(), "{what}");
            assert_eq!(r["echoed"]["x-echo-tool"], "buf", "{what}");
            assert_eq!(unary.metadata_value("x-loom-peer"), Some("connect-node"));

            let stream = buf_curl(
                &url,
                protocol,
                http,
                Method::ServerStream,
                &[json!({"count": 3})],
                &[],
            )
            .await;
            assert_eq!(stream.code, Code::Ok, "{what}: {}", stream.stderr);
            let indexes: Vec<&Value> = stream.replies.iter().map(|r| &r["index"]).collect();
            // proto3 JSON leaves out the default index 0.
            assert_eq!(indexes, [&Value::Null, &json!(1), &json!(2)], "{what}");

            let uploads = [json!({"blob": "AAAA"}), json!({"blob": "AAA="})];
            let client = buf_curl(&url, protocol, http, Method::ClientStream, &uploads, &[]).await;
            assert_eq!(client.code, Code::Ok, "{what}: {}", client.stderr);
            assert_eq!(client.replies[0]["requests"], "2", "{what}");
            assert_eq!(client.replies[0]["blobBytes"], "5", "{what}");

            let failed = buf_curl(
                &url,
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
            assert_eq!(failed.exit_code, 7 * 8, "{what}");
            assert_eq!(failed.message, "no entry", "{what}");
            assert_eq!(failed.details.len(), 1, "{what}: {:?}", failed.details);
            assert_eq!(failed.details[0]["type"], "google.rpc.ErrorInfo", "{what}");
        }
    }
}
