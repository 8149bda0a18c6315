//! gRPC statuses the relay itself sends (it never invents any other kind of
//! response for a gRPC client).

use http::{HeaderMap, HeaderValue, Response, StatusCode};

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
