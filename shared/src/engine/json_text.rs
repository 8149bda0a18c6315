//! Messages of the JSON codec (Connect's `application/json` and
//! `application/connect+json`, gRPC's `application/grpc+json`): the bytes
//! are protobuf's JSON mapping as text, not the binary encoding. They are
//! shown as the JSON sent, schema or not; with the method's schema they are
//! checked against its message type, and every difference is named with
//! where it is: a field the type does not have, a value of the wrong JSON
//! type, an enum name the enum lacks, and, when the shape is right, what
//! prost-reflect's proto3 JSON parser still refuses (a number out of range,
//! bad base64, a malformed timestamp).
//!
//! Work is bounded like the binary path's: a payload of more than
//! [`MAX_JSON_ELEMENTS`] values is not parsed (counted in one pass over the
//! bytes first), nesting is limited by serde_json's parser (128 levels), and
//! at most [`MAX_PROBLEMS`] differences are listed.

use bytes::Bytes;
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MessageDescriptor};
use serde_json::Value;

use super::body::Body;
use super::json::MAX_JSON_ELEMENTS;

/// The most differences listed for one message; the rest are counted.
pub const MAX_PROBLEMS: usize = 20;

/// Decodes a JSON-codec payload (already decompressed): the JSON as sent,
/// checked against `desc` when there is one (else `desc`'s error says why
/// it was not checked); text with the reason when it is not JSON.
pub(crate) fn decode(desc: Result<&MessageDescriptor, &str>, payload: &Bytes) -> Body {
    let text = match std::str::from_utf8(payload) {
        Ok(text) => text,
        Err(e) => {
            return Body::Text {
                reason: format!("not valid JSON: not UTF-8 text ({e})"),
                text: String::from_utf8_lossy(payload).into_owned(),
            };
        }
    };
    if too_many_values(payload, MAX_JSON_ELEMENTS) {
        return Body::Text {
            reason: format!(
                "too big to render: over {MAX_JSON_ELEMENTS} values (fields and list elements)"
            ),
            text: text.to_owned(),
        };
    }
    let json: Value = match serde_json::from_str(text) {
        Ok(json) => json,
        Err(e) => {
            return Body::Text {
                reason: format!("not valid JSON: {e}"),
                text: text.to_owned(),
            };
        }
    };
    let desc = match desc {
        Ok(desc) => desc,
        Err(why) => {
            return Body::JsonText {
                type_name: None,
                json,
                note: Some(format!("JSON, not checked against a schema: {why}")),
                problems: Vec::new(),
            };
        }
    };
    let problems = check(desc, &json);
    let note = match problems.len() {
        0 => None,
        1 => Some(format!("does not match {}: 1 difference", desc.full_name())),
        n if n > MAX_PROBLEMS => Some(format!(
            "does not match {}: more than {MAX_PROBLEMS} differences",
            desc.full_name()
        )),
        n => Some(format!(
            "does not match {}: {n} differences",
            desc.full_name()
        )),
    };
    Body::JsonText {
        type_name: Some(desc.full_name().to_owned()),
        json,
        note,
        problems,
    }
}

/// Where `json` differs from `desc`'s JSON mapping, each with its path;
/// empty when it matches. At most [`MAX_PROBLEMS`] + 1 entries (the last
/// then says how many more there are).
pub fn check(desc: &MessageDescriptor, json: &Value) -> Vec<String> {
    let mut checker = Checker {
        problems: Vec::new(),
        more: 0,
    };
    checker.message(desc, json, "");
    if checker.problems.is_empty() {
        // The shape is right; what the parser refuses beyond it.
        if let Err(e) = DynamicMessage::deserialize(desc.clone(), json) {
            checker.problems.push(format!("(the message): {e}"));
        }
    }
    if checker.more > 0 {
        checker
            .problems
            .push(format!("… and {} more", checker.more));
    }
    checker.problems
}

