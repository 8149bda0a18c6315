//! Connect's own forms: the JSON error of a unary call (an HTTP status and
//! `{"code", "message", "details"}`), the end-of-stream message that ends a
//! streaming body (flag 0x02: `{"error", "metadata"}`), and a unary GET's
//! query (`connect=v1&encoding=…&message=…&base64=1&compression=…`).

use base64::Engine as _;
use prost::Message as _;
use serde_json::Value;

/// The flag bit of the end-of-stream envelope.
pub const END_STREAM_FLAG: u8 = 0x02;

/// Why a Connect form does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectFormError {
    /// Not JSON at all.
    #[error("not JSON: {0}")]
    NotJson(String),
    /// JSON of the wrong shape.
    #[error("{0}")]
    Shape(String),
    /// A GET query without what it needs, or with a bad value.
    #[error("{0}")]
    Query(String),
}

/// One error detail: a message's type name and its encoded bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detail {
    /// Its fully-qualified type name (`google.rpc.ErrorInfo`).
    pub type_name: String,
    /// Its encoded bytes.
    pub value: Vec<u8>,
}

/// A Connect error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectError {
    /// Connect's code name (`not_found`).
    pub code: String,
    /// The message, if any.
    pub message: String,
    /// Error details.
    pub details: Vec<Detail>,
}

impl ConnectError {
    /// A unary error body, or the `error` of an end-of-stream message.
    pub fn parse(json: &[u8]) -> Result<Self, ConnectFormError> {
        let value: Value =
            serde_json::from_slice(json).map_err(|e| ConnectFormError::NotJson(e.to_string()))?;
        Self::from_value(&value)
    }

    fn from_value(value: &Value) -> Result<Self, ConnectFormError> {
        let object = value
            .as_object()
            .ok_or_else(|| ConnectFormError::Shape("the error is not a JSON object".into()))?;
        let code = object
            .get("code")
            .and_then(Value::as_str)
            .ok_or_else(|| ConnectFormError::Shape("the error has no code".into()))?
            .to_owned();
        let message = object
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let mut details = Vec::new();
        for detail in object
            .get("details")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let type_name = detail
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let value = detail.get("value").and_then(Value::as_str).unwrap_or("");
            let value = decode_base64(value).ok_or_else(|| {
                ConnectFormError::Shape(format!("detail {type_name:?} is not base64"))
            })?;
            details.push(Detail { type_name, value });
        }
        Ok(ConnectError {
            code,
            message,
            details,
        })
    }

    /// As an encoded `google.rpc.Status` (gRPC's `grpc-status-details-bin`),
    /// so that details decode as gRPC's do.
    pub fn status_details(&self) -> Vec<u8> {
        if self.details.is_empty() {
            return Vec::new();
        }
        crate::rpc::Status {
            code: super::code::from_connect(&self.code).map_or(2, |c| c as i32),
            message: self.message.clone(),
            details: self
                .details
                .iter()
                .map(|d| prost_types::Any {
                    type_url: format!("{}{}", crate::rpc::TYPE_URL_PREFIX, d.type_name),
                    value: d.value.clone(),
                })
                .collect(),
        }
        .encode_to_vec()
    }
}

/// Connect streaming's end-of-stream message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndStream {
    /// The error the stream ended with (`None`: OK).
    pub error: Option<ConnectError>,
    /// Trailing metadata, one pair per value.
    pub metadata: Vec<(String, String)>,
}

impl EndStream {
    /// The envelope's JSON payload.
    pub fn parse(json: &[u8]) -> Result<Self, ConnectFormError> {
        let value: Value =
            serde_json::from_slice(json).map_err(|e| ConnectFormError::NotJson(e.to_string()))?;
        let object = value.as_object().ok_or_else(|| {
            ConnectFormError::Shape("the end-of-stream message is not a JSON object".into())
        })?;
        let error = object
            .get("error")
            .map(ConnectError::from_value)
            .transpose()?;
        let mut metadata = Vec::new();
        if let Some(map) = object.get("metadata") {
            let map = map
                .as_object()
                .ok_or_else(|| ConnectFormError::Shape("metadata is not an object".into()))?;
            for (name, values) in map {
                let values = values.as_array().ok_or_else(|| {
                    ConnectFormError::Shape(format!("metadata {name:?} is not a list"))
                })?;
                for v in values {
                    let v = v.as_str().ok_or_else(|| {
                        ConnectFormError::Shape(format!("metadata {name:?} holds a non-string"))
                    })?;
                    metadata.push((name.to_ascii_lowercase(), v.to_owned()));
                }
            }
        }
        Ok(EndStream { error, metadata })
    }
}

/// A unary error's JSON body: `{"code":"unavailable","message":"…"}`.
pub fn error_json(code: u32, message: &str) -> String {
    serde_json::json!({ "code": super::code::to_connect(code), "message": message }).to_string()
}

/// A whole end-of-stream envelope ending a stream with `code` (0: OK).
pub fn end_stream_envelope(code: u32, message: &str) -> Vec<u8> {
    let json = if code == 0 {
        "{}".to_owned()
    } else {
        serde_json::json!({ "error": { "code": super::code::to_connect(code), "message": message } })
            .to_string()
    };
    let mut frame = vec![END_STREAM_FLAG];
    frame.extend_from_slice(&u32::try_from(json.len()).unwrap_or(u32::MAX).to_be_bytes());
    frame.extend_from_slice(json.as_bytes());
    frame
}

