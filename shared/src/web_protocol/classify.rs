//! Which protocol of the gRPC family a request speaks, and with which
//! codec, from its head alone: [`classify`]. Also a response's content
//! type ([`protocol_of_response`]) and where each protocol names a body's
//! compression ([`compression_header`]).
//!
//! The protocol and codec are the capture's own enums ([`RpcProtocol`],
//! [`Codec`]), so what this says goes into a `CallStarted` as it is; a
//! codec that is neither proto nor JSON is [`Codec::Other`] with its name
//! beside it.
//!
//! What it is not: a validator. A request that names a protocol is that
//! protocol even when the rest of it is wrong (a Connect GET whose message
//! is not base64 is still a Connect GET: the server answers it with a
//! Connect error, and the capture should show both).

use crate::pb::{Codec, Direction, RpcProtocol};
use crate::web_protocol::connect::{self, get};

/// What a request is, of the gRPC family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classified {
    /// A call: its protocol and codec.
    Rpc {
        /// The protocol.
        protocol: RpcProtocol,
        /// How its messages are encoded.
        codec: Codec,
        /// The codec's name for [`Codec::Other`] (lowercased); empty
        /// otherwise.
        codec_name: String,
    },
    /// Not a call of the family, and why.
    NotRpc(NotRpc),
}

/// Why a request (or response) is not of the gRPC family.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotRpc {
    /// A POST with no content type.
    #[error("no content-type")]
    NoContentType,
    /// A content type no protocol of the family uses (for a POST without
    /// `connect-protocol-version`, any but `application/proto` and
    /// `application/json`).
    #[error("content-type {0:?} is not of the gRPC family")]
    ContentType(String),
    /// A method other than POST and GET (or GET for a content type that
    /// needs POST).
    #[error("method {0} is not of the gRPC family")]
    Method(String),
    /// A GET that is not a Connect GET: why.
    #[error("a GET that is not a Connect GET: {0}")]
    Get(&'static str),
}

/// Which protocol a request speaks.
///
/// - POST `application/grpc[+codec]`: gRPC; `application/grpc-web[+codec]`:
///   gRPC-Web; `application/grpc-web-text[+codec]`: its text form (no
///   `+codec` is proto); `application/connect+codec`: Connect streaming.
/// - POST `application/codec`: Connect unary, when
///   `connect_protocol_version` is present (any value: a wrong one is the
///   server's to refuse, and the capture's to show), or without it for
///   `proto` and `json`, which connect-go's handlers accept by default.
/// - GET with `encoding=` in the query, and `connect=v1` or `message=`:
///   a Connect GET (`connect=` naming another version is not one).
///
/// Content types are matched without case or parameters
/// (`application/json; charset=utf-8` is JSON).
pub fn classify(
    method: &str,
    content_type: Option<&str>,
    connect_protocol_version: Option<&str>,
    query: Option<&str>,
) -> Classified {
    if method.eq_ignore_ascii_case("GET") {
        return classify_get(query.unwrap_or(""));
    }
    if !method.eq_ignore_ascii_case("POST") {
        return Classified::NotRpc(NotRpc::Method(method.to_owned()));
    }
    let Some(content_type) = content_type else {
        return Classified::NotRpc(NotRpc::NoContentType);
    };
    let bare = match connect_protocol_version {
        Some(_) => Bare::AnyCodec,
        None => Bare::ProtoOrJson,
    };
    classify_content_type(content_type, bare)
}

/// Which protocol a response's content type belongs to: as [`classify`]
/// says of a POST, with `application/proto` and `application/json` as
/// Connect unary (a GET's too) and every other bare `application/codec`
/// not of the family (it is a Connect unary response of a call whose codec
/// is that; the caller knows the call's codec, this does not).
pub fn protocol_of_response(content_type: &str) -> Classified {
    classify_content_type(content_type, Bare::ProtoOrJson)
}

/// Which bare `application/codec` content types are Connect unary.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Bare {
    /// Any codec (the request said `connect-protocol-version`).
    AnyCodec,
    /// Only `proto` and `json`.
    ProtoOrJson,
}

