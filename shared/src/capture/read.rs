//! Reading a whole capture file held in memory.

use super::frame::{self, Stop};
use super::{CaptureError, HEADER_LEN, MAGIC, Truncation, VERSION_MAJOR};
use crate::pb;

/// The contents of a capture file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Capture {
    /// `(major, minor)` from the file header. `(0, 0)` only in the partial
    /// result of [`read_capture_lossy`] when the header itself was unreadable.
    pub version: (u16, u16),
    /// Every complete record, in file order.
    pub events: Vec<pb::Event>,
    /// Set when the file ends in the middle of a record.
    pub truncated: Option<Truncation>,
}

/// Reads and checks a file header from the start of `bytes`, returning
/// `(major, minor)`.
///
/// Fails with [`CaptureError::BadMagic`] as soon as the bytes present differ
/// from [`MAGIC`], with [`CaptureError::TooShort`] if they match but stop
/// before [`HEADER_LEN`] bytes, and with [`CaptureError::UnsupportedVersion`]
/// for a major version other than [`VERSION_MAJOR`]. Any minor version is
/// accepted: minor versions only add fields.
pub fn read_header(bytes: &[u8]) -> Result<(u16, u16), CaptureError> {
    let magic_len = bytes.len().min(MAGIC.len());
    if bytes[..magic_len] != MAGIC[..magic_len] {
        return Err(CaptureError::BadMagic);
    }
    let Some(&[a, b, c, d]) = bytes.get(MAGIC.len()..HEADER_LEN) else {
        return Err(CaptureError::TooShort);
    };
    let major = u16::from_le_bytes([a, b]);
    let minor = u16::from_le_bytes([c, d]);
    if major != VERSION_MAJOR {
        return Err(CaptureError::UnsupportedVersion { major, minor });
    }
    Ok((major, minor))
}

/// Reads a whole capture file.
///
/// A file cut off inside a record yields every complete record and
/// [`Capture::truncated`]. A wrong header, or a complete record that does not
/// decode, is an error; use [`read_capture_lossy`] to keep the events before
/// a corrupt record.
pub fn read_capture(bytes: &[u8]) -> Result<Capture, CaptureError> {
    match read_capture_lossy(bytes) {
        (capture, None) => Ok(capture),
        (_, Some(error)) => Err(error),
    }
}

