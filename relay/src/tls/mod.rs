//! TLS, as a transport of the forward path: not a second forward path.
//!
//! # Layout
//! - [`client`]: the relay as a TLS client of `https://` upstreams: a
//!   [`client::TlsConnect`] is the forward path's `Connect` seam (and
//!   reflection's and the header probe's), which speaks TLS with ALPN `h2`
//!   to TLS targets and plain TCP to the others; its failures are named in
//!   words a person can act on ([`explain`]).
//! - [`server`]: TLS on the listen port: [`server::ListenTlsServer`] holds
//!   rustls' server configuration, with the [`ca::LocalCa`]'s minted
//!   certificates or `--listen-cert`; the connection's task tells a
//!   ClientHello from cleartext by its first byte and calls it.
//! - [`stream`]: the TLS stream to an upstream, whose errors are said in
//!   TLS terms before HTTP/2 flattens them.
//! - [`ca`]: the local CA: created on first use in its folder, it mints and
//!   caches one short-lived certificate per name clients ask for.
//! - [`facts`]: what a TLS session was (version, ALPN, suite, SNI,
//!   certificates), as the capture records it.
//! - [`keylog`]: both hops' secrets in the NSS key log format.
//! - [`trust`]: what `loom ca` prints: the CA, and how each client library
//!   trusts it.
//!
//! # What it is not
//! No OpenSSL: rustls with the `ring` provider, rcgen for certificates.
//! Nothing here reads the environment: `SSLKEYLOGFILE` and the config
//! folder reach it through `Config`.

pub mod ca;
pub mod client;
pub mod explain;
pub mod facts;
pub mod keylog;
pub mod server;
pub mod stream;
pub mod trust;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// What went wrong setting TLS up (at start, or creating the local CA).
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the {what} `{path}`: {cause}")]
    Read {
        what: &'static str,
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("the {what} `{path}` holds no PEM {kind}")]
    NoPem {
        what: &'static str,
        path: PathBuf,
        kind: &'static str,
    },
    #[error("the {what} `{path}` is not valid PEM: {why}")]
    BadPem {
        what: &'static str,
        path: PathBuf,
        why: String,
    },
    #[error("{what}: {why}")]
    Rustls { what: String, why: rustls::Error },
    #[error("the local CA in `{dir}`: {why}")]
    Ca { dir: PathBuf, why: String },
    #[error("`{0}` is not a DNS name or an IP address (--upstream-server-name)")]
    BadServerName(String),
    #[error("cannot open the TLS key log `{path}`: {cause}")]
    KeyLog {
        path: PathBuf,
        cause: std::io::Error,
    },
}

/// The one crypto provider the relay uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// ALPN ids.
pub const ALPN_H2: &[u8] = b"h2";
pub const ALPN_HTTP1: &[u8] = b"http/1.1";

/// The certificates of a PEM file, in order.
pub fn read_certs(
    path: &Path,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = std::fs::read(path).map_err(|cause| TlsError::Read {
        what,
        path: path.to_owned(),
        cause,
    })?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadPem {
            what,
            path: path.to_owned(),
            why: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoPem {
            what,
            path: path.to_owned(),
            kind: "CERTIFICATE",
        });
    }
    Ok(certs)
}

/// The private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn read_key(path: &Path, what: &'static str) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = std::fs::read(path).map_err(|cause| TlsError::Read {
        what,
        path: path.to_owned(),
        cause,
    })?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => TlsError::NoPem {
            what,
            path: path.to_owned(),
            kind: "PRIVATE KEY",
        },
        e => TlsError::BadPem {
            what,
            path: path.to_owned(),
            why: e.to_string(),
        },
    })
}

/// A certificate chain and key from `--*-cert` / `--*-key`, checked to
/// belong together.
pub fn read_identity(
    identity: &crate::config::Identity,
    flag: &str,
) -> Result<Arc<rustls::sign::CertifiedKey>, TlsError> {
    let chain = read_certs(&identity.cert, "certificate")?;
    let key = read_key(&identity.key, "private key")?;
    let rustls_err = |why| TlsError::Rustls {
        what: format!(
            "{flag} `{}` with key `{}`",
            identity.cert.display(),
            identity.key.display()
        ),
        why,
    };
    let certified =
        rustls::sign::CertifiedKey::from_der(chain, key, &provider()).map_err(rustls_err)?;
    Ok(Arc::new(certified))
}

/// How each hop is secured, for `/healthz`, with a warning where it is
/// not what a user would assume.
pub fn health(config: &crate::Config) -> serde_json::Value {
    let tls = &config.upstream_tls;
    let upstream = match (config.upstream.is_tls(), tls.insecure) {
        (false, _) => "cleartext",
        (true, true) => "tls-unverified",
        (true, false) => "tls-verified",
    };
    let listen = &config.listen_tls;
    let listen_mode = match (listen.enabled(), listen.tls_only) {
        (false, _) => "cleartext",
        (true, false) => "cleartext-and-tls",
        (true, true) => "tls-only",
    };
    let mut warnings = Vec::new();
    if config.upstream.is_tls() && tls.insecure {
        warnings.push(
            "--upstream-insecure: the upstream's certificate is not verified; anyone on the \
             path can impersonate it"
                .to_owned(),
        );
    }
    if let Some(path) = &config.key_log {
        warnings.push(format!(
            "TLS secrets of both hops are written to {} (SSLKEYLOGFILE)",
            path.display()
        ));
    }
    serde_json::json!({
        "upstream": upstream,
        "upstream_client_certificate": tls.identity.as_ref().map(|i| i.cert.display().to_string()),
        "upstream_server_name": tls.server_name,
        "listen": listen_mode,
        "listen_certificate": listen.identity.as_ref().map(|i| i.cert.display().to_string()),
        "local_ca": listen.ca_dir.as_ref().map(|d| d.display().to_string()),
        "warnings": warnings,
    })
}
