//! Reading a capture that arrives in chunks.

use super::frame::{self, Stop};
use super::{CaptureError, HEADER_LEN, Truncation, read_header};
use crate::pb;

/// Incremental capture reader for input that arrives in chunks (a browser
/// reading a file with progress, stdin, a download).
///
/// Feed chunks to [`push`](Self::push), which returns the events each chunk
/// completes, then call [`finish`](Self::finish) at end of input. Fed the
/// same bytes in any chunking, it yields the same events, truncation and
/// errors as [`super::read_capture`].
///
/// Only the unfinished tail (part of the header, or of one record) is
/// buffered between pushes; complete records are decoded straight from the
/// chunk. Total work is linear in the input size.
///
/// Errors are sticky: once a push fails, every later push and `finish`
/// return the same error. A push that decodes some events and then meets a
/// corrupt record returns those events, and the error comes from the next
/// call, so no event before the corruption is lost.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    /// Unconsumed input: part of the header, or of one record.
    pending: Vec<u8>,
    /// `(major, minor)` once the header is complete.
    version: Option<(u16, u16)>,
    /// Bytes decoded: the header and every complete record.
    consumed: u64,
    /// Complete records decoded.
    records: u64,
    /// The first error met; returned from then on.
    failed: Option<CaptureError>,
}

