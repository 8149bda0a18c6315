//! `SSLKEYLOGFILE`: both hops' TLS secrets, one line each in the NSS key
//! log format (`LABEL <client random hex> <secret hex>`), so that a packet
//! capture of either hop opens decrypted in Wireshark.
//!
//! The file is opened once, for appending, mode 0600 when created. A write
//! that fails is logged once and the rest are dropped: a key log never
//! stops a handshake.

use std::fmt::Write as _;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use super::TlsError;

#[derive(Debug)]
pub struct KeyLogFile {
    path: PathBuf,
    file: Mutex<File>,
    failed: AtomicBool,
}

impl KeyLogFile {
    pub fn open(path: &Path) -> Result<Self, TlsError> {
        let mut options = std::fs::OpenOptions::new();
        options.append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(path).map_err(|cause| TlsError::KeyLog {
            path: path.to_owned(),
            cause,
        })?;
        tracing::warn!(
            "writing TLS secrets of both hops to {} (SSLKEYLOGFILE): anyone who reads it can decrypt this traffic",
            path.display()
        );
        Ok(KeyLogFile {
            path: path.to_owned(),
            file: Mutex::new(file),
            failed: AtomicBool::new(false),
        })
    }
}

/// One key log line, newline included.
pub fn line(label: &str, client_random: &[u8], secret: &[u8]) -> String {
    let mut out = String::with_capacity(label.len() + 2 * (client_random.len() + secret.len()) + 3);
    out.push_str(label);
    out.push(' ');
    for b in client_random {
        let _ = write!(out, "{b:02x}");
    }
    out.push(' ');
    for b in secret {
        let _ = write!(out, "{b:02x}");
    }
    out.push('\n');
    out
}

impl rustls::KeyLog for KeyLogFile {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        let text = line(label, client_random, secret);
        let written = match self.file.lock() {
            Ok(mut file) => file.write_all(text.as_bytes()),
            Err(_) => Err(std::io::Error::other("the key log's lock was poisoned")),
        };
        if let Err(e) = written
            && !self.failed.swap(true, Ordering::Relaxed)
        {
            tracing::warn!("cannot write the TLS key log {}: {e}", self.path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nss_format() {
        assert_eq!(
            line("CLIENT_RANDOM", &[0, 0xab], &[0xff, 1]),
            "CLIENT_RANDOM 00ab ff01\n"
        );
    }
}
