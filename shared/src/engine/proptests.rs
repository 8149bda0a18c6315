//! Property tests: arbitrary bytes and events never panic the engine, and
//! decoding stays bounded in time.
#![cfg(not(target_arch = "wasm32"))]

use std::time::{Duration, Instant};

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;
use prost_reflect::Value as V;

use super::compression::{Encoding, decompress};
use super::json::{JsonOptions, decode_json};
use super::wire::{WireLimits, WireValue, decode_wire};
use super::{Session, testing};
use crate::pb;

/// Generous: a debug build on a busy machine; each case is a few KiB.
const CASE_LIMIT: Duration = Duration::from_secs(2);

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..max)
}

/// A valid `Sample` with some bytes overwritten.
fn mutated_sample() -> impl Strategy<Value = Vec<u8>> {
    let schema = testing::schema();
    let good = testing::sample(
        &schema,
        &[
            ("name", V::String("hello".into())),
            ("big", V::I64(-5)),
            ("numbers", V::List(vec![V::I32(1), V::I32(300)])),
            ("data", V::Bytes(Bytes::from_static(b"\x0a\x02\x08\x01"))),
            ("ratio", V::F64(2.5)),
        ],
    )
    .to_vec();
    let len = good.len();
    vec((0..len, any::<u8>()), 1..6).prop_map(move |edits| {
        let mut b = good.clone();
        for (i, v) in edits {
            b[i] = v;
        }
        b
    })
}

fn count_fields(value: &WireValue) -> usize {
    match value {
        WireValue::Message(m) | WireValue::Group(m) => {
            m.fields.iter().map(|f| 1 + count_fields(&f.value)).sum()
        }
        _ => 0,
    }
}

proptest! {
    #[test]
    fn schemaless_never_panics(data in bytes(4096), max_fields in 1usize..50) {
        let started = Instant::now();
        let payload = Bytes::from(data);
        let limits = WireLimits { max_fields, ..WireLimits::default() };
        let m = decode_wire(&payload, &limits);
        let total: usize = m.fields.iter().map(|f| 1 + count_fields(&f.value)).sum();
        prop_assert!(total <= max_fields);
        let _ = m.to_json_object().to_string();
        let m = decode_wire(&payload, &WireLimits::default());
        if let Some(rest) = &m.unparsed {
            prop_assert_eq!(&payload[rest.offset..], &rest.bytes[..]);
        }
        prop_assert!(started.elapsed() < CASE_LIMIT);
    }

    #[test]
    fn json_decoding_never_panics(data in prop_oneof![bytes(4096), mutated_sample()]) {
        let started = Instant::now();
        let schema = testing::schema();
        let desc = testing::sample_descriptor(&schema);
        for options in [JsonOptions::default(), JsonOptions::for_replay()] {
            if let Ok(json) = decode_json(&desc, Bytes::from(data.clone()), &options) {
                let _ = json.to_string();
            }
        }
        let status = schema.pool().get_message_by_name("google.rpc.Status").unwrap();
        let _ = decode_json(&status, Bytes::from(data), &JsonOptions::default());
        prop_assert!(started.elapsed() < CASE_LIMIT);
    }

    #[test]
    fn decompression_never_panics(data in bytes(2048)) {
        for encoding in [Encoding::Gzip, Encoding::Deflate, Encoding::Zstd] {
            if let Ok(out) = decompress(&encoding, &data, 1 << 20) {
                prop_assert!(out.len() <= 1 << 20);
            }
        }
    }

    #[test]
    fn sessions_never_panic(events in vec(event(), 0..40)) {
        let started = Instant::now();
        let mut session = Session::new();
        session.ingest(pb::Event::descriptors(testing::descriptors(
            vec![testing::file()],
            "http://backend:50051",
        )));
        for event in events {
            session.ingest(event);
        }
        let ids: Vec<u64> = session.calls().map(|c| c.id).collect();
        for id in ids {
            if let Some(detail) = session.detail(id) {
                let _ = detail.to_json().to_string();
            }
            if let Ok(cmd) = session.grpcurl(id) {
                let _ = cmd.to_shell();
            }
        }
        let _ = session.search("x");
        prop_assert!(started.elapsed() < CASE_LIMIT);
    }
}

