//! Base64 as the family's peers write it in whole strings: Connect error
//! details and GET messages, `-bin` metadata values. Lenient on purpose
//! (a debugger should read what a real client accepts): either alphabet,
//! padded or not, stray low bits allowed.
//!
//! The incremental decoder of gRPC-Web text bodies is not here: it works
//! per 4-character group over chunk cuts ([`super::text`]).

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
const STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

/// Standard or URL-safe base64, padded or not (`None`: neither).
pub(crate) fn decode(text: &str) -> Option<Vec<u8>> {
    STANDARD
        .decode(text)
        .or_else(|_| URL_SAFE.decode(text))
        .ok()
}

/// Standard base64, padded: how gRPC writes `-bin` values (for tests).
#[cfg(test)]
pub(crate) fn encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn either_alphabet_padded_or_not() {
        for text in ["+/8=", "+/8", "-_8=", "-_8"] {
            assert_eq!(decode(text), Some(vec![0xfb, 0xff]), "{text}");
        }
        assert_eq!(decode(""), Some(Vec::new()));
        assert_eq!(decode("QR=="), Some(b"A".to_vec()), "stray low bits");
        assert_eq!(decode("+_8"), None, "mixed alphabets");
        assert_eq!(decode("A"), None);
        assert_eq!(decode("AA AA"), None);
        assert_eq!(encode(&[0xfb, 0xff]), "+/8=");
    }
}
