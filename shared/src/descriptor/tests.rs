use prost_reflect::DescriptorPool;
use prost_types::{
    DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorProto,
    MethodDescriptorProto, ServiceDescriptorProto,
};

use super::*;

fn field(name: &str, number: i32, type_name: &str) -> FieldDescriptorProto {
    FieldDescriptorProto {
        name: Some(name.into()),
        number: Some(number),
        label: Some(1),
        // TYPE_MESSAGE; prost-reflect fixes the kind up from what the name resolves to.
        r#type: Some(11),
        type_name: Some(type_name.into()),
        json_name: Some(name.into()),
        ..Default::default()
    }
}

fn message(name: &str, fields: Vec<FieldDescriptorProto>) -> DescriptorProto {
    DescriptorProto {
        name: Some(name.into()),
        field: fields,
        ..Default::default()
    }
}

fn file(
    name: &str,
    package: &str,
    deps: &[&str],
    messages: Vec<DescriptorProto>,
) -> FileDescriptorProto {
    FileDescriptorProto {
        name: Some(name.into()),
        package: Some(package.into()),
        dependency: deps.iter().map(|d| d.to_string()).collect(),
        message_type: messages,
        syntax: Some("proto3".into()),
        ..Default::default()
    }
}

/// What grpc-js's `@grpc/reflection` serves: files named after packages, no
/// imports declared, and its own copy of the well-known types.
fn grpc_js_like() -> Graph {
    let mut harness = file(
        "harness_v1.proto",
        "harness.v1",
        &[],
        vec![message(
            "EchoReply",
            vec![
                field("at", 1, ".google.protobuf.Timestamp"),
                field("tag", 2, ".harness.common.v1.Tag"),
            ],
        )],
    );
    harness.service.push(ServiceDescriptorProto {
        name: Some("Harness".into()),
        method: vec![MethodDescriptorProto {
            name: Some("Echo".into()),
            input_type: Some(".harness.v1.EchoReply".into()),
            output_type: Some(".harness.v1.EchoReply".into()),
            ..Default::default()
        }],
        ..Default::default()
    });
    let mut common = file(
        "harness_common_v1.proto",
        "harness.common.v1",
        &[],
        vec![message("Tag", vec![field("level", 1, "Level")])],
    );
    common.enum_type.push(EnumDescriptorProto {
        name: Some("Level".into()),
        value: vec![prost_types::EnumValueDescriptorProto {
            name: Some("LEVEL_UNSPECIFIED".into()),
            number: Some(0),
            ..Default::default()
        }],
        ..Default::default()
    });
    let wkt = file(
        "google_protobuf.proto",
        "google.protobuf",
        &[],
        vec![message("Timestamp", vec![])],
    );
    let mut graph = Graph::default();
    for f in [harness, common, wkt] {
        graph.add(f);
    }
    graph
}

fn pool_of(set: &FileDescriptorSet) -> DescriptorPool {
    DescriptorPool::from_file_descriptor_set(set.clone())
        .unwrap_or_else(|e| panic!("the repaired set must load: {e}"))
}

#[test]
fn relative_names_have_every_enclosing_scope_as_a_candidate() {
    let r = Reference {
        file: "f".into(),
        name: "Tag".into(),
        scope: "a.b.Msg".into(),
    };
    assert_eq!(r.candidates(), ["a.b.Msg.Tag", "a.b.Tag", "a.Tag", "Tag"]);
    let r = Reference {
        name: ".x.Y".into(),
        ..r
    };
    assert_eq!(r.candidates(), ["x.Y"]);
}

