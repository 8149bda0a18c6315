//! Record framing: splitting bytes into length-delimited events.
//!
//! Every reader (whole files, streams, WebSocket batches) goes through
//! [`scan`], so they agree on what is complete, truncated or corrupt.

use prost::Message as _;

use super::{CaptureError, MAX_RECORD_LEN};
use crate::pb;

/// A protobuf varint is at most 10 bytes long.
const MAX_VARINT_LEN: usize = 10;

/// Why [`scan`] stopped.
#[derive(Debug)]
pub(crate) enum Stop {
    /// Every byte was consumed.
    End,
    /// The data ends inside the record starting at [`Scan::consumed`].
    Partial {
        /// Bytes the record still needs, if its length prefix was complete.
        missing: Option<u64>,
    },
    /// The record starting at [`Scan::consumed`] is corrupt.
    Error(CaptureError),
}

/// The result of [`scan`].
#[derive(Debug)]
pub(crate) struct Scan {
    /// Bytes of complete, decoded records.
    pub consumed: usize,
    /// How many records were decoded.
    pub records: u64,
    pub stop: Stop,
}

/// Decodes complete records from the start of `data`, appending them to
/// `events`, until the data runs out or a record is corrupt.
///
/// `base_offset` and `base_index` are the position of `data` in the whole
/// input, used in errors. Never allocates more than the decoded events need:
/// a declared length is only acted on once that many bytes are present.
pub(crate) fn scan(
    data: &[u8],
    base_offset: u64,
    base_index: u64,
    events: &mut Vec<pb::Event>,
) -> Scan {
    // Sized once: growing a vector of a chunk's tens of thousands of events
    // copies them again at every doubling. Not for more than one event per
    // 16 bytes: a chunk of empty records grows the vector as it decodes.
    events.reserve(complete_records(data).min(data.len() / 16));
    let mut pos = 0;
    let mut records = 0;
    let stop = loop {
        let rest = &data[pos..];
        if rest.is_empty() {
            break Stop::End;
        }
        let offset = base_offset + pos as u64;
        let index = base_index + records;
        let (len, width) = match read_prefix(rest) {
            Prefix::Len { len, width } => (len, width),
            Prefix::Incomplete => break Stop::Partial { missing: None },
            Prefix::Invalid(source) => {
                break Stop::Error(CaptureError::BadRecord {
                    offset,
                    index,
                    source,
                });
            }
        };
        if len > MAX_RECORD_LEN as u64 {
            break Stop::Error(CaptureError::RecordTooLarge { offset, len });
        }
        let available = (rest.len() - width) as u64;
        if available < len {
            break Stop::Partial {
                missing: Some(len - available),
            };
        }
        // `len <= available <= rest.len()`, so the conversion and slice hold.
        let end = width + len as usize;
        match pb::Event::decode(&rest[width..end]) {
            Ok(event) => events.push(event),
            Err(source) => {
                break Stop::Error(CaptureError::BadRecord {
                    offset,
                    index,
                    source,
                });
            }
        }
        pos += end;
        records += 1;
    };
    Scan {
        consumed: pos,
        records,
        stop,
    }
}

/// How many complete records `data` starts with (their framing only, not
/// their contents).
fn complete_records(data: &[u8]) -> usize {
    let mut pos = 0;
    let mut records = 0;
    while pos < data.len() {
        let Prefix::Len { len, width } = read_prefix(&data[pos..]) else {
            break;
        };
        let available = (data.len() - pos - width) as u64;
        if len > available {
            break;
        }
        // `len <= available`, so the sum stays within `data`.
        pos += width + len as usize;
        records += 1;
    }
    records
}

/// A record's length prefix.
enum Prefix {
    Len {
        len: u64,
        width: usize,
    },
    /// The data ends inside the varint.
    Incomplete,
    /// Ten bytes without a terminator, or a value over 64 bits.
    Invalid(prost::DecodeError),
}

