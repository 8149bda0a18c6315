//! Each hop in words: the session line, what a missing session says, and a
//! certificate's validity from the call and from now.

use loom_shared::engine::Session;

use super::*;

/// 2023-11-14T22:13:20Z.
const CALL: i64 = 1_700_000_000;

fn cert(not_before: i64, not_after: i64) -> pb::Certificate {
    pb::Certificate {
        subject: "CN=api.example".into(),
        issuer: "CN=Example CA".into(),
        not_before_unix_seconds: not_before,
        not_after_unix_seconds: not_after,
        names: vec!["api.example".into(), "10.0.0.7".into()],
        sha256: "ab".repeat(32),
    }
}

fn session(client: Option<pb::Certificate>) -> pb::TlsSession {
    pb::TlsSession {
        version: "TLSv1.3".into(),
        alpn: "h2".into(),
        cipher_suite: "TLS13_AES_128_GCM_SHA256".into(),
        sni: "api.example".into(),
        server_certificate: Some(cert(CALL - 10 * DAY, CALL + 89 * DAY + 3600)),
        client_certificate: client,
    }
}

fn text(cert: &pb::Certificate, at: Reference) -> (String, &'static str) {
    let v = validity(cert, at);
    (v.text, v.state.class())
}

#[test]
fn a_session_in_one_line() {
    assert_eq!(
        session_line(&session(None)),
        "TLSv1.3 · ALPN h2 · TLS13_AES_128_GCM_SHA256 · SNI api.example"
    );
    let bare = pb::TlsSession::default();
    assert_eq!(session_line(&bare), "TLS · no ALPN · no SNI");
}

#[test]
fn validity_as_of_the_call() {
    let at = Reference::Call(CALL);
    let cases = [
        (
            cert(0, CALL + 89 * DAY + 5),
            "expires in 89 days (as of the call)",
            "cert-ok",
        ),
        (
            cert(0, CALL + DAY),
            "expires in 1 day (as of the call)",
            "cert-soon",
        ),
        (
            cert(0, CALL + 60),
            "expires in less than a day (as of the call)",
            "cert-soon",
        ),
        // Valid through its last second.
        (
            cert(0, CALL),
            "expires in less than a day (as of the call)",
            "cert-soon",
        ),
        (
            cert(0, CALL - 3 * DAY - 7),
            "expired 3 days before the call",
            "cert-bad",
        ),
        (
            cert(0, CALL - 1),
            "expired less than a day before the call",
            "cert-bad",
        ),
        (
            cert(CALL + 2 * DAY, CALL + 90 * DAY),
            "not yet valid at the call (valid from 2 days after it)",
            "cert-bad",
        ),
    ];
    for (cert, want, class) in cases {
        assert_eq!(text(&cert, at), (want.to_owned(), class));
    }
    assert_eq!(
        text(&cert(0, CALL + EXPIRES_SOON_DAYS * DAY), at).1,
        "cert-ok"
    );
}

#[test]
fn validity_from_now() {
    let at = Reference::Now(CALL);
    assert_eq!(text(&cert(0, CALL + 40 * DAY), at).0, "expires in 40 days");
    assert_eq!(
        text(&cert(0, CALL - 400 * DAY), at).0,
        "expired 400 days ago"
    );
    assert_eq!(
        text(&cert(CALL + 5, CALL + DAY), at).0,
        "not yet valid (valid in less than a day)"
    );
    // Extremes do not overflow.
    assert_eq!(text(&cert(i64::MIN, i64::MAX), at).1, "cert-ok");
    let far = validity(&cert(i64::MIN, i64::MIN), Reference::Now(i64::MAX));
    assert_eq!(far.state, ValidityState::Invalid);
}

#[test]
fn each_hop_in_words() {
    let at = Reference::Call(CALL);
    let tls = session(Some(cert(CALL - DAY, CALL - 2 * DAY - 1)));
    let hop = hop_view(Hop::Upstream, Security::Tls(&tls), true, at);
    assert_eq!((hop.name, hop.test_id), ("Loom → upstream", "tls-upstream"));
    assert!(hop.secure);
    assert!(hop.summary.starts_with("TLSv1.3 · "));
    let roles: Vec<_> = hop.certificates.iter().map(|c| c.role).collect();
    assert_eq!(roles, ["server certificate", "client certificate"]);
    let server = &hop.certificates[0];
    assert_eq!(server.subject, "CN=api.example");
    assert_eq!(server.issuer, "CN=Example CA");
    assert_eq!(server.names, "api.example, 10.0.0.7");
    assert_eq!(server.not_after, "2024-02-11T23:13:20Z");
    assert_eq!(server.validity.text, "expires in 89 days (as of the call)");
    assert_eq!(hop.certificates[1].validity.state, ValidityState::Invalid);

    let words = |hop, security, ended| {
        let view = hop_view(hop, security, ended, at);
        (view.test_id, view.secure, view.summary)
    };
    assert_eq!(
        words(Hop::Client, Security::Cleartext, true),
        ("tls-client", false, "cleartext".to_owned())
    );
    assert_eq!(
        words(Hop::Upstream, Security::NotConnected, true).2,
        "TLS, but no connection was made (see how the call ended)"
    );
    assert_eq!(
        words(Hop::Upstream, Security::Unknown, false).2,
        "not known yet: recorded when the call ends"
    );
    assert_eq!(
        words(Hop::Client, Security::Unknown, true).2,
        "not captured (the call's start is missing)"
    );
}

/// From a session's call detail: the call's start is the reference, and a
/// call without one is told from now.
#[test]
fn hops_of_a_call() {
    let started = pb::CallStarted {
        client_tls: Some(Box::new(session(None))),
        start_unix_nanos: CALL * 1_000_000_000,
        path: "/echo.Echo/Say".into(),
        upstream: "http://127.0.0.1:50051".into(),
        ..Default::default()
    };
    let mut s = Session::from_events([pb::Event::new(1, started)]);
    let Some(detail) = s.detail(1) else {
        panic!("call 1 is in the session");
    };
    assert_eq!(Reference::of(&detail, 0.0), Reference::Call(CALL));
    let [client, upstream] = hops(&detail, 0.0);
    assert!(client.summary.contains("TLSv1.3"));
    assert_eq!(
        client.certificates[0].validity.text,
        "expires in 89 days (as of the call)"
    );
    assert_eq!(
        upstream.summary,
        "not known yet: recorded when the call ends"
    );

    let mut detail = detail;
    detail.summary.timing.start_unix_nanos = None;
    let now_ms = (CALL + 100 * DAY) as f64 * 1000.0;
    assert_eq!(
        Reference::of(&detail, now_ms),
        Reference::Now(CALL + 100 * DAY)
    );
    let [client, _] = hops(&detail, now_ms);
    assert_eq!(client.certificates[0].validity.text, "expired 10 days ago");
}
