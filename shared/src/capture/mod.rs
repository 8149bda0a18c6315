//! The Loom capture file format, version 1.
//!
//! A capture file is a 13-byte header followed by records:
//!
//! ```text
//! header  = MAGIC (9 bytes) | major (u16 LE) | minor (u16 LE)
//! record  = length (protobuf base-128 varint) | loom.capture.v1.Event (length bytes)
//! ```
//!
//! The same records, without the header, make up a WebSocket batch
//! ([`encode_batch`], [`decode_batch`]). `docs/capture-format.md` is the full
//! specification.
//!
//! Reading:
//! - [`read_capture`] for a whole file in memory; [`read_capture_lossy`] when
//!   the events before a corrupt record are still wanted.
//! - [`StreamDecoder`] for input that arrives in chunks.
//!
//! A file that ends in the middle of a record (a writer crashed, a copy was
//! cut short) is not an error: readers return every complete record and
//! describe the cut-off tail as a [`Truncation`]. A record that is complete
//! but does not decode is an error ([`CaptureError::BadRecord`]).

mod batch;
mod error;
mod frame;
mod read;
mod stream;

use prost::Message as _;

use crate::pb;

pub use batch::{decode_batch, encode_batch};
pub use error::{CaptureError, Truncation};
pub use read::{Capture, read_capture, read_capture_lossy, read_header};
pub use stream::StreamDecoder;

/// The first 9 bytes of every capture file.
///
/// PNG-style: the high-bit first byte catches 7-bit channels, `\r\n` and `\n`
/// catch line-ending conversion, and `\x1a` stops `type` on DOS.
pub const MAGIC: [u8; 9] = *b"\x89LOOM\r\n\x1a\n";

/// The format major version this build writes and reads. A reader rejects
/// files with any other major version.
pub const VERSION_MAJOR: u16 = 1;

/// The format minor version this build writes. Minor versions only add
/// fields, so a reader accepts any minor version of its major version.
pub const VERSION_MINOR: u16 = 4;

/// Length of the file header: [`MAGIC`], then the major and minor version as
/// little-endian `u16`s.
pub const HEADER_LEN: usize = 13;

/// The largest record (encoded event, without its length prefix) a reader
/// accepts, in bytes. A longer declared length is
/// [`CaptureError::RecordTooLarge`]: a corrupt or hostile file must not make a
/// reader wait for, or allocate, an unbounded amount of memory.
pub const MAX_RECORD_LEN: usize = 1 << 30;

/// The header a file written by this build starts with.
pub fn file_header() -> [u8; HEADER_LEN] {
    let mut header = [0; HEADER_LEN];
    header[..MAGIC.len()].copy_from_slice(&MAGIC);
    header[9..11].copy_from_slice(&VERSION_MAJOR.to_le_bytes());
    header[11..13].copy_from_slice(&VERSION_MINOR.to_le_bytes());
    header
}

/// Appends one record to `out`: the encoded length of `event` as a protobuf
/// varint, then the encoded event (prost's length-delimited encoding).
///
/// Writers should keep events under [`MAX_RECORD_LEN`] bytes (the relay caps
/// the payload it keeps per message); readers reject larger records.
pub fn encode_record(event: &pb::Event, out: &mut Vec<u8>) {
    let len = event.encoded_len();
    out.reserve(len + prost::encoding::encoded_len_varint(len as u64));
    // prost's only encoding error is "buffer too small", and a Vec grows.
    let result = event.encode_length_delimited(out);
    debug_assert!(result.is_ok(), "encoding into a Vec cannot fail");
}

/// A whole capture file: [`file_header`] followed by one record per event.
pub fn encode_file(events: &[pb::Event]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + events_len_hint(events));
    out.extend_from_slice(&file_header());
    for event in events {
        encode_record(event, &mut out);
    }
    out
}

/// The exact encoded size of `events` as records.
fn events_len_hint(events: &[pb::Event]) -> usize {
    events
        .iter()
        .map(|e| {
            let len = e.encoded_len();
            len + prost::encoding::encoded_len_varint(len as u64)
        })
        .sum()
}

#[cfg(any(test, feature = "testing"))]
pub mod samples;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_bytes() {
        assert_eq!(
            file_header(),
            [
                0x89, b'L', b'O', b'O', b'M', b'\r', b'\n', 0x1a, b'\n', 0x01, 0x00, 0x04, 0x00
            ]
        );
    }

    #[test]
    fn record_is_varint_length_then_event() {
        let event = pb::Event {
            call_id: 1,
            kind: None,
        };
        let mut out = Vec::new();
        encode_record(&event, &mut out);
        assert_eq!(out, [0x02, 0x08, 0x01]);
    }

    #[test]
    fn encode_file_is_header_then_records() {
        let events = samples::every_kind();
        let file = encode_file(&events);
        let mut expected = file_header().to_vec();
        for e in &events {
            encode_record(e, &mut expected);
        }
        assert_eq!(file, expected);
        assert_eq!(file.len(), HEADER_LEN + events_len_hint(&events));
    }
}