/// Whether `bytes`, as JSON, hold more than `limit` values: a count of the
/// separators and openings outside strings, which bounds the values from
/// above, in one pass that allocates nothing.
fn too_many_values(bytes: &[u8], limit: usize) -> bool {
    let (mut count, mut in_string, mut escaped) = (0usize, false, false);
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b',' | b'[' | b'{' => {
                count += 1;
                if count > limit {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

struct Checker {
    problems: Vec<String>,
    /// Differences found beyond [`MAX_PROBLEMS`].
    more: usize,
}

impl Checker {
    fn problem(&mut self, path: &str, what: String) {
        if self.problems.len() < MAX_PROBLEMS {
            let at = if path.is_empty() {
                "(the message)"
            } else {
                path
            };
            self.problems.push(format!("{at}: {what}"));
        } else {
            self.more += 1;
        }
    }

    /// A message of type `desc` at `path`.
    fn message(&mut self, desc: &MessageDescriptor, json: &Value, path: &str) {
        if let Some(expected) = well_known(desc.full_name()) {
            self.well_known(expected, desc, json, path);
            return;
        }
        let Value::Object(fields) = json else {
            self.problem(
                path,
                format!(
                    "expected an object ({}), found {}",
                    desc.full_name(),
                    kind_of(json)
                ),
            );
            return;
        };
        for (key, value) in fields {
            let at = join(path, key);
            let field = desc
                .get_field_by_json_name(key)
                .or_else(|| desc.get_field_by_name(key));
            match field {
                Some(field) => self.field(&field, value, &at),
                None => self.problem(&at, format!("no such field in {}", desc.full_name())),
            }
        }
    }

    /// A field's value (null means its default, whatever its type).
    fn field(&mut self, field: &FieldDescriptor, json: &Value, path: &str) {
        if json.is_null() {
            return;
        }
        if field.is_map() {
            let Kind::Message(entry) = field.kind() else {
                return;
            };
            let Value::Object(entries) = json else {
                self.problem(
                    path,
                    format!("expected an object (a map), found {}", kind_of(json)),
                );
                return;
            };
            let (Some(key), Some(value)) = (entry.get_field(1), entry.get_field(2)) else {
                return;
            };
            for (k, v) in entries {
                let at = format!("{path}[{}]", Value::String(k.clone()));
                self.map_key(&key, k, &at);
                self.single(&value, v, &at);
            }
        } else if field.is_list() {
            let Value::Array(items) = json else {
                self.problem(path, format!("expected a list, found {}", kind_of(json)));
                return;
            };
            for (i, item) in items.iter().enumerate() {
                let at = format!("{path}[{i}]");
                if item.is_null() && !is_value_type(field) {
                    self.problem(&at, "null in a list".to_owned());
                } else {
                    self.single(field, item, &at);
                }
            }
        } else {
            self.single(field, json, path);
        }
    }

    /// One value of `field`'s type (an element of a list or map included).
    fn single(&mut self, field: &FieldDescriptor, json: &Value, path: &str) {
        let ok = match field.kind() {
            Kind::Message(desc) => {
                if !json.is_null() {
                    self.message(&desc, json, path);
                }
                return;
            }
            Kind::Enum(desc) => {
                match json {
                    Value::String(name) if desc.get_value_by_name(name).is_none() => self.problem(
                        path,
                        format!("{json} is not a value of {}", desc.full_name()),
                    ),
                    Value::String(_) => {}
                    Value::Number(n) if n.is_i64() || n.is_u64() => {}
                    _ => self.problem(
                        path,
                        format!(
                            "expected a value of {} (its name, or a number), found {}",
                            desc.full_name(),
                            kind_of(json)
                        ),
                    ),
                }
                return;
            }
            Kind::String => json.is_string(),
            Kind::Bytes => json.is_string(),
            Kind::Bool => json.is_boolean(),
            Kind::Double | Kind::Float => json.is_number() || json.is_string(),
            _ => json.is_number() || json.is_string(),
        };
        if !ok {
            self.problem(
                path,
                format!(
                    "expected {}, found {}",
                    expected(&field.kind()),
                    kind_of(json)
                ),
            );
        }
    }

    /// A map key, always a string in JSON: a number's or a bool's text for
    /// such keys.
    fn map_key(&mut self, key: &FieldDescriptor, text: &str, path: &str) {
        let ok = match key.kind() {
            Kind::Bool => matches!(text, "true" | "false"),
            Kind::String => true,
            _ => text.parse::<i64>().is_ok() || text.parse::<u64>().is_ok(),
        };
        if !ok {
            self.problem(
                path,
                format!(
                    "a map key of {} must be {}",
                    key.full_name(),
                    expected(&key.kind())
                ),
            );
        }
    }

    /// A well-known type with its own JSON form.
    fn well_known(&mut self, form: Form, desc: &MessageDescriptor, json: &Value, path: &str) {
        let ok = match form {
            Form::Anything => true,
            Form::Text => json.is_string(),
            Form::Object => json.is_object(),
            Form::List => json.is_array(),
            Form::Wrapper => {
                if let Some(value) = desc.get_field_by_name("value") {
                    self.single(&value, json, path);
                }
                return;
            }
        };
        if !ok {
            self.problem(
                path,
                format!(
                    "expected {} ({}), found {}",
                    form.expected(),
                    desc.full_name(),
                    kind_of(json)
                ),
            );
        }
    }
}

/// The JSON form of a well-known type.
#[derive(Debug, Clone, Copy)]
enum Form {
    /// `Value`: any JSON.
    Anything,
    /// `Timestamp`, `Duration`, `FieldMask`: a string.
    Text,
    /// `Struct`, `Any`, `Empty`: an object (an `Any`'s fields are its
    /// type's, named by `@type`, and not checked here).
    Object,
    /// `ListValue`: a list.
    List,
    /// The wrappers (`Int64Value`, ...): their one field's value.
    Wrapper,
}

impl Form {
    fn expected(self) -> &'static str {
        match self {
            Form::Anything => "any value",
            Form::Text => "a string",
            Form::Object => "an object",
            Form::List => "a list",
            Form::Wrapper => "its value",
        }
    }
}

fn well_known(name: &str) -> Option<Form> {
    let name = name.strip_prefix("google.protobuf.")?;
    Some(match name {
        "Value" => Form::Anything,
        "Timestamp" | "Duration" | "FieldMask" => Form::Text,
        "Struct" | "Any" | "Empty" => Form::Object,
        "ListValue" => Form::List,
        "DoubleValue" | "FloatValue" | "Int64Value" | "UInt64Value" | "Int32Value"
        | "UInt32Value" | "BoolValue" | "StringValue" | "BytesValue" => Form::Wrapper,
        _ => return None,
    })
}

/// A list of `google.protobuf.Value` may hold nulls.
fn is_value_type(field: &FieldDescriptor) -> bool {
    matches!(field.kind(), Kind::Message(m) if m.full_name() == "google.protobuf.Value")
}

/// What a scalar kind's JSON is, in words.
fn expected(kind: &Kind) -> &'static str {
    match kind {
        Kind::String => "a string",
        Kind::Bytes => "a string (base64)",
        Kind::Bool => "true or false",
        Kind::Double | Kind::Float => "a number (or \"NaN\", \"Infinity\")",
        Kind::Message(_) => "an object",
        Kind::Enum(_) => "an enum value",
        _ => "an integer (or a string of one)",
    }
}

/// A JSON value's kind, in words.
fn kind_of(json: &Value) -> &'static str {
    match json {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// `parent.key`, or `key` at the top.
fn join(path: &str, key: &str) -> String {
    let simple = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '@');
    match (path.is_empty(), simple) {
        (true, true) => key.to_owned(),
        (false, true) => format!("{path}.{key}"),
        (_, false) => format!("{path}[{}]", Value::String(key.to_owned())),
    }
}

#[cfg(test)]
mod tests;
