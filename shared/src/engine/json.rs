//! Messages as canonical proto3 JSON, as `protoc`'s JSON printer writes it:
//! JSON field names, 64-bit integers as strings, bytes as base64, enums by
//! name, well-known types in their special forms, `Any` expanded when its
//! type is in the pool.
//!
//! Two additions for a debugger, both keys starting with `@` so they cannot
//! collide with fields: unknown fields are listed under `"@unknown"` (in the
//! schema-less form of [`super::wire`]) at each message level that has
//! them, and an `Any` that cannot be expanded keeps its `"@type"` with an
//! `"@error"` and the schema-less `"@wire"` view of its value.

use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;
use bytes::Bytes;
use prost_reflect::{
    DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, ReflectMessage,
    SerializeOptions, Value,
};
use serde_json::{Map, Value as Json, json};

use super::wire::{WireLimits, decode_wire, float_json};

/// How messages are rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct JsonOptions {
    /// Show fields that hold their default value (proto3 fields without
    /// presence: zero numbers, empty strings, empty lists and maps).
    pub show_defaults: bool,
    /// List unknown fields under `"@unknown"`.
    pub unknown_fields: bool,
}

impl Default for JsonOptions {
    fn default() -> Self {
        JsonOptions {
            show_defaults: true,
            unknown_fields: true,
        }
    }
}

impl JsonOptions {
    /// What grpcurl accepts as input: no defaults, no `@` annotations.
    pub fn for_replay() -> Self {
        JsonOptions {
            show_defaults: false,
            unknown_fields: false,
        }
    }
}

/// Nesting deeper than this (messages inside messages, and `Any`s inside
/// them) is cut off with an `"@error"`, bounding stack use.
pub const MAX_JSON_DEPTH: usize = 100;

/// The most values (fields, list elements) a payload may decode to for
/// JSON rendering; beyond it [`decode_json`] declines, bounding memory.
pub const MAX_JSON_ELEMENTS: usize = 1_000_000;

/// Why a payload was not rendered with its schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// The payload is not a valid encoding of the message type.
    #[error("does not decode as {type_name}: {source}")]
    Decode {
        /// The message type's full name.
        type_name: String,
        /// The protobuf decoder's reason.
        source: prost::DecodeError,
    },
    /// The payload holds more values than [`MAX_JSON_ELEMENTS`], so it was
    /// not decoded at all.
    #[error("too big to render: over {limit} values (fields and list elements)")]
    TooManyValues {
        /// The limit exceeded ([`MAX_JSON_ELEMENTS`]).
        limit: usize,
    },
}

/// Decodes `payload` as `desc` and renders it.
pub fn decode_json(
    desc: &MessageDescriptor,
    payload: Bytes,
    options: &JsonOptions,
) -> Result<Json, JsonError> {
    if cost::elements(desc, &payload, MAX_JSON_ELEMENTS) > MAX_JSON_ELEMENTS {
        return Err(JsonError::TooManyValues {
            limit: MAX_JSON_ELEMENTS,
        });
    }
    let message =
        DynamicMessage::decode(desc.clone(), payload).map_err(|source| JsonError::Decode {
            type_name: desc.full_name().to_owned(),
            source,
        })?;
    Ok(to_json(&message, options))
}

/// Renders a decoded message.
pub fn to_json(message: &DynamicMessage, options: &JsonOptions) -> Json {
    Renderer { options, depth: 0 }.message(message)
}

struct Renderer<'a> {
    options: &'a JsonOptions,
    depth: usize,
}

