//! Some protobuf bytes, decoded as well as they can be: with the schema as
//! JSON, else schema-less, else (when not even decompression worked) raw.

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
    /// Not even that: the bytes could not be decompressed. Never empty
    /// unless the payload was.
    Raw {
        /// Why decompression failed.
        reason: String,
        /// The payload as captured, still compressed.
        bytes: Bytes,
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

    /// The JSON, when decoded with the schema.
    pub fn json(&self) -> Option<&Value> {
        match self {
            Body::Json { json, .. } => Some(json),
            _ => None,
        }
    }

    /// Why this is not schema-decoded JSON, if it is not.
    pub fn note(&self) -> Option<&str> {
        match self {
            Body::Json { .. } => None,
            Body::Schemaless { reason, .. } | Body::Raw { reason, .. } => Some(reason),
        }
    }

    /// `{"type": name, "json": {...}}`, or `{"note": why, "schemaless": {...}}`,
    /// or `{"error": why, "raw": base64}`.
    pub fn to_json(&self) -> Value {
        match self {
            Body::Json { type_name, json } => json!({"type": type_name, "json": json}),
            Body::Schemaless { reason, wire } => {
                json!({"note": reason, "schemaless": wire.to_json_object()})
            }
            Body::Raw { reason, bytes } => {
                json!({"error": reason, "raw": BASE64_STANDARD.encode(bytes)})
            }
        }
    }
}
