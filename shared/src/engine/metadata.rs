//! Header and metadata entries as shown: text, binary (`-bin`, shown as
//! base64), or redacted; `grpc-status-details-bin` also decoded.

use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;
use bytes::Bytes;
use prost_reflect::DescriptorPool;
use serde_json::{Map, Value, json};

use super::body::Body;
use super::json::JsonOptions;
use super::status::decode_details;
use crate::header::is_binary;
use crate::pb;

/// The header carrying an encoded `google.rpc.Status`.
pub(crate) const STATUS_DETAILS_HEADER: &str = "grpc-status-details-bin";

/// One header or metadata entry.
#[derive(Debug, Clone, PartialEq)]
pub struct HeaderView {
    /// The name as captured.
    pub name: String,
    /// The value: text, binary, or redacted.
    pub value: HeaderValue,
    /// For `grpc-status-details-bin`: the decoded `google.rpc.Status`.
    pub decoded: Option<Body>,
}

/// A header's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderValue {
    /// A text value (non-UTF-8 bytes replaced).
    Text(String),
    /// A `-bin` value: the decoded bytes.
    Binary(Bytes),
    /// Removed before the capture was shared.
    Redacted,
}

impl HeaderView {
    /// Views a captured header; `pool` decodes `grpc-status-details-bin`
    /// (rendered with `options`).
    pub fn new(header: &pb::Header, pool: &DescriptorPool, options: &JsonOptions) -> Self {
        let value = if header.redacted {
            HeaderValue::Redacted
        } else if is_binary(&header.name) {
            HeaderValue::Binary(header.value.clone())
        } else {
            HeaderValue::Text(String::from_utf8_lossy(&header.value).into_owned())
        };
        let decoded = match &value {
            HeaderValue::Binary(bytes)
                if header.name.eq_ignore_ascii_case(STATUS_DETAILS_HEADER) =>
            {
                Some(decode_details(pool, bytes, options))
            }
            _ => None,
        };
        HeaderView {
            name: header.name.clone(),
            value,
            decoded,
        }
    }

    /// Views a list of headers.
    pub fn all(headers: &[pb::Header], pool: &DescriptorPool, options: &JsonOptions) -> Vec<Self> {
        headers
            .iter()
            .map(|h| HeaderView::new(h, pool, options))
            .collect()
    }

    /// The value as shown in a list: the text, base64 for binary values, or
    /// `(redacted)`.
    pub fn display_value(&self) -> String {
        match &self.value {
            HeaderValue::Text(text) => text.clone(),
            HeaderValue::Binary(bytes) => BASE64_STANDARD.encode(bytes),
            HeaderValue::Redacted => "(redacted)".to_owned(),
        }
    }

    /// `{"name", "value"}`; binary values are base64 with `"binary": true`;
    /// redacted ones have `"redacted": true` and no value; decoded status
    /// details are under `"decoded"`.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("name".into(), json!(self.name));
        match &self.value {
            HeaderValue::Text(text) => {
                out.insert("value".into(), json!(text));
            }
            HeaderValue::Binary(bytes) => {
                out.insert("value".into(), json!(BASE64_STANDARD.encode(bytes)));
                out.insert("binary".into(), json!(true));
            }
            HeaderValue::Redacted => {
                out.insert("redacted".into(), json!(true));
            }
        }
        if let Some(decoded) = &self.decoded {
            out.insert("decoded".into(), decoded.to_json());
        }
        Value::Object(out)
    }
}

/// The first value of header `name` (case-insensitive), as text, unless redacted.
pub(crate) fn find_text<'a>(headers: &'a [pb::Header], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name) && !h.redacted)
        .and_then(|h| std::str::from_utf8(&h.value).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::header;

    #[test]
    fn kinds_of_values() {
        let pool = DescriptorPool::new();
        let options = JsonOptions::default();
        let text = HeaderView::new(&header("x-id", "42"), &pool, &options);
        assert_eq!(text.display_value(), "42");
        assert_eq!(text.to_json(), json!({"name": "x-id", "value": "42"}));
        let bin = HeaderView::new(
            &header("x-trace-bin", vec![0xde, 0xad, 0xbe, 0xef]),
            &pool,
            &options,
        );
        assert_eq!(bin.display_value(), "3q2+7w==");
        assert_eq!(
            bin.to_json(),
            json!({"name": "x-trace-bin", "value": "3q2+7w==", "binary": true})
        );
        let redacted = HeaderView::new(
            &pb::Header {
                name: "authorization".into(),
                value: Bytes::new(),
                redacted: true,
            },
            &pool,
            &options,
        );
        assert_eq!(redacted.value, HeaderValue::Redacted);
        assert_eq!(redacted.display_value(), "(redacted)");
        assert_eq!(
            redacted.to_json(),
            json!({"name": "authorization", "redacted": true})
        );
        let headers = [header("Grpc-Encoding", "gzip")];
        assert_eq!(find_text(&headers, "grpc-encoding"), Some("gzip"));
        assert_eq!(find_text(&headers, "te"), None);
    }
}