/// Reads a capture file as far as possible: returns every event before the
/// first error, and the error, if any.
///
/// On a header error the capture is empty; its `version` is the header's
/// when the header could be parsed (an unsupported version), else `(0, 0)`.
/// `truncated` is only ever set when there is no error.
pub fn read_capture_lossy(bytes: &[u8]) -> (Capture, Option<CaptureError>) {
    let version = match read_header(bytes) {
        Ok(version) => version,
        Err(error) => {
            let version = match error {
                CaptureError::UnsupportedVersion { major, minor } => (major, minor),
                _ => (0, 0),
            };
            let capture = Capture {
                version,
                ..Capture::default()
            };
            return (capture, Some(error));
        }
    };
    let mut events = Vec::new();
    let body = &bytes[HEADER_LEN..];
    let scan = frame::scan(body, HEADER_LEN as u64, 0, &mut events);
    let (truncated, error) = match scan.stop {
        Stop::End => (None, None),
        Stop::Partial { missing } => {
            let truncation = Truncation {
                offset: (HEADER_LEN + scan.consumed) as u64,
                complete_records: scan.records,
                missing_bytes_hint: missing,
            };
            (Some(truncation), None)
        }
        Stop::Error(error) => (None, Some(error)),
    };
    let capture = Capture {
        version,
        events,
        truncated,
    };
    (capture, error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{encode_file, encode_record, file_header, samples};

    fn with_version(major: u16, minor: u16, events: &[pb::Event]) -> Vec<u8> {
        let mut file = encode_file(events);
        file[9..11].copy_from_slice(&major.to_le_bytes());
        file[11..13].copy_from_slice(&minor.to_le_bytes());
        file
    }

    #[test]
    fn round_trip_every_kind() {
        let events = samples::every_kind();
        let capture = read_capture(&encode_file(&events)).unwrap();
        assert_eq!(capture.version, (1, crate::capture::VERSION_MINOR));
        assert_eq!(capture.events, events);
        assert_eq!(capture.truncated, None);
    }

    #[test]
    fn empty_capture() {
        let capture = read_capture(&file_header()).unwrap();
        assert_eq!(capture.events, []);
        assert_eq!(capture.truncated, None);
    }

    #[test]
    fn every_cut_point_of_a_three_record_file() {
        let events = samples::three();
        let file = encode_file(&events);
        // (start, prefix width, end) of each record.
        let mut records = vec![];
        let mut pos = HEADER_LEN;
        for e in &events {
            let mut record = Vec::new();
            encode_record(e, &mut record);
            let width = record.len() - prost::Message::encoded_len(e);
            records.push((pos, width, pos + record.len()));
            pos += record.len();
        }
        assert!(
            records.iter().any(|&(_, width, _)| width > 1),
            "one record should have a multi-byte length prefix"
        );
        for cut in HEADER_LEN..=file.len() {
            let capture = read_capture(&file[..cut])
                .unwrap_or_else(|e| panic!("cut at {cut}: unexpected error {e}"));
            let complete = records.iter().filter(|r| r.2 <= cut).count();
            assert_eq!(capture.events, events[..complete], "cut at {cut}");
            match records.get(complete) {
                Some(&(start, width, end)) if cut > start => {
                    let t = capture.truncated.unwrap();
                    assert_eq!(t.offset, start as u64, "cut at {cut}");
                    assert_eq!(t.complete_records, complete as u64, "cut at {cut}");
                    let missing = (cut >= start + width).then_some((end - cut) as u64);
                    assert_eq!(t.missing_bytes_hint, missing, "cut at {cut}");
                }
                _ => assert_eq!(capture.truncated, None, "cut at {cut}"),
            }
        }
    }

    #[test]
    fn header_errors() {
        assert_eq!(read_capture(b""), Err(CaptureError::TooShort));
        assert_eq!(read_capture(&MAGIC[..5]), Err(CaptureError::TooShort));
        assert_eq!(
            read_capture(&file_header()[..12]),
            Err(CaptureError::TooShort)
        );
        assert_eq!(read_capture(b"hello"), Err(CaptureError::BadMagic));
        assert_eq!(
            read_capture(b"GIF89a and some more bytes"),
            Err(CaptureError::BadMagic)
        );
        // Text-mode mangling: \r\n turned into \n.
        let mut mangled = file_header().to_vec();
        mangled.remove(5);
        mangled.push(0);
        assert_eq!(read_capture(&mangled), Err(CaptureError::BadMagic));
    }

    #[test]
    fn major_version_2_is_rejected() {
        let file = with_version(2, 0, &samples::three());
        assert_eq!(
            read_capture(&file),
            Err(CaptureError::UnsupportedVersion { major: 2, minor: 0 })
        );
        let (capture, error) = read_capture_lossy(&file);
        assert_eq!(capture.version, (2, 0));
        assert_eq!(capture.events, []);
        assert!(error.is_some());
        assert!(matches!(
            read_capture(&with_version(0, 9, &[])),
            Err(CaptureError::UnsupportedVersion { major: 0, minor: 9 })
        ));
    }

    #[test]
    fn newer_minor_version_is_accepted() {
        let events = samples::three();
        let capture = read_capture(&with_version(1, 9, &events)).unwrap();
        assert_eq!(capture.version, (1, 9));
        assert_eq!(capture.events, events);
    }

    #[test]
    fn unknown_fields_are_ignored() {
        // A 1.1 writer might add field 99 to Event; a 1.0 reader skips it.
        let mut file = with_version(1, 1, &[]);
        // Event { call_id: 3, <field 99, varint 1> }: 08 03 | 98 06 01.
        file.extend_from_slice(&[0x05, 0x08, 0x03, 0x98, 0x06, 0x01]);
        let capture = read_capture(&file).unwrap();
        assert_eq!(capture.events.len(), 1);
        assert_eq!(capture.events[0].call_id, 3);
    }

    #[test]
    fn record_too_large_without_allocating() {
        let mut file = file_header().to_vec();
        prost::encoding::encode_varint(1 << 40, &mut file);
        file.extend_from_slice(b"tiny");
        assert_eq!(
            read_capture(&file),
            Err(CaptureError::RecordTooLarge {
                offset: 13,
                len: 1 << 40
            })
        );
    }

    #[test]
    fn bad_record_keeps_earlier_events_in_lossy_mode() {
        let events = samples::three();
        let mut file = encode_file(&events[..2]);
        let bad_offset = file.len() as u64;
        // A complete 2-byte record whose body is an invalid tag.
        file.extend_from_slice(&[0x02, 0xff, 0xff]);
        encode_record(&events[2], &mut file);
        let error = read_capture(&file).unwrap_err();
        assert!(matches!(
            error,
            CaptureError::BadRecord { offset, index: 2, .. } if offset == bad_offset
        ));
        assert!(std::error::Error::source(&error).is_some());
        let (capture, lossy_error) = read_capture_lossy(&file);
        assert_eq!(capture.events, events[..2]);
        assert_eq!(capture.truncated, None);
        assert_eq!(lossy_error, Some(error));
    }
}
