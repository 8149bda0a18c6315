//! Format 1.3: TLS per hop, `CallStarted.client_tls` (client to relay) and
//! `CallEnded.upstream_tls` (relay to upstream). The fixture
//! `capture-v1.3-tls.loom` has a call for each combination that matters;
//! it must read back with those sessions, and the engine must say the same
//! of each hop. Files of 1.0 to 1.2 (no sessions) read as cleartext.

use loom_relay::decode::DecodeOptions;
use loom_shared::capture;
use loom_shared::engine::{Hop, Security, Session, tls};
use loom_shared::header::header;
use loom_shared::pb::{self, EndKind, EndSide};
use serde_json::Value;

use super::endings::{ENDINGS, endings_events};
use super::{
    BASIC, SCHEMAS, TRUNCATED, UPSTREAM, expected_events, file_of_version, fixture, load,
    read_fixture,
};

pub(super) const TLS: &str = "capture-v1.3-tls.loom";

/// When the fixture's first call started (Unix nanoseconds):
/// 2023-11-14T22:30:00Z.
const START: i64 = 1_700_001_000_000_000_000;
/// The TLS upstream.
const SECURE_UPSTREAM: &str = "https://api.internal.example:8443";
/// Why call 4 never reached its upstream.
const HANDSHAKE: &str = "TLS handshake with the upstream failed: invalid peer certificate: \
                         certificate expired";

/// Each call of the fixture: id, what the engine says of the client hop
/// and of the upstream hop (the TLS version, or `cleartext`,
/// `not connected`), and the subjects of the certificates the relay saw.
const CALLS: [(u64, &str, &str, &[&str]); 6] = [
    (
        1,
        "TLSv1.3",
        "TLSv1.3",
        &[
            "CN=localhost",
            "CN=api.internal.example, O=Example Corp",
            "CN=loom-relay, OU=Platform",
        ],
    ),
    (
        2,
        "cleartext",
        "TLSv1.2",
        &["CN=api.internal.example, O=Example Corp"],
    ),
    (
        3,
        "TLSv1.3",
        "cleartext",
        &["CN=localhost", "CN=orders-client, O=Example Corp"],
    ),
    (4, "TLSv1.3", "not connected", &["CN=localhost"]),
    (5, "cleartext", "cleartext", &[]),
    (6, "TLSv1.3", "TLSv1.3", &["CN=localhost", "CN=10.0.0.7"]),
];

fn certificate(subject: &str, issuer: &str, days: (i64, i64), names: &[&str]) -> pb::Certificate {
    let start = START / 1_000_000_000;
    pb::Certificate {
        subject: subject.into(),
        issuer: issuer.into(),
        not_before_unix_seconds: start + days.0 * 86_400,
        not_after_unix_seconds: start + days.1 * 86_400,
        names: names.iter().map(|&n| n.into()).collect(),
        sha256: format!("{:064x}", subject.len() * 0x1_0001 + names.len()),
    }
}

/// The relay's own certificate, minted by its local CA for `localhost`.
fn relay_certificate() -> pb::Certificate {
    certificate(
        "CN=localhost",
        "CN=Loom local CA",
        (-1, 89),
        &["localhost", "127.0.0.1", "::1"],
    )
}

/// The upstream's certificate: issued by a company CA, expiring in 30 days.
fn upstream_certificate() -> pb::Certificate {
    certificate(
        "CN=api.internal.example, O=Example Corp",
        "CN=Example Issuing CA 2, O=Example Corp",
        (-335, 30),
        &["api.internal.example", "10.0.0.7"],
    )
}

fn session(
    version: &str,
    cipher_suite: &str,
    sni: &str,
    server: pb::Certificate,
    client: Option<pb::Certificate>,
) -> pb::TlsSession {
    pb::TlsSession {
        version: version.into(),
        alpn: "h2".into(),
        cipher_suite: cipher_suite.into(),
        sni: sni.into(),
        server_certificate: Some(server),
        client_certificate: client,
    }
}

/// TLS 1.3 from a client to the relay, as `localhost`.
fn client_tls(client: Option<pb::Certificate>) -> Option<pb::TlsSession> {
    Some(session(
        "TLSv1.3",
        "TLS13_AES_128_GCM_SHA256",
        "localhost",
        relay_certificate(),
        client,
    ))
}