#[test]
fn a_graph_without_imports_is_repaired_by_symbol() {
    let graph = grpc_js_like();
    // As served, it does not load: no file imports what it uses.
    let raw = FileDescriptorSet {
        file: graph.files().cloned().collect(),
    };
    assert!(DescriptorPool::from_file_descriptor_set(raw).is_err());
    assert!(graph.unresolved().is_empty(), "{:?}", graph.unresolved());

    let repaired = graph.repair();
    assert!(repaired.unresolved.is_empty(), "{:?}", repaired.unresolved);
    let names: Vec<&str> = repaired.set.file.iter().map(|f| f.name()).collect();
    assert!(!names.contains(&"google_protobuf.proto"), "{names:?}");
    assert!(
        names.contains(&"google/protobuf/timestamp.proto"),
        "{names:?}"
    );
    let harness = repaired
        .set
        .file
        .iter()
        .find(|f| f.name() == "harness_v1.proto")
        .unwrap();
    assert_eq!(
        harness.dependency,
        ["google/protobuf/timestamp.proto", "harness_common_v1.proto"]
    );
    // Dependencies come before the files that use them.
    let pos = |n: &str| names.iter().position(|x| *x == n).unwrap();
    assert!(pos("harness_common_v1.proto") < pos("harness_v1.proto"));
    let pool = pool_of(&repaired.set);
    let reply = pool.get_message_by_name("harness.v1.EchoReply").unwrap();
    assert_eq!(
        reply
            .get_field_by_name("at")
            .unwrap()
            .kind()
            .as_message()
            .unwrap()
            .full_name(),
        "google.protobuf.Timestamp"
    );
    assert!(
        repaired
            .changes
            .iter()
            .any(|c| c.contains("google_protobuf.proto")),
        "{:?}",
        repaired.changes
    );
    assert_eq!(services(&repaired.set.file), ["harness.v1.Harness"]);
}

#[test]
fn types_no_file_defines_are_reported_and_the_rest_still_loads() {
    let mut graph = Graph::default();
    graph.add(file(
        "a.proto",
        "a",
        &["gone.proto"],
        vec![
            message("Ok", vec![]),
            message("Broken", vec![field("x", 1, ".elsewhere.Thing")]),
        ],
    ));
    assert_eq!(graph.missing_imports(), ["gone.proto"]);
    assert_eq!(graph.importers("gone.proto"), ["a.proto"]);
    let unresolved = graph.unresolved();
    assert_eq!(unresolved.len(), 1);
    assert_eq!(unresolved[0].name, ".elsewhere.Thing");
    let repaired = graph.repair();
    assert_eq!(repaired.unresolved, unresolved);
    // The import nobody has is dropped (it is not what defines the type).
    assert!(repaired.set.file[0].dependency.is_empty());
}

#[test]
fn a_missing_import_whose_types_are_elsewhere_is_replaced() {
    let mut graph = Graph::default();
    graph.add(file(
        "svc.proto",
        "svc",
        &["common/money.proto"],
        vec![message("Price", vec![field("m", 1, ".money.Money")])],
    ));
    graph.add(file(
        "money_pkg.proto",
        "money",
        &[],
        vec![message("Money", vec![])],
    ));
    let repaired = graph.repair();
    let svc = repaired
        .set
        .file
        .iter()
        .find(|f| f.name() == "svc.proto")
        .unwrap();
    assert_eq!(svc.dependency, ["money_pkg.proto"]);
    pool_of(&repaired.set);
}

#[test]
fn public_and_weak_import_indexes_follow_the_rewrite() {
    let mut f = file(
        "a.proto",
        "a",
        &["gone.proto", "b.proto"],
        vec![message("M", vec![field("b", 1, ".b.B")])],
    );
    f.public_dependency = vec![1];
    let mut graph = Graph::default();
    graph.add(f);
    graph.add(file("b.proto", "b", &[], vec![message("B", vec![])]));
    let repaired = graph.repair();
    let a = repaired
        .set
        .file
        .iter()
        .find(|f| f.name() == "a.proto")
        .unwrap();
    assert_eq!(a.dependency, ["b.proto"]);
    assert_eq!(a.public_dependency, [0]);
}

#[test]
fn a_well_formed_set_is_left_alone() {
    let set = FileDescriptorSet::decode(rpc::FILE_DESCRIPTOR_SET).unwrap();
    let mut graph = Graph::default();
    for f in set.file.clone() {
        graph.add(f);
    }
    let repaired = graph.repair();
    assert!(repaired.changes.is_empty(), "{:?}", repaired.changes);
    assert!(repaired.unresolved.is_empty());
    assert_eq!(repaired.set.file.len(), set.file.len());
}

#[test]
fn hostile_nesting_and_cycles_terminate() {
    let mut inner = message("M0", vec![field("self", 1, "M0")]);
    for i in 1..200 {
        inner = DescriptorProto {
            name: Some(format!("M{i}")),
            nested_type: vec![inner],
            ..Default::default()
        };
    }
    let mut graph = Graph::default();
    graph.add(file("deep.proto", "p", &["loop.proto"], vec![inner]));
    graph.add(file("loop.proto", "q", &["deep.proto"], vec![]));
    let repaired = graph.repair();
    assert_eq!(repaired.set.file.len(), 2);
}
