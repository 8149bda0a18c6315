//! Sample events for tests: one of every kind, and a short capture. Built
//! for this crate's tests, and for other crates' behind the `testing`
//! feature (the tests crate turns it on); never in a release build.

use bytes::Bytes;

use crate::header::header;
use crate::pb::{self, event::Kind};

/// One event of every kind, every field set at least once.
pub fn every_kind() -> Vec<pb::Event> {
    vec![
        pb::Event::new(
            1,
            pb::CallStarted {
                // The client's TLS, ended by the relay with a certificate
                // its local CA minted.
                client_tls: Some(Box::new(pb::TlsSession {
                    version: "TLSv1.3".into(),
                    alpn: "h2".into(),
                    cipher_suite: "TLS13_AES_128_GCM_SHA256".into(),
                    sni: "localhost".into(),
                    server_certificate: Some(pb::Certificate {
                        subject: "CN=localhost".into(),
                        issuer: "CN=Loom local CA".into(),
                        not_before_unix_seconds: 1_699_913_600,
                        not_after_unix_seconds: 1_707_776_000,
                        names: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
                        sha256: "5d41402abc4b2a76b9719d911017c592".repeat(2),
                    }),
                    client_certificate: None,
                })),
                start_unix_nanos: 1_700_000_000_123_456_789,
                path: "/echo.Echo/Say".into(),
                authority: "localhost:7000".into(),
                headers: vec![
                    header("x-trace", "abc"),
                    header("x-token-bin", Bytes::from_static(&[0, 1, 0xfe, 0xff])),
                    pb::Header {
                        name: "authorization".into(),
                        value: Bytes::new(),
                        redacted: true,
                    },
                ],
                upstream: "http://127.0.0.1:50051".into(),
                scheme: "http".into(),
                method: "POST".into(),
                ..Default::default()
            },
        ),
        pb::Event::new(
            1,
            pb::ResponseHeaders {
                offset_nanos: 1_500,
                http_status: 200,
                headers: vec![header("content-type", "application/grpc")],
            },
        ),
        pb::Event::new(
            1,
            pb::Message::new(pb::Direction::Request, 1_000, false, &b"\x0a\x02hi"[..]),
        ),
        pb::Event::new(
            1,
            pb::Message {
                direction: pb::Direction::Response.into(),
                offset_nanos: 2_000,
                compressed: true,
                payload: Bytes::from_static(&[0x1f, 0x8b, 0x08]),
                declared_length: 4096,
                truncated: true,
                preview: false,
            },
        ),
        pb::Event::new(
            1,
            pb::CallEnded {
                // Mutual TLS to the upstream: both sides' certificates.
                upstream_tls: Some(Box::new(pb::TlsSession {
                    version: "TLSv1.2".into(),
                    alpn: "h2".into(),
                    cipher_suite: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384".into(),
                    sni: "api.internal.example".into(),
                    server_certificate: Some(pb::Certificate {
                        subject: "CN=api.internal.example, O=Example Corp".into(),
                        issuer: "CN=Example Issuing CA 2, O=Example Corp".into(),
                        not_before_unix_seconds: 1_690_000_000,
                        not_after_unix_seconds: 1_721_536_000,
                        names: vec!["api.internal.example".into(), "10.0.0.7".into()],
                        sha256: "9f86d081884c7d659a2feaa0c55ad015".repeat(2),
                    }),
                    client_certificate: Some(pb::Certificate {
                        subject: "CN=loom-relay, OU=Platform".into(),
                        issuer: "CN=Example Client CA".into(),
                        not_before_unix_seconds: 1_698_796_800,
                        not_after_unix_seconds: 1_699_999_999,
                        names: vec![],
                        sha256: "2c26b46b68ffc68ff99b453c1d304134".repeat(2),
                    }),
                })),
                offset_nanos: 3_000,
                trailers: vec![header("grpc-status", "0")],
                grpc_status: Some(0),
                grpc_message: String::new(),
                grpc_status_details: Bytes::new(),
                trailers_only: false,
                relay_error: String::new(),
                http_status: 0,
                protocol_errors: vec![],
                endings: vec![pb::CallEnding::new(
                    3_000,
                    pb::EndSide::Upstream,
                    pb::EndKind::Trailers,
                    0,
                    "",
                )],
                ..Default::default()
            },
        ),
        pb::Event::new(
            2,
            pb::CallEnded {
                upstream_tls: None,
                offset_nanos: 9,
                trailers: vec![header("grpc-status", "14")],
                grpc_status: Some(14),
                grpc_message: "upstream unreachable: connection refused".into(),
                grpc_status_details: Bytes::from_static(&[0x08, 0x0e]),
                trailers_only: true,
                relay_error: "connect to 127.0.0.1:1: connection refused".into(),
                http_status: 200,
                protocol_errors: vec!["response ended inside a message".into()],
                endings: vec![
                    pb::CallEnding::new(
                        9,
                        pb::EndSide::Relay,
                        pb::EndKind::Refused,
                        14,
                        "connect to 127.0.0.1:1: connection refused",
                    ),
                    pb::CallEnding::new(12, pb::EndSide::Client, pb::EndKind::Reset, 8, ""),
                ],
                ..Default::default()
            },
        ),
        pb::Event::descriptors(pb::Descriptors {
            file_descriptor_set: Bytes::from_static(b"\x0a\x06\x0a\x04a.pb"),
            services: vec!["echo.Echo".into()],
            upstream: "http://127.0.0.1:50051".into(),
            source: "reflection/v1".into(),
            warnings: vec!["dependency google/api/annotations.proto unavailable".into()],
            origin: pb::SchemaOrigin::ReflectionV1.into(),
            location: "api/echo.protoset".into(),
            failure: Some(pb::SchemaFailure {
                reason: "reflection v1: UNAVAILABLE".into(),
                retry_unix_nanos: 1_700_000_030_000_000_000,
            }),
        }),
        pb::Event::gap(pb::GapKind::Lagged, 12, "consumer fell behind", vec![1, 2]),
        pb::Event {
            call_id: 3,
            kind: None,
        },
    ]
}

/// Three events, the second with a record longer than 127 bytes (a two-byte
/// length prefix).
pub fn three() -> Vec<pb::Event> {
    vec![
        pb::Event::new(
            7,
            Kind::Message(pb::Message::new(
                pb::Direction::Request,
                5,
                false,
                &b"ab"[..],
            )),
        ),
        pb::Event::new(
            7,
            pb::Message::new(pb::Direction::Response, 6, false, vec![0x55; 200]),
        ),
        pb::Event::gap(pb::GapKind::Evicted, 1, "memory cap evicted 1 call", vec![]),
    ]
}
