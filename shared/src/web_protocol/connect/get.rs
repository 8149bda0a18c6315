//! A Connect unary GET: the request is in the query,
//! `connect=v1&encoding=proto&base64=1&compression=gzip&message=…`.
//!
//! [`GetRequest::parse`] reads it as connect-go does: keys and values
//! percent-decoded (`+` is a space), the first of a repeated key wins,
//! unknown keys are ignored, `connect` (optional) must be `v1`, `encoding`
//! and `message` are required, and `message` is base64 when `base64=1`
//! (URL-safe as clients write it; the standard alphabet and padding are
//! accepted too). An invalid `%` escape is an error here (connect-go
//! drops the pair, then misses the key): it says more.
//!
//! What it is not: it does not decompress the message (`compression`
//! says how; [`crate::engine::compression`] does it).

use std::borrow::Cow;

use crate::pb::Codec;
use crate::web_protocol::b64;

/// Why a Connect GET's query does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GetError {
    /// No `encoding=`.
    #[error("the query has no encoding=")]
    NoEncoding,
    /// No `message=`.
    #[error("the query has no message=")]
    NoMessage,
    /// `connect=` names a version other than `v1`.
    #[error("connect={0:?}: only v1 is defined")]
    Version(String),
    /// A value with a `%` not followed by two hex digits.
    #[error("{key}= is not percent-encoded")]
    NotPercentEncoded {
        /// Its key.
        key: String,
    },
    /// `encoding`, `compression` or `connect` that is not UTF-8.
    #[error("{key}= is not text")]
    NotText {
        /// Its key.
        key: String,
    },
    /// `message` is not base64, though `base64=1` says it is.
    #[error("message= is not base64, though base64=1")]
    NotBase64,
}

/// A Connect unary GET, from its query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetRequest {
    /// The codec's name (`encoding=`: `proto`, `json`).
    pub encoding: String,
    /// The request message's bytes (compressed when `compression` is
    /// set).
    pub message: Vec<u8>,
    /// Its compression (`compression=`), if any (`identity` is none).
    pub compression: Option<String>,
}

impl GetRequest {
    /// The query (without `?`).
    pub fn parse(query: &str) -> Result<Self, GetError> {
        if let Some(version) = text_param(query, "connect")?
            && version != "v1"
        {
            return Err(GetError::Version(version));
        }
        let encoding = text_param(query, "encoding")?.ok_or(GetError::NoEncoding)?;
        let message = param(query, "message")?.ok_or(GetError::NoMessage)?;
        let base64 = param(query, "base64")?.is_some_and(|v| v == b"1");
        let message = if base64 {
            std::str::from_utf8(&message)
                .ok()
                .and_then(b64::decode)
                .ok_or(GetError::NotBase64)?
        } else {
            message
        };
        let compression = text_param(query, "compression")?
            .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("identity"));
        Ok(GetRequest {
            encoding,
            message,
            compression,
        })
    }

    /// Its codec, and the codec's name (lowercased) when it is neither
    /// proto nor JSON (empty otherwise), as [`crate::web_protocol::classify()`]
    /// says.
    pub fn codec(&self) -> (Codec, String) {
        super::super::classify::codec_of(&self.encoding.to_ascii_lowercase())
    }
}

/// The first value of `key`, decoded (`None`: the key is absent).
pub(crate) fn param(query: &str, key: &str) -> Result<Option<Vec<u8>>, GetError> {
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        // A key that does not decode is none of ours.
        if percent_decode(k).is_some_and(|k| k == key.as_bytes()) {
            return percent_decode(v)
                .map(|v| Some(v.into_owned()))
                .ok_or_else(|| GetError::NotPercentEncoded { key: key.into() });
        }
    }
    Ok(None)
}

/// [`param`], as text.
fn text_param(query: &str, key: &str) -> Result<Option<String>, GetError> {
    param(query, key)?
        .map(|v| String::from_utf8(v).map_err(|_| GetError::NotText { key: key.into() }))
        .transpose()
}

