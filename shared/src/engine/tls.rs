//! How each hop of a call was secured (format 1.3's `CallStarted.client_tls`
//! and `CallEnded.upstream_tls`): which hop is which, what a hop without a
//! session means ([`Security::of`]), and the JSON `loom decode` prints. The
//! words the inspector shows are `loom_web::tls`'s.
//!
//! A call crosses two connections, each secured on its own: the client's
//! to the relay ([`Hop::Client`]) and the relay's to the upstream
//! ([`Hop::Upstream`]). Relays older than format 1.3 spoke cleartext on
//! both, so a hop without a session in an older capture was cleartext.

use serde_json::{Map, Value, json};

use super::time::rfc3339_seconds;
use crate::pb;

/// One hop of a call through the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hop {
    /// The gRPC client's connection to the relay (`CallStarted.client_tls`).
    Client,
    /// The relay's connection to the upstream (`CallEnded.upstream_tls`).
    Upstream,
}

impl Hop {
    /// Both hops, in the order a call crosses them.
    pub const BOTH: [Hop; 2] = [Hop::Client, Hop::Upstream];

    /// `client → Loom`, `Loom → upstream`.
    pub fn name(self) -> &'static str {
        match self {
            Hop::Client => "client → Loom",
            Hop::Upstream => "Loom → upstream",
        }
    }

    /// `client`, `upstream`: the hop's key in `loom decode`'s `tls` object.
    pub fn key(self) -> &'static str {
        match self {
            Hop::Client => "client",
            Hop::Upstream => "upstream",
        }
    }
}

/// What a capture says of one hop's security.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Security<'a> {
    /// TLS, and what was negotiated.
    Tls(&'a pb::TlsSession),
    /// No TLS on this hop.
    Cleartext,
    /// The upstream speaks TLS (its address is `https://`), but the call
    /// ended without a connection to it: its endings say why (a failed
    /// handshake among them).
    NotConnected,
    /// The capture does not say: the event that records it was not
    /// captured, or (for the upstream, recorded when the call ends) has not
    /// happened yet.
    Unknown,
}

impl<'a> Security<'a> {
    /// A hop's security from what the capture holds: its `session`,
    /// whether the event that would carry it was captured (`CallStarted`
    /// for the client hop, `CallEnded` for the upstream's), and the call's
    /// upstream address (empty when the call's start was not captured).
    pub fn of(
        hop: Hop,
        session: Option<&'a pb::TlsSession>,
        recorded: bool,
        upstream: &str,
    ) -> Self {
        match (session, hop) {
            (Some(session), _) => Security::Tls(session),
            (None, _) if !recorded => Security::Unknown,
            (None, Hop::Client) => Security::Cleartext,
            (None, Hop::Upstream) if upstream.starts_with("https://") => Security::NotConnected,
            (None, Hop::Upstream) if upstream.is_empty() => Security::Unknown,
            (None, Hop::Upstream) => Security::Cleartext,
        }
    }
}

/// `{"client": …, "upstream": …}`, each hop that had TLS as
/// [`to_json`]; `None` when neither did (so older captures, and cleartext
/// calls, print no `tls` at all).
pub fn hops_json(
    client: Option<&pb::TlsSession>,
    upstream: Option<&pb::TlsSession>,
) -> Option<Value> {
    let mut out = Map::new();
    for (hop, session) in [(Hop::Client, client), (Hop::Upstream, upstream)] {
        if let Some(session) = session {
            out.insert(hop.key().into(), to_json(session));
        }
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

/// One session as JSON: `version`, `alpn`, `cipherSuite`, `sni` (as
/// captured; empty when there was none), then `serverCertificate` and
/// `clientCertificate` when presented (see [`certificate_to_json`]).
pub fn to_json(session: &pb::TlsSession) -> Value {
    let mut out = Map::new();
    out.insert("version".into(), json!(session.version));
    out.insert("alpn".into(), json!(session.alpn));
    out.insert("cipherSuite".into(), json!(session.cipher_suite));
    out.insert("sni".into(), json!(session.sni));
    if let Some(cert) = &session.server_certificate {
        out.insert("serverCertificate".into(), certificate_to_json(cert));
    }
    if let Some(cert) = &session.client_certificate {
        out.insert("clientCertificate".into(), certificate_to_json(cert));
    }
    Value::Object(out)
}

/// A certificate as JSON: `subject`, `issuer`, `notBefore` and `notAfter`
/// (RFC 3339, UTC, to the second), `names` (subject alternative names) and
/// `sha256` (of the DER, lowercase hex).
pub fn certificate_to_json(cert: &pb::Certificate) -> Value {
    json!({
        "subject": cert.subject,
        "issuer": cert.issuer,
        "notBefore": rfc3339_seconds(cert.not_before_unix_seconds),
        "notAfter": rfc3339_seconds(cert.not_after_unix_seconds),
        "names": cert.names,
        "sha256": cert.sha256,
    })
}

#[cfg(test)]
mod tests;
