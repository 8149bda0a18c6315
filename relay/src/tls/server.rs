//! TLS on the listen port: the relay as the client's TLS server.
//!
//! The connection's task calls [`ListenTlsServer::accept`] when a client's
//! first byte is a TLS handshake record (0x16), with the bytes it read put
//! back. ALPN offers `h2` and `http/1.1`; what the client picked decides
//! where the decrypted stream goes (gRPC over HTTP/2, or the HTTP/1.1 way
//! in). Certificates come from `--listen-cert`, or are minted by the local
//! CA for the name the client asked for.

use std::sync::Arc;

use loom_shared::pb;
use rustls::ServerConfig;

use super::ca::LazyCa;
use super::{ALPN_H2, ALPN_HTTP1, TlsError, facts};
use crate::config::ListenTls;
use crate::forward::upstream::BoxIo;

/// What the client agreed to speak inside TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alpn {
    H2,
    Http1,
    /// The client offered no ALPN (or nothing the relay speaks).
    None,
}

/// A TLS session with a client, established.
pub struct Accepted {
    pub io: BoxIo,
    pub alpn: Alpn,
    pub session: Arc<pb::TlsSession>,
}

/// Where the listen port's certificates come from.
enum Certificates {
    Fixed(Arc<rustls::sign::CertifiedKey>),
    Minted(Arc<LazyCa>),
}

pub struct ListenTlsServer {
    acceptor: tokio_rustls::TlsAcceptor,
    certificates: Certificates,
    tls_only: bool,
}

impl ListenTlsServer {
    /// The listen port's TLS, or `None` when it serves cleartext only.
    pub fn new(
        settings: &ListenTls,
        key_log: Option<Arc<dyn rustls::KeyLog>>,
    ) -> Result<Option<ListenTlsServer>, TlsError> {
        let certificates = match (&settings.identity, &settings.ca_dir) {
            (Some(identity), _) => {
                Certificates::Fixed(super::read_identity(identity, "--listen-cert")?)
            }
            (None, Some(dir)) => Certificates::Minted(Arc::new(LazyCa::new(dir.clone()))),
            (None, None) => return Ok(None),
        };
        let builder = ServerConfig::builder_with_provider(super::provider())
            .with_safe_default_protocol_versions()
            .map_err(|why| TlsError::Rustls {
                what: "the TLS server's protocol versions".into(),
                why,
            })?
            .with_no_client_auth();
        let mut config = match &certificates {
            Certificates::Fixed(key) => builder
                .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(key.clone()))),
            Certificates::Minted(ca) => builder.with_cert_resolver(ca.clone()),
        };
        config.alpn_protocols = vec![ALPN_H2.to_vec(), ALPN_HTTP1.to_vec()];
        if let Some(key_log) = key_log {
            config.key_log = key_log;
        }
        Ok(Some(ListenTlsServer {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            certificates,
            tls_only: settings.tls_only,
        }))
    }

    /// Cleartext clients are refused.
    pub fn tls_only(&self) -> bool {
        self.tls_only
    }

    /// The handshake with a client whose first bytes (still unread) are a
    /// ClientHello.
    pub async fn accept(&self, io: BoxIo) -> std::io::Result<Accepted> {
        let stream = self.acceptor.accept(io).await?;
        let (_, conn) = stream.get_ref();
        let alpn = match conn.alpn_protocol() {
            Some(ALPN_H2) => Alpn::H2,
            Some(ALPN_HTTP1) => Alpn::Http1,
            _ => Alpn::None,
        };
        let sni = conn.server_name().map(str::to_owned);
        let served = match &self.certificates {
            Certificates::Fixed(key) => Some(key.clone()),
            Certificates::Minted(ca) => ca.get().ok().and_then(|ca| ca.leaf(sni.as_deref()).ok()),
        };
        let session = facts::session(
            conn,
            sni.as_deref(),
            served.as_ref().and_then(|k| k.cert.first()),
            None,
        );
        Ok(Accepted {
            io: Box::new(stream),
            alpn,
            session: Arc::new(session),
        })
    }
}
