use prost_types::{
    DescriptorProto, FieldDescriptorProto, FileDescriptorProto, MethodDescriptorProto,
    ServiceDescriptorProto,
};

use super::*;
use crate::engine::testing;

const UP_A: &str = "http://a:1";
const UP_B: &str = "http://b:2";

/// `name` in `package`: message `Msg` (with a field of `field_type`, if
/// any) and service `Svc` with method `Call(Msg) returns (Msg)`; imports `deps`.
fn file(name: &str, package: &str, deps: &[&str], field_type: Option<&str>) -> FileDescriptorProto {
    let field = field_type.map(|t| FieldDescriptorProto {
        name: Some("f".into()),
        number: Some(1),
        label: Some(1),
        r#type: Some(11),
        type_name: Some(t.into()),
        json_name: Some("f".into()),
        ..Default::default()
    });
    let msg = format!(".{package}.Msg");
    FileDescriptorProto {
        name: Some(name.into()),
        package: Some(package.into()),
        dependency: deps.iter().map(|d| d.to_string()).collect(),
        message_type: vec![DescriptorProto {
            name: Some("Msg".into()),
            field: field.into_iter().collect(),
            ..Default::default()
        }],
        service: vec![ServiceDescriptorProto {
            name: Some("Svc".into()),
            method: vec![MethodDescriptorProto {
                name: Some("Call".into()),
                input_type: Some(msg.clone()),
                output_type: Some(msg),
                ..Default::default()
            }],
            ..Default::default()
        }],
        syntax: Some("proto3".into()),
        ..Default::default()
    }
}

fn failure_notice(service: &str, upstream: &str, warning: &str) -> pb::Descriptors {
    pb::Descriptors::failure(
        vec![service.into()],
        pb::SchemaOrigin::Reflection,
        upstream,
        warning,
        0,
    )
}

#[test]
fn bundled_types_are_always_there() {
    let schema = Schema::new();
    for name in [
        "google.rpc.Status",
        "google.rpc.BadRequest",
        "google.rpc.LocalizedMessage",
        "google.protobuf.Timestamp",
        "google.protobuf.Struct",
        "google.protobuf.FieldMask",
    ] {
        assert!(schema.pool().get_message_by_name(name).is_some(), "{name}");
    }
    assert!(schema.problems().is_empty(), "{:?}", schema.problems());
}

#[test]
fn sets_from_several_upstreams_merge() {
    let a = testing::descriptors(vec![testing::file()], UP_A);
    let b = testing::descriptors(vec![file("b.proto", "pkg.b", &[], None)], UP_B);
    let schema = Schema::from_descriptors([&a, &b]);
    assert!(schema.problems().is_empty(), "{:?}", schema.problems());
    let get = schema.resolve("/loom.enginetest.Sampler/Watch").unwrap();
    assert_eq!(get.kind(), CallKind::ServerStreaming);
    assert_eq!(get.input().full_name(), "loom.enginetest.Sample");
    assert_eq!(get.source.as_ref().unwrap().upstream, UP_A);
    let call = schema.resolve("/pkg.b.Svc/Call").unwrap();
    assert_eq!(call.kind(), CallKind::Unary);
    assert_eq!(call.source.as_ref().unwrap().upstream, UP_B);
    assert_eq!(
        schema.resolve("/pkg.b.Svc/Nope").unwrap_err(),
        "service pkg.b.Svc has no method Nope in the schema"
    );
    assert!(
        schema
            .resolve("/pkg.c.Svc/Call")
            .unwrap_err()
            .contains("no schema for pkg.c.Svc")
    );
    assert!(
        schema
            .resolve("nonsense")
            .unwrap_err()
            .contains("not of the form")
    );
}

#[test]
fn a_malformed_set_is_reported_and_skipped() {
    let good = testing::descriptors(vec![testing::file()], UP_A);
    let bad = pb::Descriptors::schema(
        bytes::Bytes::from_static(b"\x0a\x05\xff\xff"),
        vec!["x.Svc".into()],
        pb::SchemaOrigin::ReflectionV1,
        "",
        UP_B,
        vec![],
    );
    let schema = Schema::from_descriptors([&bad, &good]);
    assert!(schema.resolve("/loom.enginetest.Sampler/Get").is_ok());
    assert_eq!(schema.problems().len(), 1, "{:?}", schema.problems());
    let problem = &schema.problems()[0];
    assert_eq!(problem.source.upstream, UP_B);
    assert!(
        problem.message.contains("not a valid FileDescriptorSet"),
        "{problem}"
    );
    assert!(!problem.repaired);
}

