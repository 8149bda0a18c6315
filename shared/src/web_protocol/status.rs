//! A call's status in gRPC's terms, whichever protocol of the family it
//! came in: gRPC fields (`grpc-status`, `grpc-message`,
//! `grpc-status-details-bin`: HTTP trailers, trailers-only headers, or a
//! gRPC-Web trailer frame), a Connect error (a unary body, or an
//! end-of-stream's), or only an HTTP status.
//!
//! Each constructor of [`Status`] reads one of these the way clients of
//! the protocol do (connect-go's, for Connect): a Connect code it does not
//! know, or none, is `unknown`, except in a unary body, where the HTTP
//! status's code stands in (as connect-go's client does); a body that is
//! not a Connect error leaves the HTTP status's code
//! ([`code::from_http_status`]).
//!
//! What it is not: it decides nothing about *which* source wins (HTTP
//! trailers or a body's, for instance); the caller knows what arrived.

use crate::web_protocol::connect::{ConnectError, EndStream};
use crate::web_protocol::{b64, code};

/// Where a [`Status`] was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// gRPC fields (trailers, trailers-only headers, a trailer frame).
    GrpcFields,
    /// A Connect unary error body.
    ConnectError,
    /// A Connect end-of-stream message.
    ConnectEndStream,
    /// Only the HTTP status (a Connect unary 200 is here too).
    HttpStatus,
}

/// A status, normalized to gRPC's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// gRPC's code.
    pub code: u32,
    /// The message, decoded (`grpc-message` is percent-encoded on the
    /// wire).
    pub message: String,
    /// An encoded `google.rpc.Status` with the details (what
    /// `grpc-status-details-bin` holds, decoded from base64), empty when
    /// there are none. Bytes that were not base64 are kept as sent, for
    /// the details decoder to call undecodable.
    pub details: Vec<u8>,
    /// The Connect code as sent, for a status from a Connect error (empty
    /// otherwise, and when the error had none).
    pub connect_code: String,
    /// Where it was read from.
    pub source: Source,
}

/// Why gRPC fields hold no status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    /// No `grpc-status`.
    #[error("no grpc-status")]
    NoGrpcStatus,
    /// A `grpc-status` that is not a number.
    #[error("grpc-status {0:?} is not a number")]
    BadGrpcStatus(String),
}

impl Status {
    fn new(code: u32, source: Source) -> Self {
        Status {
            code,
            message: String::new(),
            details: Vec::new(),
            connect_code: String::new(),
            source,
        }
    }

    /// From gRPC fields, names lowercased (the first of a repeated
    /// field wins). `-bin` values are base64 as on the wire (padded or
    /// not); a gRPC-Web trailer frame's are too, in practice, whatever the
    /// spec's aside about text mode says.
    pub fn from_grpc_fields<'a>(
        fields: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Status, StatusError> {
        let (mut code, mut message, mut details) = (None, None, None);
        for (name, value) in fields {
            match name {
                "grpc-status" if code.is_none() => code = Some(value),
                "grpc-message" if message.is_none() => message = Some(value),
                "grpc-status-details-bin" if details.is_none() => details = Some(value),
                _ => {}
            }
        }
        let code = code.ok_or(StatusError::NoGrpcStatus)?;
        let code = code
            .trim()
            .parse()
            .map_err(|_| StatusError::BadGrpcStatus(code.to_owned()))?;
        let mut status = Status::new(code, Source::GrpcFields);
        status.message =
            message.map_or_else(String::new, crate::header::percent_decode_grpc_message);
        status.details = details.map_or_else(Vec::new, |d| {
            b64::decode(d.trim()).unwrap_or_else(|| d.as_bytes().to_vec())
        });
        Ok(status)
    }

    /// From an HTTP status alone ([`code::from_http_status`]).
    pub fn from_http_status(http_status: u16) -> Status {
        Status::new(code::from_http_status(http_status), Source::HttpStatus)
    }

    /// From a Connect error: a code Connect does not define (or none) is
    /// `unknown`, or, given a unary response's `http_status`, that
    /// status's code.
    pub fn from_connect_error(error: &ConnectError, http_status: Option<u16>) -> Status {
        let code = error
            .grpc_code()
            .unwrap_or_else(|| http_status.map_or(code::UNKNOWN, code::from_http_status));
        let mut status = Status::new(code, Source::ConnectError);
        status.message = error.message.clone();
        status.details = error.status_details();
        status.connect_code = error.code.clone();
        status
    }

    /// From an end-of-stream message: its error's, or `OK`.
    pub fn from_end_stream(end: &EndStream) -> Status {
        let mut status = match &end.error {
            Some(error) => Status::from_connect_error(error, None),
            None => Status::new(code::OK, Source::ConnectEndStream),
        };
        status.source = Source::ConnectEndStream;
        status
    }

