//! How each hop of a call was secured (capture format 1.3), in what the
//! detail view shows: per hop (`client → Loom`, `Loom → upstream`) a line
//! (`TLSv1.3 · ALPN h2 · TLS13_AES_128_GCM_SHA256 · SNI api.example`, or
//! `cleartext`) and each certificate presented, its validity told relative
//! to the call: `expires in 89 days (as of the call)`, `expired 3 days
//! before the call`. A certificate is judged as the call met it, which is
//! what explains a failed handshake; only a call whose start was not
//! captured is judged against now (`expires in 89 days`, `expired 3 days
//! ago`). What a missing session means is the engine's
//! ([`loom_shared::engine::Security`]). Native and tested natively.

use loom_shared::engine::{CallDetail, Hop, Security, rfc3339_seconds};
use loom_shared::pb;

/// A certificate that expires within this many days is flagged.
pub const EXPIRES_SOON_DAYS: i64 = 14;

const DAY: i64 = 86_400;

/// One hop, as the detail view shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HopView {
    /// `client → Loom`, `Loom → upstream`.
    pub name: &'static str,
    /// `tls-client`, `tls-upstream`: the hop's `data-test`.
    pub test_id: &'static str,
    /// The hop had TLS.
    pub secure: bool,
    /// `TLSv1.3 · ALPN h2 · TLS13_AES_128_GCM_SHA256 · SNI api.example`;
    /// `cleartext`; or why there is nothing to show.
    pub summary: String,
    /// The certificates presented: the server's, then the client's.
    pub certificates: Vec<CertificateView>,
}

/// One certificate, as the detail view shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateView {
    /// `server certificate`, `client certificate`.
    pub role: &'static str,
    pub subject: String,
    pub issuer: String,
    /// Subject alternative names, comma-separated; `none` without any.
    pub names: String,
    /// RFC 3339, UTC.
    pub not_before: String,
    /// RFC 3339, UTC.
    pub not_after: String,
    /// Valid, expired or not yet valid, and for how long.
    pub validity: Validity,
    /// SHA-256 of the certificate, hex.
    pub sha256: String,
}

/// A certificate's validity at a moment, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validity {
    /// `expires in 89 days (as of the call)`, `expired 3 days before the
    /// call`, `not yet valid at the call (valid from 2 days after it)`.
    pub text: String,
    pub state: ValidityState,
}

/// How a certificate's validity is flagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidityState {
    Valid,
    /// Valid, but for less than [`EXPIRES_SOON_DAYS`] more days.
    ExpiresSoon,
    /// Expired, or not yet valid.
    Invalid,
}

impl ValidityState {
    /// The CSS class of the validity text.
    pub fn class(self) -> &'static str {
        match self {
            ValidityState::Valid => "cert-ok",
            ValidityState::ExpiresSoon => "cert-soon",
            ValidityState::Invalid => "cert-bad",
        }
    }
}

/// The moment a certificate's validity is told from, in Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    /// When the call started.
    Call(i64),
    /// Now: for a call whose start was not captured.
    Now(i64),
}

impl Reference {
    /// The call's start when captured, else now (`now_ms`, the page's clock).
    pub fn of(detail: &CallDetail, now_ms: f64) -> Reference {
        match detail.summary.timing.start_unix_nanos {
            Some(start) => Reference::Call(start.div_euclid(1_000_000_000)),
            None => Reference::Now((now_ms / 1000.0) as i64),
        }
    }

    fn seconds(self) -> i64 {
        match self {
            Reference::Call(s) | Reference::Now(s) => s,
        }
    }
}

/// Both hops of a call, client first.
pub fn hops(detail: &CallDetail, now_ms: f64) -> [HopView; 2] {
    let at = Reference::of(detail, now_ms);
    Hop::BOTH.map(|hop| hop_view(hop, detail.security(hop), detail.summary.is_ended(), at))
}