/// A content type's protocol.
fn classify_content_type(content_type: &str, bare: Bare) -> Classified {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let not_rpc = || Classified::NotRpc(NotRpc::ContentType(content_type.to_owned()));
    let Some(sub) = essence.strip_prefix("application/") else {
        return not_rpc();
    };
    // `grpc-web-text` before `grpc-web` before `grpc`: each is a prefix of
    // the one before.
    for (prefix, protocol) in [
        ("grpc-web-text", RpcProtocol::GrpcWebText),
        ("grpc-web", RpcProtocol::GrpcWeb),
        ("grpc", RpcProtocol::Grpc),
    ] {
        if let Some(rest) = sub.strip_prefix(prefix) {
            return match rest {
                "" => rpc(protocol, "proto"),
                _ => match rest.strip_prefix('+').filter(|n| valid_codec(n)) {
                    Some(name) => rpc(protocol, name),
                    None => not_rpc(),
                },
            };
        }
    }
    if let Some(rest) = sub.strip_prefix("connect") {
        return match rest.strip_prefix('+').filter(|n| valid_codec(n)) {
            Some(name) => rpc(RpcProtocol::ConnectStream, name),
            None => not_rpc(),
        };
    }
    if valid_codec(sub) && (sub == "proto" || sub == "json" || bare == Bare::AnyCodec) {
        return rpc(RpcProtocol::ConnectUnary, sub);
    }
    not_rpc()
}

fn classify_get(query: &str) -> Classified {
    let not = |why| Classified::NotRpc(NotRpc::Get(why));
    let versioned = match get::param(query, "connect") {
        Ok(None) => false,
        Ok(Some(v)) if v == b"v1" => true,
        Ok(Some(_)) | Err(_) => return not("connect= names a version other than v1"),
    };
    let encoding = match get::param(query, "encoding") {
        Ok(Some(e)) => e,
        Ok(None) => return not("no encoding= in the query"),
        Err(_) => return not("encoding= is not percent-encoded"),
    };
    // A message that does not decode is still one: GetRequest says why.
    let has_message = !matches!(get::param(query, "message"), Ok(None));
    if !versioned && !has_message {
        return not("neither connect=v1 nor message= in the query");
    }
    match std::str::from_utf8(&encoding) {
        Ok(name) if valid_codec(&name.to_ascii_lowercase()) => {
            rpc(RpcProtocol::ConnectGet, &name.to_ascii_lowercase())
        }
        _ => not("encoding= is not a codec name"),
    }
}

/// A codec name: an HTTP token (the subtype's syntax), `+` excluded.
fn valid_codec(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*-.^_`|~".contains(&b))
}

fn rpc(protocol: RpcProtocol, codec_name: &str) -> Classified {
    let (codec, codec_name) = codec_of(codec_name);
    Classified::Rpc {
        protocol,
        codec,
        codec_name,
    }
}

/// A codec name's [`Codec`], and the name when it is neither proto nor
/// JSON (empty otherwise).
pub(crate) fn codec_of(name: &str) -> (Codec, String) {
    match name {
        "proto" => (Codec::Proto, String::new()),
        "json" => (Codec::Json, String::new()),
        other => (Codec::Other, other.to_owned()),
    }
}

/// The header that names how a body of `protocol` going `direction` is
/// compressed: `grpc-encoding` for each message of gRPC and gRPC-Web,
/// `connect-content-encoding` for each of Connect streaming,
/// `content-encoding` for a Connect unary body as a whole. `None` for a
/// Connect GET's request, whose compression is in its query
/// ([`connect::GetRequest::compression`]).
pub fn compression_header(protocol: RpcProtocol, direction: Direction) -> Option<&'static str> {
    match (protocol, direction) {
        (RpcProtocol::ConnectGet, Direction::Request) => None,
        (RpcProtocol::ConnectUnary | RpcProtocol::ConnectGet, _) => {
            Some(connect::UNARY_ENCODING_HEADER)
        }
        (RpcProtocol::ConnectStream, _) => Some(connect::STREAM_ENCODING_HEADER),
        (
            RpcProtocol::Unspecified
            | RpcProtocol::Grpc
            | RpcProtocol::GrpcWeb
            | RpcProtocol::GrpcWebText,
            _,
        ) => Some("grpc-encoding"),
    }
}

#[cfg(test)]
mod tests;
