//! The relay as a TLS client of its upstreams.
//!
//! [`TlsConnect`] is the forward path's `Connect`: TLS with ALPN `h2` to an
//! `https://` target, plain TCP to an `http://` one. It trusts the
//! platform's roots (Mozilla's bundle when the platform has none), or
//! `--upstream-ca`; `--upstream-insecure` verifies nothing but the
//! handshake's signatures; `--upstream-cert` answers a server that asks for
//! a client certificate; `--upstream-server-name` is the SNI and the name
//! verified. A failed handshake is put in words (`super::explain`) (unknown CA,
//! name mismatch, expired, no ALPN `h2`, client certificate required);
//! every failure to connect (TCP or TLS) is logged once per upstream and
//! failure, not once per call.

use std::io;
use std::sync::{Arc, Mutex};

use rustls::ClientConfig;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, Error as RustlsError, SignatureScheme};

use super::{ALPN_H2, TlsError, facts};
use crate::config::{Pins, Upstream, UpstreamTls};
use crate::forward::upstream::{Connect, Connected, Connecting, dial};

/// TLS where the target asks for it, TCP (or a Unix socket) otherwise.
pub struct TlsConnect {
    config: Arc<ClientConfig>,
    server_name: Option<ServerName<'static>>,
    /// The one upstream `server_name` is for (`None`: every one).
    named: Option<Upstream>,
    /// `--resolve`: where names go.
    pins: Pins,
    /// The certificate the relay presents, for the capture.
    identity: Option<CertificateDer<'static>>,
    /// The last failure logged per upstream, so that each is logged once.
    logged: Arc<Mutex<Logged>>,
}

/// The last failure logged, by upstream.
type Logged = std::collections::HashMap<String, String>;
/// Upstreams whose last failure is remembered (the proxy mode can meet
/// many); past it, the memory starts over.
const MAX_LOGGED: usize = 1024;