/// `%XX` decoded and `+` as a space, as query strings are (`None`: a `%`
/// without two hex digits).
fn percent_decode(text: &str) -> Option<Cow<'_, [u8]>> {
    let bytes = text.as_bytes();
    if !bytes.iter().any(|b| matches!(b, b'%' | b'+')) {
        return Some(Cow::Borrowed(bytes));
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                if !hex.bytes().all(|d| d.is_ascii_hexdigit()) {
                    return None;
                }
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
    Some(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(query: &str) -> Result<GetRequest, GetError> {
        GetRequest::parse(query)
    }

    #[test]
    fn what_clients_send_reads() {
        // connect-go: connect, base64, compression, encoding, message.
        let g = get("connect=v1&base64=1&compression=gzip&encoding=proto&message=CgNmb28").unwrap();
        assert_eq!(g.encoding, "proto");
        assert_eq!(g.message, b"\x0a\x03foo");
        assert_eq!(g.compression.as_deref(), Some("gzip"));
        assert_eq!(g.codec(), (Codec::Proto, String::new()));
        // curl --get --data-urlencode: JSON, percent-encoded, no connect=.
        let g = get("encoding=json&message=%7B%22sentence%22%3A+%22I+feel%22%7D").unwrap();
        assert_eq!(g.message, br#"{"sentence": "I feel"}"#);
        assert_eq!(g.compression, None);
        assert_eq!(g.codec(), (Codec::Json, String::new()));
        // URL-safe base64 without padding, and with; standard too.
        for m in ["-_8", "-_8%3D", "%2B%2F8"] {
            let g = get(&format!("encoding=proto&base64=1&message={m}")).unwrap();
            assert_eq!(g.message, [0xfb, 0xff], "{m}");
        }
        let g = get("encoding=JSON&message=").unwrap();
        assert_eq!(g.codec(), (Codec::Json, String::new()));
        let g = get("encoding=cbor&message=&compression=identity&x=1&&").unwrap();
        assert_eq!((g.message.len(), g.compression.as_deref()), (0, None));
        assert_eq!(g.codec(), (Codec::Other, "cbor".into()));
    }

    #[test]
    fn keys_decode_and_the_first_value_wins() {
        let g = get("%65ncoding=json&encoding=proto&message=a&message=b").unwrap();
        assert_eq!(
            (g.encoding.as_str(), g.message.as_slice()),
            ("json", &b"a"[..])
        );
        assert_eq!(
            get("encoding=proto&message=AQ&base64=0").unwrap().message,
            b"AQ"
        );
    }

    #[test]
    fn what_is_missing_or_wrong_is_named() {
        assert_eq!(get("message=a"), Err(GetError::NoEncoding));
        assert_eq!(get("encoding=proto"), Err(GetError::NoMessage));
        assert_eq!(get(""), Err(GetError::NoEncoding));
        assert_eq!(
            get("connect=v2&encoding=proto&message="),
            Err(GetError::Version("v2".into()))
        );
        assert_eq!(
            get("encoding=proto&message=%zz"),
            Err(GetError::NotPercentEncoded {
                key: "message".into()
            })
        );
        assert_eq!(
            get("encoding=proto&message=%4"),
            Err(GetError::NotPercentEncoded {
                key: "message".into()
            })
        );
        assert_eq!(
            get("encoding=%ff&message="),
            Err(GetError::NotText {
                key: "encoding".into()
            })
        );
        assert_eq!(
            get("encoding=proto&base64=1&message=a+b"),
            Err(GetError::NotBase64)
        );
        assert_eq!(
            get("encoding=proto&base64=1&message=%ff"),
            Err(GetError::NotBase64)
        );
        assert_eq!(GetError::NoMessage.to_string(), "the query has no message=");
    }
}
