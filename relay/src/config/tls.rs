//! How the relay speaks TLS: to the upstream (`--upstream https://…` and
//! the `--upstream-*` flags) and on the listen port (the local CA,
//! `--listen-cert`, `--listen-tls-only`). Only paths and choices live here;
//! `crate::tls` reads the files and builds rustls' configurations.

use std::path::PathBuf;

/// A certificate chain and its private key, both PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// TLS to `https://` upstreams.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamTls {
    /// Trust these CA certificates (a PEM bundle) instead of the platform's.
    pub ca: Option<PathBuf>,
    /// Verify nothing about the upstream's certificate (`--upstream-insecure`).
    pub insecure: bool,
    /// Present this certificate to the upstream (mutual TLS).
    pub identity: Option<Identity>,
    /// The name sent as SNI and verified in the certificate, when it is not
    /// the upstream's host.
    pub server_name: Option<String>,
}

/// TLS on the listen port. A client that starts with a TLS ClientHello
/// gets TLS; one that starts with cleartext HTTP/2 gets that, unless
/// `tls_only`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListenTls {
    /// The local CA's folder: created there on first use, it mints a
    /// certificate for each name clients ask for. `None`: no local CA.
    pub ca_dir: Option<PathBuf>,
    /// Serve this certificate instead of the local CA's.
    pub identity: Option<Identity>,
    /// Refuse cleartext clients (`--listen-tls-only`).
    pub tls_only: bool,
}

impl ListenTls {
    /// Whether the listen port can serve TLS at all.
    pub fn enabled(&self) -> bool {
        self.ca_dir.is_some() || self.identity.is_some()
    }
}
