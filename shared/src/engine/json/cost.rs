//! What rendering a payload would cost, counted before decoding it: a
//! hostile (or just huge) message of 64 MiB of one-byte packed booleans
//! would otherwise become tens of millions of values in memory.

use prost::encoding::WireType;
use prost_reflect::{Kind, MessageDescriptor};

/// Counts the values decoding `payload` as `desc` would create (fields,
/// elements of packed lists, recursively), stopping once past `limit`.
/// An estimate from above; malformed input stops the count early (decoding
/// then fails anyway).
pub(super) fn elements(desc: &MessageDescriptor, payload: &[u8], limit: usize) -> usize {
    let mut count = 0;
    walk(desc, payload, 0, limit, &mut count);
    count
}

const MAX_DEPTH: usize = 100;

fn walk(desc: &MessageDescriptor, mut buf: &[u8], depth: usize, limit: usize, count: &mut usize) {
    while !buf.is_empty() && *count <= limit {
        let Ok(key) = prost::encoding::decode_varint(&mut buf) else {
            return;
        };
        *count += 1;
        let number = u32::try_from(key >> 3).unwrap_or(0);
        match key & 7 {
            0 => {
                if prost::encoding::decode_varint(&mut buf).is_err() {
                    return;
                }
            }
            1 => buf = buf.get(8..).unwrap_or_default(),
            5 => buf = buf.get(4..).unwrap_or_default(),
            2 => {
                let Some(len) = prost::encoding::decode_varint(&mut buf)
                    .ok()
                    .and_then(|len| usize::try_from(len).ok())
                    .filter(|&len| len <= buf.len())
                else {
                    return;
                };
                let (value, rest) = buf.split_at(len);
                buf = rest;
                let Some(field) = desc.get_field(number) else {
                    continue;
                };
                match field.kind() {
                    Kind::Message(inner) if inner.full_name() == "google.protobuf.Any" => {
                        // Expanded later with a type not known yet: assume
                        // the densest encoding (two bytes a value).
                        *count += len / 2;
                    }
                    Kind::Message(inner) if depth < MAX_DEPTH => {
                        walk(&inner, value, depth + 1, limit, count);
                    }
                    kind => match kind.wire_type() {
                        WireType::Varint => *count += len,
                        WireType::SixtyFourBit => *count += len / 8,
                        WireType::ThirtyTwoBit => *count += len / 4,
                        _ => {}
                    },
                }
            }
            // Groups: their fields are counted as they come.
            3 | 4 => {}
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use prost_reflect::Value as V;

    use super::*;
    use crate::engine::testing;

    #[test]
    fn counts_fields_and_packed_elements() {
        let schema = testing::schema();
        let desc = testing::sample_descriptor(&schema);
        let numbers: Vec<V> = (0..100).map(V::I32).collect();
        let payload = testing::sample(
            &schema,
            &[
                ("name", V::String("x".into())),
                ("numbers", V::List(numbers)),
                ("data", V::Bytes(Bytes::from(vec![7; 1000]))),
            ],
        );
        // name, numbers (1 tag + 100 one-byte varints), data.
        assert_eq!(elements(&desc, &payload, 1 << 20), 103);
        // The count stops soon after the limit.
        assert!(elements(&desc, &payload, 10) <= 103);
        assert_eq!(elements(&desc, &[0xff], 10), 0);
    }
}
