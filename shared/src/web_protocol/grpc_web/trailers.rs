//! gRPC-Web's trailer block: the payload of the frame (flag 0x80) that
//! ends a response body, holding the trailers as HTTP/1 header lines
//! (`grpc-status: 0\r\n`).
//!
//! [`parse_trailers`] reads one (names lowercased, in order, repeats
//! kept); [`trailer_frame`] writes a whole frame. Lenient where peers
//! differ harmlessly (a bare `\n` ends a line too, the last line may lack
//! its line break, space around names and values is trimmed, empty lines
//! are skipped) and strict where the block is not trailers at all (a line
//! without a colon, a name that is not an HTTP token, bytes that are not
//! text).

use super::TRAILER_FLAG;
use crate::web_protocol::envelope;

/// Why a trailer block does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrailerError {
    /// A line that is not `name: value`.
    #[error("line {line} of the trailer block is not `name: value`")]
    NotAField {
        /// The line, counted from 1.
        line: usize,
    },
    /// A name that is not an HTTP token (empty, or with spaces or
    /// separators in it).
    #[error("line {line} of the trailer block has a name that is not an HTTP token")]
    BadName {
        /// The line, counted from 1.
        line: usize,
    },
    /// A line that is not UTF-8 text.
    #[error("line {line} of the trailer block is not text")]
    NotText {
        /// The line, counted from 1.
        line: usize,
    },
}

/// The fields of a trailer block, names lowercased, in order.
pub fn parse_trailers(block: &[u8]) -> Result<Vec<(String, String)>, TrailerError> {
    let mut fields = Vec::new();
    for (i, line) in block.split(|&b| b == b'\n').enumerate() {
        let line_no = i + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(|b| matches!(b, b' ' | b'\t')) {
            continue;
        }
        let text =
            std::str::from_utf8(line).map_err(|_| TrailerError::NotText { line: line_no })?;
        let (name, value) = text
            .split_once(':')
            .ok_or(TrailerError::NotAField { line: line_no })?;
        let name = name.trim_matches([' ', '\t']);
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(TrailerError::BadName { line: line_no });
        }
        fields.push((
            name.to_ascii_lowercase(),
            value.trim_matches([' ', '\t']).to_owned(),
        ));
    }
    Ok(fields)
}

/// RFC 9110's `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A whole trailer frame (prefix and block) carrying `fields`, each line
/// ending `\r\n`. Values are written as given: percent-encode a
/// `grpc-message` first ([`crate::header::percent_encode_grpc_message`]).
/// (Empty for a block over 4 GiB, which no trailer block is.)
pub fn trailer_frame(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in fields {
        block.extend_from_slice(name.as_bytes());
        block.extend_from_slice(b": ");
        block.extend_from_slice(value.as_bytes());
        block.extend_from_slice(b"\r\n");
    }
    let mut frame = Vec::new();
    match envelope::encode(TRAILER_FLAG, &block, &mut frame) {
        Ok(()) => frame,
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(fields: &[(&str, &str)]) -> Vec<(String, String)> {
        fields
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn frames_are_made_and_read_back() {
        let frame = trailer_frame(&[("grpc-status", "5"), ("grpc-message", "no%20such")]);
        assert_eq!(frame[0], 0x80);
        assert_eq!(&frame[1..5], &(frame.len() as u32 - 5).to_be_bytes());
        assert_eq!(
            parse_trailers(&frame[5..]),
            Ok(pairs(&[
                ("grpc-status", "5"),
                ("grpc-message", "no%20such")
            ]))
        );
        assert_eq!(trailer_frame(&[]), [0x80, 0, 0, 0, 0]);
    }

    #[test]
    fn lenient_where_peers_differ() {
        assert_eq!(
            parse_trailers(b"Grpc-Status:0\nX-A:  b c \t\r\n\r\n  \r\nx-a: d"),
            Ok(pairs(&[("grpc-status", "0"), ("x-a", "b c"), ("x-a", "d")]))
        );
        assert_eq!(parse_trailers(b""), Ok(Vec::new()));
        assert_eq!(
            parse_trailers(b"a:\r\nb: x:y"),
            Ok(pairs(&[("a", ""), ("b", "x:y")]))
        );
        assert_eq!(
            parse_trailers("grpc-message: caf\u{e9}\r\n".as_bytes()),
            Ok(pairs(&[("grpc-message", "caf\u{e9}")]))
        );
    }

    #[test]
    fn strict_where_it_is_not_trailers() {
        assert_eq!(
            parse_trailers(b"grpc-status 0\r\n"),
            Err(TrailerError::NotAField { line: 1 })
        );
        assert_eq!(
            parse_trailers(b"a: b\r\n\xff: x\r\n"),
            Err(TrailerError::NotText { line: 2 })
        );
        for block in [&b": x"[..], b"a b: x", b"a(b): x", b"\xc3\xa9: x"] {
            assert_eq!(
                parse_trailers(block),
                Err(TrailerError::BadName { line: 1 }),
                "{}",
                String::from_utf8_lossy(block)
            );
        }
        assert_eq!(
            parse_trailers(b"<html>\n<body>oops</body>"),
            Err(TrailerError::NotAField { line: 1 })
        );
    }
}
