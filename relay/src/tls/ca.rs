//! The local CA: what lets a client that insists on TLS talk to the relay
//! with no change but trusting one certificate.
//!
//! It lives in one folder (the config folder's `ca/`, or `--ca-dir`):
//! `ca.pem` and `ca.key`, both mode 0600, created the first time a client
//! starts TLS (or `loom ca` runs), never overwritten. For each name a
//! client asks for by SNI it mints a leaf certificate, signed by the CA,
//! valid [`LEAF_LIFETIME`], cached until shortly before it expires; a
//! client that sends no SNI (it dialed an IP address) gets one for
//! `localhost`, `127.0.0.1` and `::1`.
//!
//! # What it is not
//! Not name-constrained: the CA exists to stand in for any backend a
//! client dials by name, so which names it signs is up to the client.
//! Its key stays on this machine, readable by its owner only; its leaves
//! are short-lived; the README says how to trust it and how to stop.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::TlsError;

/// The CA certificate's file in its folder.
pub const CERT_FILE: &str = "ca.pem";
/// The CA key's file in its folder.
pub const KEY_FILE: &str = "ca.key";
/// How long a minted leaf is valid.
pub const LEAF_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// How long the CA itself is valid.
pub const CA_LIFETIME: Duration = Duration::from_secs(5 * 365 * 24 * 3600);
/// A leaf is minted again when less than this of its life is left.
const RENEW_BEFORE: Duration = Duration::from_secs(3600);
/// Certificates are valid from this long before they are made (clock skew).
const BACKDATE: Duration = Duration::from_secs(3600);
/// The most leaves kept; past it the cache starts again.
const MAX_LEAVES: usize = 4096;

/// A loaded CA that mints leaves.
pub struct LocalCa {
    dir: PathBuf,
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
    leaves: Mutex<HashMap<String, Leaf>>,
}

#[derive(Clone)]
struct Leaf {
    key: Arc<CertifiedKey>,
    renew_at: SystemTime,
}

impl std::fmt::Debug for LocalCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCa").field("dir", &self.dir).finish()
    }
}

impl LocalCa {
    /// The CA in `dir`, created there if it has none.
    pub fn load_or_create(dir: &Path) -> Result<LocalCa, TlsError> {
        let fail = |why: String| TlsError::Ca {
            dir: dir.to_owned(),
            why,
        };
        let cert_path = dir.join(CERT_FILE);
        let key_path = dir.join(KEY_FILE);
        let (cert_pem, key_pem) = match (cert_path.exists(), key_path.exists()) {
            (true, true) => {
                let read = |p: &Path| {
                    std::fs::read_to_string(p)
                        .map_err(|e| fail(format!("cannot read {}: {e}", p.display())))
                };
                (read(&cert_path)?, read(&key_path)?)
            }
            (false, false) => create(dir).map_err(fail)?,
            (true, false) | (false, true) => {
                return Err(fail(format!(
                    "only one of {CERT_FILE} and {KEY_FILE} is there; remove it to make a new CA"
                )));
            }
        };
        let key = KeyPair::from_pem(&key_pem).map_err(|e| fail(format!("{KEY_FILE}: {e}")))?;
        let issuer = Issuer::from_ca_cert_pem(&cert_pem, key)
            .map_err(|e| fail(format!("{CERT_FILE}: {e}")))?;
        let cert_der = super::read_certs(&cert_path, "local CA certificate")?
            .into_iter()
            .next()
            .ok_or_else(|| fail(format!("{CERT_FILE} holds no certificate")))?;
        Ok(LocalCa {
            dir: dir.to_owned(),
            cert_pem,
            cert_der,
            issuer,
            leaves: Mutex::new(HashMap::new()),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The CA certificate's path.
    pub fn cert_path(&self) -> PathBuf {
        self.dir.join(CERT_FILE)
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// The leaf for `name` (a DNS name or an IP address; `None`: the
    /// loopback names), minted now or taken from the cache.
    pub fn leaf(&self, name: Option<&str>) -> Result<Arc<CertifiedKey>, TlsError> {
        let key = name.map_or_else(String::new, str::to_ascii_lowercase);
        let now = SystemTime::now();
        let mut leaves = self.leaves.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(leaf) = leaves.get(&key)
            && leaf.renew_at > now
        {
            return Ok(leaf.key.clone());
        }
        let minted = self.mint(name, now)?;
        if leaves.len() >= MAX_LEAVES {
            leaves.clear();
        }
        leaves.insert(
            key,
            Leaf {
                key: minted.clone(),
                renew_at: now + LEAF_LIFETIME - RENEW_BEFORE,
            },
        );
        Ok(minted)
    }

    fn mint(&self, name: Option<&str>, now: SystemTime) -> Result<Arc<CertifiedKey>, TlsError> {
        let fail = |why: String| TlsError::Ca {
            dir: self.dir.clone(),
            why,
        };
        let names: Vec<String> = match name {
            Some(name) => vec![name.to_owned()],
            None => vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
        };
        let mut params = CertificateParams::new(names.clone())
            .map_err(|e| fail(format!("cannot make a certificate for {names:?}: {e}")))?;
        params
            .distinguished_name
            .push(DnType::CommonName, names[0].clone());
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Loom relay");
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.not_before = (now - BACKDATE).into();
        params.not_after = (now + LEAF_LIFETIME).into();
        let key = KeyPair::generate().map_err(|e| fail(format!("cannot make a key: {e}")))?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|e| fail(format!("cannot sign a certificate for {names:?}: {e}")))?;
        let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let signing = super::provider()
            .key_provider
            .load_private_key(private)
            .map_err(|e| fail(format!("cannot load a minted key: {e}")))?;
        Ok(Arc::new(CertifiedKey::new(
            vec![cert.der().clone(), self.cert_der.clone()],
            signing,
        )))
    }
}

/// Makes a new CA in `dir`: the folder (0700), then the key and the
/// certificate (0600, never over an existing file). PEM of both.
fn create(dir: &Path) -> Result<(String, String), String> {
    let mut folder = std::fs::DirBuilder::new();
    folder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut folder, 0o700);
    folder
        .create(dir)
        .map_err(|e| format!("cannot create the folder: {e}"))?;
    let key = KeyPair::generate().map_err(|e| format!("cannot make a key: {e}"))?;
    let mut params = CertificateParams::default();
    let host = hostname();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, format!("Loom local CA ({host})"));
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Loom relay");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = SystemTime::now();
    params.not_before = (now - BACKDATE).into();
    params.not_after = (now + CA_LIFETIME).into();
    let cert = params
        .self_signed(&key)
        .map_err(|e| format!("cannot sign the CA certificate: {e}"))?;
    let key_pem = key.serialize_pem();
    let cert_pem = cert.pem();
    write_private(&dir.join(KEY_FILE), &key_pem)?;
    write_private(&dir.join(CERT_FILE), &cert_pem)?;
    tracing::info!("created a local CA in {}", dir.display());
    Ok((cert_pem, key_pem))
}

fn write_private(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// This machine's name, for the CA's subject (so that a trust store shows
/// which machine's CA it is).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "this machine".to_owned())
}

/// A CA created on first use: the listen port's certificates when no
/// `--listen-cert` is given.
#[derive(Debug)]
pub struct LazyCa {
    dir: PathBuf,
    ca: OnceLock<Result<Arc<LocalCa>, String>>,
}

impl LazyCa {
    pub fn new(dir: PathBuf) -> Self {
        LazyCa {
            dir,
            ca: OnceLock::new(),
        }
    }