fn header() -> impl Strategy<Value = pb::Header> {
    (
        prop_oneof![
            Just("grpc-encoding".to_owned()),
            Just("grpc-status-details-bin".to_owned()),
            Just("grpc-timeout".to_owned()),
            Just("x-a-bin".to_owned()),
            "[a-z-]{1,8}",
        ],
        prop_oneof![
            Just(b"gzip".to_vec()),
            Just(b"zstd".to_vec()),
            Just(b"deflate".to_vec()),
            Just(b"10S".to_vec()),
            bytes(16),
        ],
        any::<bool>(),
    )
        .prop_map(|(name, value, redacted)| pb::Header {
            name,
            value: value.into(),
            redacted,
        })
}

fn event() -> impl Strategy<Value = pb::Event> {
    let path = prop_oneof![
        Just("/loom.enginetest.Sampler/Get".to_owned()),
        Just("/loom.enginetest.Sampler/Upload".to_owned()),
        Just("/other.Svc/Call".to_owned()),
        ".{0,12}",
    ];
    let started = (path, vec(header(), 0..4), any::<i64>()).prop_map(|(path, headers, start)| {
        pb::event::Kind::CallStarted(pb::CallStarted {
            client_tls: None,
            start_unix_nanos: start,
            path,
            authority: "a:1".into(),
            headers,
            upstream: "http://b:2".into(),
            scheme: "http".into(),
            method: "POST".into(),
            ..Default::default()
        })
    });
    let message = (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop_oneof![bytes(512), mutated_sample()],
        any::<u64>(),
    )
        .prop_map(|(response, compressed, truncated, payload, offset)| {
            let direction = if response {
                pb::Direction::Response
            } else {
                pb::Direction::Request
            };
            let mut m = pb::Message::new(direction, offset, compressed, payload);
            m.truncated = truncated;
            pb::event::Kind::Message(m)
        });
    let headers = vec(header(), 0..3).prop_map(|headers| {
        pb::event::Kind::ResponseHeaders(pb::ResponseHeaders {
            offset_nanos: 1,
            http_status: 200,
            headers,
        })
    });
    let ended = (
        proptest::option::of(0u32..40),
        bytes(64),
        vec(header(), 0..3),
        // Format 1.2's endings, unknown sides and kinds included.
        vec((0..5i32, 0..10i32, any::<u32>()), 0..3),
    )
        .prop_map(|(code, details, trailers, endings)| {
            pb::event::Kind::CallEnded(pb::CallEnded {
                offset_nanos: 5,
                trailers,
                grpc_status: code,
                grpc_message: "m".into(),
                grpc_status_details: details.into(),
                endings: endings
                    .into_iter()
                    .map(|(side, kind, code)| pb::CallEnding {
                        offset_nanos: 5,
                        side,
                        kind,
                        code,
                        detail: String::new(),
                    })
                    .collect(),
                ..Default::default()
            })
        });
    let kind = prop_oneof![started, message, headers, ended];
    (0u64..4, kind).prop_map(|(id, kind)| pb::Event {
        call_id: id,
        kind: Some(kind),
    })
}

/// Random bytes as a descriptor set: reported, never a panic.
#[test]
fn garbage_descriptor_sets_are_survivable() {
    let mut session = Session::new();
    for seed in 0u8..64 {
        let garbage: Vec<u8> = (0..200u32)
            .map(|i| (i as u8).wrapping_mul(seed) ^ seed)
            .collect();
        session.ingest(pb::Event::descriptors(pb::Descriptors {
            file_descriptor_set: garbage.into(),
            ..Default::default()
        }));
    }
    assert!(
        session
            .schema()
            .pool()
            .get_message_by_name("google.rpc.Status")
            .is_some()
    );
}