fn started(id: u64, upstream: &str, client_tls: Option<pb::TlsSession>) -> pb::Event {
    let scheme = if client_tls.is_some() {
        "https"
    } else {
        "http"
    };
    pb::Event::new(
        id,
        pb::CallStarted {
            client_tls: client_tls.map(Box::new),
            start_unix_nanos: START + id as i64 * 1_000_000_000,
            path: "/echo.Echo/Say".into(),
            authority: "localhost:7443".into(),
            headers: vec![header("x-request-id", format!("req-{id}"))],
            upstream: upstream.into(),
            scheme: scheme.into(),
            method: "POST".into(),
            ..Default::default()
        },
    )
}

/// The upstream's OK, over `upstream_tls`.
fn ok(id: u64, upstream_tls: Option<pb::TlsSession>) -> pb::Event {
    pb::Event::new(
        id,
        pb::CallEnded {
            upstream_tls: upstream_tls.map(Box::new),
            offset_nanos: 2_000_000,
            trailers: vec![header("grpc-status", "0")],
            grpc_status: Some(0),
            ..Default::default()
        }
        .with_endings(vec![pb::CallEnding::new(
            2_000_000,
            EndSide::Upstream,
            EndKind::Trailers,
            0,
            "",
        )]),
    )
}

/// The events of the 1.3 fixture: one call per way a call's hops are
/// secured.
pub(super) fn tls_events() -> Vec<pb::Event> {
    let mtls_upstream = session(
        "TLSv1.3",
        "TLS13_AES_256_GCM_SHA384",
        "api.internal.example",
        upstream_certificate(),
        Some(certificate(
            "CN=loom-relay, OU=Platform",
            "CN=Example Client CA",
            (-10, 355),
            &[],
        )),
    );
    let tls12_upstream = session(
        "TLSv1.2",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "api.internal.example",
        upstream_certificate(),
        None,
    );
    let orders_client = certificate(
        "CN=orders-client, O=Example Corp",
        "CN=Example Client CA",
        (-400, -2),
        &[],
    );
    // An upstream dialled by IP address: no SNI, no ALPN agreed.
    let by_address = pb::TlsSession {
        version: "TLSv1.3".into(),
        alpn: String::new(),
        cipher_suite: "TLS13_CHACHA20_POLY1305_SHA256".into(),
        sni: String::new(),
        server_certificate: Some(certificate(
            "CN=10.0.0.7",
            "CN=10.0.0.7",
            (0, 3650),
            &["10.0.0.7"],
        )),
        client_certificate: None,
    };
    let refused = pb::CallEnded::by_relay(40_000_000, Some(14), HANDSHAKE, HANDSHAKE, true)
        .with_endings(vec![pb::CallEnding::new(
            40_000_000,
            EndSide::Relay,
            EndKind::Refused,
            14,
            HANDSHAKE,
        )]);
    vec![
        // 1: TLS on both hops, mutual TLS to the upstream.
        started(1, SECURE_UPSTREAM, client_tls(None)),
        ok(1, Some(mtls_upstream)),
        // 2: a cleartext client, a TLS 1.2 upstream.
        started(2, SECURE_UPSTREAM, None),
        ok(2, Some(tls12_upstream)),
        // 3: a client with its own (expired) certificate, a cleartext upstream.
        started(3, UPSTREAM, client_tls(Some(orders_client))),
        ok(3, None),
        // 4: the upstream's handshake failed: no connection, no session.
        started(4, SECURE_UPSTREAM, client_tls(None)),
        pb::Event::new(4, refused),
        // 5: cleartext on both hops, as every call before 1.3.
        started(5, UPSTREAM, None),
        ok(5, None),
        // 6: an upstream dialled by address.
        started(6, "https://10.0.0.7:443", client_tls(None)),
        ok(6, Some(by_address)),
    ]
}

pub(super) fn tls_bytes() -> Vec<u8> {
    file_of_version(3, &tls_events())
}

/// A hop as the fixture's table spells it.
fn word(security: Security<'_>) -> String {
    match security {
        Security::Tls(session) => session.version.clone(),
        Security::Cleartext => "cleartext".into(),
        Security::NotConnected => "not connected".into(),
        Security::Unknown => "unknown".into(),
    }
}

