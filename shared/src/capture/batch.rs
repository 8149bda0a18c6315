//! WebSocket batches: capture records without the file header.
//!
//! One WebSocket binary message carries one or more whole records framed
//! exactly as in a file. A message is always sent whole, so a batch that ends
//! inside a record is an error, not a truncation.

use super::frame::{self, Stop};
use super::{CaptureError, encode_record};
use crate::pb;

/// Encodes `events` as one batch: one record per event, no header.
pub fn encode_batch(events: &[pb::Event]) -> Vec<u8> {
    let mut out = Vec::new();
    for event in events {
        encode_record(event, &mut out);
    }
    out
}

/// Decodes a batch. Offsets in errors count from the start of the batch.
/// An empty batch decodes to no events.
pub fn decode_batch(bytes: &[u8]) -> Result<Vec<pb::Event>, CaptureError> {
    let mut events = Vec::new();
    let scan = frame::scan(bytes, 0, 0, &mut events);
    match scan.stop {
        Stop::End => Ok(events),
        Stop::Partial { .. } => Err(CaptureError::IncompleteBatch {
            offset: scan.consumed as u64,
            index: scan.records,
        }),
        Stop::Error(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{HEADER_LEN, encode_file, samples};

    #[test]
    fn round_trip_every_kind() {
        let events = samples::every_kind();
        let batch = encode_batch(&events);
        assert_eq!(decode_batch(&batch), Ok(events.clone()));
        // A batch is a file without its header.
        assert_eq!(batch, encode_file(&events)[HEADER_LEN..]);
        for event in &events {
            let single = encode_batch(std::slice::from_ref(event));
            assert_eq!(decode_batch(&single), Ok(vec![event.clone()]));
        }
    }

    #[test]
    fn empty_batch() {
        assert_eq!(encode_batch(&[]), Vec::<u8>::new());
        assert_eq!(decode_batch(&[]), Ok(vec![]));
    }

    #[test]
    fn partial_record_is_an_error() {
        let events = samples::three();
        let batch = encode_batch(&events);
        let first_len = encode_batch(&events[..1]).len();
        for cut in 1..batch.len() {
            let result = decode_batch(&batch[..cut]);
            if cut == first_len || cut == encode_batch(&events[..2]).len() {
                assert!(result.is_ok(), "cut at {cut}");
            } else {
                assert!(
                    matches!(result, Err(CaptureError::IncompleteBatch { .. })),
                    "cut at {cut}: {result:?}"
                );
            }
        }
        assert_eq!(
            decode_batch(&batch[..first_len + 1]),
            Err(CaptureError::IncompleteBatch {
                offset: first_len as u64,
                index: 1
            })
        );
    }

    #[test]
    fn a_file_is_not_a_batch() {
        let file = encode_file(&samples::three());
        assert!(decode_batch(&file).is_err());
    }
}
