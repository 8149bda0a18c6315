//! gRPC-Web's trailer frame: a response body ends with an envelope whose
//! flag byte has its top bit set (0x80), whose payload is the trailers as
//! HTTP/1 header lines (`grpc-status: 0\r\n`).

/// The flag bit of a trailer frame.
pub const TRAILER_FLAG: u8 = 0x80;

/// Why a trailer block does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrailerError {
    /// A line without a colon.
    #[error("line {line} of the trailer block is not `name: value`")]
    NotAField {
        /// The line, counted from 1.
        line: usize,
    },
    /// A name or value that is not text.
    #[error("line {line} of the trailer block is not text")]
    NotText {
        /// The line, counted from 1.
        line: usize,
    },
}

/// The fields of a trailer block, names lowercased, in order. Lines end
/// with `\r\n` (a bare `\n` is taken too); empty lines are skipped.
pub fn parse_trailers(block: &[u8]) -> Result<Vec<(String, String)>, TrailerError> {
    let mut fields = Vec::new();
    for (i, line) in block.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        let text = std::str::from_utf8(line).map_err(|_| TrailerError::NotText { line: i + 1 })?;
        let (name, value) = text
            .split_once(':')
            .filter(|(n, _)| !n.trim().is_empty())
            .ok_or(TrailerError::NotAField { line: i + 1 })?;
        fields.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    Ok(fields)
}

/// A whole trailer frame (prefix and block) carrying `fields`.
pub fn trailer_frame(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in fields {
        block.extend_from_slice(name.as_bytes());
        block.extend_from_slice(b": ");
        block.extend_from_slice(value.as_bytes());
        block.extend_from_slice(b"\r\n");
    }
    let mut frame = Vec::with_capacity(block.len() + 5);
    frame.push(TRAILER_FLAG);
    frame.extend_from_slice(&u32::try_from(block.len()).unwrap_or(u32::MAX).to_be_bytes());
    frame.extend_from_slice(&block);
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailer_blocks_parse_and_are_made() {
        let frame = trailer_frame(&[("grpc-status", "5"), ("grpc-message", "no%20such")]);
        assert_eq!(frame[0], 0x80);
        let fields = parse_trailers(&frame[5..]).unwrap();
        assert_eq!(
            fields,
            [
                ("grpc-status".into(), "5".into()),
                ("grpc-message".into(), "no%20such".into())
            ]
        );
        assert_eq!(
            parse_trailers(b"Grpc-Status:0\nX-A: b\r\n\r\n").unwrap()[0],
            ("grpc-status".into(), "0".into())
        );
        assert_eq!(
            parse_trailers(b"grpc-status 0\r\n"),
            Err(TrailerError::NotAField { line: 1 })
        );
        assert_eq!(
            parse_trailers(b"a: b\r\n\xff: x\r\n"),
            Err(TrailerError::NotText { line: 2 })
        );
    }
}
