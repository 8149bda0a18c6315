//! A test PKI for TLS tests, made fresh by [`TestPki::new`] with rcgen and
//! written as PEM files into a temporary directory that lives as long as the
//! [`TestPki`] (every key is PKCS#8, every key pair ECDSA P-256 / SHA-256,
//! which rustls, Go's crypto/tls and BoringSSL all accept):
//!
//! | field | what | subject alternative names | validity |
//! |---|---|---|---|
//! | `ca` | the test CA (self-signed) | — | 2020 – 2100 |
//! | `server` | server leaf signed by `ca`, EKU serverAuth | `localhost`, `backend.test`, IP `127.0.0.1` | 2020 – 2100 |
//! | `expired` | as `server`, but expired | the same | 2020 – 2021 |
//! | `wrong_name` | server leaf signed by `ca` | `other.test` only | 2020 – 2100 |
//! | `untrusted` | as `server`, signed by a CA nobody trusts | the same | 2020 – 2100 |
//! | `client_ca` | the CA of client certificates (self-signed) | — | 2020 – 2100 |
//! | `client` | client leaf signed by `client_ca`, EKU clientAuth | `client.test` | 2020 – 2100 |
//!
//! Each is a [`CertKey`]: `cert` and `key` are the PEM files' paths (for
//! the relay's flags and the peers' `--tls-*` flags), `cert_pem`/`key_pem`
//! and `cert_der`/[`CertKey::key_der`] the same in memory. A leaf's file
//! holds the leaf alone (its CA is the trust anchor, so no chain is needed).
//!
//! For Rust code: [`TestPki::roots`] (a store trusting `ca`),
//! [`TestPki::server_config`] (rustls, ALPN `h2`, a client certificate
//! optional or required), [`TestPki::client_config`] (rustls, ALPN `h2`,
//! trusting `ca`, with or without `client`'s certificate),
//! [`client_config_trusting`] (the same, trusting another root, such as the
//! relay's local CA). Everything uses rustls' ring provider ([`provider`]),
//! never the process default.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, date_time_ymd,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// The name the server leaves are normally reached by.
pub const LOCALHOST: &str = "localhost";
/// The server leaves' second DNS name (an upstream named explicitly).
pub const BACKEND_NAME: &str = "backend.test";
/// The IP address the server leaves name.
pub const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// The only name of the `wrong_name` leaf.
pub const WRONG_NAME: &str = "other.test";
/// The client leaf's name.
pub const CLIENT_NAME: &str = "client.test";

/// The ALPN protocol of gRPC.
pub const H2: &[u8] = b"h2";

/// rustls' ring provider (the workspace builds rustls without aws-lc).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate and its private key, as PEM files and in memory.
#[derive(Debug, Clone)]
pub struct CertKey {
    /// The certificate's PEM file.
    pub cert: PathBuf,
    /// The private key's PEM file (PKCS#8).
    pub key: PathBuf,
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_der: CertificateDer<'static>,
    key_pkcs8: Vec<u8>,
}

impl CertKey {
    /// The private key (PKCS#8 DER).
    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivatePkcs8KeyDer::from(self.key_pkcs8.clone()).into()
    }

    /// The chain a server or client presents: the certificate alone.
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        vec![self.cert_der.clone()]
    }
}

/// Whether a server asks for a client certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// No certificate asked for.
    None,
    /// Asked for; one signed by `client_ca` is verified, none is fine.
    Optional,
    /// One signed by `client_ca` is required (mutual TLS).
    Required,
}

/// The test PKI (see the module's header); its files go when it drops.
pub struct TestPki {
    dir: tempfile::TempDir,
    pub ca: CertKey,
    pub server: CertKey,
    pub expired: CertKey,
    pub wrong_name: CertKey,
    pub untrusted: CertKey,
    pub client_ca: CertKey,
    pub client: CertKey,
}

/// What a certificate is for.
enum Role {
    Ca,
    Server,
    Client,
}

fn params(common_name: &str, names: &[&str], role: &Role, expired: bool) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.subject_alt_names = names
        .iter()
        .map(|name| match name.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName((*name).try_into().expect("a DNS name")),
        })
        .collect();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Loom tests");
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.not_before = date_time_ymd(2020, 1, 1);
    params.not_after = if expired {
        date_time_ymd(2021, 1, 1)
    } else {
        date_time_ymd(2100, 1, 1)
    };
    match role {
        Role::Ca => {
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
                KeyUsagePurpose::DigitalSignature,
            ];
        }
        Role::Server | Role::Client => {
            params.use_authority_key_identifier_extension = true;
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            params.extended_key_usages = vec![if matches!(role, Role::Server) {
                ExtendedKeyUsagePurpose::ServerAuth
            } else {
                ExtendedKeyUsagePurpose::ClientAuth
            }];
        }
    }
    params
}