impl StreamDecoder {
    /// A decoder expecting the start of a capture file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next chunk of input and returns the events it completed.
    ///
    /// The header is checked as soon as enough bytes have arrived
    /// ([`CaptureError::BadMagic`] as soon as a byte differs from the magic).
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<pb::Event>, CaptureError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        let chunk = match self.push_header(chunk) {
            Ok(Some(rest)) => rest,
            Ok(None) => return Ok(Vec::new()),
            Err(error) => return Err(self.fail(error)),
        };
        let mut events = Vec::new();
        let scan = if self.pending.is_empty() {
            let scan = frame::scan(chunk, self.consumed, self.records, &mut events);
            if matches!(scan.stop, Stop::Partial { .. }) {
                self.pending.extend_from_slice(&chunk[scan.consumed..]);
            }
            scan
        } else {
            self.pending.extend_from_slice(chunk);
            let scan = frame::scan(&self.pending, self.consumed, self.records, &mut events);
            // What remains is at most this chunk's length: the bytes before it
            // did not complete a record on their own.
            self.pending.drain(..scan.consumed);
            scan
        };
        self.consumed += scan.consumed as u64;
        self.records += scan.records;
        match scan.stop {
            Stop::End | Stop::Partial { .. } => Ok(events),
            Stop::Error(error) => {
                let error = self.fail(error);
                if events.is_empty() {
                    Err(error)
                } else {
                    Ok(events)
                }
            }
        }
    }

    /// Ends the input. Returns the truncation if it ended inside a record,
    /// [`CaptureError::TooShort`] if the header never completed, or the error
    /// a push already met.
    pub fn finish(self) -> Result<Option<Truncation>, CaptureError> {
        if let Some(error) = self.failed {
            return Err(error);
        }
        if self.version.is_none() {
            // `push` already rejected any byte that differs from the magic.
            return Err(read_header(&self.pending)
                .err()
                .unwrap_or(CaptureError::TooShort));
        }
        if self.pending.is_empty() {
            return Ok(None);
        }
        let scan = frame::scan(&self.pending, self.consumed, self.records, &mut Vec::new());
        match scan.stop {
            Stop::End => Ok(None),
            Stop::Partial { missing } => Ok(Some(Truncation {
                offset: self.consumed + scan.consumed as u64,
                complete_records: self.records + scan.records,
                missing_bytes_hint: missing,
            })),
            Stop::Error(error) => Err(error),
        }
    }

    /// Bytes of input decoded so far: the header and every complete record.
    /// Bytes of an unfinished record waiting for more input are not counted.
    pub fn bytes_consumed(&self) -> u64 {
        self.consumed
    }

    /// Complete records decoded so far.
    pub fn records_decoded(&self) -> u64 {
        self.records
    }

    /// `(major, minor)` from the header, once it has been read.
    pub fn version(&self) -> Option<(u16, u16)> {
        self.version
    }

    /// Accumulates header bytes. Returns the rest of `chunk` once the header
    /// is complete and valid, `None` while it is still incomplete.
    fn push_header<'a>(&mut self, chunk: &'a [u8]) -> Result<Option<&'a [u8]>, CaptureError> {
        if self.version.is_some() {
            return Ok(Some(chunk));
        }
        let take = (HEADER_LEN - self.pending.len()).min(chunk.len());
        let (head, rest) = chunk.split_at(take);
        self.pending.extend_from_slice(head);
        match read_header(&self.pending) {
            Ok(version) => {
                self.version = Some(version);
                self.consumed = HEADER_LEN as u64;
                self.pending.clear();
                Ok(Some(rest))
            }
            Err(CaptureError::TooShort) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Records the first error and returns it.
    fn fail(&mut self, error: CaptureError) -> CaptureError {
        self.pending = Vec::new();
        self.failed.get_or_insert(error).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{encode_file, read_capture, samples};

    /// Decodes `bytes` in chunks of the given sizes (cycled), mimicking
    /// `read_capture`'s result shape.
    fn decode_chunked(
        bytes: &[u8],
        sizes: &[usize],
    ) -> Result<(Vec<pb::Event>, Option<Truncation>), CaptureError> {
        let mut decoder = StreamDecoder::new();
        let mut events = Vec::new();
        let mut rest = bytes;
        let mut sizes = sizes.iter().cycle();
        while !rest.is_empty() {
            let size = (*sizes.next().unwrap()).min(rest.len());
            let (chunk, tail) = rest.split_at(size);
            rest = tail;
            events.extend(decoder.push(chunk)?);
        }
        let truncated = decoder.finish()?;
        Ok((events, truncated))
    }

    #[test]
    fn byte_by_byte_equals_read_capture() {
        let file = encode_file(&samples::every_kind());
        for cut in 0..=file.len() {
            let expected = read_capture(&file[..cut]).map(|c| (c.events, c.truncated));
            assert_eq!(decode_chunked(&file[..cut], &[1]), expected, "cut at {cut}");
        }
    }

    #[test]
    fn whole_and_odd_chunks() {
        let events = samples::every_kind();
        let file = encode_file(&events);
        for sizes in [&[file.len()][..], &[3, 7], &[13, 1], &[64]] {
            let (decoded, truncated) = decode_chunked(&file, sizes).unwrap();
            assert_eq!(decoded, events);
            assert_eq!(truncated, None);
        }
    }

    #[test]
    fn progress_and_version() {
        let events = samples::three();
        let file = encode_file(&events);
        let mut decoder = StreamDecoder::new();
        assert_eq!(decoder.version(), None);
        assert!(decoder.push(&file[..5]).unwrap().is_empty());
        assert_eq!(decoder.bytes_consumed(), 0);
        assert!(decoder.push(&file[5..HEADER_LEN + 1]).unwrap().is_empty());
        assert_eq!(decoder.version(), Some((1, crate::capture::VERSION_MINOR)));
        assert_eq!(decoder.bytes_consumed(), HEADER_LEN as u64);
        let got = decoder.push(&file[HEADER_LEN + 1..]).unwrap();
        assert_eq!(got, events);
        assert_eq!(decoder.bytes_consumed(), file.len() as u64);
        assert_eq!(decoder.records_decoded(), 3);
        assert_eq!(decoder.finish(), Ok(None));
    }

    #[test]
    fn header_errors() {
        let mut decoder = StreamDecoder::new();
        assert_eq!(decoder.push(b"\x89LOX"), Err(CaptureError::BadMagic));
        assert_eq!(decoder.push(b"more"), Err(CaptureError::BadMagic));
        assert_eq!(decoder.finish(), Err(CaptureError::BadMagic));

        let mut decoder = StreamDecoder::new();
        assert_eq!(decoder.push(b"\x89LOOM"), Ok(vec![]));
        assert_eq!(decoder.finish(), Err(CaptureError::TooShort));
        assert_eq!(StreamDecoder::new().finish(), Err(CaptureError::TooShort));

        let mut file = encode_file(&[]);
        file[9] = 2;
        assert_eq!(
            decode_chunked(&file, &[1]),
            Err(CaptureError::UnsupportedVersion {
                major: 2,
                minor: crate::capture::VERSION_MINOR
            })
        );
    }

    #[test]
    fn error_after_events_is_reported_on_next_call() {
        let events = samples::three();
        let mut file = encode_file(&events[..2]);
        file.extend_from_slice(&[0x02, 0xff, 0xff]);
        let mut decoder = StreamDecoder::new();
        assert_eq!(decoder.push(&file), Ok(events[..2].to_vec()));
        let error = decoder.push(b"").unwrap_err();
        assert!(matches!(error, CaptureError::BadRecord { index: 2, .. }));
        assert_eq!(decoder.finish(), Err(error));
    }

    #[test]
    fn huge_declared_length_is_rejected_early() {
        let mut decoder = StreamDecoder::new();
        let mut file = encode_file(&[]);
        prost::encoding::encode_varint(1 << 40, &mut file);
        assert_eq!(
            decoder.push(&file),
            Err(CaptureError::RecordTooLarge {
                offset: 13,
                len: 1 << 40
            })
        );
    }
}
