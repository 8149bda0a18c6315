//! The schema-less parser.

use bytes::Bytes;

use super::{Unparsed, WireField, WireLimits, WireMessage, WireValue};

/// The largest valid field number (2^29 - 1).
const MAX_FIELD_NUMBER: u64 = (1 << 29) - 1;

/// Reads `payload` as a message without a schema. Never fails: fields are
/// read up to the first that does not parse (or until the budget runs out),
/// and the rest is kept as [`WireMessage::unparsed`].
pub fn decode_wire(payload: &Bytes, limits: &WireLimits) -> WireMessage {
    let mut parser = Parser {
        buf: payload,
        limits,
        fields_left: limits.max_fields,
        scan_left: limits.max_scan_bytes,
    };
    match parser.fields(0, payload.len(), 0, None) {
        Ok((fields, _)) => WireMessage {
            fields,
            unparsed: None,
        },
        Err(failure) => WireMessage {
            fields: failure.fields,
            unparsed: Some(Unparsed {
                offset: failure.offset,
                bytes: payload.slice(failure.offset..),
                reason: failure.reason,
            }),
        },
    }
}

struct Parser<'a> {
    /// The whole payload; positions are offsets into it.
    buf: &'a Bytes,
    limits: &'a WireLimits,
    fields_left: usize,
    scan_left: usize,
}

/// Fields parsed before an error, and where (the start of the bad field).
struct Failure {
    fields: Vec<WireField>,
    offset: usize,
    reason: String,
}

impl Parser<'_> {
    /// Parses the fields in `pos..end`. Inside a group (`group` is its field
    /// number) stops after the matching end-group tag and returns the position
    /// after it; otherwise parses to `end` exactly.
    fn fields(
        &mut self,
        mut pos: usize,
        end: usize,
        depth: usize,
        group: Option<u32>,
    ) -> Result<(Vec<WireField>, usize), Failure> {
        let mut fields = Vec::new();
        while pos < end {
            let start = pos;
            let fail = |fields: Vec<WireField>, reason: String| Failure {
                fields,
                offset: start,
                reason,
            };
            if self.fields_left == 0 {
                return Err(fail(fields, "work budget exhausted".into()));
            }
            self.fields_left -= 1;
            let Some(key) = read_varint(self.buf, &mut pos, end) else {
                return Err(fail(fields, "invalid field tag".into()));
            };
            let number = key >> 3;
            if number == 0 || number > MAX_FIELD_NUMBER {
                return Err(fail(fields, format!("invalid field number {number}")));
            }
            let number = number as u32;
            let value = match key & 7 {
                0 => match read_varint(self.buf, &mut pos, end) {
                    Some(v) => WireValue::Varint(v),
                    None => return Err(fail(fields, "invalid varint".into())),
                },
                1 => match read_fixed::<8>(self.buf, &mut pos, end) {
                    Some(b) => WireValue::Fixed64(u64::from_le_bytes(b)),
                    None => return Err(fail(fields, "fixed64 cut short".into())),
                },
                5 => match read_fixed::<4>(self.buf, &mut pos, end) {
                    Some(b) => WireValue::Fixed32(u32::from_le_bytes(b)),
                    None => return Err(fail(fields, "fixed32 cut short".into())),
                },
                2 => {
                    let len = read_varint(self.buf, &mut pos, end)
                        .and_then(|len| usize::try_from(len).ok())
                        .filter(|&len| len <= end - pos);
                    let Some(len) = len else {
                        return Err(fail(fields, "length runs past the end".into()));
                    };
                    let value = self.length_delimited(pos, pos + len, depth);
                    pos += len;
                    value
                }
                3 => {
                    if depth + 1 > self.limits.max_depth {
                        return Err(fail(fields, "groups nested too deeply".into()));
                    }
                    match self.fields(pos, end, depth + 1, Some(number)) {
                        Ok((inner, after)) => {
                            pos = after;
                            WireValue::Group(WireMessage {
                                fields: inner,
                                unparsed: None,
                            })
                        }
                        Err(inner) => return Err(fail(fields, format!("group: {}", inner.reason))),
                    }
                }
                4 => {
                    return if group == Some(number) {
                        Ok((fields, pos))
                    } else {
                        Err(fail(fields, format!("unexpected end of group {number}")))
                    };
                }
                other => return Err(fail(fields, format!("invalid wire type {other}"))),
            };
            fields.push(WireField {
                number,
                offset: start,
                value,
            });
        }
        match group {
            Some(number) => Err(Failure {
                fields,
                offset: pos,
                reason: format!("group {number} is not closed"),
            }),
            None => Ok((fields, pos)),
        }
    }

    /// Text, a nested message, or bytes.
    fn length_delimited(&mut self, start: usize, end: usize, depth: usize) -> WireValue {
        let data = &self.buf[start..end];
        let text = std::str::from_utf8(data).ok();
        if let Some(text) = text
            && looks_like_text(text)
        {
            return WireValue::Text(text.to_owned());
        }
        let len = end - start;
        if depth < self.limits.max_depth && len <= self.scan_left {
            self.scan_left -= len;
            if let Ok((fields, _)) = self.fields(start, end, depth + 1, None) {
                return WireValue::Message(WireMessage {
                    fields,
                    unparsed: None,
                });
            }
        }
        match text {
            Some(text) => WireValue::Text(text.to_owned()),
            None => WireValue::Bytes(self.buf.slice(start..end)),
        }
    }
}

