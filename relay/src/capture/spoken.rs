//! What a call speaks, of the gRPC family: its protocol, codec and HTTP
//! version, as its request head says ([`Spoken`]), and what ended its
//! response body in that protocol's own form ([`BodyEnd`]), kept until the
//! call's end is recorded.
//!
//! The rules (which content type is which protocol, how a body trailer
//! block or a Connect end-of-stream reads) live in
//! `loom_shared::web_protocol`; this is where the relay keeps what they
//! said of one call.

use bytes::Bytes;
use loom_shared::pb;

/// How a request arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpVersion {
    H2,
    Http11,
}

impl HttpVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpVersion::H2 => "HTTP/2",
            HttpVersion::Http11 => "HTTP/1.1",
        }
    }
}

/// A call's protocol, codec and HTTP version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spoken {
    pub protocol: pb::RpcProtocol,
    pub codec: pb::Codec,
    /// The codec's name when it is neither proto nor JSON.
    pub codec_name: String,
    pub http_version: HttpVersion,
}

impl Spoken {
    /// gRPC over HTTP/2, proto: what calls spoke before 1.4.
    pub fn grpc() -> Self {
        Spoken {
            protocol: pb::RpcProtocol::Grpc,
            codec: pb::Codec::Proto,
            codec_name: String::new(),
            http_version: HttpVersion::H2,
        }
    }

    /// The envelope its streamed bodies use, if they use one.
    pub fn envelope(&self) -> Option<crate::capture::framing::Envelope> {
        use crate::capture::framing::Envelope;
        match self.protocol {
            pb::RpcProtocol::Grpc | pb::RpcProtocol::Unspecified => Some(Envelope::Grpc),
            pb::RpcProtocol::GrpcWeb | pb::RpcProtocol::GrpcWebText => Some(Envelope::GrpcWeb),
            pb::RpcProtocol::ConnectStream => Some(Envelope::Connect),
            pb::RpcProtocol::ConnectUnary | pb::RpcProtocol::ConnectGet => None,
        }
    }

    /// gRPC-Web text: bodies are base64.
    pub fn is_text(&self) -> bool {
        self.protocol == pb::RpcProtocol::GrpcWebText
    }

    /// Connect's unary forms: a relay-made error is an HTTP status and
    /// JSON, not trailers.
    pub fn is_connect_unary(&self) -> bool {
        matches!(
            self.protocol,
            pb::RpcProtocol::ConnectUnary | pb::RpcProtocol::ConnectGet
        )
    }

    /// Plain gRPC (trailers carry the status).
    pub fn is_grpc(&self) -> bool {
        matches!(
            self.protocol,
            pb::RpcProtocol::Grpc | pb::RpcProtocol::Unspecified
        )
    }
}

/// What ended a response body, in its protocol's own form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyEnd {
    /// gRPC-Web's trailer frame (flag 0x80): its raw `name: value` block.
    WebTrailers(Bytes),
    /// Connect streaming's end-of-stream envelope (flag 0x02): its JSON.
    ConnectEndStream(Bytes),
    /// A Connect unary error: the response body (JSON), under a non-200
    /// HTTP status.
    ConnectError(Bytes),
}

