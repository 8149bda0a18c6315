//! The session with calls of every protocol of the gRPC family (format
//! 1.4): counted per protocol, decoded by their codec, decompressed by
//! their protocol's header, their status in the protocol's own form, and
//! replayed with the command that speaks it.

use std::io::Write as _;

use bytes::Bytes;
use prost_reflect::Value as V;
use serde_json::json;

use super::*;
use crate::engine::testing;
use crate::engine::{Body, Codec, Program, Protocol, ReplayError, StatusSource};
use crate::header::header;

const GET: &str = "/loom.enginetest.Sampler/Get";
const UPLOAD: &str = "/loom.enginetest.Sampler/Upload";
const UPSTREAM: &str = "http://backend:50051";

fn started(
    path: &str,
    protocol: pb::RpcProtocol,
    codec: pb::Codec,
    http: &str,
    headers: Vec<pb::Header>,
) -> pb::Event {
    pb::Event::new(
        1,
        pb::CallStarted {
            start_unix_nanos: 1_700_000_000_000_000_000,
            path: path.into(),
            authority: "relay:9999".into(),
            headers,
            upstream: UPSTREAM.into(),
            scheme: "http".into(),
            method: if protocol == pb::RpcProtocol::ConnectGet {
                "GET".into()
            } else {
                "POST".into()
            },
            protocol: protocol.into(),
            codec: codec.into(),
            http_version: http.into(),
            ..Default::default()
        },
    )
}

/// `event` as call `id`'s.
fn of(id: u64, mut event: pb::Event) -> pb::Event {
    event.call_id = id;
    event
}