#[test]
fn a_conflicting_file_is_skipped_and_the_newer_set_wins() {
    // Two files with different names both define pkg.c.Msg and pkg.c.Svc,
    // from one upstream (the service moved to another file).
    let older = testing::descriptors(vec![file("one.proto", "pkg.c", &[], None)], UP_A);
    let newer = testing::descriptors(vec![file("two.proto", "pkg.c", &[], None)], UP_A);
    let schema = Schema::from_descriptors([&older, &newer]);
    let resolved = schema.resolve("/pkg.c.Svc/Call").unwrap();
    assert_eq!(resolved.source.unwrap().upstream, UP_A);
    assert_eq!(schema.problems().len(), 1, "{:?}", schema.problems());
    let problem = &schema.problems()[0];
    assert_eq!(problem.file.as_deref(), Some("one.proto"));
    assert_eq!(problem.source.upstream, UP_A);
    assert!(!problem.repaired);
    assert_eq!(schema.upstreams_with_own_pool().count(), 0);

    // From two upstreams: the newer wins the merged pool, and the older's
    // upstream keeps its own (see `own`), which is no problem.
    let newer = testing::descriptors(vec![file("two.proto", "pkg.c", &[], None)], UP_B);
    let schema = Schema::from_descriptors([&older, &newer]);
    let resolved = schema.resolve("/pkg.c.Svc/Call").unwrap();
    assert_eq!(resolved.source.unwrap().upstream, UP_B);
    let own = schema.resolve_for(UP_A, "/pkg.c.Svc/Call").unwrap();
    assert_eq!(own.source.unwrap().upstream, UP_A);
    assert!(schema.problems().is_empty(), "{:?}", schema.problems());
    assert_eq!(schema.upstreams_with_own_pool().collect::<Vec<_>>(), [UP_A]);
}

#[test]
fn the_latest_version_of_a_file_wins() {
    let mut v2 = file("same.proto", "pkg.d", &[], None);
    v2.service[0].method.push(MethodDescriptorProto {
        name: Some("Added".into()),
        input_type: Some(".pkg.d.Msg".into()),
        output_type: Some(".pkg.d.Msg".into()),
        server_streaming: Some(true),
        ..Default::default()
    });
    let v1 = testing::descriptors(vec![file("same.proto", "pkg.d", &[], None)], UP_A);
    let v2 = testing::descriptors(vec![v2], UP_A);
    let mut schema = Schema::from_descriptors([&v1]);
    assert!(schema.resolve("/pkg.d.Svc/Added").is_err());
    let generation = schema.generation();
    assert!(schema.add(&v2));
    assert!(schema.generation() > generation);
    assert_eq!(
        schema.resolve("/pkg.d.Svc/Added").unwrap().kind(),
        CallKind::ServerStreaming
    );
    assert!(schema.problems().is_empty(), "{:?}", schema.problems());
    // The same set again changes nothing.
    assert!(!schema.add(&v2));
}

#[test]
fn files_are_added_dependencies_first_whatever_their_order() {
    let leaf = file("leaf.proto", "pkg.leaf", &[], None);
    let mid = file(
        "mid.proto",
        "pkg.mid",
        &["leaf.proto"],
        Some(".pkg.leaf.Msg"),
    );
    let top = file("top.proto", "pkg.top", &["mid.proto"], Some(".pkg.mid.Msg"));
    let set = testing::descriptors(vec![top, mid, leaf], UP_A);
    let schema = Schema::from_descriptors([&set]);
    assert!(schema.problems().is_empty(), "{:?}", schema.problems());
    assert!(schema.resolve("/pkg.top.Svc/Call").is_ok());
}

