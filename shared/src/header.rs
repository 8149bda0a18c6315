//! Header and metadata helpers shared by the relay and the browser.

use bytes::Bytes;

use crate::pb;

/// Whether `name` is a binary metadata key (ends with `-bin`, compared
/// ASCII-case-insensitively). Binary values are base64 on the wire and are
/// stored decoded in [`pb::Header::value`].
pub fn is_binary(name: &str) -> bool {
    let suffix = b"-bin";
    let name = name.as_bytes();
    name.len() >= suffix.len() && name[name.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

/// A header entry that is not redacted.
pub fn header(name: impl Into<String>, value: impl Into<Bytes>) -> pb::Header {
    pb::Header {
        name: name.into(),
        value: value.into(),
        redacted: false,
    }
}

/// Decodes a `grpc-message` value as the gRPC HTTP/2 spec says: each `%XX`
/// (two hex digits, either case) is one byte, and the bytes are UTF-8.
///
/// Never fails: a `%` not followed by two hex digits is kept literally, and
/// bytes that are not valid UTF-8 become U+FFFD.
pub fn percent_decode_grpc_message(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    let input = s.as_bytes();
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let byte = input[i];
        if byte == b'%'
            && let Some(&[hi, lo]) = input.get(i + 1..i + 3)
            && let (Some(hi), Some(lo)) = (hex_value(hi), hex_value(lo))
        {
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(byte);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Encodes a message for a `grpc-message` value: bytes outside printable
/// ASCII (0x20..=0x7E), and `%` itself, become `%XX` (upper-case hex).
pub fn percent_encode_grpc_message(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &byte in s.as_bytes() {
        if (0x20..=0x7e).contains(&byte) && byte != b'%' {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
    out
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_names() {
        assert!(is_binary("grpc-status-details-bin"));
        assert!(is_binary("x-token-BIN"));
        assert!(is_binary("-bin"));
        assert!(!is_binary("bin"));
        assert!(!is_binary("x-binary"));
        assert!(!is_binary(""));
        assert!(!is_binary("é-bi"));
    }

    #[test]
    fn header_constructor() {
        let h = header("x-a", "b");
        assert_eq!(
            (h.name.as_str(), &h.value[..], h.redacted),
            ("x-a", &b"b"[..], false)
        );
        let h = header(String::from("x-b-bin"), vec![0u8, 255]);
        assert_eq!(&h.value[..], [0, 255]);
    }

    #[test]
    fn decode() {
        let cases = [
            ("", ""),
            ("plain text", "plain text"),
            ("a%20b", "a b"),
            ("100%25", "100%"),
            ("caf%C3%A9", "café"),
            ("caf%c3%a9", "café"),
            ("%E2%82%AC%0A", "€\n"),
            // Invalid sequences are kept literally.
            ("%", "%"),
            ("50%", "50%"),
            ("%4", "%4"),
            ("%zz%41", "%zzA"),
            ("%%41", "%A"),
            ("%G1", "%G1"),
            // Non-ASCII input passes through.
            ("ünïcode %21", "ünïcode !"),
            // Decoded bytes that are not UTF-8.
            ("bad %FF byte", "bad \u{fffd} byte"),
        ];
        for (input, expected) in cases {
            assert_eq!(percent_decode_grpc_message(input), expected, "{input:?}");
        }
    }

    #[test]
    fn encode_round_trips() {
        for s in ["", "ok", "100% sure", "café\n€", "tab\there", "~!@#"] {
            let encoded = percent_encode_grpc_message(s);
            assert!(
                encoded.bytes().all(|b| (0x20..=0x7e).contains(&b)),
                "{encoded}"
            );
            assert_eq!(percent_decode_grpc_message(&encoded), s);
        }
        assert_eq!(percent_encode_grpc_message("a%b\n"), "a%25b%0A");
    }
}
