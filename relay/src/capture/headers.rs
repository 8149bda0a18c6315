//! Metadata as the capture records it: request and response headers in
//! arrival order with `-bin` values decoded to their bytes, and the
//! client's `grpc-timeout`.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::{GeneralPurpose, GeneralPurposeConfig, general_purpose};
use http::HeaderMap;
use loom_shared::pb;

/// gRPC senders may or may not pad base64 in `-bin` headers; accept both.
const BIN_HEADER: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// A `grpc-timeout` value (`1..=8` digits and a unit: H, M, S, m, u, n).
pub fn parse_grpc_timeout(value: &[u8]) -> Option<Duration> {
    let (&unit, digits) = value.split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(match unit {
        b'H' => Duration::from_secs(n.checked_mul(3600)?),
        b'M' => Duration::from_secs(n.checked_mul(60)?),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Decode a `-bin` header value; undecodable values are kept as sent.
pub fn decode_bin(value: &[u8]) -> Vec<u8> {
    BIN_HEADER
        .decode(value)
        .or_else(|_| general_purpose::URL_SAFE_NO_PAD.decode(value))
        .unwrap_or_else(|_| value.to_vec())
}

/// Metadata as capture headers: `-bin` values decoded to their bytes.
pub fn headers_to_pb(map: &HeaderMap) -> Vec<pb::Header> {
    map.iter()
        .map(|(name, value)| {
            let name = name.as_str();
            let bytes = if loom_shared::header::is_binary(name) {
                decode_bin(value.as_bytes())
            } else {
                value.as_bytes().to_vec()
            };
            pb::Header {
                name: name.to_owned(),
                value: bytes.into(),
                redacted: false,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bin_headers_decode_padded_and_unpadded() {
        assert_eq!(decode_bin(b"AQID"), vec![1, 2, 3]);
        assert_eq!(decode_bin(b"AQI"), vec![1, 2]);
        assert_eq!(decode_bin(b"AQI="), vec![1, 2]);
        assert_eq!(decode_bin(b"not base64!"), b"not base64!".to_vec());
    }

    #[test]
    fn grpc_timeouts_parse() {
        assert_eq!(
            parse_grpc_timeout(b"100m"),
            Some(Duration::from_millis(100))
        );
        assert_eq!(parse_grpc_timeout(b"2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_grpc_timeout(b"1H"), Some(Duration::from_secs(3600)));
        assert_eq!(
            parse_grpc_timeout(b"99999999n"),
            Some(Duration::from_nanos(99_999_999))
        );
        for bad in [&b""[..], b"m", b"123456789m", b"10x", b"-1S", b"1.5S"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn headers_keep_order_and_decode_bin() {
        let mut map = HeaderMap::new();
        map.insert("x-a", "1".parse().unwrap());
        map.insert("x-trace-bin", "AAEC".parse().unwrap());
        let got = headers_to_pb(&map);
        assert_eq!(got[0].name, "x-a");
        assert_eq!(&got[0].value[..], b"1");
        assert_eq!(&got[1].value[..], &[0, 1, 2]);
    }
}
