//! The schema-less view of a protobuf message: every field with its number,
//! wire type and plausible readings, for payloads without a schema (or that
//! the schema does not decode).
//!
//! Length-delimited values are shown as a nested message when the whole
//! value parses as one, as text when it is printable UTF-8, else as bytes.
//! Parsing is depth-limited and runs on a budget of fields and bytes
//! ([`WireLimits`]), so hostile input costs bounded time and memory; what is
//! left over is kept as [`Unparsed`] bytes.

mod json;
mod parse;

use bytes::Bytes;

pub(crate) use json::float_json;
pub use parse::decode_wire;

/// Bounds on schema-less parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireLimits {
    /// Deepest nesting of messages (and groups) explored.
    pub max_depth: usize,
    /// Fields visited in total, including those of nested-message attempts
    /// that did not pan out.
    pub max_fields: usize,
    /// Bytes scanned in nested-message attempts, in total.
    pub max_scan_bytes: usize,
}

impl Default for WireLimits {
    fn default() -> Self {
        WireLimits {
            max_depth: 32,
            max_fields: 200_000,
            max_scan_bytes: 128 << 20,
        }
    }
}

/// A message read without a schema.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WireMessage {
    /// The fields that parsed, in payload order (a repeated field number
    /// appears once per occurrence).
    pub fields: Vec<WireField>,
    /// The bytes from the first field that did not parse (top level only:
    /// nested values that do not parse completely are not messages).
    pub unparsed: Option<Unparsed>,
}

/// The tail of a message that could not be parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Unparsed {
    /// Byte offset in the payload where parsing stopped.
    pub offset: usize,
    /// The payload from `offset` to its end.
    pub bytes: Bytes,
    /// Why parsing stopped there, in words.
    pub reason: String,
}

/// One field as it appears on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct WireField {
    /// The field number from the tag.
    pub number: u32,
    /// Byte offset of the field's tag in the payload.
    pub offset: usize,
    /// The value, read as its wire type says.
    pub value: WireValue,
}

/// A field's value, by wire type.
#[derive(Debug, Clone, PartialEq)]
pub enum WireValue {
    /// Wire type 0. See [`VarintReadings`].
    Varint(u64),
    /// Wire type 1, little-endian.
    Fixed64(u64),
    /// Wire type 5, little-endian.
    Fixed32(u32),
    /// Wire type 2 that parses completely as a message.
    Message(WireMessage),
    /// Wire type 2 that is printable UTF-8.
    Text(String),
    /// Wire type 2, anything else.
    Bytes(Bytes),
    /// Wire types 3..4: a (deprecated) group.
    Group(WireMessage),
}

impl WireValue {
    /// The wire type's name: `varint`, `fixed64`, `len`, `group`, `fixed32`.
    pub fn wire_type_name(&self) -> &'static str {
        match self {
            WireValue::Varint(_) => "varint",
            WireValue::Fixed64(_) => "fixed64",
            WireValue::Message(_) | WireValue::Text(_) | WireValue::Bytes(_) => "len",
            WireValue::Group(_) => "group",
            WireValue::Fixed32(_) => "fixed32",
        }
    }

    /// The wire type number (0, 1, 2, 3, 5).
    pub fn wire_type(&self) -> u8 {
        match self {
            WireValue::Varint(_) => 0,
            WireValue::Fixed64(_) => 1,
            WireValue::Message(_) | WireValue::Text(_) | WireValue::Bytes(_) => 2,
            WireValue::Group(_) => 3,
            WireValue::Fixed32(_) => 5,
        }
    }
}

/// The plausible readings of a varint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VarintReadings {
    /// As `uint64` (and `uint32`, `enum` number when small).
    pub unsigned: u64,
    /// As `sint64`/`sint32` (zigzag).
    pub zigzag: i64,
    /// As `int64`/`int32` (two's complement): differs from `unsigned` only
    /// for negative numbers.
    pub signed: i64,
    /// As `bool`, when the value is 0 or 1.
    pub boolean: Option<bool>,
}

impl VarintReadings {
    /// Every reading of `value`.
    pub fn of(value: u64) -> Self {
        VarintReadings {
            unsigned: value,
            zigzag: ((value >> 1) as i64) ^ -((value & 1) as i64),
            signed: value as i64,
            boolean: match value {
                0 => Some(false),
                1 => Some(true),
                _ => None,
            },
        }
    }
}
