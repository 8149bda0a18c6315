//! `--record FILE`: writes every event to a capture file as it happens.
//!
//! The recorder runs on a thread of its own and drains the hub's record
//! queue, which holds up to `--record-buffer` bytes of events, counting
//! those taken but not yet written: each batch is whatever queued up while
//! the last one was written, encoded and written [`WRITE_BYTES`] at a time,
//! each event let go of once encoded. So the file keeps up with anything
//! the relay forwards unless the disk is slower than the traffic for that
//! whole budget, and then the file says so with a gap. Each batch reaches
//! the operating system as soon as it is written, so after a crash (even
//! `kill -9`) the file reads back up to its last complete record. Secret
//! headers are redacted unless told otherwise.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use loom_shared::capture;
use loom_shared::redact::{self, Redactor};

use crate::capture::hub::Hub;

/// A batch is written once this much of it is encoded (and at its end).
const WRITE_BYTES: usize = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(
        "{path}: already exists; Loom will not overwrite a capture. Pick another file name or remove it"
    )]
    Exists { path: PathBuf },
    #[error("cannot create the record file {path}: {cause}")]
    Create {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error(
        "writing the record file {path} failed after {written} events, so it stops there \
         (traffic was not affected): {cause}"
    )]
    Write {
        path: PathBuf,
        written: u64,
        cause: std::io::Error,
    },
    #[error("the recorder for {path} stopped unexpectedly: {why}")]
    Crashed { path: PathBuf, why: String },
}

pub struct Recorder {
    path: PathBuf,
    file: File,
    /// `None` keeps secrets.
    redactor: Option<Redactor>,
}

impl Recorder {
    /// Creates the file and writes the capture header.
    pub fn create(path: &Path, redactor: Option<Redactor>) -> Result<Self, RecordError> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|source| match source.kind() {
                std::io::ErrorKind::AlreadyExists => RecordError::Exists {
                    path: path.to_owned(),
                },
                _ => RecordError::Create {
                    path: path.to_owned(),
                    cause: source,
                },
            })?;
        file.write_all(&capture::file_header())
            .map_err(|cause| RecordError::Create {
                path: path.to_owned(),
                cause,
            })?;
        Ok(Recorder {
            path: path.to_owned(),
            file,
            redactor,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes what the hub queues until it closes recording; returns how
    /// many events were written. On a write error the hub stops queueing
    /// (so nothing piles up) and the error is returned.
    pub fn run(mut self, hub: &Hub) -> Result<u64, RecordError> {
        tracing::info!(path = %self.path.display(), "recording to file");
        let mut written = 0u64;
        let mut buf = Vec::with_capacity(WRITE_BYTES * 2);
        while let Some(batch) = hub.take_record_batch() {
            let mut events = batch.events.into_iter().peekable();
            let (mut count, mut bytes) = (0u64, 0u64);
            while let Some(stamped) = events.next() {
                redact::encode_record(&stamped.event, self.redactor.as_ref(), &mut buf);
                count += 1;
                bytes += stamped.size;
                drop(stamped);
                if buf.len() < WRITE_BYTES && events.peek().is_some() {
                    continue;
                }
                self.write(&buf, written, hub)?;
                written += std::mem::take(&mut count);
                hub.record_written(std::mem::take(&mut bytes));
                buf.clear();
                if buf.capacity() > WRITE_BYTES * 4 {
                    // One huge message grew it: give that back.
                    buf = Vec::with_capacity(WRITE_BYTES * 2);
                }
            }
        }
        if let Err(e) = self.file.sync_data() {
            tracing::warn!(path = %self.path.display(), "syncing the record file: {e}");
        }
        tracing::info!(path = %self.path.display(), events = written, "record file closed");
        Ok(written)
    }

    /// Writes `buf`, `written` events in; on an error the hub stops queueing
    /// for the file.
    fn write(&mut self, buf: &[u8], written: u64, hub: &Hub) -> Result<(), RecordError> {
        self.file.write_all(buf).map_err(|cause| {
            hub.abandon_recording();
            let error = RecordError::Write {
                path: self.path.clone(),
                written,
                cause,
            };
            tracing::error!("{error}");
            error
        })
    }
}