/// Printable: no control characters other than tab, CR and LF. (The empty
/// string counts: an empty value is shown as `""`.)
fn looks_like_text(text: &str) -> bool {
    text.chars()
        .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'))
}

/// A protobuf varint at `*pos` (at most 10 bytes, within `end`).
fn read_varint(buf: &[u8], pos: &mut usize, end: usize) -> Option<u64> {
    let mut value = 0u64;
    for i in 0..10 {
        if *pos >= end {
            return None;
        }
        let byte = *buf.get(*pos)?;
        *pos += 1;
        if i == 9 && byte > 1 {
            return None;
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn read_fixed<const N: usize>(buf: &[u8], pos: &mut usize, end: usize) -> Option<[u8; N]> {
    let stop = pos.checked_add(N).filter(|&stop| stop <= end)?;
    let bytes: [u8; N] = buf.get(*pos..stop)?.try_into().ok()?;
    *pos = stop;
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(bytes: &[u8]) -> WireMessage {
        decode_wire(&Bytes::copy_from_slice(bytes), &WireLimits::default())
    }

    fn field(number: u32, offset: usize, value: WireValue) -> WireField {
        WireField {
            number,
            offset,
            value,
        }
    }

    #[test]
    fn scalars() {
        // 1: varint 150, 2: fixed64 1.5 (double), 3: fixed32 -2 (int32).
        let mut bytes = vec![0x08, 0x96, 0x01, 0x11];
        bytes.extend_from_slice(&1.5f64.to_le_bytes());
        bytes.push(0x1d);
        bytes.extend_from_slice(&(-2i32).to_le_bytes());
        let m = wire(&bytes);
        assert_eq!(m.unparsed, None);
        assert_eq!(
            m.fields,
            [
                field(1, 0, WireValue::Varint(150)),
                field(2, 3, WireValue::Fixed64(1.5f64.to_bits())),
                field(3, 12, WireValue::Fixed32(-2i32 as u32)),
            ]
        );
    }

    #[test]
    fn length_delimited_kinds() {
        // 1: "hello", 2: { 1: 1 }, 3: bytes ff fe, 4: "" , 5: "ünï\n".
        let mut bytes = vec![0x0a, 0x05];
        bytes.extend_from_slice(b"hello");
        bytes.extend_from_slice(&[0x12, 0x02, 0x08, 0x01]);
        bytes.extend_from_slice(&[0x1a, 0x02, 0xff, 0xfe]);
        bytes.extend_from_slice(&[0x22, 0x00]);
        let text = "ünï\n".as_bytes();
        bytes.extend_from_slice(&[0x2a, text.len() as u8]);
        bytes.extend_from_slice(text);
        let m = wire(&bytes);
        assert_eq!(m.unparsed, None);
        let values: Vec<&WireValue> = m.fields.iter().map(|f| &f.value).collect();
        assert_eq!(values[0], &WireValue::Text("hello".into()));
        assert_eq!(
            values[1],
            &WireValue::Message(WireMessage {
                fields: vec![field(1, 9, WireValue::Varint(1))],
                unparsed: None
            })
        );
        assert_eq!(
            values[2],
            &WireValue::Bytes(Bytes::from_static(&[0xff, 0xfe]))
        );
        assert_eq!(values[3], &WireValue::Text(String::new()));
        assert_eq!(values[4], &WireValue::Text("ünï\n".into()));
    }

    #[test]
    fn text_with_control_characters_that_parses_is_a_message() {
        // { 1: { 1: "hi" } }: the inner bytes 0a 02 68 69 are valid UTF-8
        // but start with a control character.
        let m = wire(&[0x0a, 0x04, 0x0a, 0x02, b'h', b'i']);
        let WireValue::Message(inner) = &m.fields[0].value else {
            panic!("{m:?}");
        };
        assert_eq!(inner.fields[0].value, WireValue::Text("hi".into()));
        assert_eq!(inner.fields[0].offset, 2);
    }

    #[test]
    fn groups() {
        // 1: group { 2: varint 7 }, 3: varint 1.
        let m = wire(&[0x0b, 0x10, 0x07, 0x0c, 0x18, 0x01]);
        assert_eq!(m.unparsed, None);
        assert_eq!(
            m.fields,
            [
                field(
                    1,
                    0,
                    WireValue::Group(WireMessage {
                        fields: vec![field(2, 1, WireValue::Varint(7))],
                        unparsed: None
                    })
                ),
                field(3, 4, WireValue::Varint(1)),
            ]
        );
        // Mismatched or unclosed groups stop parsing.
        assert!(wire(&[0x0b, 0x14]).unparsed.is_some());
        assert!(wire(&[0x0b, 0x10, 0x07]).unparsed.is_some());
        assert!(wire(&[0x0c]).unparsed.is_some());
    }

    #[test]
    fn garbage_keeps_what_parsed() {
        // 1: varint 1, then wire type 7.
        let m = wire(&[0x08, 0x01, 0x0f, 0xaa]);
        assert_eq!(m.fields, [field(1, 0, WireValue::Varint(1))]);
        let rest = m.unparsed.unwrap();
        assert_eq!((rest.offset, &rest.bytes[..]), (2, &[0x0f, 0xaa][..]));
        assert!(rest.reason.contains("wire type 7"), "{}", rest.reason);
        for bad in [
            &[0x00][..], // field 0
            &[0x08],     // varint missing
            &[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
            ], // overlong
            &[0x0a, 0x05, 0x01], // length past the end
            &[0x09, 0x01, 0x02], // fixed64 cut short
            &[0x0d, 0x01], // fixed32 cut short
            &[0xf8, 0xff, 0xff, 0xff, 0x7f, 0x00], // field number too large
        ] {
            let m = wire(bad);
            assert!(m.fields.is_empty(), "{bad:?}: {m:?}");
            assert_eq!(m.unparsed.as_ref().map(|u| u.offset), Some(0), "{bad:?}");
        }
        assert_eq!(wire(&[]), WireMessage::default());
    }

    #[test]
    fn depth_is_limited() {
        // 40 levels of { 1: { 1: ... { 1: 1 } } }.
        let mut inner = vec![0x08, 0x01];
        for _ in 0..40 {
            let mut outer = vec![0x0a, inner.len() as u8];
            if inner.len() >= 0x80 {
                outer = vec![0x0a, (inner.len() as u8) | 0x80, (inner.len() >> 7) as u8];
            }
            outer.extend_from_slice(&inner);
            inner = outer;
        }
        let m = wire(&inner);
        let mut depth = 0;
        let mut value = &m.fields[0].value;
        while let WireValue::Message(inner) = value {
            depth += 1;
            value = &inner.fields[0].value;
        }
        assert_eq!(depth, WireLimits::default().max_depth);
        // Too deep to explore: shown as text or bytes, not as a message.
        assert!(
            matches!(value, WireValue::Text(_) | WireValue::Bytes(_)),
            "{value:?}"
        );
    }

    #[test]
    fn budget_is_bounded() {
        let limits = WireLimits {
            max_fields: 10,
            ..WireLimits::default()
        };
        let payload: Vec<u8> = (0..100).flat_map(|_| [0x08, 0x01]).collect();
        let m = decode_wire(&Bytes::from(payload), &limits);
        assert_eq!(m.fields.len(), 10);
        let rest = m.unparsed.unwrap();
        assert_eq!(rest.offset, 20);
        assert!(rest.reason.contains("budget"));
    }
}
