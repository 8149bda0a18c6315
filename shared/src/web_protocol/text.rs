//! gRPC-Web text (`application/grpc-web-text`): the body is base64 of the
//! binary form. [`TextDecoder`] undoes it over any chunk cuts.
//!
//! A server flushes base64 of whatever it has, padding and all, so one
//! body can hold several padded runs (`AAAAAAE=` then `gAAAAA8=`): the
//! decoder works per 4-character group and accepts a padded group (`xx==`,
//! `xxx=`) anywhere, then carries on. Both alphabets are read (`+/` and
//! `-_`), and the low bits a padded group leaves over are ignored: what a
//! lenient client decodes, this decodes.
//!
//! Whitespace: the spec has none, and the default ([`Whitespace::Reject`])
//! calls it an error; [`Whitespace::Skip`] passes over spaces, tabs and line
//! breaks, as browsers' base64 decoders (and grpc-web's JS client) do.
//!
//! What it is not: it does not split the decoded bytes into frames; feed
//! them to [`super::grpc_web::Splitter`] (or build that splitter with
//! [`super::grpc_web::BodyForm::Text`], which does both).

/// What [`TextDecoder`] does with whitespace between base64 characters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Whitespace {
    /// An error, as the spec allows none.
    #[default]
    Reject,
    /// Passed over (space, tab, CR, LF).
    Skip,
}

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
    /// A group of four with padding where padding cannot be (`A===`,
    /// `AA=A`, `=AAA`).
    #[error("the group of four ending at offset {offset} is badly padded")]
    BadPadding {
        /// The offset of the group's last character in the body.
        offset: u64,
    },
    /// The body ended inside a group of four.
    #[error("the body ends {have} base64 characters into a group of four")]
    Unfinished {
        /// Characters of the unfinished group (1 to 3).
        have: usize,
    },
}

/// Padding.
const PAD: u8 = 64;
/// Whitespace (with [`Whitespace::Skip`]).
const SPACE: u8 = 65;
/// Anything else.
const BAD: u8 = 255;

/// Each byte's 6-bit value in either alphabet, or [`PAD`], [`SPACE`] or
/// [`BAD`].
const VALUES: [u8; 256] = {
    let mut table = [BAD; 256];
    let mut i = 0;
    while i < 26 {
        table[b'A' as usize + i] = i as u8;
        table[b'a' as usize + i] = 26 + i as u8;
        i += 1;
    }
    let mut d = 0;
    while d < 10 {
        table[b'0' as usize + d] = 52 + d as u8;
        d += 1;
    }
    table[b'+' as usize] = 62;
    table[b'-' as usize] = 62;
    table[b'/' as usize] = 63;
    table[b'_' as usize] = 63;
    table[b'=' as usize] = PAD;
    table[b' ' as usize] = SPACE;
    table[b'\t' as usize] = SPACE;
    table[b'\r' as usize] = SPACE;
    table[b'\n' as usize] = SPACE;
    table
};

/// An incremental decoder of one gRPC-Web text body.
#[derive(Debug, Default)]
pub struct TextDecoder {
    whitespace: Whitespace,
    /// Values of the group under way.
    group: [u8; 4],
    /// How many of them there are (0 to 3 between calls).
    have: usize,
    /// Bytes of the body taken so far.
    offset: u64,
    /// The error it stopped at, returned again by every later call.
    failed: Option<TextError>,
}

impl TextDecoder {
    /// A decoder that treats whitespace as `whitespace` says
    /// ([`TextDecoder::default`] rejects it).
    pub fn new(whitespace: Whitespace) -> Self {
        TextDecoder {
            whitespace,
            ..TextDecoder::default()
        }
    }

    /// Decodes what `chunk` completes: the bytes of every whole group so
    /// far; the rest waits for the next chunk. After an error, every call
    /// returns it again.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, TextError> {
        let mut out = Vec::new();
        self.push_into(chunk, &mut out)?;
        Ok(out)
    }

    /// [`TextDecoder::push`], appending to `out` (which a caller can reuse
    /// from chunk to chunk). On an error, `out` holds the bytes of the
    /// groups before it.
    pub fn push_into(&mut self, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), TextError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        out.reserve(chunk.len() / 4 * 3 + 3);
        for &byte in chunk {
            let at = self.offset;
            self.offset += 1;
            let value = VALUES[usize::from(byte)];
            let error = match value {
                SPACE if self.whitespace == Whitespace::Skip => continue,
                SPACE | BAD => Some(TextError::NotBase64 { byte, offset: at }),
                _ => {
                    self.group[self.have] = value;
                    self.have += 1;
                    if self.have < 4 {
                        continue;
                    }
                    self.have = 0;
                    decode_group(self.group, out)
                        .err()
                        .map(|()| TextError::BadPadding { offset: at })
                }
            };
            if let Some(e) = error {
                self.failed = Some(e.clone());
                return Err(e);
            }
        }
        Ok(())
    }

    /// Characters of an unfinished group, if any (the body so far is not
    /// whole groups).
    pub fn leftover(&self) -> usize {
        self.have
    }

    /// The body is over: an error if it ended inside a group (or if the
    /// decoder had already failed).
    pub fn finish(&self) -> Result<(), TextError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.have {
            0 => Ok(()),
            have => Err(TextError::Unfinished { have }),
        }
    }
}

