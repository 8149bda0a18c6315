//! `--record FILE`: appends every event to a capture file as it happens.
//!
//! The recorder is one more hub consumer. It flushes at every call's end, at
//! every descriptor or gap event, and whenever the stream goes quiet for a
//! moment, so after a crash (even `kill -9`) the file reads back up to its
//! last complete record. Secret headers are redacted unless told otherwise.

use std::path::{Path, PathBuf};
use std::time::Duration;

use loom_shared::capture;
use loom_shared::pb::{self, event::Kind};
use loom_shared::redact::Redactor;
use tokio::fs::File;
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::sync::{broadcast, watch};

use crate::hub::{self, Subscription};

/// The longest an event waits in the buffer before it is flushed.
const MAX_FLUSH_DELAY: Duration = Duration::from_millis(200);

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
}

pub struct Recorder {
    path: PathBuf,
    out: BufWriter<File>,
    /// `None` keeps secrets.
    redactor: Option<Redactor>,
    /// Unflushed events are waiting since this deadline was set.
    flush_by: Option<tokio::time::Instant>,
    broken: bool,
    written: u64,
}

impl Recorder {
    /// Create the file and write the capture header.
    pub async fn create(path: &Path, redactor: Option<Redactor>) -> Result<Self, RecordError> {
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .await
            .map_err(|source| match source.kind() {
                std::io::ErrorKind::AlreadyExists => RecordError::Exists {
                    path: path.to_owned(),
                },
                _ => RecordError::Create {
                    path: path.to_owned(),
                    cause: source,
                },
            })?;
        let mut out = BufWriter::with_capacity(256 << 10, file);
        let header = capture::file_header();
        let written = out.write_all(&header).await.and(out.flush().await);
        written.map_err(|cause| RecordError::Create {
            path: path.to_owned(),
            cause,
        })?;
        Ok(Recorder {
            path: path.to_owned(),
            out,
            redactor,
            flush_by: None,
            broken: false,
            written: 0,
        })
    }

    /// Record until `stop` fires; then take what is still queued, flush, and return.
    pub async fn run(mut self, mut sub: Subscription, mut stop: watch::Receiver<bool>) {
        tracing::info!(path = %self.path.display(), "recording to file");
        loop {
            tokio::select! {
                biased;
                received = sub.rx.recv() => match received {
                    Ok(stamped) => self.write(&stamped.event).await,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        self.write(&hub::lag_gap(n, "the file recorder")).await;
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                () = crate::stopped(&mut stop) => {
                    while let Ok(stamped) = sub.rx.try_recv() {
                        self.write(&stamped.event).await;
                    }
                    break;
                }
                _ = sleep_until(self.flush_by), if self.flush_by.is_some() => self.flush().await,
            }
        }
        self.flush().await;
        tracing::info!(path = %self.path.display(), events = self.written, "record file closed");
    }

    async fn write(&mut self, event: &pb::Event) {
        if self.broken {
            return;
        }
        let mut buf = Vec::new();
        match &self.redactor {
            Some(redactor) => {
                let mut event = event.clone();
                redactor.redact_event(&mut event);
                capture::encode_record(&event, &mut buf);
            }
            None => capture::encode_record(event, &mut buf),
        }
        if let Err(e) = self.out.write_all(&buf).await {
            self.fail(e);
            return;
        }
        self.written += 1;
        self.flush_by
            .get_or_insert_with(|| tokio::time::Instant::now() + MAX_FLUSH_DELAY);
        if matches!(
            event.kind,
            Some(Kind::CallEnded(_) | Kind::Descriptors(_) | Kind::Gap(_))
        ) {
            self.flush().await;
        }
    }

    async fn flush(&mut self) {
        if self.broken || self.flush_by.is_none() {
            return;
        }
        match self.out.flush().await {
            Ok(()) => self.flush_by = None,
            Err(e) => self.fail(e),
        }
    }

    fn fail(&mut self, error: std::io::Error) {
        tracing::error!(
            path = %self.path.display(),
            "writing the record file failed, recording stopped (traffic is unaffected): {error}"
        );
        self.broken = true;
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