impl TestPki {
    /// Mints every certificate and writes the files (a few milliseconds).
    pub fn new() -> TestPki {
        let dir = tempfile::Builder::new()
            .prefix("loom-pki-")
            .tempdir()
            .expect("a temporary directory for the test PKI");
        let path = dir.path();
        let server_names = [LOCALHOST, BACKEND_NAME, "127.0.0.1"];
        let (ca, issuer) = mint_ca(path, "ca", "Loom test CA");
        let (_, stranger) = mint_ca(path, "untrusted-ca", "Loom untrusted CA");
        let (client_ca, client_issuer) = mint_ca(path, "client-ca", "Loom test client CA");
        let server = |file, expired, issuer| {
            mint_leaf(path, file, &server_names, Role::Server, expired, issuer)
        };
        TestPki {
            server: server("server", false, &issuer),
            expired: server("expired", true, &issuer),
            untrusted: server("untrusted", false, &stranger),
            wrong_name: mint_leaf(
                path,
                "wrong-name",
                &[WRONG_NAME],
                Role::Server,
                false,
                &issuer,
            ),
            client: mint_leaf(
                path,
                "client",
                &[CLIENT_NAME],
                Role::Client,
                false,
                &client_issuer,
            ),
            ca,
            client_ca,
            dir,
        }
    }

    /// The directory that holds the files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A root store that trusts `ca` alone.
    pub fn roots(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.cert_der.clone()).expect("the test CA");
        roots
    }

    /// A rustls server configuration presenting `leaf` (any of the server
    /// leaves), offering ALPN `h2`, verifying client certificates against
    /// `client_ca` as `client_auth` says.
    pub fn server_config(&self, leaf: &CertKey, client_auth: ClientAuth) -> Arc<ServerConfig> {
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("TLS versions");
        let builder = match client_auth {
            ClientAuth::None => builder.with_no_client_auth(),
            ClientAuth::Optional | ClientAuth::Required => {
                let mut roots = RootCertStore::empty();
                roots
                    .add(self.client_ca.cert_der.clone())
                    .expect("the client CA");
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
                let verifier = if client_auth == ClientAuth::Optional {
                    verifier.allow_unauthenticated()
                } else {
                    verifier
                };
                builder.with_client_cert_verifier(verifier.build().expect("a client verifier"))
            }
        };
        let mut config = builder
            .with_single_cert(leaf.chain(), leaf.key_der())
            .expect("the leaf and its key");
        config.alpn_protocols = vec![H2.to_vec()];
        Arc::new(config)
    }

    /// A rustls client configuration trusting `ca`, offering ALPN `h2`, and
    /// presenting `identity` (normally `client`) when a server asks.
    pub fn client_config(&self, identity: Option<&CertKey>) -> Arc<ClientConfig> {
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(self.roots());
        let mut config = match identity {
            Some(id) => builder
                .with_client_auth_cert(id.chain(), id.key_der())
                .expect("the client certificate and its key"),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![H2.to_vec()];
        Arc::new(config)
    }
}

/// A rustls client configuration trusting `root` alone (say, the relay's
/// local CA), offering ALPN `h2`, with no client certificate.
pub fn client_config_trusting(root: &CertificateDer<'static>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(root.clone()).expect("a root certificate");
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![H2.to_vec()];
    Arc::new(config)
}

impl Default for TestPki {
    fn default() -> Self {
        Self::new()
    }
}

/// A CA, written to `<file>.pem` and `<file>-key.pem`, and its issuer.
fn mint_ca(dir: &Path, file: &str, common_name: &str) -> (CertKey, Issuer<'static, KeyPair>) {
    let params = params(common_name, &[], &Role::Ca, false);
    let key = KeyPair::generate().expect("a key pair");
    let cert = params.self_signed(&key).expect("a self-signed CA");
    let files = write(dir, file, &cert, &key);
    (files, Issuer::new(params, key))
}

/// A leaf for `names` (the first is its common name), signed by `issuer`,
/// written to `<file>.pem` and `<file>-key.pem`.
fn mint_leaf(
    dir: &Path,
    file: &str,
    names: &[&str],
    role: Role,
    expired: bool,
    issuer: &Issuer<'_, KeyPair>,
) -> CertKey {
    let key = KeyPair::generate().expect("a key pair");
    let cert = params(names[0], names, &role, expired)
        .signed_by(&key, issuer)
        .expect("a signed leaf");
    write(dir, file, &cert, &key)
}

fn write(dir: &Path, name: &str, cert: &rcgen::Certificate, key: &KeyPair) -> CertKey {
    let cert_pem = cert.pem();
    let key_pem = key.serialize_pem();
    let cert_path = dir.join(format!("{name}.pem"));
    let key_path = dir.join(format!("{name}-key.pem"));
    std::fs::write(&cert_path, &cert_pem).expect("write a certificate");
    std::fs::write(&key_path, &key_pem).expect("write a key");
    CertKey {
        cert: cert_path,
        key: key_path,
        cert_pem,
        key_pem,
        cert_der: cert.der().clone(),
        key_pkcs8: key.serialize_der(),
    }
}
