//! What a TLS session was, as the capture records it
//! ([`pb::TlsSession`]): version, ALPN, cipher suite, SNI, and each side's
//! leaf certificate read with x509-parser.

use loom_shared::pb;
use rustls::CommonState;
use rustls_pki_types::CertificateDer;
use std::fmt::Write as _;

/// The facts of an established session. `sni` is what the hop's client
/// sent; `server` and `client` are the leaf certificates each side
/// presented, as far as this side knows them.
pub fn session(
    state: &CommonState,
    sni: Option<&str>,
    server: Option<&CertificateDer<'_>>,
    client: Option<&CertificateDer<'_>>,
) -> pb::TlsSession {
    let version = match state.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_owned(),
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_owned(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    };
    pb::TlsSession {
        version,
        alpn: state
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .unwrap_or_default(),
        cipher_suite: state
            .negotiated_cipher_suite()
            .map(|s| {
                s.suite()
                    .as_str()
                    .map_or_else(|| format!("{:?}", s.suite()), str::to_owned)
            })
            .unwrap_or_default(),
        sni: sni.unwrap_or_default().to_owned(),
        server_certificate: server.map(certificate),
        client_certificate: client.map(certificate),
    }
}

/// What a certificate says; a certificate that does not parse still gets
/// its fingerprint, and says so in its subject.
pub fn certificate(der: &CertificateDer<'_>) -> pb::Certificate {
    let sha256 = hex(ring::digest::digest(&ring::digest::SHA256, der).as_ref());
    match x509_parser::parse_x509_certificate(der) {
        Ok((_, cert)) => {
            let names = cert
                .subject_alternative_name()
                .ok()
                .flatten()
                .map(|san| san.value.general_names.iter().filter_map(name).collect())
                .unwrap_or_default();
            pb::Certificate {
                subject: cert.subject().to_string(),
                issuer: cert.issuer().to_string(),
                not_before_unix_seconds: cert.validity().not_before.timestamp(),
                not_after_unix_seconds: cert.validity().not_after.timestamp(),
                names,
                sha256,
            }
        }
        Err(e) => pb::Certificate {
            subject: format!("(unreadable certificate: {e})"),
            sha256,
            ..Default::default()
        },
    }
}

fn name(general: &x509_parser::extensions::GeneralName<'_>) -> Option<String> {
    use x509_parser::extensions::GeneralName;
    match general {
        GeneralName::DNSName(dns) => Some((*dns).to_owned()),
        GeneralName::IPAddress(bytes) => match bytes.len() {
            4 => <[u8; 4]>::try_from(*bytes)
                .ok()
                .map(|b| std::net::IpAddr::from(b).to_string()),
            16 => <[u8; 16]>::try_from(*bytes)
                .ok()
                .map(|b| std::net::IpAddr::from(b).to_string()),
            _ => None,
        },
        _ => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}