impl TlsConnect {
    pub fn new(
        settings: &UpstreamTls,
        key_log: Option<Arc<dyn rustls::KeyLog>>,
    ) -> Result<TlsConnect, TlsError> {
        let provider = super::provider();
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|why| TlsError::Rustls {
                what: "the TLS client's protocol versions".into(),
                why,
            })?;
        let builder = if settings.insecure {
            tracing::warn!(
                "--upstream-insecure: the upstream's certificate is NOT verified; anyone on the path can impersonate it"
            );
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
        } else {
            builder.with_root_certificates(roots(settings)?)
        };
        let (mut config, identity) = match &settings.identity {
            Some(identity) => {
                // Read once, checked to match, and presented as it is.
                let certified = super::read_identity(identity, "--upstream-cert")?;
                let leaf = certified.cert.first().cloned();
                let config = builder.with_client_cert_resolver(Arc::new(Presents(certified)));
                (config, leaf)
            }
            None => (builder.with_no_client_auth(), None),
        };
        config.alpn_protocols = vec![ALPN_H2.to_vec()];
        if let Some(key_log) = key_log {
            config.key_log = key_log;
        }
        let server_name = settings
            .server_name
            .as_deref()
            .map(|name| {
                ServerName::try_from(name.to_owned())
                    .map_err(|_| TlsError::BadServerName(name.to_owned()))
            })
            .transpose()?;
        Ok(TlsConnect {
            config: Arc::new(config),
            server_name,
            named: None,
            pins: Pins::default(),
            identity,
            logged: Arc::default(),
        })
    }

    /// `--resolve`: connect where `pins` send a name.
    pub fn with_pins(mut self, pins: Pins) -> Self {
        self.pins = pins;
        self
    }

    /// `--upstream-server-name` is for `upstream` only (not for routes or
    /// proxy targets, which have names of their own).
    pub fn naming(mut self, upstream: Upstream) -> Self {
        self.named = Some(upstream);
        self
    }

    /// The name sent and verified for `target`.
    fn name_for(&self, target: &Upstream) -> io::Result<ServerName<'static>> {
        if let Some(name) = &self.server_name
            && self.named.as_ref().is_none_or(|named| named == target)
        {
            return Ok(name.clone());
        }
        ServerName::try_from(target.host().to_owned()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{}` is not a name TLS can verify", target.host()),
            )
        })
    }
}

impl Connect for TlsConnect {
    fn connect(&self, target: &Upstream) -> Connecting {
        let tcp = dial(target, &self.pins);
        let logged = self.logged.clone();
        let upstream = target.to_string();
        if !target.is_tls() {
            return Box::pin(async move {
                let result = tcp.await.map(Connected::plain);
                note(&logged, &upstream, result.as_ref().err());
                result
            });
        }
        // Without a certificate of its own, each connection notes whether
        // the server asked for one, to say so if it then hangs up.
        let no_certificate = self
            .identity
            .is_none()
            .then(|| Arc::new(super::stream::NoCertificate::default()));
        let config = match &no_certificate {
            Some(note) => {
                let mut config = (*self.config).clone();
                config.client_auth_cert_resolver = note.clone();
                Arc::new(config)
            }
            None => self.config.clone(),
        };
        let name = self.name_for(target);
        let identity = self.identity.clone();
        Box::pin(async move {
            let name = name?;
            let sni = match &name {
                ServerName::DnsName(dns) => Some(dns.as_ref().to_owned()),
                _ => None,
            };
            let io = match tcp.await {
                Ok(io) => io,
                Err(e) => {
                    note(&logged, &upstream, Some(&e));
                    return Err(e);
                }
            };
            let connector = tokio_rustls::TlsConnector::from(config);
            let result = match connector.connect(name, io).await {
                Ok(stream) => {
                    let (_, session) = stream.get_ref();
                    if session.alpn_protocol() != Some(ALPN_H2) {
                        Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "TLS handshake done, but the upstream did not agree to ALPN h2 \
                             (it does not offer HTTP/2 over TLS, or this is not a gRPC port)",
                        ))
                    } else {
                        let tls = facts::session(
                            session,
                            sni.as_deref(),
                            session.peer_certificates().and_then(|c| c.first()),
                            identity.as_ref(),
                        );
                        let mut stream = super::stream::UpstreamTls::new(stream, no_certificate);
                        stream.settle().await.map(|()| Connected {
                            io: Box::new(stream),
                            tls: Some(Arc::new(tls)),
                        })
                    }
                }
                Err(e) => Err(io::Error::new(e.kind(), super::explain::explain_io(&e))),
            };
            note(&logged, &upstream, result.as_ref().err());
            result
        })
    }
}

/// Logs a failure to connect the first time it happens (and again after a
/// success): once per upstream and failure, not once per call.
fn note(logged: &Mutex<Logged>, upstream: &str, failure: Option<&io::Error>) {
    let mut last = logged.lock().unwrap_or_else(|p| p.into_inner());
    match failure {
        None => {
            last.remove(upstream);
        }
        Some(e) => {
            let text = e.to_string();
            if last.get(upstream) != Some(&text) {
                tracing::warn!("cannot reach upstream {upstream}: {text}");
                if last.len() >= MAX_LOGGED {
                    last.clear();
                }
                last.insert(upstream.to_owned(), text);
            }
        }
    }
}

/// The roots: `--upstream-ca`, or the platform's (Mozilla's if it has none).
fn roots(settings: &UpstreamTls) -> Result<rustls::RootCertStore, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(path) = &settings.ca {
        for cert in super::read_certs(path, "--upstream-ca bundle")? {
            roots.add(cert).map_err(|why| TlsError::Rustls {
                what: format!("a certificate of --upstream-ca `{}`", path.display()),
                why,
            })?;
        }
        return Ok(roots);
    }
    let native = rustls_native_certs::load_native_certs();
    let (added, _ignored) = roots.add_parsable_certificates(native.certs);
    if added == 0 {
        tracing::debug!("no trusted roots on this platform; using Mozilla's (webpki-roots)");
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    Ok(roots)
}

/// `--upstream-cert`: the one certificate the relay presents, whenever an
/// upstream asks for one.
#[derive(Debug)]
struct Presents(Arc<rustls::sign::CertifiedKey>);

impl rustls::client::ResolvesClientCert for Presents {
    fn resolve(
        &self,
        _hints: &[&[u8]],
        _schemes: &[SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// `--upstream-insecure`: any certificate, any name; the handshake's
/// signatures are still checked (so that the session is what it says).
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, RustlsError> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, RustlsError> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, RustlsError> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