/// Reads the varint at the start of non-empty `data`.
fn read_prefix(data: &[u8]) -> Prefix {
    let window = &data[..data.len().min(MAX_VARINT_LEN)];
    let terminated = window.iter().any(|b| b & 0x80 == 0);
    if !terminated && window.len() < MAX_VARINT_LEN {
        return Prefix::Incomplete;
    }
    let mut cursor = window;
    match prost::encoding::decode_varint(&mut cursor) {
        Ok(len) => Prefix::Len {
            len,
            width: window.len() - cursor.len(),
        },
        Err(e) => Prefix::Invalid(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{encode_record, samples};

    fn run(data: &[u8]) -> (Vec<pb::Event>, Scan) {
        let mut events = Vec::new();
        let scan = scan(data, 100, 5, &mut events);
        (events, scan)
    }

    #[test]
    fn complete_records() {
        let mut data = Vec::new();
        for e in samples::every_kind() {
            encode_record(&e, &mut data);
        }
        let (events, scan) = run(&data);
        assert_eq!(events, samples::every_kind());
        assert_eq!(scan.consumed, data.len());
        assert_eq!(scan.records, events.len() as u64);
        assert!(matches!(scan.stop, Stop::End));
    }

    #[test]
    fn partial_prefix_and_body() {
        // Length 300 = varint ac 02.
        let (_, scan) = run(&[0xac]);
        assert!(matches!(scan.stop, Stop::Partial { missing: None }));
        let (_, scan) = run(&[0xac, 0x02, 0x08]);
        assert!(matches!(scan.stop, Stop::Partial { missing: Some(299) }));
        assert_eq!(scan.consumed, 0);
    }

    #[test]
    fn invalid_varints() {
        let (_, scan) = run(&[0xff; 10]);
        assert!(matches!(
            scan.stop,
            Stop::Error(CaptureError::BadRecord {
                offset: 100,
                index: 5,
                ..
            })
        ));
        // Terminated at the tenth byte but over 64 bits.
        let mut overflow = vec![0xff; 9];
        overflow.push(0x02);
        let (_, scan) = run(&overflow);
        assert!(matches!(
            scan.stop,
            Stop::Error(CaptureError::BadRecord { .. })
        ));
        // Nine continuation bytes are still only a partial prefix.
        let (_, scan) = run(&[0xff; 9]);
        assert!(matches!(scan.stop, Stop::Partial { missing: None }));
    }

    #[test]
    fn non_canonical_prefix_is_accepted() {
        // Length 2 written in three bytes, as prost also accepts.
        let (events, scan) = run(&[0x82, 0x80, 0x00, 0x08, 0x07]);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].call_id, 7);
        assert_eq!(scan.consumed, 5);
    }

    #[test]
    fn too_large() {
        let mut data = Vec::new();
        prost::encoding::encode_varint(MAX_RECORD_LEN as u64 + 1, &mut data);
        let (_, scan) = run(&data);
        assert!(matches!(
            scan.stop,
            Stop::Error(CaptureError::RecordTooLarge {
                offset: 100,
                len
            }) if len == MAX_RECORD_LEN as u64 + 1
        ));
        // Exactly the limit is allowed (and only partial here).
        let mut data = Vec::new();
        prost::encoding::encode_varint(MAX_RECORD_LEN as u64, &mut data);
        let (_, scan) = run(&data);
        assert!(matches!(scan.stop, Stop::Partial { missing: Some(_) }));
    }

    #[test]
    fn bad_body_stops_after_good_records() {
        let mut data = Vec::new();
        encode_record(&samples::every_kind()[0], &mut data);
        let good = data.len();
        data.extend_from_slice(&[0x01, 0xff]);
        let (events, scan) = run(&data);
        assert_eq!(events.len(), 1);
        assert_eq!(scan.consumed, good);
        assert!(matches!(
            scan.stop,
            Stop::Error(CaptureError::BadRecord { offset, index: 6, .. }) if offset == 100 + good as u64
        ));
    }
}
