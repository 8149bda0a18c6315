//! Connect's JSON forms of a status: the error (`{"code", "message",
//! "details"}`, a unary call's body under a non-200 HTTP status, or the
//! `error` of an end-of-stream message) and the end-of-stream message
//! itself (`{"error", "metadata"}`), read into [`ConnectError`] and
//! [`EndStream`], and written by [`error_json`] and [`end_stream_envelope`]
//! (for the relay's own answers).
//!
//! Shapes follow connect-go's reader: every field is optional, a field of
//! the wrong JSON type is an error, `null` is the same as absent. A code
//! this does not know (or none) is kept as sent; [`super::super::status`]
//! decides what it means (`unknown`, or the HTTP status's code for unary).

use prost::Message as _;
use serde_json::{Map, Value};

use crate::web_protocol::{b64, code, envelope};

use super::END_STREAM_FLAG;

/// Why a Connect JSON form does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectFormError {
    /// Not JSON at all.
    #[error("not JSON: {0}")]
    NotJson(String),
    /// JSON of the wrong shape: what is wrong.
    #[error("{0}")]
    Shape(String),
}

/// One error detail: a protobuf message's type and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detail {
    /// Its type as sent: a fully-qualified name (`google.rpc.ErrorInfo`),
    /// or a whole type URL.
    pub type_name: String,
    /// Its encoded bytes (`value`, base64 on the wire).
    pub value: Vec<u8>,
    /// The sender's `debug` rendering of it, as compact JSON text, if any.
    pub debug: Option<String>,
}

impl Detail {
    /// Its type URL (`type.googleapis.com/` before a bare name).
    pub fn type_url(&self) -> String {
        if self.type_name.contains('/') {
            self.type_name.clone()
        } else {
            format!("{}{}", crate::rpc::TYPE_URL_PREFIX, self.type_name)
        }
    }

    /// As a `google.protobuf.Any`.
    pub fn to_any(&self) -> prost_types::Any {
        prost_types::Any {
            type_url: self.type_url(),
            value: self.value.clone(),
        }
    }
}

/// A Connect error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectError {
    /// The code as sent (`not_found`); empty when there was none.
    pub code: String,
    /// The message (empty when there was none).
    pub message: String,
    /// Its details, in order.
    pub details: Vec<Detail>,
}

impl ConnectError {
    /// A unary call's error body.
    pub fn parse(json: &[u8]) -> Result<Self, ConnectFormError> {
        Self::from_value(&parse_json(json)?)
    }

    fn from_value(value: &Value) -> Result<Self, ConnectFormError> {
        let object = object(value, "the error")?;
        let code = string(object, "code", "the error")?;
        let message = string(object, "message", "the error")?;
        let mut details = Vec::new();
        match object.get("details") {
            None | Some(Value::Null) => {}
            Some(Value::Array(list)) => {
                for (i, detail) in list.iter().enumerate() {
                    details.push(parse_detail(detail, i)?);
                }
            }
            Some(_) => return Err(shape("the error's details are not a list")),
        }
        Ok(ConnectError {
            code,
            message,
            details,
        })
    }

    /// Its gRPC code, when its code is one Connect defines.
    pub fn grpc_code(&self) -> Option<u32> {
        code::from_connect(&self.code)
    }

    /// Its details as an encoded `google.rpc.Status`, what gRPC sends in
    /// `grpc-status-details-bin`, so that they decode as gRPC's do (empty
    /// when it has no details). The status's code is
    /// [`ConnectError::grpc_code`], `unknown` for a code Connect does not
    /// define.
    pub fn status_details(&self) -> Vec<u8> {
        if self.details.is_empty() {
            return Vec::new();
        }
        crate::rpc::Status {
            code: i32::try_from(self.grpc_code().unwrap_or(code::UNKNOWN)).unwrap_or(2),
            message: self.message.clone(),
            details: self.details.iter().map(Detail::to_any).collect(),
        }
        .encode_to_vec()
    }
}

fn parse_detail(value: &Value, i: usize) -> Result<Detail, ConnectFormError> {
    let what = format!("detail {i}");
    let object = object(value, &what)?;
    let type_name = string(object, "type", &what)?;
    let text = string(object, "value", &what)?;
    let value = b64::decode(&text)
        .ok_or_else(|| shape(&format!("the value of {what} ({type_name}) is not base64")))?;
    let debug = match object.get("debug") {
        None | Some(Value::Null) => None,
        Some(debug) => Some(debug.to_string()),
    };
    Ok(Detail {
        type_name,
        value,
        debug,
    })
}

/// Connect streaming's end-of-stream message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndStream {
    /// The error the stream ended with (`None`: success).
    pub error: Option<ConnectError>,
    /// Trailing metadata, names lowercased, one pair per value, in order.
    pub metadata: Vec<(String, String)>,
}

impl EndStream {
    /// The end-of-stream envelope's payload (decompressed).
    pub fn parse(json: &[u8]) -> Result<Self, ConnectFormError> {
        let value = parse_json(json)?;
        let object = object(&value, "the end-of-stream message")?;
        let error = match object.get("error") {
            None | Some(Value::Null) => None,
            Some(error) => Some(ConnectError::from_value(error)?),
        };
        let mut metadata = Vec::new();
        match object.get("metadata") {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) => {
                for (name, values) in map {
                    let Value::Array(values) = values else {
                        return Err(shape(&format!("metadata {name:?} is not a list")));
                    };
                    for v in values {
                        let Value::String(v) = v else {
                            return Err(shape(&format!("metadata {name:?} holds a non-string")));
                        };
                        metadata.push((name.to_ascii_lowercase(), v.clone()));
                    }
                }
            }
            Some(_) => return Err(shape("the metadata is not an object")),
        }
        Ok(EndStream { error, metadata })
    }
}

/// A unary error's JSON body: `{"code":"unavailable","message":"…"}`.
pub fn error_json(code: u32, message: &str) -> String {
    serde_json::json!({ "code": code::to_connect(code), "message": message }).to_string()
}

/// A whole end-of-stream envelope (prefix and JSON) ending a stream with
/// `code`: `{}` for 0 (success), else `{"error": …}`.
pub fn end_stream_envelope(code: u32, message: &str) -> Vec<u8> {
    let json = if code == 0 {
        "{}".to_owned()
    } else {
        serde_json::json!({ "error": { "code": code::to_connect(code), "message": message } })
            .to_string()
    };
    let mut frame = Vec::new();
    // The JSON of a code and a message is far below 4 GiB.
    match envelope::encode(END_STREAM_FLAG, json.as_bytes(), &mut frame) {
        Ok(()) => frame,
        Err(_) => Vec::new(),
    }
}

fn parse_json(json: &[u8]) -> Result<Value, ConnectFormError> {
    serde_json::from_slice(json).map_err(|e| ConnectFormError::NotJson(e.to_string()))
}

fn shape(what: &str) -> ConnectFormError {
    ConnectFormError::Shape(what.to_owned())
}

fn object<'a>(value: &'a Value, what: &str) -> Result<&'a Map<String, Value>, ConnectFormError> {
    value
        .as_object()
        .ok_or_else(|| shape(&format!("{what} is not a JSON object")))
}

/// A string field: empty when absent or null.
fn string(object: &Map<String, Value>, key: &str, what: &str) -> Result<String, ConnectFormError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(shape(&format!("the {key} of {what} is not a string"))),
    }
}

#[cfg(test)]
mod tests;