#[test]
fn missing_imports_are_repaired_or_reported() {
    // `unused.proto` imports a file nobody sent but uses none of its types:
    // added without the import. `needy.proto` uses a type from it: skipped.
    let unused = file(
        "unused.proto",
        "pkg.unused",
        &["google/api/annotations.proto"],
        None,
    );
    let needy = file(
        "needy.proto",
        "pkg.needy",
        &["missing.proto"],
        Some(".pkg.missing.Msg"),
    );
    // `dependent.proto` uses needy's type: skipped too, and says why.
    let dependent = file(
        "dependent.proto",
        "pkg.dep",
        &["needy.proto"],
        Some(".pkg.needy.Msg"),
    );
    let set = testing::descriptors(vec![unused, needy, dependent], UP_A);
    let schema = Schema::from_descriptors([&set]);

    assert!(schema.resolve("/pkg.unused.Svc/Call").is_ok());
    let problems = schema.problems();
    assert_eq!(problems.len(), 3, "{problems:?}");
    let find = |name: &str| {
        problems
            .iter()
            .find(|p| p.file.as_deref() == Some(name))
            .unwrap()
    };
    let unused = find("unused.proto");
    assert!(unused.repaired);
    assert!(
        unused
            .message
            .contains("google/api/annotations.proto (not in any descriptor set)"),
        "{unused}"
    );
    let needy = find("needy.proto");
    assert!(!needy.repaired);
    assert!(needy.message.contains("missing.proto"), "{needy}");
    let dependent = find("dependent.proto");
    assert!(
        dependent
            .message
            .contains("needy.proto (which could not be added)"),
        "{dependent}"
    );

    // The services whose files failed have no schema, and say why.
    let why = schema.resolve("/pkg.needy.Svc/Call").unwrap_err();
    assert!(
        why.contains("needy.proto") && why.contains("could not be loaded"),
        "{why}"
    );
    assert!(
        schema
            .service_origin("pkg.needy.Svc")
            .unwrap()
            .error
            .is_some()
    );
}

#[test]
fn empty_sets_are_per_service_failure_notes() {
    let mut schema = Schema::new();
    let notice = failure_notice(
        "pkg.e.Svc",
        UP_A,
        "reflection: UNIMPLEMENTED: unknown service",
    );
    assert!(!schema.add(&notice));
    assert_eq!(schema.notes().len(), 1);
    let note = &schema.notes()[0];
    assert!(note.failed);
    assert_eq!(note.service, "pkg.e.Svc");
    let why = schema.resolve("/pkg.e.Svc/Call").unwrap_err();
    assert!(why.contains("UNIMPLEMENTED: unknown service"), "{why}");
    assert!(why.contains(UP_A), "{why}");
    // A repeated notice replaces the old one.
    schema.add(&failure_notice("pkg.e.Svc", UP_A, "again"));
    assert_eq!(schema.notes().len(), 1);
    assert_eq!(schema.notes()[0].warnings, ["again"]);
    // A set with warnings is a note too, but not a failure.
    let mut warned = testing::descriptors(vec![file("w.proto", "pkg.w", &[], None)], UP_B);
    warned
        .warnings
        .push("dependency x.proto unavailable".into());
    assert!(schema.add(&warned));
    assert!(
        schema
            .notes()
            .iter()
            .any(|n| n.service == "pkg.w.Svc" && !n.failed)
    );
}

#[test]
fn local_sources_name_their_files() {
    let source = |s: &str| {
        SchemaSource::of(&pb::Descriptors {
            source: s.into(),
            ..Default::default()
        })
    };
    assert_eq!(
        source("descriptor-set:/tmp/a.pb").local_file(),
        Some(LocalSchema::DescriptorSet("/tmp/a.pb".into()))
    );
    assert_eq!(
        source("proto:api/x.proto").local_file(),
        Some(LocalSchema::Proto("api/x.proto".into()))
    );
    assert_eq!(source("reflection/v1").local_file(), None);
}

#[test]
fn random_descriptor_sets_never_break_the_schema() {
    // Corrupt a real set at every byte: whatever happens, the bundled
    // types stay and nothing panics.
    let good = testing::descriptors(vec![testing::file()], UP_A);
    let bytes = good.file_descriptor_set.to_vec();
    for i in 0..bytes.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut corrupt = bytes.clone();
            corrupt[i] ^= flip;
            let set = pb::Descriptors {
                file_descriptor_set: corrupt.into(),
                ..good.clone()
            };
            let schema = Schema::from_descriptors([&set]);
            assert!(
                schema
                    .pool()
                    .get_message_by_name("google.rpc.Status")
                    .is_some()
            );
        }
    }
}

