//! gRPC statuses the relay itself sends (it never invents any other kind of
//! response for a gRPC client).

use http::{HeaderMap, HeaderValue, Response, StatusCode};

pub const INTERNAL: u32 = 13;
pub const UNAVAILABLE: u32 = 14;
pub const CANCELLED: u32 = 1;

/// `grpc-status` and a percent-encoded `grpc-message`.
pub fn trailers(code: u32, message: &str) -> HeaderMap {
    let mut map = HeaderMap::new();
    map.insert("grpc-status", HeaderValue::from(code));
    // Percent-encoding leaves only visible ASCII, which is always a valid value.
    if let Ok(v) = HeaderValue::from_str(&percent_encode(message)) {
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

/// The gRPC spec's grpc-message encoding: bytes outside 0x20..=0x7E, and `%`, as %XX.
pub fn percent_encode(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for b in message.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_round_trips_through_the_shared_decoder() {
        let msg = "upstream 127.0.0.1:1 down: 100% ✗\nretry";
        let enc = percent_encode(msg);
        assert!(enc.is_ascii() && !enc.contains('\n'));
        assert_eq!(loom_shared::header::percent_decode_grpc_message(&enc), msg);
    }

    #[test]
    fn trailers_only_response_has_status() {
        let res = trailers_only(UNAVAILABLE, "down");
        assert_eq!(res.headers()["grpc-status"], "14");
        assert_eq!(res.headers()["content-type"], "application/grpc");
    }
}
