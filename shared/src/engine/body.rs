//! Some message bytes, decoded as well as they can be: protobuf with the
//! schema as JSON, else schema-less, else (when not even decompression
//! worked) raw; a message of the JSON codec as the JSON sent (checked
//! against the schema when there is one), else as text.

use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;
use bytes::Bytes;
use prost_reflect::MessageDescriptor;
use serde_json::{Value, json};

use super::json::{JsonOptions, decode_json};
use super::wire::{WireLimits, WireMessage, decode_wire};

/// The decoded form of a payload.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// Decoded with the schema: canonical proto3 JSON.
    Json {
        /// The message type's full name.
        type_name: String,
        /// The message as canonical proto3 JSON (see [`super::json`]).
        json: Value,
    },
    /// No schema, or the schema did not decode it: the schema-less view,
    /// and why it is shown instead of JSON.
    Schemaless {
        /// Why the schema was not used: none was found, or the bytes did not
        /// decode as it, or the capture truncated them.
        reason: String,
        /// The fields as the wire format gives them.
        wire: WireMessage,
    },
    /// Not even that: the bytes could not be decompressed (or are of a
    /// codec Loom does not decode). Never empty unless the payload was.
    Raw {
        /// Why decompression failed (or which codec it is).
        reason: String,
        /// The payload as captured, still compressed (decompressed, for a
        /// codec Loom does not decode).
        bytes: Bytes,
    },
    /// A message of the JSON codec: the JSON as sent (key order kept), and
    /// how it matches the method's message type (see
    /// [`super::json_text`]).
    JsonText {
        /// The message type's full name, when the schema knows the method.
        type_name: Option<String>,
        /// The JSON as sent.
        json: Value,
        /// Why it was not checked (no schema), or that it does not match
        /// the type; `None` when it matches.
        note: Option<String>,
        /// Each difference from the type, with where it is (`child.name:
        /// expected a string, found a number`); empty when it matches or was
        /// not checked.
        problems: Vec<String>,
    },
    /// A message of the JSON codec that is not JSON (or not UTF-8): the
    /// text, and why.
    Text {
        /// Why it is not shown as JSON.
        reason: String,
        /// The bytes as text (bytes that are not UTF-8 replaced).
        text: String,
    },
}

impl Body {
    /// Decodes `payload` as `desc` when there is one, else (or when it does
    /// not decode) schema-less, with `no_schema` as the reason.
    pub fn decode(
        desc: Result<&MessageDescriptor, &str>,
        payload: Bytes,
        options: &JsonOptions,
    ) -> Body {
        let reason = match desc {
            Ok(desc) => match decode_json(desc, payload.clone(), options) {
                Ok(json) => {
                    return Body::Json {
                        type_name: desc.full_name().to_owned(),
                        json,
                    };
                }
                Err(e) => e.to_string(),
            },
            Err(reason) => reason.to_owned(),
        };
        Body::schemaless(reason, &payload)
    }

    /// The schema-less view of `payload`.
    pub fn schemaless(reason: impl Into<String>, payload: &Bytes) -> Body {
        Body::Schemaless {
            reason: reason.into(),
            wire: decode_wire(payload, &WireLimits::default()),
        }
    }

    /// The message as JSON: decoded with the schema, or as the JSON codec
    /// sent it.
    pub fn json(&self) -> Option<&Value> {
        match self {
            Body::Json { json, .. } | Body::JsonText { json, .. } => Some(json),
            _ => None,
        }
    }

    /// Why this is not JSON that matches the schema, if it is not.
    pub fn note(&self) -> Option<&str> {
        match self {
            Body::Json { .. } => None,
            Body::JsonText { note, .. } => note.as_deref(),
            Body::Schemaless { reason, .. }
            | Body::Raw { reason, .. }
            | Body::Text { reason, .. } => Some(reason),
        }
    }

    /// `{"type": name, "json": {...}}`, or `{"note": why, "schemaless": {...}}`,
    /// or `{"error": why, "raw": base64}`; for the JSON codec `{"codec":
    /// "json", "type": name, "json": {...}}` with `note` and `problems`
    /// when it does not match (or was not checked), or `{"codec": "json",
    /// "error": why, "text": text}` when it is not JSON.
    pub fn to_json(&self) -> Value {
        match self {
            Body::Json { type_name, json } => json!({"type": type_name, "json": json}),
            Body::Schemaless { reason, wire } => {
                json!({"note": reason, "schemaless": wire.to_json_object()})
            }
            Body::Raw { reason, bytes } => {
                json!({"error": reason, "raw": BASE64_STANDARD.encode(bytes)})
            }
            Body::JsonText {
                type_name,
                json,
                note,
                problems,
            } => {
                let mut out = serde_json::Map::new();
                out.insert("codec".into(), json!("json"));
                if let Some(name) = type_name {
                    out.insert("type".into(), json!(name));
                }
                out.insert("json".into(), json.clone());
                if let Some(note) = note {
                    out.insert("note".into(), json!(note));
                }
                if !problems.is_empty() {
                    out.insert("problems".into(), json!(problems));
                }
                Value::Object(out)
            }
            Body::Text { reason, text } => json!({"codec": "json", "error": reason, "text": text}),
        }
    }
}
