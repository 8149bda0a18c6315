//! The protocol of the gRPC family a call spoke (format 1.4): gRPC,
//! gRPC-Web (binary or text), or Connect (unary POST, streaming, GET); how
//! its messages are encoded (the codec: proto, JSON, or another); and its
//! status in the protocol's own form (Connect's code string, the HTTP
//! status, where the status came from), beside the gRPC code every view
//! shows.
//!
//! Files older than 1.4 say nothing of it: their calls are gRPC over
//! HTTP/2 with the proto codec.

use std::fmt;
use std::sync::Arc;

use crate::pb;

/// The protocol of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Protocol {
    /// gRPC over HTTP/2 (and every call of a file older than 1.4).
    #[default]
    Grpc,
    /// gRPC-Web, binary: trailers in the body.
    GrpcWeb,
    /// gRPC-Web, text: the body in base64.
    GrpcWebText,
    /// Connect unary, POST: the body is the message, no envelope.
    ConnectUnary,
    /// Connect streaming: envelopes, ended by an end-of-stream message.
    ConnectStream,
    /// Connect unary, GET: the request message in the query.
    ConnectGet,
}

impl Protocol {
    /// Every protocol, in the order views list them.
    pub const ALL: [Protocol; 6] = [
        Protocol::Grpc,
        Protocol::GrpcWeb,
        Protocol::GrpcWebText,
        Protocol::ConnectUnary,
        Protocol::ConnectStream,
        Protocol::ConnectGet,
    ];

    /// The protocol a `CallStarted` records (unspecified: gRPC).
    pub fn of(protocol: pb::RpcProtocol) -> Protocol {
        match protocol {
            pb::RpcProtocol::Unspecified | pb::RpcProtocol::Grpc => Protocol::Grpc,
            pb::RpcProtocol::GrpcWeb => Protocol::GrpcWeb,
            pb::RpcProtocol::GrpcWebText => Protocol::GrpcWebText,
            pb::RpcProtocol::ConnectUnary => Protocol::ConnectUnary,
            pb::RpcProtocol::ConnectStream => Protocol::ConnectStream,
            pb::RpcProtocol::ConnectGet => Protocol::ConnectGet,
        }
    }

    /// The protocol of a `CallStarted.protocol` value as captured (a value
    /// this build does not know reads as gRPC).
    pub fn from_i32(value: i32) -> Protocol {
        pb::RpcProtocol::try_from(value).map_or(Protocol::Grpc, Protocol::of)
    }

    /// The stable spelling, for URLs and `loom decode`'s JSON: `grpc`,
    /// `grpc-web`, `grpc-web-text`, `connect-unary`, `connect-stream`,
    /// `connect-get`.
    pub fn key(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::GrpcWeb => "grpc-web",
            Protocol::GrpcWebText => "grpc-web-text",
            Protocol::ConnectUnary => "connect-unary",
            Protocol::ConnectStream => "connect-stream",
            Protocol::ConnectGet => "connect-get",
        }
    }

    /// The protocol in words: `gRPC`, `gRPC-Web`, `gRPC-Web text`,
    /// `Connect unary`, `Connect streaming`, `Connect GET`.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Grpc => "gRPC",
            Protocol::GrpcWeb => "gRPC-Web",
            Protocol::GrpcWebText => "gRPC-Web text",
            Protocol::ConnectUnary => "Connect unary",
            Protocol::ConnectStream => "Connect streaming",
            Protocol::ConnectGet => "Connect GET",
        }
    }

    /// Parses [`Protocol::key`] or [`Protocol::name`], in any case.
    pub fn parse(text: &str) -> Option<Protocol> {
        let text = text.trim();
        Protocol::ALL
            .into_iter()
            .find(|p| p.key().eq_ignore_ascii_case(text) || p.name().eq_ignore_ascii_case(text))
    }

    /// One of Connect's three forms.
    pub fn is_connect(self) -> bool {
        matches!(
            self,
            Protocol::ConnectUnary | Protocol::ConnectStream | Protocol::ConnectGet
        )
    }

    /// The header naming the compression of the messages going `direction`:
    /// `grpc-encoding` for gRPC and gRPC-Web, `connect-content-encoding`
    /// for Connect streaming, `content-encoding` for Connect unary (the
    /// whole body is the message). `None` for a Connect GET's request,
    /// whose compression its query named.
    pub(crate) fn encoding_header(self, direction: pb::Direction) -> Option<&'static str> {
        match self {
            Protocol::Grpc | Protocol::GrpcWeb | Protocol::GrpcWebText => Some("grpc-encoding"),
            Protocol::ConnectStream => Some("connect-content-encoding"),
            Protocol::ConnectUnary => Some("content-encoding"),
            Protocol::ConnectGet if direction == pb::Direction::Response => {
                Some("content-encoding")
            }
            Protocol::ConnectGet => None,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a call's messages are encoded.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Codec {
    /// Protobuf's binary encoding (and every call of a file older than 1.4).
    #[default]
    Proto,
    /// Protobuf's JSON mapping, as text (`application/json`,
    /// `application/connect+json`, `application/grpc+json`).
    Json,
    /// Another, by the name its content type gave (`cbor`); empty when the
    /// capture did not name it.
    Other(Arc<str>),
}

