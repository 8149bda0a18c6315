use super::*;

use Codec::{Json, Other, Proto};
use RpcProtocol::{ConnectGet, ConnectStream, ConnectUnary, Grpc, GrpcWeb, GrpcWebText};

fn rpc_of(c: Classified) -> (RpcProtocol, Codec, String) {
    match c {
        Classified::Rpc {
            protocol,
            codec,
            codec_name,
        } => (protocol, codec, codec_name),
        Classified::NotRpc(why) => panic!("not RPC: {why}"),
    }
}

fn post(ct: &str) -> (RpcProtocol, Codec, String) {
    rpc_of(classify("POST", Some(ct), None, None))
}

fn get(query: &str) -> Classified {
    classify("GET", None, None, Some(query))
}

fn none() -> String {
    String::new()
}

#[test]
fn each_protocol_by_its_content_type() {
    let table = [
        ("application/grpc", (Grpc, Proto, none())),
        ("application/grpc+proto", (Grpc, Proto, none())),
        ("application/grpc+json", (Grpc, Json, none())),
        ("application/grpc+thrift", (Grpc, Other, "thrift".into())),
        ("application/grpc-web", (GrpcWeb, Proto, none())),
        ("application/grpc-web+proto", (GrpcWeb, Proto, none())),
        ("application/grpc-web+json", (GrpcWeb, Json, none())),
        ("application/grpc-web-text", (GrpcWebText, Proto, none())),
        (
            "Application/GRPC-Web-Text+proto; charset=x",
            (GrpcWebText, Proto, none()),
        ),
        ("application/connect+proto", (ConnectStream, Proto, none())),
        ("application/connect+json", (ConnectStream, Json, none())),
        (
            "application/connect+CBOR",
            (ConnectStream, Other, "cbor".into()),
        ),
        ("application/proto", (ConnectUnary, Proto, none())),
        ("application/json", (ConnectUnary, Json, none())),
        (
            "application/json; charset=utf-8",
            (ConnectUnary, Json, none()),
        ),
        (" application/proto ", (ConnectUnary, Proto, none())),
    ];
    for (ct, want) in table {
        assert_eq!(post(ct), want, "{ct}");
        // The version header changes nothing for these.
        assert_eq!(
            rpc_of(classify("post", Some(ct), Some("1"), None)),
            want,
            "{ct}"
        );
    }
}

#[test]
fn other_connect_unary_codecs_need_the_version_header() {
    assert_eq!(
        rpc_of(classify("POST", Some("application/cbor"), Some("1"), None)),
        (ConnectUnary, Other, "cbor".into())
    );
    assert_eq!(
        rpc_of(classify("POST", Some("application/cbor"), Some("2"), None)),
        (ConnectUnary, Other, "cbor".into()),
        "a wrong version is the server's to refuse"
    );
    assert_eq!(
        classify("POST", Some("application/cbor"), None, None),
        Classified::NotRpc(NotRpc::ContentType("application/cbor".into()))
    );
}

#[test]
fn what_is_not_of_the_family() {
    for ct in [
        "text/plain",
        "text/html; charset=utf-8",
        "application/x-www-form-urlencoded",
        "application/grpc-webx",
        "application/grpc-web-text-base64",
        "application/grpc+",
        "application/grpc+a+b",
        "application/grpc-",
        "application/connect",
        "application/connect+",
        "application/",
        "application/a b",
        "",
    ] {
        assert_eq!(
            classify("POST", Some(ct), None, None),
            Classified::NotRpc(NotRpc::ContentType(ct.into())),
            "{ct}"
        );
    }
    assert_eq!(
        classify("POST", None, None, None),
        Classified::NotRpc(NotRpc::NoContentType)
    );
    assert_eq!(
        classify("PUT", Some("application/grpc"), None, None),
        Classified::NotRpc(NotRpc::Method("PUT".into()))
    );
    assert_eq!(
        NotRpc::Method("PUT".into()).to_string(),
        "method PUT is not of the gRPC family"
    );
}

#[test]
fn connect_gets_by_their_query() {
    let table = [
        (
            "connect=v1&encoding=proto&message=CgA&base64=1",
            Proto,
            none(),
        ),
        ("encoding=json&message=%7B%7D", Json, none()),
        ("connect=v1&encoding=JSON", Json, none()),
        ("connect=v1&encoding=cbor&message=x", Other, "cbor".into()),
        // Still a Connect GET: GetRequest says what is wrong with it.
        ("encoding=proto&message=%zz&base64=1", Proto, none()),
        ("encoding=proto&message=!!&base64=1", Proto, none()),
    ];
    for (query, codec, name) in table {
        assert_eq!(rpc_of(get(query)), (ConnectGet, codec, name), "{query}");
    }
    let not = |query, why| assert_eq!(get(query), Classified::NotRpc(NotRpc::Get(why)), "{query}");
    not("", "no encoding= in the query");
    not("a=b", "no encoding= in the query");
    not("message=x", "no encoding= in the query");
    not(
        "encoding=proto",
        "neither connect=v1 nor message= in the query",
    );
    not(
        "connect=v2&encoding=proto&message=",
        "connect= names a version other than v1",
    );
    not("encoding=%zz&message=", "encoding= is not percent-encoded");
    not("encoding=a+b&message=", "encoding= is not a codec name");
    not("encoding=&message=", "encoding= is not a codec name");
    assert_eq!(
        classify("GET", None, None, None),
        Classified::NotRpc(NotRpc::Get("no encoding= in the query"))
    );
}

#[test]
fn responses_by_their_content_type() {
    assert_eq!(
        rpc_of(protocol_of_response("application/grpc-web-text+proto")),
        (GrpcWebText, Proto, none())
    );
    assert_eq!(
        rpc_of(protocol_of_response("application/json")),
        (ConnectUnary, Json, none())
    );
    assert_eq!(
        rpc_of(protocol_of_response("application/connect+json")),
        (ConnectStream, Json, none())
    );
    for ct in ["application/cbor", "text/html", "application/grpc+"] {
        assert!(
            matches!(protocol_of_response(ct), Classified::NotRpc(_)),
            "{ct}"
        );
    }
}

#[test]
fn each_protocol_names_its_compression_somewhere() {
    use Direction::{Request, Response};
    let table = [
        (Grpc, Request, Some("grpc-encoding")),
        (GrpcWeb, Response, Some("grpc-encoding")),
        (GrpcWebText, Request, Some("grpc-encoding")),
        (RpcProtocol::Unspecified, Response, Some("grpc-encoding")),
        (ConnectStream, Request, Some("connect-content-encoding")),
        (ConnectUnary, Request, Some("content-encoding")),
        (ConnectUnary, Response, Some("content-encoding")),
        (ConnectGet, Request, None),
        (ConnectGet, Response, Some("content-encoding")),
    ];
    for (protocol, direction, header) in table {
        assert_eq!(
            compression_header(protocol, direction),
            header,
            "{protocol:?} {direction:?}"
        );
    }
}