/// How a call of gRPC-Web or Connect ended, as a `CallEnded` (its offset
/// and endings are the caller's): the status from wherever its protocol
/// puts it, normalized to a gRPC code, with the protocol's own form beside
/// it. `trailers` are HTTP trailers (or trailers-only headers), which win
/// when they carry a `grpc-status`.
pub fn web_end(
    spoken: &Spoken,
    trailers: &http::HeaderMap,
    trailers_only: Option<http::StatusCode>,
    response_status: Option<http::StatusCode>,
    body_end: Option<BodyEnd>,
) -> pb::CallEnded {
    use loom_shared::web_protocol::{code, connect, grpc_web};

    use crate::capture::headers::headers_to_pb;

    let http_status = response_status.map_or(0, |s| s.as_u16());
    let mut ended = pb::CallEnded {
        trailers_only: trailers_only.is_some(),
        http_status: trailers_only.map_or(0, |s| u32::from(s.as_u16())),
        response_http_status: u32::from(http_status),
        ..Default::default()
    };
    if trailers.contains_key("grpc-status") {
        fill_grpc(
            &mut ended,
            trailers.iter().map(|(k, v)| (k.as_str(), v.as_bytes())),
        );
        ended.trailers = headers_to_pb(trailers);
        ended.status_source = "trailers".into();
        return ended;
    }
    let by_http = |ended: &mut pb::CallEnded| {
        ended.grpc_status = Some(code::from_http_status(http_status));
        ended.status_source = "http-status".into();
    };
    match (spoken.protocol, body_end) {
        (
            pb::RpcProtocol::GrpcWeb | pb::RpcProtocol::GrpcWebText,
            Some(BodyEnd::WebTrailers(block)),
        ) => match grpc_web::parse_trailers(&block) {
            Ok(fields) => {
                fill_grpc(
                    &mut ended,
                    fields.iter().map(|(k, v)| (k.as_str(), v.as_bytes())),
                );
                ended.trailers = fields
                    .into_iter()
                    .map(|(name, value)| loom_shared::header::header(name, value.into_bytes()))
                    .collect();
                ended.status_source = "body-trailers".into();
                if ended.grpc_status.is_none() {
                    ended.relay_error = "the trailer frame has no grpc-status".into();
                }
            }
            Err(e) => ended.relay_error = format!("the trailer frame does not parse: {e}"),
        },
        (pb::RpcProtocol::ConnectStream, Some(BodyEnd::ConnectEndStream(json))) => {
            match connect::EndStream::parse(&json) {
                Ok(end) => {
                    ended.trailers = end
                        .metadata
                        .into_iter()
                        .map(|(name, value)| loom_shared::header::header(name, value.into_bytes()))
                        .collect();
                    ended.status_source = "end-stream".into();
                    match end.error {
                        None => ended.grpc_status = Some(0),
                        Some(error) => fill_connect(&mut ended, &error, None),
                    }
                }
                Err(e) => {
                    ended.relay_error = format!("the end-of-stream message does not parse: {e}")
                }
            }
        }
        (pb::RpcProtocol::ConnectUnary | pb::RpcProtocol::ConnectGet, end) => {
            ended.status_source = "http-status".into();
            if http_status == 200 {
                ended.grpc_status = Some(0);
            } else if let Some(BodyEnd::ConnectError(json)) = end {
                match connect::ConnectError::parse(&json) {
                    Ok(error) => fill_connect(&mut ended, &error, Some(http_status)),
                    Err(_) => by_http(&mut ended),
                }
            } else {
                by_http(&mut ended);
            }
        }
        (_, _) if http_status != 200 && http_status != 0 => by_http(&mut ended),
        (protocol, _) => {
            ended.relay_error = match protocol {
                pb::RpcProtocol::ConnectStream => {
                    "the upstream ended the stream without its end-of-stream message".into()
                }
                _ => "the upstream ended the call without a grpc-status".into(),
            };
        }
    }
    ended
}

/// `grpc-status`, `grpc-message` and `grpc-status-details-bin` from
/// fields.
fn fill_grpc<'a>(ended: &mut pb::CallEnded, fields: impl Iterator<Item = (&'a str, &'a [u8])>) {
    for (name, value) in fields {
        match name {
            "grpc-status" => {
                ended.grpc_status = std::str::from_utf8(value)
                    .ok()
                    .and_then(|v| v.trim().parse().ok());
            }
            "grpc-message" => {
                ended.grpc_message = loom_shared::header::percent_decode_grpc_message(
                    &String::from_utf8_lossy(value),
                );
            }
            "grpc-status-details-bin" => {
                ended.grpc_status_details = crate::capture::headers::decode_bin(value).into();
            }
            _ => {}
        }
    }
}

/// A Connect error, normalized; a code it lacks (or one Connect does not
/// know) is the unary HTTP status's, when there is one, else UNKNOWN.
fn fill_connect(
    ended: &mut pb::CallEnded,
    error: &loom_shared::web_protocol::connect::ConnectError,
    http_status: Option<u16>,
) {
    use loom_shared::web_protocol::code;
    let fallback = http_status.map_or(2, code::from_http_status);
    ended.grpc_status = Some(code::from_connect(&error.code).unwrap_or(fallback));
    ended.grpc_message = error.message.clone();
    ended.grpc_status_details = error.status_details().into();
    ended.connect_code = error.code.clone();
}