fn message(
    id: u64,
    direction: pb::Direction,
    compressed: bool,
    payload: impl Into<Bytes>,
) -> pb::Event {
    pb::Event::new(id, pb::Message::new(direction, 10, compressed, payload))
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

fn schema_event() -> pb::Event {
    pb::Event::descriptors(testing::descriptors(vec![testing::file()], UPSTREAM))
}

fn named(name: &str) -> Bytes {
    testing::sample(&testing::schema(), &[("name", V::String(name.into()))])
}

#[test]
fn calls_are_counted_per_protocol_with_their_status_in_its_own_form() {
    use pb::{Codec as C, RpcProtocol as P};
    let mut s = Session::from_events([
        of(1, started(GET, P::Unspecified, C::Unspecified, "", vec![])),
        of(2, started(GET, P::GrpcWeb, C::Proto, "HTTP/1.1", vec![])),
        of(
            3,
            started(GET, P::ConnectUnary, C::Json, "HTTP/1.1", vec![]),
        ),
        of(4, started(GET, P::ConnectUnary, C::Other, "HTTP/2", vec![])),
        pb::Event::new(
            3,
            pb::CallEnded {
                grpc_status: Some(5),
                grpc_message: "no such sample".into(),
                connect_code: "not_found".into(),
                response_http_status: 404,
                status_source: "http-status".into(),
                ..Default::default()
            },
        ),
        // An event of a call whose start is missing: not counted.
        pb::Event::new(5, pb::CallEnded::default()),
    ]);
    assert_eq!(
        s.protocols(),
        [
            (Protocol::Grpc, 1),
            (Protocol::GrpcWeb, 1),
            (Protocol::ConnectUnary, 2)
        ]
    );
    assert_eq!(s.call(2).map(|c| c.protocol), Some(Protocol::GrpcWeb));
    assert_eq!(s.call(5).map(|c| c.protocol), Some(Protocol::Grpc));

    let old = s.detail(1).unwrap();
    assert_eq!(
        (old.codec.clone(), old.http_version.as_str()),
        (Codec::Proto, "HTTP/2")
    );
    let json = old.to_json();
    assert_eq!(
        (&json["protocol"], &json["codec"], &json["httpVersion"]),
        (&json!("grpc"), &json!("proto"), &json!("HTTP/2"))
    );
    assert!(json.get("connectCode").is_none());

    let connect = s.detail(3).unwrap();
    assert_eq!(
        connect.summary.status.as_ref().and_then(|st| st.code),
        Some(5)
    );
    assert_eq!(
        connect.protocol_status.connect_code.as_deref(),
        Some("not_found")
    );
    assert_eq!(
        connect.protocol_status.source,
        Some(StatusSource::HttpStatus)
    );
    let json = connect.to_json();
    assert_eq!(json["protocol"], json!("connect-unary"));
    assert_eq!(json["codec"], json!("json"));
    assert_eq!(json["httpVersion"], json!("HTTP/1.1"));
    assert_eq!(json["connectCode"], json!("not_found"));
    assert_eq!(json["status"]["name"], json!("NOT_FOUND"));
    assert_eq!(json["status"]["responseHttpStatus"], json!(404));
    assert_eq!(json["status"]["source"], json!("http-status"));
    assert_eq!(s.detail(4).unwrap().to_json()["codec"], json!("other"));
    // Connect's code is searchable.
    assert_eq!(s.search("NOT_FOUND"), [3]);
    assert_eq!(s.search("not_found"), [3]);

    assert!(s.remove(3));
    assert!(s.remove(4));
    assert_eq!(s.protocols(), [(Protocol::Grpc, 1), (Protocol::GrpcWeb, 1)]);
}

#[test]
fn json_codec_messages_are_json_checked_against_the_schema() {
    use pb::{Codec as C, Direction as D, RpcProtocol as P};
    let mut s = Session::from_events([
        schema_event(),
        of(
            1,
            started(GET, P::ConnectUnary, C::Json, "HTTP/1.1", vec![]),
        ),
        message(
            1,
            D::Request,
            false,
            &br#"{"name": "q", "colour": "RED"}"#[..],
        ),
        message(1, D::Response, false, &br#"{"name": "a"}"#[..]),
        of(
            2,
            started(
                "/other.v1.Svc/Get",
                P::ConnectStream,
                C::Json,
                "HTTP/2",
                vec![],
            ),
        ),
        message(2, D::Request, false, &b"{not json"[..]),
        message(2, D::Response, false, &br#"{"x": 1}"#[..]),
    ]);
    let d = s.detail(1).unwrap();
    let Body::JsonText {
        type_name,
        problems,
        ..
    } = &d.messages[0].body
    else {
        panic!("{:?}", d.messages[0].body);
    };
    assert_eq!(type_name.as_deref(), Some(testing::SAMPLE));
    assert_eq!(
        problems,
        &["colour: no such field in loom.enginetest.Sample"]
    );
    assert_eq!(d.messages[1].body.json(), Some(&json!({"name": "a"})));
    assert_eq!(d.messages[1].body.note(), None);

    let d = s.detail(2).unwrap();
    assert!(matches!(&d.messages[0].body, Body::Text { text, .. } if text == "{not json"));
    let note = d.messages[1].body.note().unwrap_or_default();
    assert!(
        note.starts_with("JSON, not checked against a schema: "),
        "{note}"
    );
    assert_eq!(d.messages[1].body.json(), Some(&json!({"x": 1})));
    // What a message view's JSON for `loom decode` says.
    assert_eq!(
        s.decode_once(1, 0).unwrap().to_json()["codec"],
        json!("json")
    );
    // Searching reads the JSON and its differences.
    assert_eq!(s.search("colour"), [1]);
    assert_eq!(s.search("{not json"), [2]);
}

#[test]
fn connect_compression_comes_from_its_own_headers() {
    use pb::{Codec as C, Direction as D, RpcProtocol as P};
    let q = named("q");
    let gz = gzip(&q);
    let mut s = Session::from_events([
        schema_event(),
        // Unary: content-encoding, each direction its own.
        of(
            1,
            started(
                GET,
                P::ConnectUnary,
                C::Proto,
                "HTTP/1.1",
                vec![header("content-encoding", "gzip")],
            ),
        ),
        message(1, D::Request, true, gz.clone()),
        pb::Event::new(
            1,
            pb::ResponseHeaders {
                offset_nanos: 5,
                http_status: 200,
                headers: vec![header("content-encoding", "gzip")],
            },
        ),
        message(1, D::Response, true, gz.clone()),
        // Streaming: connect-content-encoding (a grpc-encoding is not Connect's).
        of(
            2,
            started(
                GET,
                P::ConnectStream,
                C::Proto,
                "HTTP/2",
                vec![
                    header("connect-content-encoding", "gzip"),
                    header("grpc-encoding", "zstd"),
                ],
            ),
        ),
        message(2, D::Request, true, gz.clone()),
        // GET: the query named it; the bytes tell it.
        of(3, started(GET, P::ConnectGet, C::Proto, "HTTP/1.1", vec![])),
        message(3, D::Request, true, gz.clone()),
        // gRPC: content-encoding is not gRPC's.
        of(
            4,
            started(
                GET,
                P::Grpc,
                C::Proto,
                "HTTP/2",
                vec![header("content-encoding", "gzip")],
            ),
        ),
        message(4, D::Request, true, gz),
    ]);
    for id in [1, 2, 3] {
        let d = s.detail(id).unwrap();
        assert_eq!(d.request_encoding.name(), "gzip", "call {id}");
        for m in &d.messages {
            let name = m.body.json().map(|j| j["name"].clone());
            assert_eq!(name, Some(json!("q")), "call {id}: {:?}", m.body);
        }
    }
    let d = s.detail(4).unwrap();
    assert!(
        matches!(d.messages[0].body, Body::Raw { .. }),
        "{:?}",
        d.messages[0].body
    );
}

#[test]
fn each_protocol_is_replayed_by_the_command_that_speaks_it() {
    use pb::{Codec as C, Direction as D, RpcProtocol as P};
    let q = named("q");
    let s = Session::from_events([
        schema_event(),
        // gRPC with the JSON codec, no schema for it: grpcurl, the JSON as sent.
        of(
            1,
            started("/other.v1.Svc/Get", P::Grpc, C::Json, "HTTP/2", vec![]),
        ),
        message(1, D::Request, false, &br#"{"a": 1}"#[..]),
        // Connect unary, proto, gzip: curl, the bytes decompressed, piped in.
        of(
            2,
            started(
                GET,
                P::ConnectUnary,
                C::Proto,
                "HTTP/1.1",
                vec![header("content-encoding", "gzip")],
            ),
        ),
        message(2, D::Request, true, gzip(&q)),
        // gRPC-Web with the schema: buf curl, the request as JSON.
        of(3, started(GET, P::GrpcWeb, C::Proto, "HTTP/2", vec![])),
        message(3, D::Request, false, q.clone()),
        // gRPC-Web with no schema, proto: nothing to write the JSON with.
        of(
            4,
            started("/other.v1.Svc/Get", P::GrpcWeb, C::Proto, "HTTP/2", vec![]),
        ),
        message(4, D::Request, false, q.clone()),
        // Connect streaming, client stream, JSON: buf curl, both requests.
        of(
            5,
            started(UPLOAD, P::ConnectStream, C::Json, "HTTP/2", vec![]),
        ),
        message(5, D::Request, false, &br#"{"name":"a"}"#[..]),
        message(5, D::Request, false, &br#"{"name":"b"}"#[..]),
        // gRPC with a codec that has no JSON.
        of(6, started(GET, P::Grpc, C::Other, "HTTP/2", vec![])),
        message(6, D::Request, false, q),
    ]);
    let cmd = s.replay(1).unwrap();
    assert_eq!(cmd.program, Program::Grpcurl);
    assert!(
        cmd.to_shell()
            .ends_with(r#"-d '{"a":1}' backend:50051 other.v1.Svc/Get"#),
        "{}",
        cmd.to_shell()
    );
    assert_eq!(s.grpcurl(1), Ok(cmd));

    let cmd = s.replay(2).unwrap();
    assert_eq!(cmd.program, Program::Curl);
    assert_eq!(cmd.stdin, Some(named("q")));
    assert!(
        !cmd.args.iter().any(|a| a.contains("gzip")),
        "{:?}",
        cmd.args
    );
    assert_eq!(
        s.grpcurl(2),
        Err(ReplayError::NotGrpc(Protocol::ConnectUnary))
    );
    assert_eq!(
        ReplayError::NotGrpc(Protocol::ConnectUnary).to_string(),
        "a Connect unary call: grpcurl speaks gRPC only"
    );

    let cmd = s.replay(3).unwrap();
    assert_eq!(cmd.program, Program::BufCurl);
    assert_eq!(
        cmd.to_shell(),
        "buf curl --protocol grpcweb --http2-prior-knowledge -d '{\"name\":\"q\"}' \
         http://backend:50051/loom.enginetest.Sampler/Get"
    );
    assert!(matches!(s.replay(4), Err(ReplayError::NoSchema(_))));
    let cmd = s.replay(5).unwrap();
    assert!(
        cmd.args
            .contains(&r#"{"name":"a"} {"name":"b"}"#.to_owned()),
        "{:?}",
        cmd.args
    );
    assert_eq!(s.replay(6), Err(ReplayError::Codec("other".into())));
    assert_eq!(s.replay(9), Err(ReplayError::NoSuchCall(9)));
}
