//! Tests of the constructors and accessors on the generated types.

use super::*;

#[test]
fn constructors() {
    let gap = pb::Event::gap(pb::GapKind::Lagged, 3, "slow", vec![9]);
    assert_eq!(gap.call_id, 0);
    assert_eq!(gap.kind_name(), "gap");
    let Some(Kind::Gap(g)) = gap.kind else {
        panic!("not a gap");
    };
    assert_eq!(g.kind(), pb::GapKind::Lagged);
    assert_eq!((g.dropped_events, g.reason.as_str()), (3, "slow"));
    assert_eq!(g.call_ids, [9]);

    let m = pb::Message::new(pb::Direction::Response, 5, true, vec![1, 2, 3]);
    assert_eq!(m.direction(), pb::Direction::Response);
    assert_eq!(m.declared_length, 3);
    assert!(!m.truncated);
    let e = pb::Event::new(4, m);
    assert_eq!(e.kind_name(), "message");
    assert_eq!(e.offset_nanos(), Some(5));

    let d = pb::Event::descriptors(pb::Descriptors::default());
    assert_eq!(
        (d.call_id, d.kind_name(), d.offset_nanos()),
        (0, "descriptors", None)
    );
    let empty = pb::Event::default();
    assert_eq!((empty.kind_name(), empty.offset_nanos()), ("unknown", None));
}

#[test]
fn schema_origins_round_trip_through_the_legacy_strings() {
    use pb::SchemaOrigin as O;
    for (origin, location) in [
        (O::ReflectionV1, ""),
        (O::ReflectionV1alpha, ""),
        (O::Reflection, ""),
        (O::DescriptorSet, "/tmp/a b.pb"),
        (O::Proto, "api/x.proto"),
        (O::UserFile, "x.protoset"),
    ] {
        let legacy = origin.legacy_source(location);
        assert_eq!(O::from_legacy(&legacy), (origin, location.to_owned()));
    }
    assert_eq!(
        O::from_legacy("something else"),
        (O::Unspecified, String::new())
    );
    let set = pb::Descriptors::schema(vec![1u8], vec!["a.S".into()], O::Proto, "api/", "", vec![]);
    assert_eq!(set.source, "proto:api/");
    assert_eq!(set.origin_and_location(), (O::Proto, "api/".to_owned()));
    assert!(!set.is_failure());
    // A 1.0 event: only the string.
    let old = pb::Descriptors {
        source: "descriptor-set:x.pb".into(),
        file_descriptor_set: vec![1u8].into(),
        ..Default::default()
    };
    assert_eq!(
        old.origin_and_location(),
        (O::DescriptorSet, "x.pb".to_owned())
    );
    let failed =
        pb::Descriptors::failure(vec!["a.S".into()], O::Reflection, "http://u:1", "down", 7);
    assert!(failed.is_failure());
    assert_eq!(failed.warnings, ["down"]);
    assert_eq!(failed.failure.as_ref().unwrap().retry_unix_nanos, 7);
    assert!(O::ReflectionV1.is_reflection() && !O::Proto.is_reflection());
}

/// A 1.2 end: `grpc_status` as the relay recorded it, then the endings.
fn ended(grpc_status: Option<u32>, endings: &[(pb::EndSide, pb::EndKind, u32)]) -> pb::CallEnded {
    let endings = endings
        .iter()
        .enumerate()
        .map(|(i, &(side, kind, code))| pb::CallEnding::new(i as u64, side, kind, code, ""))
        .collect();
    pb::CallEnded {
        grpc_status,
        ..Default::default()
    }
    .with_endings(endings)
}

/// `grpc_status`, the endings, then the client status and whether the
/// client ended the call.
type Case = (
    Option<u32>,
    &'static [(pb::EndSide, pb::EndKind, u32)],
    Option<u32>,
    bool,
);

#[test]
fn the_client_status_follows_what_ended_the_call() {
    use pb::EndKind as K;
    use pb::EndSide::{Client, Relay, Upstream};
    let cases: [Case; 14] = [
        // The client's cancel reads as CANCELLED, whatever crossed it.
        (None, &[(Client, K::Reset, 8)], Some(1), true),
        (
            Some(0),
            &[(Client, K::Reset, 8), (Upstream, K::Trailers, 0)],
            Some(1),
            true,
        ),
        (Some(0), &[(Client, K::Deadline, 8)], Some(4), true),
        (None, &[(Client, K::Deadline, 2)], Some(4), true),
        // Any other way the client abandoned it is a cancel too.
        (None, &[(Client, K::Reset, 1)], Some(1), true),
        (None, &[(Client, K::Goaway, 0)], Some(1), true),
        (None, &[(Client, K::Disconnect, 0)], Some(1), true),
        // Otherwise what the relay recorded.
        (Some(5), &[(Upstream, K::Trailers, 5)], Some(5), false),
        (None, &[(Upstream, K::Reset, 2)], None, false),
        (Some(14), &[(Relay, K::Refused, 14)], Some(14), false),
        (
            Some(14),
            &[(Upstream, K::Goaway, 0), (Client, K::Reset, 8)],
            Some(14),
            false,
        ),
        (None, &[(Relay, K::Shutdown, 0)], None, false),
        // Kinds a client does not end a call with change nothing.
        (Some(0), &[(Client, K::Trailers, 0)], Some(0), false),
        (Some(2), &[(Client, K::Unspecified, 0)], Some(2), false),
    ];
    for (grpc_status, endings, status, by_client) in cases {
        let end = ended(grpc_status, endings);
        assert_eq!(end.client_status(), status, "{endings:?}");
        assert_eq!(end.ended_by_client(), by_client, "{endings:?}");
        assert_eq!(end.ended_by(), end.endings.first());
    }
}

#[test]
fn without_endings_the_status_is_grpc_status() {
    for grpc_status in [None, Some(0), Some(1), Some(14), Some(99)] {
        let old = pb::CallEnded {
            grpc_status,
            relay_error: "client cancelled".into(),
            ..Default::default()
        };
        assert_eq!(old.ended_by(), None);
        assert_eq!(old.client_status(), grpc_status);
        assert!(!old.ended_by_client());
    }
    // Values from a newer writer: unknown side or kind, never a panic.
    let newer = pb::CallEnded {
        grpc_status: Some(3),
        endings: vec![pb::CallEnding {
            side: 9,
            kind: 40,
            ..Default::default()
        }],
        ..Default::default()
    };
    assert_eq!(newer.client_status(), Some(3));
}

#[test]
fn ending_constructor_and_builder() {
    let cancel = pb::CallEnding::new(
        12_300_000,
        pb::EndSide::Client,
        pb::EndKind::Reset,
        8,
        "stream reset by the client",
    );
    assert_eq!(
        (
            cancel.side(),
            cancel.kind(),
            cancel.code,
            cancel.offset_nanos
        ),
        (pb::EndSide::Client, pb::EndKind::Reset, 8, 12_300_000)
    );
    assert_eq!(cancel.detail, "stream reset by the client");
    let end = pb::CallEnded::by_relay(12_400_000, None, "", "client cancelled", false)
        .with_endings(vec![cancel.clone()]);
    assert_eq!(end.relay_error, "client cancelled");
    assert_eq!(end.ended_by(), Some(&cancel));
    assert_eq!(end.client_status(), Some(1));
}