/// One group's bytes (1 to 3 of them, as its padding says).
fn decode_group([a, b, c, d]: [u8; 4], out: &mut Vec<u8>) -> Result<(), ()> {
    let n = match (a, b, c, d) {
        (PAD, ..) | (_, PAD, ..) | (_, _, PAD, 0..PAD) => return Err(()),
        (_, _, PAD, PAD) => 1,
        (_, _, _, PAD) => 2,
        _ => 3,
    };
    let bits = u32::from(a) << 18 | u32::from(b) << 12 | u32::from(c & 63) << 6 | u32::from(d & 63);
    let [_, x, y, z] = bits.to_be_bytes();
    out.extend_from_slice(&[x, y, z][..n]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    fn decode_all(decoder: &mut TextDecoder, text: &[u8]) -> Result<Vec<u8>, TextError> {
        let out = decoder.push(text)?;
        decoder.finish()?;
        Ok(out)
    }

    #[test]
    fn padded_groups_mid_body_over_every_cut() {
        let parts: [&[u8]; 3] = [
            b"\x00\x00\x00\x00\x01a",
            b"\x00\x00\x00\x00\x02bc",
            b"\x80\x00\x00\x00\x0fgrpc-status: 0\r\n",
        ];
        let text: String = parts.iter().map(|p| b64(p)).collect();
        assert!(
            text.trim_end_matches('=').contains('='),
            "padding mid-body: {text}"
        );
        let want: Vec<u8> = parts.concat();
        for cut in 0..=text.len() {
            let mut d = TextDecoder::default();
            let mut got = Vec::new();
            d.push_into(&text.as_bytes()[..cut], &mut got).unwrap();
            d.push_into(&text.as_bytes()[cut..], &mut got).unwrap();
            assert_eq!(got, want, "cut at {cut}");
            assert_eq!(d.finish(), Ok(()));
        }
    }

    #[test]
    fn every_length_and_both_alphabets() {
        for len in 0..40u8 {
            let bytes: Vec<u8> = (0..len).map(|i| i.wrapping_mul(97) ^ 0xfb).collect();
            let text = b64(&bytes);
            assert_eq!(
                decode_all(&mut TextDecoder::default(), text.as_bytes()),
                Ok(bytes.clone())
            );
            let url = base64::engine::general_purpose::URL_SAFE.encode(&bytes);
            assert_eq!(
                decode_all(&mut TextDecoder::default(), url.as_bytes()),
                Ok(bytes)
            );
        }
        assert_eq!(
            TextDecoder::default().push(b"QR=="),
            Ok(b"A".to_vec()),
            "stray low bits"
        );
    }

    #[test]
    fn bad_bytes_and_padding_are_named_and_sticky() {
        let mut d = TextDecoder::default();
        let err = TextError::NotBase64 {
            byte: b'\n',
            offset: 3,
        };
        assert_eq!(d.push(b"AAA\n"), Err(err.clone()));
        assert_eq!(d.push(b"AAAA"), Err(err.clone()), "the error sticks");
        assert_eq!(d.finish(), Err(err));
        for (text, offset) in [
            (&b"AAAAA==="[..], 7),
            (b"=AAA", 3),
            (b"A=AA", 3),
            (b"AA=A", 3),
            (b"AAAA====", 7),
        ] {
            assert_eq!(
                TextDecoder::default().push(text),
                Err(TextError::BadPadding { offset }),
                "{}",
                String::from_utf8_lossy(text)
            );
        }
        assert_eq!(
            TextDecoder::default().push(b"AA\xff"),
            Err(TextError::NotBase64 {
                byte: 0xff,
                offset: 2
            })
        );
    }

    #[test]
    fn whitespace_is_rejected_or_skipped() {
        let text = b"AAAA\r\nAA==\n AAE=\t";
        assert!(matches!(
            TextDecoder::default().push(text),
            Err(TextError::NotBase64 {
                byte: b'\r',
                offset: 4
            })
        ));
        let mut d = TextDecoder::new(Whitespace::Skip);
        assert_eq!(decode_all(&mut d, text), Ok(vec![0, 0, 0, 0, 0, 1]));
    }

    #[test]
    fn an_unfinished_group_is_reported_at_the_end() {
        let mut d = TextDecoder::default();
        assert_eq!(d.push(b"AAAAAA"), Ok(vec![0, 0, 0]));
        assert_eq!(d.leftover(), 2);
        assert_eq!(d.finish(), Err(TextError::Unfinished { have: 2 }));
    }
}
