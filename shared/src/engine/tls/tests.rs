//! Each hop's TLS: what a missing session means, the JSON, and a session
//! keeping both hops' sessions through detail, export and `loom decode`'s
//! JSON.

use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::capture;
use crate::engine::Session;
use crate::pb::event::Kind;

fn certificate(subject: &str, names: &[&str]) -> pb::Certificate {
    pb::Certificate {
        subject: subject.into(),
        issuer: "CN=Test CA".into(),
        not_before_unix_seconds: 1_700_000_000,
        not_after_unix_seconds: 1_731_536_000,
        names: names.iter().map(|&n| n.into()).collect(),
        sha256: "ab".repeat(32),
    }
}

fn session(sni: &str, client_certificate: bool) -> pb::TlsSession {
    pb::TlsSession {
        version: "TLSv1.3".into(),
        alpn: "h2".into(),
        cipher_suite: "TLS13_AES_128_GCM_SHA256".into(),
        sni: sni.into(),
        server_certificate: Some(certificate(&format!("CN={sni}"), &[sni])),
        client_certificate: client_certificate.then(|| certificate("CN=loom", &[])),
    }
}

fn started(upstream: &str, tls: Option<pb::TlsSession>) -> pb::CallStarted {
    pb::CallStarted {
        client_tls: tls.map(Box::new),
        start_unix_nanos: 1_700_000_100_000_000_000,
        path: "/echo.Echo/Say".into(),
        upstream: upstream.into(),
        ..Default::default()
    }
}

fn ended(tls: Option<pb::TlsSession>) -> pb::CallEnded {
    pb::CallEnded {
        offset_nanos: 2_000_000,
        grpc_status: Some(0),
        upstream_tls: tls.map(Box::new),
        ..Default::default()
    }
}

#[test]
fn hops_by_name() {
    assert_eq!(
        Hop::BOTH.map(Hop::name),
        ["client → Loom", "Loom → upstream"]
    );
    assert_eq!(Hop::BOTH.map(Hop::key), ["client", "upstream"]);
}

#[test]
fn what_a_missing_session_means() {
    let tls = session("api.example", false);
    let plain = "http://127.0.0.1:50051";
    let secure = "https://api.example:443";
    for hop in Hop::BOTH {
        assert_eq!(
            Security::of(hop, Some(&tls), true, plain),
            Security::Tls(&tls)
        );
        // Not recorded (yet): whatever the address says.
        assert_eq!(Security::of(hop, None, false, secure), Security::Unknown);
        assert_eq!(Security::of(hop, None, true, plain), Security::Cleartext);
    }
    // The client hop does not depend on the upstream's address.
    assert_eq!(
        Security::of(Hop::Client, None, true, secure),
        Security::Cleartext
    );
    // An https upstream without a session: no connection was made.
    assert_eq!(
        Security::of(Hop::Upstream, None, true, secure),
        Security::NotConnected
    );
    // The call's end without its start: the address is unknown, and so is
    // whether it was meant to be TLS.
    assert_eq!(
        Security::of(Hop::Upstream, None, true, ""),
        Security::Unknown
    );
}

#[test]
fn json_of_a_session() {
    let mut tls = session("api.example", true);
    tls.alpn.clear();
    assert_eq!(
        to_json(&tls),
        json!({
            "version": "TLSv1.3", "alpn": "", "cipherSuite": "TLS13_AES_128_GCM_SHA256",
            "sni": "api.example",
            "serverCertificate": {
                "subject": "CN=api.example", "issuer": "CN=Test CA",
                "notBefore": "2023-11-14T22:13:20Z", "notAfter": "2024-11-13T22:13:20Z",
                "names": ["api.example"], "sha256": "ab".repeat(32),
            },
            "clientCertificate": {
                "subject": "CN=loom", "issuer": "CN=Test CA",
                "notBefore": "2023-11-14T22:13:20Z", "notAfter": "2024-11-13T22:13:20Z",
                "names": [], "sha256": "ab".repeat(32),
            },
        })
    );
    let bare = pb::TlsSession {
        version: "TLSv1.2".into(),
        ..Default::default()
    };
    assert_eq!(
        to_json(&bare),
        json!({"version": "TLSv1.2", "alpn": "", "cipherSuite": "", "sni": ""})
    );
    assert_eq!(hops_json(None, None), None);
    let only_upstream = hops_json(None, Some(&bare)).unwrap_or_default();
    assert_eq!(only_upstream, json!({"upstream": to_json(&bare)}));
}