    /// A Connect unary response: 200 is `OK`; any other status with a
    /// JSON body (`content_type` `application/json`, parameters aside)
    /// that is a Connect error is that error; anything else is the HTTP
    /// status's code. `body` is the response body, decompressed.
    pub fn from_connect_unary(http_status: u16, content_type: Option<&str>, body: &[u8]) -> Status {
        if http_status == 200 {
            return Status::from_http_status(200);
        }
        let json = content_type.is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
        });
        if !json {
            return Status::from_http_status(http_status);
        }
        match ConnectError::parse(body) {
            Ok(error) => Status::from_connect_error(&error, Some(http_status)),
            Err(_) => Status::from_http_status(http_status),
        }
    }
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;

    #[test]
    fn grpc_fields_decode() {
        let details = crate::rpc::Status {
            code: 5,
            message: "gone".into(),
            details: vec![],
        }
        .encode_to_vec();
        let text = b64::encode(&details);
        let unpadded = text.trim_end_matches('=');
        for encoded in [text.as_str(), unpadded] {
            let s = Status::from_grpc_fields([
                ("grpc-status", " 5"),
                ("grpc-message", "no%20such%3A%20caf%C3%A9"),
                ("grpc-status-details-bin", encoded),
                ("grpc-status", "0"),
            ])
            .unwrap();
            assert_eq!((s.code, s.message.as_str()), (5, "no such: café"));
            assert_eq!(
                (s.details.as_slice(), s.source),
                (details.as_slice(), Source::GrpcFields)
            );
            assert_eq!(s.connect_code, "");
        }
        let s = Status::from_grpc_fields([("grpc-status", "0")]).unwrap();
        assert_eq!((s.code, s.message.as_str(), s.details.len()), (0, "", 0));
        let s = Status::from_grpc_fields([("grpc-status", "2"), ("grpc-status-details-bin", "!")])
            .unwrap();
        assert_eq!(s.details, b"!", "not base64: kept as sent");
        assert_eq!(Status::from_grpc_fields([]), Err(StatusError::NoGrpcStatus));
        assert_eq!(
            Status::from_grpc_fields([("grpc-status", "OK")]),
            Err(StatusError::BadGrpcStatus("OK".into()))
        );
    }

    #[test]
    fn connect_errors_and_end_streams_normalize() {
        let e = ConnectError::parse(br#"{"code":"permission_denied","message":"no"}"#).unwrap();
        let s = Status::from_connect_error(&e, Some(500));
        assert_eq!(
            (s.code, s.message.as_str(), s.connect_code.as_str()),
            (7, "no", "permission_denied")
        );
        assert_eq!(s.source, Source::ConnectError);
        let e = ConnectError::parse(br#"{"code":"teapot"}"#).unwrap();
        assert_eq!(Status::from_connect_error(&e, None).code, code::UNKNOWN);
        assert_eq!(
            Status::from_connect_error(&e, Some(503)).code,
            code::UNAVAILABLE
        );

        let end = EndStream::parse(br#"{"error":{"code":"resource_exhausted"}}"#).unwrap();
        let s = Status::from_end_stream(&end);
        assert_eq!((s.code, s.source), (8, Source::ConnectEndStream));
        let end = EndStream::parse(br#"{"error":{}}"#).unwrap();
        assert_eq!(Status::from_end_stream(&end).code, code::UNKNOWN);
        let s = Status::from_end_stream(&EndStream::parse(b"{}").unwrap());
        assert_eq!(
            (s.code, s.source, s.connect_code.as_str()),
            (0, Source::ConnectEndStream, "")
        );
    }

    #[test]
    fn connect_unary_responses_normalize() {
        let body = br#"{"code":"not_found","message":"nope"}"#;
        let s = Status::from_connect_unary(404, Some("application/json; charset=utf-8"), body);
        assert_eq!(
            (s.code, s.message.as_str(), s.source),
            (5, "nope", Source::ConnectError)
        );
        // A code-less error takes the HTTP status's code, as connect-go does.
        let s = Status::from_connect_unary(429, Some("application/json"), b"{}");
        assert_eq!(
            (s.code, s.source),
            (code::UNAVAILABLE, Source::ConnectError)
        );
        // Not JSON, or not labelled JSON: the HTTP status.
        for (ct, body) in [
            (Some("text/html"), &body[..]),
            (None, &body[..]),
            (Some("application/json"), &b"<html>"[..]),
        ] {
            let s = Status::from_connect_unary(404, ct, body);
            assert_eq!(
                (s.code, s.source),
                (code::UNIMPLEMENTED, Source::HttpStatus),
                "{ct:?}"
            );
        }
        let s = Status::from_connect_unary(200, Some("application/json"), body);
        assert_eq!((s.code, s.source), (code::OK, Source::HttpStatus));
        assert_eq!(Status::from_http_status(502).code, code::UNAVAILABLE);
    }
}
