//! Statuses the relay itself sends, in the protocol of the call: gRPC's
//! and gRPC-Web's as trailers-only headers, Connect unary's as an HTTP
//! status and a JSON error, Connect streaming's as an end-of-stream
//! envelope (it never invents any other kind of response for an RPC
//! client).

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use loom_shared::pb::RpcProtocol;
use loom_shared::web_protocol::{code, connect};

use crate::capture::spoken::Spoken;

pub const RESOURCE_EXHAUSTED: u32 = 8;
pub const INTERNAL: u32 = 13;
pub const UNAVAILABLE: u32 = 14;
pub const CANCELLED: u32 = 1;

/// `grpc-status` and a percent-encoded `grpc-message`.
pub fn trailers(code: u32, message: &str) -> HeaderMap {
    let mut map = HeaderMap::new();
    map.insert("grpc-status", HeaderValue::from(code));
    // Percent-encoding leaves only visible ASCII, which is always a valid value.
    if let Ok(v) = HeaderValue::from_str(&loom_shared::header::percent_encode_grpc_message(message))
    {
        map.insert("grpc-message", v);
    }
    map
}

/// A trailers-only response: one HEADERS frame with END_STREAM.
pub fn trailers_only(code: u32, message: &str) -> Response<()> {
    let mut res = Response::new(());
    *res.status_mut() = StatusCode::OK;
    let headers = res.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    headers.extend(trailers(code, message));
    res
}

/// The relay's own answer to a call that speaks `spoken`: a head, and a
/// body (empty for gRPC and gRPC-Web, whose status is in the head).
pub fn answer(spoken: &Spoken, code: u32, message: &str) -> Response<Bytes> {
    match spoken.protocol {
        RpcProtocol::Grpc | RpcProtocol::Unspecified => {
            trailers_only(code, message).map(|()| Bytes::new())
        }
        RpcProtocol::GrpcWeb | RpcProtocol::GrpcWebText => {
            let mut res = trailers_only(code, message).map(|()| Bytes::new());
            let content_type = if spoken.is_text() {
                "application/grpc-web-text+proto"
            } else {
                "application/grpc-web+proto"
            };
            res.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static(content_type),
            );
            res
        }
        RpcProtocol::ConnectUnary | RpcProtocol::ConnectGet => {
            let mut res = Response::new(Bytes::from(connect::error_json(code, message)));
            *res.status_mut() = StatusCode::from_u16(code::connect_http_status(code))
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            res.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            res
        }
        RpcProtocol::ConnectStream => {
            let content_type = match spoken.codec {
                loom_shared::pb::Codec::Json => "application/connect+json",
                _ => "application/connect+proto",
            };
            let mut res = Response::new(Bytes::from(connect::end_stream_envelope(code, message)));
            res.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static(content_type),
            );
            res
        }
    }
}

/// What ends a response body the relay cuts short (the upstream failed
/// mid-body): gRPC's trailers; gRPC-Web's trailer frame or Connect's
/// end-of-stream as a last DATA frame, then the end.
pub enum Cut {
    Trailers(HeaderMap),
    LastData(Bytes),
}

/// How to end a body of `spoken` with `code`, mid-stream.
pub fn cut(spoken: &Spoken, code: u32, message: &str) -> Cut {
    match spoken.protocol {
        RpcProtocol::GrpcWeb | RpcProtocol::GrpcWebText => {
            let frame = loom_shared::web_protocol::grpc_web::trailer_frame(&[
                ("grpc-status", &code.to_string()),
                (
                    "grpc-message",
                    &loom_shared::header::percent_encode_grpc_message(message),
                ),
            ]);
            if spoken.is_text() {
                use base64::Engine as _;
                let text = base64::engine::general_purpose::STANDARD.encode(frame);
                Cut::LastData(Bytes::from(text))
            } else {
                Cut::LastData(Bytes::from(frame))
            }
        }
        RpcProtocol::ConnectStream => {
            Cut::LastData(Bytes::from(connect::end_stream_envelope(code, message)))
        }
        // Connect unary has no way to fail once its body began: cut it.
        _ => Cut::Trailers(trailers(code, message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_percent_encoded() {
        let map = trailers(UNAVAILABLE, "down: 100% ✗\nretry");
        let sent = map["grpc-message"].to_str().unwrap();
        assert!(sent.is_ascii() && !sent.contains('\n'));
        assert_eq!(
            loom_shared::header::percent_decode_grpc_message(sent),
            "down: 100% ✗\nretry"
        );
    }

    #[test]
    fn trailers_only_response_has_status() {
        let res = trailers_only(UNAVAILABLE, "down");
        assert_eq!(res.headers()["grpc-status"], "14");
        assert_eq!(res.headers()["content-type"], "application/grpc");
    }
}
