//! A TLS failure in words a person can act on: what went wrong and the
//! flag that fixes it. One home for the wording, used where a handshake
//! fails (`client`), where a stream's error is read (`stream`) and where
//! any upstream error becomes text (`forward::upstream::describe`).

use std::io;

use rustls::{CertificateError, Error as RustlsError};

/// What the client is told when the upstream wants a client certificate.
pub const CLIENT_CERTIFICATE_REQUIRED: &str =
    "the upstream requires a client certificate (give one with --upstream-cert and --upstream-key)";

/// A handshake's failure (an I/O error that may carry a TLS one), in words.
pub fn explain_io(error: &io::Error) -> String {
    match error
        .get_ref()
        .and_then(|e| e.downcast_ref::<RustlsError>())
    {
        Some(tls) => explain(tls),
        None => format!("TLS handshake failed: {error}"),
    }
}

/// A TLS failure, in words a person can act on: what went wrong and the
/// flag that fixes it.
pub fn explain(tls: &RustlsError) -> String {
    let why = match tls {
        RustlsError::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer => {
                "the upstream's certificate is signed by an unknown CA (trust its CA with --upstream-ca FILE)".to_owned()
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!(
                    "the upstream's certificate is not valid for the name dialed ({cert}; set the name to verify with --upstream-server-name)"
                )
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                format!("the upstream's certificate has expired ({cert})")
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                format!("the upstream's certificate is not valid yet ({cert})")
            }
            other => format!("the upstream's certificate was rejected: {other}"),
        },
        RustlsError::AlertReceived(alert) => {
            use rustls::AlertDescription as A;
            match alert {
                A::CertificateRequired => CLIENT_CERTIFICATE_REQUIRED.to_owned(),
                A::NoApplicationProtocol => "the upstream does not speak ALPN h2 (HTTP/2 over TLS)".to_owned(),
                A::BadCertificate | A::UnknownCA | A::CertificateUnknown | A::AccessDenied => format!(
                    "the upstream refused the relay's client certificate (alert {alert:?})"
                ),
                A::HandshakeFailure => "the upstream ended the handshake (handshake_failure: no common cipher suite or protocol version, or it wants a client certificate)".to_owned(),
                A::ProtocolVersion => "the upstream speaks no TLS version the relay does (TLS 1.2 and 1.3)".to_owned(),
                other => format!("the upstream sent TLS alert {other:?}"),
            }
        }
        RustlsError::NoApplicationProtocol => {
            "the upstream does not speak ALPN h2 (HTTP/2 over TLS)".to_owned()
        }
        RustlsError::InvalidMessage(_) => format!(
            "the upstream did not answer with TLS ({tls}): is it a cleartext port? Use http:// for it"
        ),
        other => other.to_string(),
    };
    format!("TLS handshake failed: {why}")
}
