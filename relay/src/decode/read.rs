//! Reading a capture file record by record, in chunks: nothing but the
//! record being read (and the caller's own state) is held.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use loom_shared::capture::{StreamDecoder, Truncation};
use loom_shared::pb;

use super::DecodeError;

/// How much of the file is read at a time (its events are handed on
/// before the next chunk is read).
const CHUNK: usize = 64 << 10;

/// A capture file to read, as often as needed.
pub(super) struct Records {
    path: PathBuf,
    name: String,
}

impl Records {
    /// Checks that `path` can be read; `name` is what messages call it.
    pub(super) fn open(path: &Path, name: &str) -> Result<Self, DecodeError> {
        File::open(path).map_err(|source| DecodeError::Read {
            path: name.to_owned(),
            source,
        })?;
        Ok(Records {
            path: path.to_owned(),
            name: name.to_owned(),
        })
    }

    /// Hands every complete record to `each`, in order; returns where the
    /// file stops short, if it does. A corrupt record ends the scan with an
    /// error (after the records before it).
    pub(super) fn scan(
        &self,
        mut each: impl FnMut(pb::Event),
    ) -> Result<Option<Truncation>, DecodeError> {
        let read_error = |source| DecodeError::Read {
            path: self.name.clone(),
            source,
        };
        let capture_error = |source| DecodeError::Capture {
            path: self.name.clone(),
            source,
        };
        let mut file = File::open(&self.path).map_err(read_error)?;
        let mut decoder = StreamDecoder::new();
        let mut chunk = vec![0u8; CHUNK];
        loop {
            let n = file.read(&mut chunk).map_err(read_error)?;
            if n == 0 {
                break;
            }
            for event in decoder.push(&chunk[..n]).map_err(capture_error)? {
                each(event);
            }
        }
        // An error met after the last events is reported by `finish`.
        decoder.finish().map_err(capture_error)
    }
}