impl Codec {
    /// The codec a `CallStarted` records, with its `codec_name` (unspecified:
    /// proto).
    pub fn of(codec: i32, name: &str) -> Codec {
        match pb::Codec::try_from(codec) {
            Ok(pb::Codec::Json) => Codec::Json,
            Ok(pb::Codec::Other) => Codec::Other(Arc::from(name)),
            Ok(pb::Codec::Unspecified | pb::Codec::Proto) => Codec::Proto,
            Err(_) if name.is_empty() => Codec::Proto,
            Err(_) => Codec::Other(Arc::from(name)),
        }
    }

    /// `proto`, `json`, or the other codec's name (`other` when unnamed).
    pub fn name(&self) -> &str {
        match self {
            Codec::Proto => "proto",
            Codec::Json => "json",
            Codec::Other(name) if name.is_empty() => "other",
            Codec::Other(name) => name,
        }
    }

    /// The content type of a Connect unary body of this codec:
    /// `application/proto`, `application/json`, `application/NAME`.
    pub fn connect_content_type(&self) -> String {
        format!("application/{}", self.name())
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a call's status came from (format 1.4's `status_source`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusSource {
    /// HTTP/2 trailers, or a trailers-only response's headers.
    Trailers,
    /// gRPC-Web's trailer frame, at the end of the body.
    BodyTrailers,
    /// Connect streaming's end-of-stream message.
    EndStream,
    /// The HTTP status (Connect unary, or a response with no gRPC status).
    HttpStatus,
    /// A source this build does not know, as captured.
    Other(String),
}

impl StatusSource {
    /// Reads a captured `status_source`; `None` when empty (the relay ended
    /// the call, or the file is older than 1.4).
    pub fn parse(text: &str) -> Option<StatusSource> {
        Some(match text {
            "" => return None,
            "trailers" => StatusSource::Trailers,
            "body-trailers" => StatusSource::BodyTrailers,
            "end-stream" => StatusSource::EndStream,
            "http-status" => StatusSource::HttpStatus,
            other => StatusSource::Other(other.to_owned()),
        })
    }

    /// As captured: `trailers`, `body-trailers`, `end-stream`, `http-status`.
    pub fn key(&self) -> &str {
        match self {
            StatusSource::Trailers => "trailers",
            StatusSource::BodyTrailers => "body-trailers",
            StatusSource::EndStream => "end-stream",
            StatusSource::HttpStatus => "http-status",
            StatusSource::Other(text) => text,
        }
    }

    /// In words: `the trailers`, `gRPC-Web's trailer frame`, `Connect's
    /// end-of-stream message`, `the HTTP status`.
    pub fn describe(&self) -> String {
        match self {
            StatusSource::Trailers => "the trailers".to_owned(),
            StatusSource::BodyTrailers => "gRPC-Web's trailer frame".to_owned(),
            StatusSource::EndStream => "Connect's end-of-stream message".to_owned(),
            StatusSource::HttpStatus => "the HTTP status".to_owned(),
            StatusSource::Other(text) => text.clone(),
        }
    }
}

/// A call's status in its protocol's own form, beside the gRPC code it is
/// normalized to ([`super::CallStatus`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProtocolStatus {
    /// Connect's code string (`not_found`); `None` for gRPC and gRPC-Web,
    /// and for Connect calls that ended OK.
    pub connect_code: Option<String>,
    /// The response's HTTP status; `None` when no response came (or the
    /// file is older than 1.4).
    pub http_status: Option<u32>,
    /// Where the status came from; `None` when the relay ended the call
    /// (or the file is older than 1.4).
    pub source: Option<StatusSource>,
}

impl ProtocolStatus {
    /// What a `CallEnded` records of it.
    pub fn of(ended: &pb::CallEnded) -> ProtocolStatus {
        ProtocolStatus {
            connect_code: (!ended.connect_code.is_empty()).then(|| ended.connect_code.clone()),
            http_status: (ended.response_http_status != 0).then_some(ended.response_http_status),
            source: StatusSource::parse(&ended.status_source),
        }
    }