/// One hop; `ended`: the call has ended (the upstream's session comes with
/// its end).
pub fn hop_view(hop: Hop, security: Security<'_>, ended: bool, at: Reference) -> HopView {
    let (summary, certificates) = match security {
        Security::Tls(session) => (session_line(session), certificates(session, at)),
        Security::Cleartext => ("cleartext".to_owned(), Vec::new()),
        Security::NotConnected => (
            "TLS, but no connection was made (see how the call ended)".to_owned(),
            Vec::new(),
        ),
        Security::Unknown => {
            let why = match hop {
                Hop::Upstream if !ended => "not known yet: recorded when the call ends",
                Hop::Upstream => "not captured (the call's start is missing)",
                Hop::Client => "not captured (the call's start is missing)",
            };
            (why.to_owned(), Vec::new())
        }
    };
    HopView {
        name: hop.name(),
        test_id: match hop {
            Hop::Client => "tls-client",
            Hop::Upstream => "tls-upstream",
        },
        secure: matches!(security, Security::Tls(_)),
        summary,
        certificates,
    }
}

/// `TLSv1.3 · ALPN h2 · TLS13_AES_128_GCM_SHA256 · SNI api.example`; `no
/// ALPN`, `no SNI` when the hop agreed none or sent none.
pub fn session_line(session: &pb::TlsSession) -> String {
    let or = |value: &str, label: &str| {
        if value.is_empty() {
            format!("no {label}")
        } else {
            format!("{label} {value}")
        }
    };
    let mut parts = vec![if session.version.is_empty() {
        "TLS".to_owned()
    } else {
        session.version.clone()
    }];
    parts.push(or(&session.alpn, "ALPN"));
    if !session.cipher_suite.is_empty() {
        parts.push(session.cipher_suite.clone());
    }
    parts.push(or(&session.sni, "SNI"));
    parts.join(" · ")
}

fn certificates(session: &pb::TlsSession, at: Reference) -> Vec<CertificateView> {
    let server = session.server_certificate.as_ref();
    let client = session.client_certificate.as_ref();
    [
        ("server certificate", server),
        ("client certificate", client),
    ]
    .into_iter()
    .filter_map(|(role, cert)| cert.map(|c| certificate(role, c, at)))
    .collect()
}

/// One certificate, its validity told from `at`.
pub fn certificate(role: &'static str, cert: &pb::Certificate, at: Reference) -> CertificateView {
    CertificateView {
        role,
        subject: cert.subject.clone(),
        issuer: cert.issuer.clone(),
        names: if cert.names.is_empty() {
            "none".to_owned()
        } else {
            cert.names.join(", ")
        },
        not_before: rfc3339_seconds(cert.not_before_unix_seconds),
        not_after: rfc3339_seconds(cert.not_after_unix_seconds),
        validity: validity(cert, at),
        sha256: cert.sha256.clone(),
    }
}

/// A certificate's validity at `at`.
pub fn validity(cert: &pb::Certificate, at: Reference) -> Validity {
    let now = at.seconds();
    let call = matches!(at, Reference::Call(_));
    let (text, state) = if now < cert.not_before_unix_seconds {
        let wait = days(cert.not_before_unix_seconds.saturating_sub(now));
        let text = if call {
            format!("not yet valid at the call (valid from {wait} after it)")
        } else {
            format!("not yet valid (valid in {wait})")
        };
        (text, ValidityState::Invalid)
    } else if now > cert.not_after_unix_seconds {
        let since = days(now.saturating_sub(cert.not_after_unix_seconds));
        let text = if call {
            format!("expired {since} before the call")
        } else {
            format!("expired {since} ago")
        };
        (text, ValidityState::Invalid)
    } else {
        let left = cert.not_after_unix_seconds.saturating_sub(now);
        let mut text = format!("expires in {}", days(left));
        if call {
            text.push_str(" (as of the call)");
        }
        let state = if left < EXPIRES_SOON_DAYS * DAY {
            ValidityState::ExpiresSoon
        } else {
            ValidityState::Valid
        };
        (text, state)
    };
    Validity { text, state }
}

/// `less than a day`, `1 day`, `89 days`: whole days in `seconds`.
fn days(seconds: i64) -> String {
    match seconds / DAY {
        0 => "less than a day".to_owned(),
        1 => "1 day".to_owned(),
        n => format!("{n} days"),
    }
}

#[cfg(test)]
mod tests;