#[test]
fn tls_fixture_reads_back_with_each_hops_session() {
    let capture = read_fixture(TLS, 3, &tls_events());

    let mut session = Session::from_events(capture.events);
    for (id, client, upstream, subjects) in CALLS {
        let detail = session.detail(id).expect("every call of the fixture");
        assert_eq!(word(detail.security(Hop::Client)), client, "call {id}");
        assert_eq!(word(detail.security(Hop::Upstream)), upstream, "call {id}");
        let seen: Vec<&str> = [&detail.client_tls, &detail.upstream_tls]
            .into_iter()
            .flatten()
            .flat_map(|s| s.server_certificate.iter().chain(&s.client_certificate))
            .map(|c| c.subject.as_str())
            .collect();
        assert_eq!(seen, subjects, "call {id}");
        // `loom decode` prints each hop that had TLS, and nothing for the others.
        let json = detail.to_json();
        for hop in Hop::BOTH {
            let printed = &json["tls"][hop.key()];
            match detail.security(hop) {
                Security::Tls(s) => assert_eq!(*printed, tls::to_json(s), "call {id}"),
                _ => assert_eq!(*printed, Value::Null, "call {id}"),
            }
        }
        assert_eq!(json.get("tls").is_some(), !subjects.is_empty(), "call {id}");
    }
    let first = session.detail(1).map(|d| d.to_json()).unwrap_or_default();
    let upstream = &first["tls"]["upstream"];
    assert_eq!(upstream["cipherSuite"], "TLS13_AES_256_GCM_SHA384");
    assert_eq!(
        upstream["serverCertificate"]["notAfter"],
        "2023-12-14T22:30:00Z"
    );
    assert_eq!(
        upstream["clientCertificate"]["subject"],
        "CN=loom-relay, OU=Platform"
    );
    // The failed handshake is in the endings, where the relay named it.
    let failed = session.detail(4).map(|d| d.to_json()).unwrap_or_default();
    assert_eq!(failed["endings"][0]["detail"], HANDSHAKE);
    assert_eq!(failed["status"]["name"], "UNAVAILABLE");
    // The exported session writes the same events back.
    let exported = capture::read_capture(&session.export(None)).unwrap();
    assert_eq!(exported.version, (1, capture::VERSION_MINOR));
    assert_eq!(exported.events, tls_events());
}

/// `loom decode` prints `tls` after `endings`, with the hops that had TLS.
#[test]
fn loom_decode_prints_each_hops_tls() {
    load(TLS);
    let options = DecodeOptions {
        input: fixture(TLS),
        ..Default::default()
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let outcome = loom_relay::decode::run(&options, &mut out, &mut err).unwrap();
    assert_eq!((outcome.calls, outcome.exit_code()), (CALLS.len(), 0));
    let lines: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let hops: Vec<(u64, Vec<&str>)> = lines
        .iter()
        .map(|line| {
            let keys = line["tls"]
                .as_object()
                .map(|o| o.keys().map(String::as_str));
            (
                line["id"].as_u64().unwrap_or(0),
                keys.into_iter().flatten().collect(),
            )
        })
        .collect();
    assert_eq!(
        hops,
        [
            (1, vec!["client", "upstream"]),
            (2, vec!["upstream"]),
            (3, vec!["client"]),
            (4, vec!["client"]),
            (5, vec![]),
            (6, vec!["client", "upstream"]),
        ]
    );
    let keys: Vec<&str> = lines[0]
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let at = |key| keys.iter().position(|&k| k == key);
    assert_eq!(at("tls"), at("endings").map(|i| i + 1), "{keys:?}");
    let sixth = &lines[5]["tls"]["upstream"];
    assert_eq!(
        (&sixth["sni"], &sixth["alpn"]),
        (&Value::from(""), &Value::from(""))
    );
    assert_eq!(sixth["serverCertificate"]["names"][0], "10.0.0.7");
}

#[test]
fn older_fixtures_read_as_cleartext() {
    let files = [
        capture::read_capture(&load(BASIC)).unwrap(),
        capture::read_capture(&load(TRUNCATED)).unwrap(),
        capture::read_capture(&load(SCHEMAS)).unwrap(),
        capture::read_capture(&load(ENDINGS)).unwrap(),
    ];
    assert_eq!(files.each_ref().map(|c| c.version.1), [0, 0, 1, 2]);
    assert_eq!(files[0].events, expected_events());
    assert_eq!(files[3].events, endings_events());
    let mut calls = 0;
    for file in files {
        let mut session = Session::from_events(file.events);
        let ids: Vec<u64> = session.calls().map(|c| c.id).collect();
        for id in ids {
            let detail = session.detail(id).expect("a call of the file");
            assert_eq!(detail.security(Hop::Client), Security::Cleartext);
            assert_eq!(detail.security(Hop::Upstream), Security::Cleartext);
            assert!(detail.to_json().get("tls").is_none());
            calls += 1;
        }
    }
    assert_eq!(calls, 2 + 2 + 11);
}
