//! Message compression: the `grpc-encoding` a call declared, and undoing it.
//!
//! A gRPC message is compressed only when its prefix's compressed flag is
//! set; the algorithm is the direction's `grpc-encoding` header (the request
//! headers' for requests, the response headers' for responses). Output is
//! capped ([`super::MAX_DECOMPRESSED_BYTES`]) so that a small hostile payload
//! cannot expand into gigabytes.

use std::fmt;
use std::io::Read;

use bytes::Bytes;

/// A `grpc-encoding` value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// No compression (`identity`, or no header at all).
    Identity,
    /// `gzip` (RFC 1952); `x-gzip` is read as the same.
    Gzip,
    /// gRPC's `deflate` is the zlib format (RFC 1950).
    Deflate,
    /// `zstd` (RFC 8878).
    Zstd,
    /// Anything else, as the header spelled it (lower-cased).
    Other(String),
}

impl Encoding {
    /// Parses a header value (case-insensitive, surrounding spaces ignored);
    /// `None` means the header was absent.
    pub fn from_header(value: Option<&str>) -> Encoding {
        let Some(value) = value else {
            return Encoding::Identity;
        };
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "identity" => Encoding::Identity,
            "gzip" | "x-gzip" => Encoding::Gzip,
            "deflate" => Encoding::Deflate,
            "zstd" => Encoding::Zstd,
            other => Encoding::Other(other.to_owned()),
        }
    }

    /// The compression `payload` starts like (gzip's, zstd's or zlib's
    /// magic bytes), for a compressed message whose compression no header
    /// names: a Connect GET's request, whose query named it.
    pub fn sniff(payload: &[u8]) -> Option<Encoding> {
        match payload {
            [0x1f, 0x8b, ..] => Some(Encoding::Gzip),
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Some(Encoding::Zstd),
            [cmf, flg, ..]
                if cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0 =>
            {
                Some(Encoding::Deflate)
            }
            _ => None,
        }
    }

    /// The header spelling.
    pub fn name(&self) -> &str {
        match self {
            Encoding::Identity => "identity",
            Encoding::Gzip => "gzip",
            Encoding::Deflate => "deflate",
            Encoding::Zstd => "zstd",
            Encoding::Other(name) => name,
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a compressed payload could not be decompressed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecompressError {
    /// The compressed flag is set but the call declared no compression.
    #[error(
        "the message is flagged compressed, but the call's compression header \
         (grpc-encoding, content-encoding) says identity or is absent"
    )]
    NoEncoding,
    /// An algorithm this build does not implement.
    #[error("unsupported grpc-encoding {0:?}")]
    Unsupported(String),
    /// The bytes are not valid data of the algorithm (or are cut short).
    #[error("corrupt {encoding} data: {reason}")]
    Corrupt {
        /// The algorithm's header spelling ([`Encoding::name`]).
        encoding: &'static str,
        /// The decoder's message. For `deflate`, which is tried as zlib and
        /// then as raw deflate, the zlib decoder's.
        reason: String,
    },
    /// The output would exceed the limit.
    #[error("{encoding} data expands past the {limit}-byte limit (a compression bomb?)")]
    TooLarge {
        /// The algorithm's header spelling ([`Encoding::name`]).
        encoding: &'static str,
        /// The most bytes of output allowed (the `limit` given to
        /// [`decompress`]).
        limit: usize,
    },
}

/// Decompresses `payload` (a message whose compressed flag is set) with
/// `encoding`, producing at most `limit` bytes.
pub fn decompress(
    encoding: &Encoding,
    payload: &[u8],
    limit: usize,
) -> Result<Bytes, DecompressError> {
    match encoding {
        Encoding::Identity => Err(DecompressError::NoEncoding),
        Encoding::Other(name) => Err(DecompressError::Unsupported(name.clone())),
        Encoding::Gzip => read_capped("gzip", flate2::read::GzDecoder::new(payload), limit),
        Encoding::Deflate => {
            // The spec says zlib; some implementations send raw deflate.
            match read_capped("deflate", flate2::read::ZlibDecoder::new(payload), limit) {
                Err(DecompressError::Corrupt { reason, .. }) => {
                    read_capped("deflate", flate2::read::DeflateDecoder::new(payload), limit)
                        .map_err(|_| DecompressError::Corrupt {
                            encoding: "deflate",
                            reason,
                        })
                }
                other => other,
            }
        }
        Encoding::Zstd => {
            // The window bounds the decoder's memory; the output cap is separate.
            let window = u64::try_from(limit.max(8 << 20)).unwrap_or(u64::MAX);
            let decoder =
                ruzstd::decoding::StreamingDecoder::new_with_max_window_size(payload, window)
                    .map_err(|e| DecompressError::Corrupt {
                        encoding: "zstd",
                        reason: e.to_string(),
                    })?;
            read_capped("zstd", decoder, limit)
        }
    }
}

