//! The Connect protocol's own forms, beside gRPC's.
//!
//! - [`error`]: the JSON error (a unary call's body under a non-200 HTTP
//!   status) and the end-of-stream message, read and written.
//! - [`stream`]: streaming bodies (`application/connect+…`) split into
//!   messages and the end-of-stream message.
//! - [`get`]: a unary GET's query (`connect=v1&encoding=…&message=…`).
//! - Here: the headers that matter to a capture (which one names a body's
//!   compression, the `trailer-` prefix of unary trailers).
//!
//! Unary POSTs need no splitter: the body is the message, compressed
//! whole when `content-encoding` says so. Statuses in gRPC's terms are
//! [`super::status`]'s.

pub mod error;
pub mod get;
pub mod stream;

pub use error::{
    ConnectError, ConnectFormError, Detail, EndStream, end_stream_envelope, error_json,
};
pub use get::{GetError, GetRequest};
pub use stream::{Splitter, StreamError, StreamFrame};

/// The flag bit of the end-of-stream envelope.
pub const END_STREAM_FLAG: u8 = 0x02;

/// The header a POST carries its protocol version in (`1`).
pub const PROTOCOL_VERSION_HEADER: &str = "connect-protocol-version";

/// The header of a streaming body's message compression.
pub const STREAM_ENCODING_HEADER: &str = "connect-content-encoding";

/// The header of a unary body's compression (HTTP's own).
pub const UNARY_ENCODING_HEADER: &str = "content-encoding";

/// The header of a call's timeout, in milliseconds.
pub const TIMEOUT_HEADER: &str = "connect-timeout-ms";

/// The prefix a unary response's trailers take, sent as headers.
pub const UNARY_TRAILER_PREFIX: &str = "trailer-";

/// A unary response header that is a trailer: its trailer name
/// (`trailer-x-trace` → `x-trace`, case-insensitively), else `None`.
pub fn unary_trailer_name(header: &str) -> Option<&str> {
    let prefix = header.get(..UNARY_TRAILER_PREFIX.len())?;
    let name = &header[UNARY_TRAILER_PREFIX.len()..];
    (prefix.eq_ignore_ascii_case(UNARY_TRAILER_PREFIX) && !name.is_empty()).then_some(name)
}

/// A `connect-timeout-ms` value: at most 10 ASCII digits, as the spec
/// says (`None` otherwise).
pub fn parse_timeout_ms(value: &str) -> Option<u64> {
    let value = value.trim();
    if value.is_empty() || value.len() > 10 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unary_trailers_are_prefixed_headers() {
        assert_eq!(unary_trailer_name("trailer-x-trace"), Some("x-trace"));
        assert_eq!(unary_trailer_name("Trailer-Grpc-Thing"), Some("Grpc-Thing"));
        assert_eq!(unary_trailer_name("trailer-"), None);
        assert_eq!(unary_trailer_name("trailer"), None);
        assert_eq!(unary_trailer_name("x-trailer-a"), None);
        assert_eq!(unary_trailer_name("trailé-aa"), None);
    }

    #[test]
    fn timeouts_are_up_to_ten_digits() {
        assert_eq!(parse_timeout_ms("1500"), Some(1500));
        assert_eq!(parse_timeout_ms(" 0 "), Some(0));
        assert_eq!(parse_timeout_ms("9999999999"), Some(9_999_999_999));
        for bad in ["", "10000000000", "-1", "1.5", "1s"] {
            assert_eq!(parse_timeout_ms(bad), None, "{bad}");
        }
    }
}
