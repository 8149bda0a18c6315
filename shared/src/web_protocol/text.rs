//! gRPC-Web text: the body is base64 of the binary form. A server may
//! flush each message (or frame) as base64 of its own, padding and all, so
//! padding can come in the middle of a body; [`TextDecoder`] decodes per
//! 4-character group, over any chunk cuts, and accepts a padded group
//! anywhere. Whitespace is not allowed (the spec has none).

use base64::Engine as _;

/// Why a gRPC-Web text body does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// A byte that is not base64.
    #[error("byte {byte:#04x} at offset {offset} is not base64")]
    NotBase64 {
        /// The byte.
        byte: u8,
        /// Its offset in the body.
        offset: u64,
    },
    /// A group of 4 that base64 does not decode (bad padding).
    #[error("the group of four at offset {offset} does not decode (bad padding)")]
    BadGroup {
        /// The group's offset in the body.
        offset: u64,
    },
}

/// An incremental decoder of one gRPC-Web text body.
#[derive(Debug, Default)]
pub struct TextDecoder {
    /// Characters of the group under way (fewer than 4).
    group: [u8; 4],
    have: usize,
    /// Characters seen so far.
    offset: u64,
    /// It failed: nothing more is decoded.
    failed: bool,
}

impl TextDecoder {
    /// Decodes what `chunk` completes (the binary bytes of every whole
    /// group so far); the rest waits for the next chunk.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, TextError> {
        if self.failed {
            return Ok(Vec::new());
        }
        let mut out = Vec::with_capacity(chunk.len() / 4 * 3 + 3);
        for &byte in chunk {
            let at = self.offset;
            self.offset += 1;
            if !(byte.is_ascii_alphanumeric() || matches!(byte, b'+' | b'/' | b'=' | b'-' | b'_')) {
                self.failed = true;
                return Err(TextError::NotBase64 { byte, offset: at });
            }
            self.group[self.have] = byte;
            self.have += 1;
            if self.have == 4 {
                self.have = 0;
                let group = self.group;
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(group)
                    .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(group));
                match decoded {
                    Ok(bytes) => out.extend_from_slice(&bytes),
                    Err(_) => {
                        self.failed = true;
                        return Err(TextError::BadGroup { offset: at - 3 });
                    }
                }
            }
        }
        Ok(out)
    }

    /// Characters of an unfinished group at the body's end, if any (the
    /// body was cut, or was not base64 of whole groups).
    pub fn leftover(&self) -> usize {
        self.have
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    #[test]
    fn padded_groups_mid_body_and_any_cuts() {
        let parts: [&[u8]; 3] = [
            b"\x00\x00\x00\x00\x01a",
            b"\x00\x00\x00\x00\x02bc",
            b"\x80\x00\x00\x00\x0fgrpc-status: 0\r\n",
        ];
        let text: String = parts.iter().map(|p| b64(p)).collect();
        assert!(
            text[..text.len() - 4].contains('='),
            "padding mid-body: {text}"
        );
        let want: Vec<u8> = parts.concat();
        for cut in 0..text.len() {
            let mut d = TextDecoder::default();
            let mut got = d.push(&text.as_bytes()[..cut]).unwrap();
            got.extend(d.push(&text.as_bytes()[cut..]).unwrap());
            assert_eq!(got, want, "cut at {cut}");
            assert_eq!(d.leftover(), 0);
        }
    }

    #[test]
    fn bad_bytes_and_groups_are_named() {
        let mut d = TextDecoder::default();
        assert_eq!(
            d.push(b"AAA\n"),
            Err(TextError::NotBase64 {
                byte: b'\n',
                offset: 3
            })
        );
        assert_eq!(d.push(b"AAAA"), Ok(Vec::new()), "nothing after a failure");
        let mut d = TextDecoder::default();
        assert_eq!(d.push(b"AAAAA=AA"), Err(TextError::BadGroup { offset: 4 }));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200), cut in 0usize..200) {
            let mut d = TextDecoder::default();
            let cut = cut.min(bytes.len());
            let _ = d.push(&bytes[..cut]);
            let _ = d.push(&bytes[cut..]);
        }
    }
}