fn read_capped(
    encoding: &'static str,
    reader: impl Read,
    limit: usize,
) -> Result<Bytes, DecompressError> {
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    match reader.take(cap).read_to_end(&mut out) {
        Ok(_) if out.len() > limit => Err(DecompressError::TooLarge { encoding, limit }),
        Ok(_) => Ok(Bytes::from(out)),
        Err(e) => Err(DecompressError::Corrupt {
            encoding,
            reason: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    const PLAIN: &[u8] = b"\x0a\x0bhello, loom, hello, loom, hello, loom";

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn zstd(data: &[u8]) -> Vec<u8> {
        ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
    }

    #[test]
    fn header_values() {
        assert_eq!(Encoding::from_header(None), Encoding::Identity);
        assert_eq!(Encoding::from_header(Some(" GZIP ")), Encoding::Gzip);
        assert_eq!(Encoding::from_header(Some("identity")), Encoding::Identity);
        assert_eq!(Encoding::from_header(Some("deflate")), Encoding::Deflate);
        assert_eq!(Encoding::from_header(Some("zstd")), Encoding::Zstd);
        assert_eq!(
            Encoding::from_header(Some("Snappy")),
            Encoding::Other("snappy".into())
        );
        assert_eq!(Encoding::Other("snappy".into()).to_string(), "snappy");
    }

    #[test]
    fn sniffing_names_what_the_bytes_start_like() {
        assert_eq!(Encoding::sniff(&gzip(PLAIN)), Some(Encoding::Gzip));
        assert_eq!(Encoding::sniff(&zlib(PLAIN)), Some(Encoding::Deflate));
        assert_eq!(Encoding::sniff(&zstd(PLAIN)), Some(Encoding::Zstd));
        assert_eq!(Encoding::sniff(PLAIN), None);
        assert_eq!(Encoding::sniff(b""), None);
    }

    #[test]
    fn round_trips() {
        for (encoding, data) in [
            (Encoding::Gzip, gzip(PLAIN)),
            (Encoding::Deflate, zlib(PLAIN)),
            (Encoding::Zstd, zstd(PLAIN)),
        ] {
            assert_eq!(
                &decompress(&encoding, &data, 1 << 20).unwrap()[..],
                PLAIN,
                "{encoding}"
            );
        }
        // Raw deflate (no zlib wrapper) is accepted too.
        let mut raw =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        raw.write_all(PLAIN).unwrap();
        let raw = raw.finish().unwrap();
        assert_eq!(
            &decompress(&Encoding::Deflate, &raw, 1 << 20).unwrap()[..],
            PLAIN
        );
    }

    #[test]
    fn corrupt_data_is_reported() {
        for (encoding, mut data) in [
            (Encoding::Gzip, gzip(PLAIN)),
            (Encoding::Deflate, zlib(PLAIN)),
            (Encoding::Zstd, zstd(PLAIN)),
        ] {
            // Cut short.
            let short = &data[..data.len() / 2];
            let err = decompress(&encoding, short, 1 << 20).unwrap_err();
            assert!(
                matches!(err, DecompressError::Corrupt { .. }),
                "{encoding}: {err}"
            );
            // Garbage.
            data.iter_mut().for_each(|b| *b ^= 0x5a);
            let err = decompress(&encoding, &data, 1 << 20).unwrap_err();
            assert!(
                matches!(err, DecompressError::Corrupt { .. }),
                "{encoding}: {err}"
            );
            assert!(err.to_string().contains(encoding.name()), "{err}");
        }
        assert_eq!(
            decompress(&Encoding::Identity, PLAIN, 100),
            Err(DecompressError::NoEncoding)
        );
        assert_eq!(
            decompress(&Encoding::Other("snappy".into()), PLAIN, 100),
            Err(DecompressError::Unsupported("snappy".into()))
        );
    }

    #[test]
    fn bombs_stop_at_the_limit() {
        let zeros = vec![0u8; 1 << 20];
        for (encoding, data) in [
            (Encoding::Gzip, gzip(&zeros)),
            (Encoding::Deflate, zlib(&zeros)),
            (Encoding::Zstd, zstd(&zeros)),
        ] {
            assert!(data.len() < 10_000, "{encoding}: {}", data.len());
            let err = decompress(&encoding, &data, 1000).unwrap_err();
            assert!(
                matches!(err, DecompressError::TooLarge { limit: 1000, .. }),
                "{encoding}: {err}"
            );
            // Exactly at the limit is fine.
            assert_eq!(
                decompress(&encoding, &data, 1 << 20).unwrap().len(),
                1 << 20
            );
        }
    }
}
