//! What can go wrong reading captures, and the (non-error) cut-off tail.

use std::fmt;

use super::{HEADER_LEN, MAX_RECORD_LEN, VERSION_MAJOR};

/// Why capture data (a file, a stream, or a WebSocket batch) could not be read.
///
/// Offsets are byte offsets from the start of the input (for files, counting
/// the header); record indexes count from 0.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaptureError {
    /// The input does not start with [`super::MAGIC`].
    #[error("not a Loom capture file (it does not start with the Loom capture magic bytes)")]
    BadMagic,

    /// The header names a major version this build cannot read.
    #[error(
        "unsupported Loom capture format version {major}.{minor}: this build reads version {supported}.x",
        supported = VERSION_MAJOR
    )]
    UnsupportedVersion {
        /// The major version the header names (never [`VERSION_MAJOR`]).
        major: u16,
        /// The minor version the header names.
        minor: u16,
    },

    /// The input ended before the file header did.
    #[error(
        "too short to be a Loom capture file: it ends inside the {len}-byte header",
        len = HEADER_LEN
    )]
    TooShort,

    /// A record declares a length over [`MAX_RECORD_LEN`].
    #[error(
        "record at byte {offset} declares {len} bytes, over the {max}-byte limit (the data is corrupt)",
        max = MAX_RECORD_LEN
    )]
    RecordTooLarge {
        /// Where the record's length prefix starts.
        offset: u64,
        /// The length the prefix declares, in bytes (the event alone, not
        /// counting the prefix).
        len: u64,
    },

    /// A record is complete but is not a valid `loom.capture.v1.Event`, or its
    /// length prefix is not a valid varint. The decoder's own message is the
    /// error's [`std::error::Error::source`].
    #[error("record {index} (counting from 0) at byte {offset} is not a valid capture event")]
    BadRecord {
        /// Where the record's length prefix starts.
        offset: u64,
        /// The record's position among the input's records.
        index: u64,
        /// Why the prefix or the event did not decode.
        source: prost::DecodeError,
    },

    /// A WebSocket batch ends inside a record. (In a file the same thing is a
    /// [`Truncation`], not an error: a batch is always sent whole.)
    #[error("batch ends inside record {index} (counting from 0), which starts at byte {offset}")]
    IncompleteBatch {
        /// Where the incomplete record's length prefix starts (the end of the
        /// last complete record).
        offset: u64,
        /// The incomplete record's position among the batch's records (the
        /// number of complete records before it).
        index: u64,
    },
}

/// The capture ends in the middle of a record: everything before
/// [`Truncation::offset`] was read, the rest was not.
///
/// This is what a file looks like after the writer crashed or a copy was cut
/// short, so readers report it alongside the events rather than failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Truncation {
    /// Byte offset where the incomplete record starts (the end of the last
    /// complete one).
    pub offset: u64,
    /// Records read completely before it.
    pub complete_records: u64,
    /// How many more bytes the incomplete record needed, when its length
    /// prefix was complete; `None` when the input ended inside the prefix.
    pub missing_bytes_hint: Option<u64>,
}

impl fmt::Display for Truncation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = if self.complete_records == 1 { "" } else { "s" };
        write!(
            f,
            "capture ends mid-record at byte {} after {} complete record{plural}",
            self.offset, self.complete_records
        )?;
        if let Some(missing) = self.missing_bytes_hint {
            let plural = if missing == 1 { "" } else { "s" };
            write!(f, ", {missing} byte{plural} short")?;
        }
        f.write_str(" (the file was cut off, e.g. a crash while writing)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_line() {
        let source = {
            use prost::Message as _;
            crate::pb::Event::decode(&[0xff][..]).err()
        };
        let Some(source) = source else {
            panic!("0xff must not decode");
        };
        let errors = [
            CaptureError::BadMagic,
            CaptureError::UnsupportedVersion { major: 2, minor: 0 },
            CaptureError::TooShort,
            CaptureError::RecordTooLarge {
                offset: 13,
                len: 1 << 40,
            },
            CaptureError::BadRecord {
                offset: 13,
                index: 0,
                source,
            },
            CaptureError::IncompleteBatch {
                offset: 0,
                index: 0,
            },
        ];
        for e in errors {
            let text = e.to_string();
            assert!(!text.contains('\n'), "{text}");
            assert!(!text.is_empty());
        }
        assert!(
            CaptureError::BadMagic
                .to_string()
                .contains("not a Loom capture file")
        );
        assert_eq!(
            CaptureError::UnsupportedVersion { major: 2, minor: 3 }.to_string(),
            "unsupported Loom capture format version 2.3: this build reads version 1.x"
        );
        assert_eq!(
            CaptureError::RecordTooLarge {
                offset: 13,
                len: 1 << 40
            }
            .to_string(),
            "record at byte 13 declares 1099511627776 bytes, over the 1073741824-byte limit (the data is corrupt)"
        );
    }

    #[test]
    fn truncation_display() {
        let t = Truncation {
            offset: 120,
            complete_records: 3,
            missing_bytes_hint: Some(7),
        };
        assert_eq!(
            t.to_string(),
            "capture ends mid-record at byte 120 after 3 complete records, 7 bytes short \
             (the file was cut off, e.g. a crash while writing)"
        );
        let t = Truncation {
            offset: 20,
            complete_records: 1,
            missing_bytes_hint: None,
        };
        assert_eq!(
            t.to_string(),
            "capture ends mid-record at byte 20 after 1 complete record \
             (the file was cut off, e.g. a crash while writing)"
        );
    }
}