impl Renderer<'_> {
    fn message(&mut self, message: &DynamicMessage) -> Json {
        if self.depth >= MAX_JSON_DEPTH {
            return json!({"@error": format!("nested more than {MAX_JSON_DEPTH} levels deep; not shown")});
        }
        self.depth += 1;
        let out = self.message_inner(message);
        self.depth -= 1;
        out
    }

    fn message_inner(&mut self, message: &DynamicMessage) -> Json {
        let desc = message.descriptor();
        match desc.full_name() {
            "google.protobuf.Any" => return self.any(message),
            "google.protobuf.FloatValue" => {
                let v = message
                    .get_field_by_number(1)
                    .and_then(|v| v.as_f32())
                    .unwrap_or(0.0);
                return float32_json(v);
            }
            name if name.starts_with("google.protobuf.") && is_special_wkt(name) => {
                let options = SerializeOptions::new()
                    .stringify_64_bit_integers(true)
                    .use_enum_numbers(false)
                    .use_proto_field_name(false)
                    .skip_default_fields(!self.options.show_defaults);
                if let Ok(v) =
                    message.serialize_with_options(serde_json::value::Serializer, &options)
                {
                    return v;
                }
                // Out of range (a timestamp past year 9999, ...): the plain form.
            }
            _ => {}
        }
        let mut out = Map::new();
        for field in desc.fields() {
            if message.has_field(&field) {
                let value = message.get_field(&field);
                out.insert(
                    field.json_name().to_owned(),
                    self.value(&value, &field.kind()),
                );
            } else if self.options.show_defaults && !field.supports_presence() {
                out.insert(field.json_name().to_owned(), default_json(&field));
            }
        }
        for (ext, value) in message.extensions() {
            out.insert(
                format!("[{}]", ext.full_name()),
                self.value(value, &ext.kind()),
            );
        }
        if self.options.unknown_fields {
            let mut raw = Vec::new();
            for field in message.unknown_fields() {
                field.encode(&mut raw);
            }
            if !raw.is_empty() {
                let wire = decode_wire(&Bytes::from(raw), &WireLimits::default());
                out.insert("@unknown".into(), wire.fields_json());
            }
        }
        Json::Object(out)
    }

    fn value(&mut self, value: &Value, kind: &Kind) -> Json {
        match value {
            Value::Bool(v) => json!(v),
            Value::I32(v) => json!(v),
            Value::U32(v) => json!(v),
            Value::I64(v) => json!(v.to_string()),
            Value::U64(v) => json!(v.to_string()),
            Value::F32(v) => float32_json(*v),
            Value::F64(v) => float_json(*v),
            Value::String(v) => json!(v),
            Value::Bytes(v) => json!(BASE64_STANDARD.encode(v)),
            Value::EnumNumber(n) => match kind {
                Kind::Enum(e) if e.full_name() == "google.protobuf.NullValue" => Json::Null,
                Kind::Enum(e) => match e.get_value(*n) {
                    Some(v) => json!(v.name()),
                    None => json!(n),
                },
                _ => json!(n),
            },
            Value::Message(m) => self.message(m),
            Value::List(items) => Json::Array(items.iter().map(|v| self.value(v, kind)).collect()),
            Value::Map(entries) => {
                let value_kind = match kind {
                    Kind::Message(entry) => entry.map_entry_value_field().kind(),
                    other => other.clone(),
                };
                let mut sorted: Vec<(&MapKey, &Value)> = entries.iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(b.0));
                let mut out = Map::new();
                for (key, value) in sorted {
                    out.insert(map_key(key), self.value(value, &value_kind));
                }
                Json::Object(out)
            }
        }
    }

    /// `{"@type": url, ...fields}`, or `{"@type": url, "value": special}` for
    /// a well-known type with a special form.
    fn any(&mut self, message: &DynamicMessage) -> Json {
        let url = message
            .get_field_by_number(1)
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let value = message
            .get_field_by_number(2)
            .and_then(|v| v.as_bytes().cloned())
            .unwrap_or_default();
        if url.is_empty() && value.is_empty() {
            return json!({});
        }
        let name = url.rsplit('/').next().unwrap_or_default();
        let pool = message.descriptor().parent_pool().clone();
        let failure = match pool.get_message_by_name(name) {
            Some(desc) => match DynamicMessage::decode(desc.clone(), value.clone()) {
                Ok(inner) => {
                    let rendered = self.message(&inner);
                    let mut out = Map::new();
                    out.insert("@type".into(), json!(url));
                    match rendered {
                        Json::Object(fields) if !is_special_wkt(desc.full_name()) => {
                            out.extend(fields)
                        }
                        other => {
                            out.insert("value".into(), other);
                        }
                    }
                    return Json::Object(out);
                }
                Err(e) => format!("the value does not decode as {name}: {e}"),
            },
            None => format!("type {name:?} is not in the schema"),
        };
        let wire = decode_wire(&value, &WireLimits::default());
        json!({"@type": url, "@error": failure, "@wire": wire.to_json_object()})
    }
}

/// The JSON of an unset field without presence (cheaper than rendering
/// its default `Value`).
fn default_json(field: &FieldDescriptor) -> Json {
    if field.is_map() {
        return Json::Object(Map::new());
    }
    if field.is_list() {
        return Json::Array(Vec::new());
    }
    match field.kind() {
        Kind::Bool => json!(false),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 | Kind::Uint64 | Kind::Fixed64 => json!("0"),
        Kind::Double | Kind::Float => json!(0.0),
        Kind::String | Kind::Bytes => json!(""),
        Kind::Enum(e) if e.full_name() == "google.protobuf.NullValue" => Json::Null,
        Kind::Enum(e) => e.get_value(0).map_or(json!(0), |v| json!(v.name())),
        Kind::Message(_) => Json::Null,
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 | Kind::Uint32 | Kind::Fixed32 => json!(0),
    }
}

/// Well-known types whose JSON form is not a plain object of their fields.
fn is_special_wkt(name: &str) -> bool {
    matches!(
        name,
        "google.protobuf.Any"
            | "google.protobuf.Timestamp"
            | "google.protobuf.Duration"
            | "google.protobuf.Struct"
            | "google.protobuf.FloatValue"
            | "google.protobuf.DoubleValue"
            | "google.protobuf.Int32Value"
            | "google.protobuf.Int64Value"
            | "google.protobuf.UInt32Value"
            | "google.protobuf.UInt64Value"
            | "google.protobuf.BoolValue"
            | "google.protobuf.StringValue"
            | "google.protobuf.BytesValue"
            | "google.protobuf.FieldMask"
            | "google.protobuf.ListValue"
            | "google.protobuf.Value"
            | "google.protobuf.Empty"
    )
}

fn map_key(key: &MapKey) -> String {
    match key {
        MapKey::Bool(v) => v.to_string(),
        MapKey::I32(v) => v.to_string(),
        MapKey::I64(v) => v.to_string(),
        MapKey::U32(v) => v.to_string(),
        MapKey::U64(v) => v.to_string(),
        MapKey::String(v) => v.clone(),
    }
}

/// A float as its shortest decimal (`1.1`, not `1.100000023841858`).
fn float32_json(v: f32) -> Json {
    if v.is_finite() {
        match v.to_string().parse::<f64>() {
            Ok(shortest) => json!(shortest),
            Err(_) => float_json(f64::from(v)),
        }
    } else {
        float_json(f64::from(v))
    }
}

mod cost;
#[cfg(test)]
mod tests;