/// Both hops through a session: the detail, `loom decode`'s JSON, the
/// rebuilt events of an export, and one shared copy per distinct session.
#[test]
fn a_session_keeps_both_hops() {
    let client = session("localhost", false);
    let upstream = session("api.example", true);
    let secure = "https://api.example:443";
    let events = [
        pb::Event::new(1, started(secure, Some(client.clone()))),
        pb::Event::new(1, ended(Some(upstream.clone()))),
        pb::Event::new(2, started(secure, Some(client.clone()))),
        pb::Event::new(2, ended(Some(upstream.clone()))),
        pb::Event::new(3, started("http://127.0.0.1:50051", None)),
        pb::Event::new(3, ended(None)),
        pb::Event::new(4, started(secure, None)),
    ];
    let mut s = Session::from_events(events.clone());

    let Some(one) = s.detail(1) else {
        panic!("call 1 is in the session");
    };
    assert_eq!(one.client_tls.as_deref(), Some(&client));
    assert_eq!(one.upstream_tls.as_deref(), Some(&upstream));
    assert_eq!(one.security(Hop::Client), Security::Tls(&client));
    assert_eq!(one.security(Hop::Upstream), Security::Tls(&upstream));
    let json = one.to_json();
    assert_eq!(json["tls"]["client"], to_json(&client));
    assert_eq!(json["tls"]["upstream"], to_json(&upstream));
    assert_eq!(
        json["tls"]["upstream"]["clientCertificate"]["subject"],
        "CN=loom"
    );
    // Calls over the same connections share one copy of each session.
    let two = s.detail(2);
    let shared = |d: &Option<crate::engine::CallDetail>| {
        d.as_ref()
            .and_then(|d| d.client_tls.clone().zip(d.upstream_tls.clone()))
    };
    let (a, b) = (shared(&Some(one)), shared(&two));
    assert!(
        a.zip(b)
            .is_some_and(|((c1, u1), (c2, u2))| { Arc::ptr_eq(&c1, &c2) && Arc::ptr_eq(&u1, &u2) })
    );

    // Cleartext: no `tls` in the JSON, as before 1.3.
    let three = s.detail(3);
    let three = three.as_ref();
    assert_eq!(
        three.map(|d| d.security(Hop::Client)),
        Some(Security::Cleartext)
    );
    assert_eq!(
        three.map(|d| d.security(Hop::Upstream)),
        Some(Security::Cleartext)
    );
    assert!(three.is_some_and(|d| d.to_json().get("tls").is_none()));
    // Still running: the upstream's session comes with the call's end.
    let four = s.detail(4);
    assert_eq!(
        four.as_ref().map(|d| d.security(Hop::Upstream)),
        Some(Security::Unknown)
    );

    // Searchable by version, SNI and certificate subject.
    assert_eq!(s.search("cn=loom"), [1, 2]);
    assert_eq!(s.search("tlsv1.3"), [1, 2]);
    assert!(s.search("api.example").contains(&1));

    // Exported, every event comes back as it was.
    let exported = capture::read_capture(&s.export(None)).map(|c| c.events);
    let calls: Vec<pb::Event> = exported
        .unwrap_or_default()
        .into_iter()
        .filter(|e| matches!(e.kind, Some(Kind::CallStarted(_) | Kind::CallEnded(_))))
        .collect();
    assert_eq!(calls, events);
}