/// A Connect unary GET, from its query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetRequest {
    /// The codec's name (`proto`, `json`).
    pub encoding: String,
    /// The request message, as sent (compressed when `compression` is).
    pub message: Vec<u8>,
    /// Its compression, if any.
    pub compression: Option<String>,
}

impl GetRequest {
    /// The query (without `?`).
    pub fn parse(query: &str) -> Result<Self, ConnectFormError> {
        let bad = |what: &str| ConnectFormError::Query(what.to_owned());
        let (mut encoding, mut message, mut base64, mut compression, mut version) =
            (None, None, false, None, None);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(value)
                .ok_or_else(|| bad(&format!("`{key}` is not percent-encoded text")))?;
            match key {
                "encoding" => {
                    encoding =
                        Some(String::from_utf8(value).map_err(|_| bad("encoding is not text"))?)
                }
                "message" => message = Some(value),
                "base64" => base64 = value == b"1",
                "compression" => {
                    compression =
                        Some(String::from_utf8(value).map_err(|_| bad("compression is not text"))?)
                }
                "connect" => version = Some(value),
                _ => {}
            }
        }
        if version.as_deref().is_some_and(|v| v != b"v1") {
            return Err(bad("connect= names a version other than v1"));
        }
        let encoding = encoding.ok_or_else(|| bad("no encoding="))?;
        let message = message.ok_or_else(|| bad("no message="))?;
        let message = if base64 {
            let text = std::str::from_utf8(&message).map_err(|_| bad("message is not base64"))?;
            decode_base64(text).ok_or_else(|| bad("message is not base64"))?
        } else {
            message
        };
        Ok(GetRequest {
            encoding,
            message,
            compression: compression.filter(|c| !c.is_empty() && c != "identity"),
        })
    }
}

/// Standard or URL-safe base64, padded or not.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let trimmed = text.trim_end_matches('=');
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(trimmed)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(trimmed))
        .ok()
}

/// `%XX` decoded and `+` as a space, as query strings are.
fn percent_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_end_streams_and_gets_parse() {
        let e = ConnectError::parse(br#"{"code":"not_found","message":"no such","details":[{"type":"google.rpc.ErrorInfo","value":"CgNmb28"}]}"#).unwrap();
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("not_found", "no such")
        );
        assert_eq!(e.details[0].value, b"\x0a\x03foo");
        let status = crate::rpc::Status::decode(e.status_details().as_slice()).unwrap();
        assert_eq!(status.code, 5);
        assert_eq!(
            status.details[0].type_url,
            "type.googleapis.com/google.rpc.ErrorInfo"
        );
        assert!(matches!(
            ConnectError::parse(b"<html>"),
            Err(ConnectFormError::NotJson(_))
        ));
        assert!(matches!(
            ConnectError::parse(b"{}"),
            Err(ConnectFormError::Shape(_))
        ));

        let end = EndStream::parse(br#"{"metadata":{"X-Trace":["a","b"]}}"#).unwrap();
        assert_eq!(end.error, None);
        assert_eq!(
            end.metadata,
            [
                ("x-trace".into(), "a".into()),
                ("x-trace".into(), "b".into())
            ]
        );
        let end = EndStream::parse(br#"{"error":{"code":"internal","message":"boom"}}"#).unwrap();
        assert_eq!(end.error.unwrap().code, "internal");
        assert!(EndStream::parse(b"not json").is_err());
        assert!(EndStream::parse(b"[]").is_err());

        let frame = end_stream_envelope(14, "down");
        assert_eq!(frame[0], END_STREAM_FLAG);
        let end = EndStream::parse(&frame[5..]).unwrap();
        assert_eq!(end.error.unwrap().code, "unavailable");
        assert_eq!(
            EndStream::parse(&end_stream_envelope(0, "")[5..])
                .unwrap()
                .error,
            None
        );
        assert_eq!(error_json(5, "x"), r#"{"code":"not_found","message":"x"}"#);

        let get = GetRequest::parse(
            "connect=v1&encoding=proto&base64=1&message=CgNmb28&compression=identity",
        )
        .unwrap();
        assert_eq!(
            (
                get.encoding.as_str(),
                get.message.as_slice(),
                get.compression
            ),
            ("proto", &b"\x0a\x03foo"[..], None)
        );
        let get = GetRequest::parse("encoding=json&message=%7B%22a%22%3A1%7D").unwrap();
        assert_eq!(get.message, br#"{"a":1}"#);
        assert!(GetRequest::parse("encoding=proto").is_err());
        assert!(GetRequest::parse("connect=v2&encoding=proto&message=").is_err());
        assert!(GetRequest::parse("encoding=proto&message=%zz").is_err());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_input_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = ConnectError::parse(&bytes);
            let _ = EndStream::parse(&bytes);
            let _ = GetRequest::parse(&String::from_utf8_lossy(&bytes));
        }
    }
}
