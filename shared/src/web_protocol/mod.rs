//! The gRPC family's protocols beside gRPC itself: gRPC-Web (binary and
//! text) and Connect (unary POST, unary GET and streaming), as pure
//! functions over bytes, shared by the relay (which captures them as they
//! pass) and the browser.
//!
//! - [`classify`]: which protocol and codec a request speaks, from its
//!   method, content type, `connect-protocol-version` and query.
//! - [`grpc_web`]: the trailer frame (flag 0x80) a gRPC-Web body ends
//!   with; [`text`]: gRPC-Web text's base64, decoded over any chunk cuts.
//! - [`connect`]: Connect's JSON errors and end-of-stream message, and a
//!   unary GET's query.
//! - [`code`]: status codes between gRPC's numbers, Connect's names and
//!   HTTP statuses.
//!
//! What it is not: a framer of envelopes (the 5-byte prefix is the same
//! across the family; the relay's splitter cuts it, flags and all) or a
//! client. Specs: gRPC's `PROTOCOL-WEB.md`, connectrpc.com's protocol page.

pub mod code;
pub mod connect;
pub mod grpc_web;
pub mod text;

use crate::pb::{Codec, RpcProtocol};

/// What a request is, of the gRPC family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classified {
    /// A call: its protocol and codec (`codec_name` when the codec is
    /// neither proto nor JSON).
    Rpc {
        /// The protocol.
        protocol: RpcProtocol,
        /// How its messages are encoded.
        codec: Codec,
        /// The codec's name for [`Codec::Other`]; empty otherwise.
        codec_name: String,
    },
    /// Not a call of the family, and why.
    NotRpc(String),
}

/// Which protocol a request speaks: `application/grpc[+x]` is gRPC,
/// `application/grpc-web[+x]` gRPC-Web, `application/grpc-web-text[+x]`
/// its text form, `application/connect+x` Connect streaming; a POST of
/// `application/x` is Connect unary (with `connect-protocol-version: 1`, or
/// without it for `proto` and `json`, as connect-go accepts); a GET whose
/// query has `connect=v1` (or an `encoding` and a `message`) is a Connect
/// GET.
pub fn classify(
    method: &str,
    content_type: Option<&str>,
    connect_protocol_version: Option<&str>,
    query: Option<&str>,
) -> Classified {
    if method.eq_ignore_ascii_case("GET") {
        return match query.map(connect::GetRequest::parse) {
            Some(Ok(get)) => Classified::Rpc {
                protocol: RpcProtocol::ConnectGet,
                codec: codec_of(&get.encoding),
                codec_name: other_name(&get.encoding),
            },
            Some(Err(e)) => Classified::NotRpc(format!("a GET that is not a Connect GET: {e}")),
            None => Classified::NotRpc("a GET with no query".into()),
        };
    }
    let Some(content_type) = content_type else {
        return Classified::NotRpc("no content-type".into());
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let Some(sub) = essence.strip_prefix("application/") else {
        return Classified::NotRpc(format!("content-type {content_type:?}"));
    };
    let rpc = |protocol, name: &str| Classified::Rpc {
        protocol,
        codec: codec_of(name),
        codec_name: other_name(name),
    };
    let suffix = |rest: &str| -> Option<String> {
        if rest.is_empty() {
            Some("proto".into())
        } else {
            rest.strip_prefix('+')
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
        }
    };
    if !method.eq_ignore_ascii_case("POST") {
        return Classified::NotRpc(format!("method {method}"));
    }
    if let Some(rest) = sub.strip_prefix("grpc-web-text")
        && let Some(name) = suffix(rest)
    {
        return rpc(RpcProtocol::GrpcWebText, &name);
    }
    if let Some(rest) = sub.strip_prefix("grpc-web")
        && let Some(name) = suffix(rest)
    {
        return rpc(RpcProtocol::GrpcWeb, &name);
    }
    if let Some(rest) = sub.strip_prefix("grpc")
        && let Some(name) = suffix(rest)
    {
        return rpc(RpcProtocol::Grpc, &name);
    }
    if let Some(name) = sub.strip_prefix("connect+").filter(|n| !n.is_empty()) {
        return rpc(RpcProtocol::ConnectStream, name);
    }
    let versioned = connect_protocol_version.is_some_and(|v| v.trim() == "1");
    if versioned || sub == "proto" || sub == "json" {
        return rpc(RpcProtocol::ConnectUnary, sub);
    }
    Classified::NotRpc(format!("content-type {content_type:?}"))
}

fn codec_of(name: &str) -> Codec {
    match name {
        "proto" => Codec::Proto,
        "json" => Codec::Json,
        _ => Codec::Other,
    }
}

fn other_name(name: &str) -> String {
    match codec_of(name) {
        Codec::Other => name.to_owned(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn protocol(
        method: &str,
        ct: Option<&str>,
        v: Option<&str>,
        q: Option<&str>,
    ) -> (RpcProtocol, Codec, String) {
        match classify(method, ct, v, q) {
            Classified::Rpc {
                protocol,
                codec,
                codec_name,
            } => (protocol, codec, codec_name),
            Classified::NotRpc(why) => panic!("not RPC: {why}"),
        }
    }

    #[test]
    fn each_protocol_by_its_content_type() {
        use Codec::*;
        use RpcProtocol::*;
        let p = |ct| protocol("POST", Some(ct), None, None);
        assert_eq!(p("application/grpc"), (Grpc, Proto, String::new()));
        assert_eq!(p("application/grpc+json"), (Grpc, Json, String::new()));
        assert_eq!(p("application/grpc-web"), (GrpcWeb, Proto, String::new()));
        assert_eq!(
            p("application/grpc-web+proto"),
            (GrpcWeb, Proto, String::new())
        );
        assert_eq!(
            p("Application/GRPC-Web-Text+proto; charset=x"),
            (GrpcWebText, Proto, String::new())
        );
        assert_eq!(
            p("application/connect+json"),
            (ConnectStream, Json, String::new())
        );
        assert_eq!(
            p("application/connect+cbor"),
            (ConnectStream, Other, "cbor".into())
        );
        assert_eq!(p("application/proto"), (ConnectUnary, Proto, String::new()));
        assert_eq!(
            p("application/json; charset=utf-8"),
            (ConnectUnary, Json, String::new())
        );
        assert_eq!(
            protocol("POST", Some("application/cbor"), Some("1"), None),
            (ConnectUnary, Other, "cbor".into())
        );
        assert_eq!(
            protocol(
                "GET",
                None,
                None,
                Some("connect=v1&encoding=proto&message=CgA&base64=1")
            ),
            (ConnectGet, Proto, String::new())
        );
        for (m, ct) in [
            ("POST", "text/plain"),
            ("POST", "application/cbor"),
            ("PUT", "application/grpc"),
        ] {
            assert!(
                matches!(classify(m, Some(ct), None, None), Classified::NotRpc(_)),
                "{m} {ct}"
            );
        }
        assert!(matches!(
            classify("POST", None, None, None),
            Classified::NotRpc(_)
        ));
        assert!(matches!(
            classify("GET", None, None, Some("a=b")),
            Classified::NotRpc(_)
        ));
        assert!(matches!(
            classify("GET", None, None, None),
            Classified::NotRpc(_)
        ));
        assert!(matches!(
            classify("POST", Some("application/grpc-webx"), None, None),
            Classified::NotRpc(_)
        ));
    }
}
