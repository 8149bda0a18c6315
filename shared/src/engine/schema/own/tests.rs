//! Two upstreams serving the same service in different versions: each
//! call decodes with its own upstream's schema; upstreams that agree, or
//! captures of one upstream, have the merged pool only.

use bytes::Bytes;
use prost::Message as _;
use prost_types::{
    DescriptorProto, FieldDescriptorProto, FileDescriptorProto, FileDescriptorSet,
    MethodDescriptorProto, ServiceDescriptorProto,
};
use serde_json::{Value, json};

use crate::engine::{Body, CallKind, Schema, SchemaState, Session};
use crate::pb;

const UP_A: &str = "http://10.0.0.1:50051";
const UP_B: &str = "https://api.example:443";
const UP_C: &str = "unix:/run/c.sock";
const CALL: &str = "/pkg.v.Svc/Call";

/// `file` in package `pkg.v`: `message Msg { string <field> = 1; }` and
/// `service Svc { rpc Call(Msg) returns ([stream] Msg); }`.
fn file(file: &str, field: &str, streaming: bool) -> FileDescriptorProto {
    FileDescriptorProto {
        name: Some(file.into()),
        package: Some("pkg.v".into()),
        message_type: vec![DescriptorProto {
            name: Some("Msg".into()),
            field: vec![FieldDescriptorProto {
                name: Some(field.into()),
                number: Some(1),
                label: Some(1),
                r#type: Some(9),
                json_name: Some(field.into()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        service: vec![ServiceDescriptorProto {
            name: Some("Svc".into()),
            method: vec![MethodDescriptorProto {
                name: Some("Call".into()),
                input_type: Some(".pkg.v.Msg".into()),
                output_type: Some(".pkg.v.Msg".into()),
                server_streaming: Some(streaming),
                ..Default::default()
            }],
            ..Default::default()
        }],
        syntax: Some("proto3".into()),
        ..Default::default()
    }
}

/// Reflection from `upstream` (`""`: a local descriptor set).
fn set(files: Vec<FileDescriptorProto>, upstream: &str) -> pb::Descriptors {
    let (origin, location) = if upstream.is_empty() {
        (pb::SchemaOrigin::DescriptorSet, "local.protoset")
    } else {
        (pb::SchemaOrigin::ReflectionV1, "")
    };
    pb::Descriptors::schema(
        FileDescriptorSet { file: files }.encode_to_vec(),
        vec!["pkg.v.Svc".into()],
        origin,
        location,
        upstream,
        Vec::new(),
    )
}

/// A call `id` to `upstream` sending field 1 = `text`.
fn call(id: u64, upstream: &str, text: &str) -> [pb::Event; 3] {
    let mut payload = vec![0x0a, text.len() as u8];
    payload.extend_from_slice(text.as_bytes());
    [
        pb::Event::new(
            id,
            pb::CallStarted {
                path: CALL.into(),
                authority: "relay:9999".into(),
                upstream: upstream.into(),
                scheme: "http".into(),
                method: "POST".into(),
                start_unix_nanos: 1,
                ..Default::default()
            },
        ),
        pb::Event::new(
            id,
            pb::Message::new(pb::Direction::Request, 10, false, Bytes::from(payload)),
        ),
        pb::Event::new(
            id,
            pb::CallEnded {
                grpc_status: Some(0),
                offset_nanos: 20,
                ..Default::default()
            },
        ),
    ]
}

/// Call `id`'s request, as decoded JSON.
fn request_json(session: &mut Session, id: u64) -> Value {
    let detail = session.detail(id).expect("the call");
    match &detail.messages[0].body {
        Body::Json { json, .. } => json.clone(),
        other => panic!("call {id} did not decode: {other:?}"),
    }
}

/// Calls 1 (to A), 2 (to B) and 3 (to C, which sent no schema), with
/// `sets` before or after the calls.
fn session(sets: &[&pb::Descriptors], sets_first: bool) -> Session {
    let mut events: Vec<pb::Event> = Vec::new();
    let schema: Vec<pb::Event> = sets
        .iter()
        .map(|s| pb::Event::descriptors((*s).clone()))
        .collect();
    if sets_first {
        events.extend(schema.iter().cloned());
    }
    events.extend(call(1, UP_A, "hi a"));
    events.extend(call(2, UP_B, "hi b"));
    events.extend(call(3, UP_C, "hi c"));
    if !sets_first {
        events.extend(schema);
    }
    Session::from_events(events)
}

fn source_upstream(state: &SchemaState) -> &str {
    match state {
        SchemaState::Loaded { source, .. } => &source.upstream,
        other => panic!("not loaded: {other:?}"),
    }
}

#[test]
fn each_call_decodes_with_its_own_upstreams_schema() {
    // The same file name in two versions: the newer replaces it in the
    // merged pool; the older's upstream gets a pool of its own.
    let a = set(vec![file("svc.proto", "alpha", false)], UP_A);
    let b = set(vec![file("svc.proto", "beta", true)], UP_B);
    for (order, sets) in [("a, b", [&a, &b]), ("b, a", [&b, &a])] {
        for sets_first in [true, false] {
            let what = format!("{order}, sets first: {sets_first}");
            let mut s = session(&sets, sets_first);
            assert_eq!(request_json(&mut s, 1), json!({"alpha": "hi a"}), "{what}");
            assert_eq!(request_json(&mut s, 2), json!({"beta": "hi b"}), "{what}");
            // C has no schema of its own: the merged pool's (the newest).
            let newest = if order == "a, b" { "beta" } else { "alpha" };
            assert_eq!(request_json(&mut s, 3), json!({newest: "hi c"}), "{what}");
            // The kind is each upstream's too.
            assert_eq!(s.call(1).unwrap().kind, CallKind::Unary, "{what}");
            assert_eq!(s.call(2).unwrap().kind, CallKind::ServerStreaming, "{what}");
            assert!(!s.call(2).unwrap().kind_inferred, "{what}");
            let schema = s.schema();
            assert!(
                schema.problems().is_empty(),
                "{what}: {:?}",
                schema.problems()
            );
            assert_eq!(source_upstream(&schema.state_for(UP_A, "pkg.v.Svc")), UP_A);
            assert_eq!(source_upstream(&schema.state_for(UP_B, "pkg.v.Svc")), UP_B);
            let method = schema.resolve_for(UP_B, CALL).unwrap();
            assert_eq!(method.source.unwrap().upstream, UP_B, "{what}");
            assert_eq!(
                schema.upstreams_with_own_pool().count(),
                1,
                "only the one that lost in the merged pool: {what}"
            );
        }
    }
}

#[test]
fn a_clash_between_two_files_gives_the_refused_upstream_its_own_pool() {
    // Different file names defining the same names: one cannot go into the
    // merged pool at all (added on top: the newer is refused).
    let a = set(vec![file("a.proto", "alpha", false)], UP_A);
    let b = set(vec![file("b.proto", "beta", false)], UP_B);
    for sets_first in [true, false] {
        let mut s = session(&[&a, &b], sets_first);
        assert_eq!(request_json(&mut s, 1), json!({"alpha": "hi a"}));
        assert_eq!(request_json(&mut s, 2), json!({"beta": "hi b"}));
        // The clash was resolved: it is no problem.
        assert!(
            s.schema().problems().is_empty(),
            "{:?}",
            s.schema().problems()
        );
        let grpcurl = s.grpcurl(2).unwrap();
        assert!(
            grpcurl.args.contains(&r#"{"beta":"hi b"}"#.to_owned()),
            "{grpcurl:?}"
        );
    }
}

#[test]
fn upstreams_that_agree_share_the_merged_pool() {
    let a = set(vec![file("svc.proto", "alpha", false)], UP_A);
    let b = set(vec![file("svc.proto", "alpha", false)], UP_B);
    let mut s = session(&[&a, &b], true);
    assert_eq!(s.schema().upstreams_with_own_pool().count(), 0);
    assert_eq!(request_json(&mut s, 2), json!({"alpha": "hi b"}));
    // Each says it has its own upstream's copy.
    let schema = s.schema();
    assert_eq!(source_upstream(&schema.state_for(UP_A, "pkg.v.Svc")), UP_A);
    assert_eq!(source_upstream(&schema.state_for(UP_B, "pkg.v.Svc")), UP_B);
    // C sent none: it says whose it uses (the merged pool's).
    let merged = &schema.service_origin("pkg.v.Svc").unwrap().source.upstream;
    assert_eq!(
        source_upstream(&schema.state_for(UP_C, "pkg.v.Svc")),
        merged
    );

    // One upstream in two versions (a redeploy): the latest wins, no own pool.
    let v2 = set(vec![file("svc.proto", "beta", false)], UP_A);
    let schema = Schema::from_descriptors([&a, &v2]);
    assert_eq!(schema.upstreams_with_own_pool().count(), 0);
    assert!(schema.resolve_for(UP_A, CALL).is_ok());
}

#[test]
fn a_local_file_added_later_applies_to_every_upstream() {
    let a = set(vec![file("svc.proto", "alpha", false)], UP_A);
    let b = set(vec![file("svc.proto", "beta", false)], UP_B);
    let mut s = session(&[&a, &b], true);
    assert_eq!(request_json(&mut s, 1), json!({"alpha": "hi a"}));
    s.ingest(pb::Event::descriptors(set(
        vec![file("svc.proto", "gamma", false)],
        "",
    )));
    for id in [1, 2, 3] {
        assert_eq!(
            request_json(&mut s, id)["gamma"],
            json!(format!("hi {}", ["a", "b", "c"][id as usize - 1]))
        );
    }
}

#[test]
fn failures_are_said_per_upstream() {
    let a = set(vec![file("svc.proto", "alpha", false)], UP_A);
    let failed = pb::Descriptors::failure(
        vec!["other.Svc".into()],
        pb::SchemaOrigin::Reflection,
        UP_C,
        "reflection: UNIMPLEMENTED",
        0,
    );
    let schema = Schema::from_descriptors([&a, &failed]);
    assert!(matches!(
        schema.state_for(UP_C, "other.Svc"),
        SchemaState::Failed { .. }
    ));
    // Not A's failure; an unknown upstream's calls see every notice.
    assert_eq!(schema.state_for(UP_A, "other.Svc"), SchemaState::Unknown);
    assert!(matches!(
        schema.state("other.Svc"),
        SchemaState::Failed { .. }
    ));
    let why = schema.resolve_for(UP_A, "/other.Svc/Get").unwrap_err();
    assert!(why.contains("no descriptor set"), "{why}");
    let why = schema.resolve_for(UP_C, "/other.Svc/Get").unwrap_err();
    assert!(why.contains("UNIMPLEMENTED"), "{why}");
}

#[test]
fn sessions_count_calls_and_services_per_upstream() {
    let mut s = session(&[], true);
    s.ingest_all(call(4, UP_A, "again"));
    let counts: Vec<(String, usize)> = s
        .upstreams()
        .into_iter()
        .map(|u| (u.upstream.to_string(), u.calls))
        .collect();
    assert_eq!(
        counts,
        [(UP_A.into(), 2), (UP_B.into(), 1), (UP_C.into(), 1)]
    );
    assert_eq!(s.upstream_services(UP_A).collect::<Vec<_>>(), ["pkg.v.Svc"]);
    assert_eq!(s.upstream_services("http://elsewhere:1").count(), 0);
    assert!(s.remove(2));
    assert_eq!(s.upstreams().len(), 2, "B has no calls left");
    // A call whose start is missing is no upstream's.
    s.ingest(pb::Event::new(9, pb::CallEnded::default()));
    assert_eq!(s.upstreams().iter().map(|u| u.calls).sum::<usize>(), 3);
}
