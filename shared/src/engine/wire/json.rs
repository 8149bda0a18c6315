//! The schema-less view as JSON (for `loom decode` and "copy as JSON").
//!
//! A message is an array of fields, each an object with the field number,
//! the wire type and its readings:
//!
//! ```json
//! [{"field": 1, "wire": "varint", "uint": "150", "sint": "75"},
//!  {"field": 2, "wire": "len", "text": "hello"},
//!  {"field": 3, "wire": "len", "message": [...]},
//!  {"field": 4, "wire": "len", "hex": "fffe", "len": 2},
//!  {"field": 5, "wire": "fixed32", "uint": 1069547520, "int": 1069547520, "float": 1.5}]
//! ```
//!
//! 64-bit readings are strings, as in the proto3 JSON mapping.

use serde_json::{Map, Value, json};

use super::{Unparsed, VarintReadings, WireField, WireMessage, WireValue};
use crate::engine::hex;

/// Longest byte value rendered in full as hex; longer ones are cut (with
/// their full `len`).
pub(crate) const MAX_HEX_BYTES: usize = 64 << 10;

impl WireMessage {
    /// The fields as a JSON array (see the module docs). An unparsed tail is
    /// not included: see [`WireMessage::to_json_object`].
    pub fn fields_json(&self) -> Value {
        Value::Array(self.fields.iter().map(WireField::to_json).collect())
    }

    /// `{"fields": [...]}`, plus `"unparsed": {"offset", "reason", "hex"}`
    /// when the message did not parse to the end.
    pub fn to_json_object(&self) -> Value {
        let mut out = Map::new();
        out.insert("fields".into(), self.fields_json());
        if let Some(rest) = &self.unparsed {
            out.insert("unparsed".into(), rest.to_json());
        }
        Value::Object(out)
    }
}

impl Unparsed {
    /// `{"offset", "reason", "hex", "len"}`, with `"cut": true` when the
    /// bytes are longer than 64 KiB and `hex` holds only the first 64 KiB.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("offset".into(), json!(self.offset));
        out.insert("reason".into(), json!(self.reason));
        bytes_json(&mut out, &self.bytes);
        Value::Object(out)
    }
}

impl WireField {
    /// One field as a JSON object (see the module docs): `field`, `wire`,
    /// and the readings of its value.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("field".into(), json!(self.number));
        out.insert("wire".into(), json!(self.value.wire_type_name()));
        match &self.value {
            WireValue::Varint(v) => {
                let r = VarintReadings::of(*v);
                out.insert("uint".into(), json!(r.unsigned.to_string()));
                out.insert("sint".into(), json!(r.zigzag.to_string()));
                if r.signed < 0 {
                    out.insert("int".into(), json!(r.signed.to_string()));
                }
                if let Some(b) = r.boolean {
                    out.insert("bool".into(), json!(b));
                }
            }
            WireValue::Fixed64(v) => {
                out.insert("uint".into(), json!(v.to_string()));
                out.insert("int".into(), json!((*v as i64).to_string()));
                out.insert("double".into(), float_json(f64::from_bits(*v)));
            }
            WireValue::Fixed32(v) => {
                out.insert("uint".into(), json!(v));
                out.insert("int".into(), json!(*v as i32));
                out.insert("float".into(), float_json(f64::from(f32::from_bits(*v))));
            }
            WireValue::Message(m) => {
                out.insert("message".into(), m.fields_json());
            }
            WireValue::Group(m) => {
                out.insert("group".into(), m.fields_json());
            }
            WireValue::Text(s) => {
                out.insert("text".into(), json!(s));
            }
            WireValue::Bytes(b) => bytes_json(&mut out, b),
        }
        Value::Object(out)
    }
}