#[test]
fn malformed_descriptors_are_reported_not_panics() {
    use prost_types::{EnumDescriptorProto, FieldOptions, MessageOptions, OneofDescriptorProto};
    let base = || file("m.proto", "pkg.m", &[], None);
    let field = |f: &mut FieldDescriptorProto| {
        f.name = Some("x".into());
        f.number = Some(1);
        f.label = Some(1);
        f.r#type = Some(9);
    };
    let mut cases: Vec<(&str, FileDescriptorProto)> = Vec::new();
    let with_field = |edit: &dyn Fn(&mut FieldDescriptorProto)| {
        let mut f = base();
        let mut fd = FieldDescriptorProto::default();
        field(&mut fd);
        edit(&mut fd);
        f.message_type[0].field.push(fd);
        f
    };
    cases.push((
        "oneof index out of range",
        with_field(&|f| f.oneof_index = Some(5)),
    ));
    cases.push((
        "negative oneof index",
        with_field(&|f| f.oneof_index = Some(-1)),
    ));
    cases.push(("type 0", with_field(&|f| f.r#type = Some(0))));
    cases.push(("type 99", with_field(&|f| f.r#type = Some(99))));
    cases.push(("label 9", with_field(&|f| f.label = Some(9))));
    cases.push(("number 0", with_field(&|f| f.number = Some(0))));
    cases.push(("negative number", with_field(&|f| f.number = Some(-5))));
    cases.push(("huge number", with_field(&|f| f.number = Some(i32::MAX))));
    cases.push((
        "missing type name",
        with_field(&|f| {
            f.r#type = Some(11);
            f.type_name = Some(".nope.Missing".into());
        }),
    ));
    cases.push((
        "message type without name",
        with_field(&|f| {
            f.r#type = Some(11);
            f.type_name = None;
        }),
    ));
    cases.push((
        "enum type naming a message",
        with_field(&|f| {
            f.r#type = Some(14);
            f.type_name = Some(".pkg.m.Msg".into());
        }),
    ));
    cases.push((
        "proto3 optional without oneof",
        with_field(&|f| f.proto3_optional = Some(true)),
    ));
    cases.push((
        "packed string",
        with_field(&|f| {
            f.options = Some(FieldOptions {
                packed: Some(true),
                ..Default::default()
            })
        }),
    ));
    cases.push((
        "default value on proto3",
        with_field(&|f| f.default_value = Some("zz".into())),
    ));
    cases.push((
        "bad int default",
        with_field(&|f| {
            f.r#type = Some(5);
            f.default_value = Some("not a number".into());
        }),
    ));
    cases.push((
        "extendee on a field",
        with_field(&|f| f.extendee = Some(".pkg.m.Msg".into())),
    ));
    let mut f = base();
    f.message_type[0].options = Some(MessageOptions {
        map_entry: Some(true),
        ..Default::default()
    });
    cases.push(("map entry without key and value", f));
    let mut f = base();
    let mut map_field = FieldDescriptorProto::default();
    field(&mut map_field);
    map_field.label = Some(3);
    map_field.r#type = Some(11);
    map_field.type_name = Some(".pkg.m.Msg.Entry".into());
    f.message_type[0].field.push(map_field);
    f.message_type[0].nested_type.push(DescriptorProto {
        name: Some("Entry".into()),
        options: Some(MessageOptions {
            map_entry: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    });
    cases.push(("map field with an empty entry", f));
    let mut f = base();
    f.message_type[0]
        .oneof_decl
        .push(OneofDescriptorProto::default());
    cases.push(("empty oneof", f));
    let mut f = base();
    f.enum_type.push(EnumDescriptorProto {
        name: Some("E".into()),
        ..Default::default()
    });
    cases.push(("enum without values", f));
    let mut f = base();
    f.public_dependency = vec![3, -1];
    f.weak_dependency = vec![7];
    cases.push(("dependency indexes out of range", f));
    let mut f = base();
    f.syntax = Some("editions".into());
    cases.push(("editions", f));
    let mut f = base();
    f.service[0].method[0].input_type = Some(".nope.In".into());
    cases.push(("method input missing", f));
    let mut f = base();
    f.service[0].method[0].output_type = None;
    cases.push(("method output unset", f));
    let mut f = base();
    f.package = Some("..bad..".into());
    cases.push(("bad package", f));
    let mut f = base();
    f.message_type[0].name = Some(String::new());
    cases.push(("empty message name", f));
    let mut f = base();
    f.dependency = vec!["m.proto".into()];
    cases.push(("imports itself", f));
    let mut deep = DescriptorProto {
        name: Some("D".into()),
        ..Default::default()
    };
    for _ in 0..200 {
        deep = DescriptorProto {
            name: Some("D".into()),
            nested_type: vec![deep],
            ..Default::default()
        };
    }
    let mut f = base();
    f.message_type.push(deep);
    cases.push(("deep nesting", f));

    for (what, file) in cases {
        let set = testing::descriptors(vec![file], UP_A);
        let schema = Schema::from_descriptors([&set]);
        // Whatever happened, it is either in the pool or reported.
        let added = schema.pool().get_file_by_name("m.proto").is_some();
        assert!(
            added || !schema.problems().is_empty(),
            "{what}: neither added nor reported"
        );
    }
}