    /// The CA, loaded (or created) the first time it is asked for. A
    /// failure is logged once and remembered.
    pub fn get(&self) -> Result<&Arc<LocalCa>, &str> {
        self.ca
            .get_or_init(|| {
                LocalCa::load_or_create(&self.dir)
                    .map(Arc::new)
                    .map_err(|e| {
                        tracing::error!("TLS clients cannot be served: {e}");
                        e.to_string()
                    })
            })
            .as_ref()
            .map_err(String::as_str)
    }
}

impl ResolvesServerCert for LazyCa {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let ca = self.get().ok()?;
        match ca.leaf(hello.server_name()) {
            Ok(leaf) => Some(leaf),
            Err(e) => {
                tracing::warn!("no certificate for a TLS client: {e}");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_private_and_reloaded() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("loom/ca");
        let ca = LocalCa::load_or_create(&dir).expect("created");
        #[cfg(unix)]
        for file in [CERT_FILE, KEY_FILE] {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.join(file))
                .expect("file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
        let again = LocalCa::load_or_create(&dir).expect("loaded");
        assert_eq!(
            ca.cert_pem(),
            again.cert_pem(),
            "the same CA, not a new one"
        );
        std::fs::remove_file(dir.join(KEY_FILE)).expect("rm");
        let e = LocalCa::load_or_create(&dir).expect_err("half a CA");
        assert!(e.to_string().contains("only one of"), "{e}");
    }

    #[test]
    fn leaves_are_signed_short_lived_and_cached() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let ca = LocalCa::load_or_create(tmp.path()).expect("created");
        let leaf = ca.leaf(Some("API.example.com")).expect("leaf");
        assert!(Arc::ptr_eq(
            &leaf,
            &ca.leaf(Some("api.example.com")).expect("again")
        ));
        assert_eq!(leaf.cert.len(), 2, "leaf, then the CA");
        let facts = super::super::facts::certificate(&leaf.cert[0]);
        assert_eq!(facts.names, ["API.example.com"]);
        let life = facts.not_after_unix_seconds - facts.not_before_unix_seconds;
        assert!(
            life <= (LEAF_LIFETIME + BACKDATE).as_secs() as i64,
            "{life}"
        );
        assert!(facts.issuer.contains("Loom local CA"), "{}", facts.issuer);
        let bare = ca.leaf(None).expect("no SNI");
        let facts = super::super::facts::certificate(&bare.cert[0]);
        assert_eq!(facts.names, ["localhost", "127.0.0.1", "::1"]);
        // A client that trusts the CA accepts the leaf.
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.cert_der().clone()).expect("root");
        let verifier = rustls::client::WebPkiServerVerifier::builder(Arc::new(roots))
            .build()
            .expect("verifier");
        use rustls::client::danger::ServerCertVerifier as _;
        let name = rustls_pki_types::ServerName::try_from("api.example.com").expect("name");
        verifier
            .verify_server_cert(
                &leaf.cert[0],
                &leaf.cert[1..],
                &name,
                &[],
                rustls_pki_types::UnixTime::now(),
            )
            .expect("valid for its name");
        let other = rustls_pki_types::ServerName::try_from("other.example.com").expect("name");
        assert!(
            verifier
                .verify_server_cert(
                    &leaf.cert[0],
                    &[],
                    &other,
                    &[],
                    rustls_pki_types::UnixTime::now()
                )
                .is_err()
        );
    }
}