/// `"hex"` (cut at [`MAX_HEX_BYTES`], with `"cut": true`) and `"len"`.
fn bytes_json(out: &mut Map<String, Value>, bytes: &[u8]) {
    let shown = &bytes[..bytes.len().min(MAX_HEX_BYTES)];
    out.insert("hex".into(), json!(hex(shown)));
    out.insert("len".into(), json!(bytes.len()));
    if shown.len() < bytes.len() {
        out.insert("cut".into(), json!(true));
    }
}

/// A JSON number, or `"NaN"`, `"Infinity"`, `"-Infinity"` as in proto3 JSON.
pub(crate) fn float_json(v: f64) -> Value {
    if v.is_nan() {
        json!("NaN")
    } else if v == f64::INFINITY {
        json!("Infinity")
    } else if v == f64::NEG_INFINITY {
        json!("-Infinity")
    } else {
        json!(v)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::engine::wire::{WireLimits, decode_wire};

    fn view(bytes: &[u8]) -> Value {
        decode_wire(&Bytes::copy_from_slice(bytes), &WireLimits::default()).to_json_object()
    }

    #[test]
    fn fixed_inputs_render_as_expected() {
        // 1: 150, 2: -1 as int64 (10-byte varint), 3: 1 (bool), 4: "hi",
        // 5: { 1: 2 }, 6: fixed32 1.5f, 7: fixed64 -2, 8: bytes 00 ff.
        let mut b = vec![0x08, 0x96, 0x01, 0x10];
        b.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        b.extend_from_slice(&[
            0x18, 0x01, 0x22, 0x02, b'h', b'i', 0x2a, 0x02, 0x08, 0x02, 0x35,
        ]);
        b.extend_from_slice(&1.5f32.to_le_bytes());
        b.push(0x39);
        b.extend_from_slice(&(-2i64).to_le_bytes());
        b.extend_from_slice(&[0x42, 0x02, 0x00, 0xff]);
        let expected = json!({"fields": [
            {"field": 1, "wire": "varint", "uint": "150", "sint": "75"},
            {"field": 2, "wire": "varint", "uint": "18446744073709551615",
             "sint": "-9223372036854775808", "int": "-1"},
            {"field": 3, "wire": "varint", "uint": "1", "sint": "-1", "bool": true},
            {"field": 4, "wire": "len", "text": "hi"},
            {"field": 5, "wire": "len", "message": [
                {"field": 1, "wire": "varint", "uint": "2", "sint": "1"}]},
            {"field": 6, "wire": "fixed32", "uint": 1_069_547_520u32, "int": 1_069_547_520, "float": 1.5},
            {"field": 7, "wire": "fixed64", "uint": "18446744073709551614", "int": "-2", "double": f64::from_bits(-2i64 as u64)},
            {"field": 8, "wire": "len", "hex": "00ff", "len": 2},
        ]});
        // NaN doubles render as "NaN": compare the rest exactly.
        let got = view(&b);
        assert_eq!(got["fields"][6]["double"], json!("NaN"));
        let mut expected = expected;
        expected["fields"][6]["double"] = json!("NaN");
        assert_eq!(got, expected);
    }

    #[test]
    fn unparsed_tail_is_shown() {
        assert_eq!(
            view(&[0x08, 0x00, 0x07]),
            json!({
                "fields": [{"field": 1, "wire": "varint", "uint": "0", "sint": "0", "bool": false}],
                "unparsed": {"offset": 2, "reason": "invalid field number 0", "hex": "07", "len": 1}
            })
        );
    }

    #[test]
    fn long_bytes_are_cut() {
        let mut b = vec![0x0a, 0x80, 0x80, 0x08];
        b.extend(std::iter::repeat_n(0xffu8, 128 << 10));
        let got = view(&b);
        let field = &got["fields"][0];
        assert_eq!(field["len"], json!(128 << 10));
        assert_eq!(field["cut"], json!(true));
        assert_eq!(field["hex"].as_str().unwrap().len(), 2 * MAX_HEX_BYTES);
    }
}