    /// Nothing is known of it.
    pub fn is_empty(&self) -> bool {
        *self == ProtocolStatus::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_by_key_name_and_capture() {
        for p in Protocol::ALL {
            assert_eq!(Protocol::parse(p.key()), Some(p));
            assert_eq!(Protocol::parse(&p.name().to_uppercase()), Some(p));
        }
        assert_eq!(Protocol::parse("http"), None);
        assert_eq!(Protocol::of(pb::RpcProtocol::Unspecified), Protocol::Grpc);
        assert_eq!(
            Protocol::from_i32(pb::RpcProtocol::ConnectGet.into()),
            Protocol::ConnectGet
        );
        assert_eq!(Protocol::from_i32(99), Protocol::Grpc);
        assert!(Protocol::ConnectStream.is_connect() && !Protocol::GrpcWeb.is_connect());
        assert_eq!(Protocol::GrpcWebText.to_string(), "gRPC-Web text");
    }

    #[test]
    fn each_protocol_names_its_compression_header() {
        use pb::Direction::{Request, Response};
        let header = |p: Protocol, d| p.encoding_header(d);
        assert_eq!(header(Protocol::Grpc, Request), Some("grpc-encoding"));
        assert_eq!(header(Protocol::GrpcWeb, Response), Some("grpc-encoding"));
        assert_eq!(
            header(Protocol::ConnectStream, Request),
            Some("connect-content-encoding")
        );
        assert_eq!(
            header(Protocol::ConnectUnary, Response),
            Some("content-encoding")
        );
        assert_eq!(header(Protocol::ConnectGet, Request), None);
        assert_eq!(
            header(Protocol::ConnectGet, Response),
            Some("content-encoding")
        );
    }

    #[test]
    fn codecs_and_status_sources() {
        assert_eq!(Codec::of(pb::Codec::Unspecified.into(), ""), Codec::Proto);
        assert_eq!(Codec::of(pb::Codec::Json.into(), ""), Codec::Json);
        let cbor = Codec::of(pb::Codec::Other.into(), "cbor");
        assert_eq!(
            (cbor.name(), cbor.connect_content_type()),
            ("cbor", "application/cbor".to_owned())
        );
        assert_eq!(Codec::of(pb::Codec::Other.into(), "").name(), "other");
        assert_eq!(Codec::Json.connect_content_type(), "application/json");
        assert_eq!(StatusSource::parse(""), None);
        for key in [
            "trailers",
            "body-trailers",
            "end-stream",
            "http-status",
            "later",
        ] {
            assert_eq!(
                StatusSource::parse(key).map(|s| s.key().to_owned()),
                Some(key.to_owned())
            );
        }
        assert_eq!(
            StatusSource::parse("end-stream").map(|s| s.describe()),
            Some("Connect's end-of-stream message".to_owned())
        );
        let status = ProtocolStatus::of(&pb::CallEnded {
            connect_code: "not_found".into(),
            response_http_status: 404,
            status_source: "http-status".into(),
            ..Default::default()
        });
        assert_eq!(status.connect_code.as_deref(), Some("not_found"));
        assert_eq!(
            (status.http_status, status.source),
            (Some(404), Some(StatusSource::HttpStatus))
        );
        assert!(ProtocolStatus::of(&pb::CallEnded::default()).is_empty());
    }
}
