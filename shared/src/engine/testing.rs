//! Test fixtures: a hand-built schema covering every JSON mapping case, and
//! helpers to make captures from it.

use bytes::Bytes;
use prost::Message as _;
use prost_reflect::{DynamicMessage, MessageDescriptor, Value};
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{
    DescriptorProto, EnumDescriptorProto, EnumValueDescriptorProto, FieldDescriptorProto,
    FileDescriptorProto, FileDescriptorSet, MessageOptions, MethodDescriptorProto,
    OneofDescriptorProto, ServiceDescriptorProto,
};

use super::schema::Schema;
use crate::pb;

pub(crate) const FILE: &str = "loom/enginetest/sample.proto";
pub(crate) const SAMPLE: &str = "loom.enginetest.Sample";

fn field(name: &str, number: i32, ty: Type, type_name: Option<&str>) -> FieldDescriptorProto {
    let mut json = String::new();
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            json.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            json.push(c);
        }
    }
    FieldDescriptorProto {
        name: Some(name.into()),
        number: Some(number),
        label: Some(Label::Optional as i32),
        r#type: Some(ty as i32),
        type_name: type_name.map(str::to_owned),
        json_name: Some(json),
        ..Default::default()
    }
}

/// `loom/enginetest/sample.proto`:
///
/// ```proto
/// syntax = "proto3";
/// package loom.enginetest;
/// import "google/protobuf/any.proto";
/// import "google/protobuf/timestamp.proto";
/// enum Color { COLOR_UNSPECIFIED = 0; RED = 1; }
/// message Sample {
///   string name = 1; int64 big = 2; uint64 ubig = 3; bytes data = 4;
///   Color color = 5; Sample child = 6; repeated int32 numbers = 7;
///   map<string, int64> counts = 8; google.protobuf.Any any = 9;
///   google.protobuf.Timestamp at = 10; double ratio = 11; float small = 12;
///   bool flag = 13; optional string maybe = 14;
///   oneof choice { string text_choice = 15; int32 int_choice = 16; }
///   string snake_case_name = 17;
/// }
/// service Sampler {
///   rpc Get(Sample) returns (Sample);
///   rpc Watch(Sample) returns (stream Sample);
///   rpc Upload(stream Sample) returns (Sample);
///   rpc Chat(stream Sample) returns (stream Sample);
/// }
/// ```
pub(crate) fn file() -> FileDescriptorProto {
    let sample = ".loom.enginetest.Sample";
    let mut numbers = field("numbers", 7, Type::Int32, None);
    numbers.label = Some(Label::Repeated as i32);
    let mut counts = field(
        "counts",
        8,
        Type::Message,
        Some(".loom.enginetest.Sample.CountsEntry"),
    );
    counts.label = Some(Label::Repeated as i32);
    let mut maybe = field("maybe", 14, Type::String, None);
    maybe.proto3_optional = Some(true);
    maybe.oneof_index = Some(1);
    let mut text_choice = field("text_choice", 15, Type::String, None);
    text_choice.oneof_index = Some(0);
    let mut int_choice = field("int_choice", 16, Type::Int32, None);
    int_choice.oneof_index = Some(0);
    let entry = DescriptorProto {
        name: Some("CountsEntry".into()),
        field: vec![
            field("key", 1, Type::String, None),
            field("value", 2, Type::Int64, None),
        ],
        options: Some(MessageOptions {
            map_entry: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    };
    let message = DescriptorProto {
        name: Some("Sample".into()),
        field: vec![
            field("name", 1, Type::String, None),
            field("big", 2, Type::Int64, None),
            field("ubig", 3, Type::Uint64, None),
            field("data", 4, Type::Bytes, None),
            field("color", 5, Type::Enum, Some(".loom.enginetest.Color")),
            field("child", 6, Type::Message, Some(sample)),
            numbers,
            counts,
            field("any", 9, Type::Message, Some(".google.protobuf.Any")),
            field("at", 10, Type::Message, Some(".google.protobuf.Timestamp")),
            field("ratio", 11, Type::Double, None),
            field("small", 12, Type::Float, None),
            field("flag", 13, Type::Bool, None),
            maybe,
            text_choice,
            int_choice,
            field("snake_case_name", 17, Type::String, None),
        ],
        nested_type: vec![entry],
        oneof_decl: vec![
            OneofDescriptorProto {
                name: Some("choice".into()),
                ..Default::default()
            },
            OneofDescriptorProto {
                name: Some("_maybe".into()),
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let color = EnumDescriptorProto {
        name: Some("Color".into()),
        value: vec![
            EnumValueDescriptorProto {
                name: Some("COLOR_UNSPECIFIED".into()),
                number: Some(0),
                ..Default::default()
            },
            EnumValueDescriptorProto {
                name: Some("RED".into()),
                number: Some(1),
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let method = |name: &str, client: bool, server: bool| MethodDescriptorProto {
        name: Some(name.into()),
        input_type: Some(sample.into()),
        output_type: Some(sample.into()),
        client_streaming: Some(client),
        server_streaming: Some(server),
        ..Default::default()
    };
    FileDescriptorProto {
        name: Some(FILE.into()),
        package: Some("loom.enginetest".into()),
        dependency: vec![
            "google/protobuf/any.proto".into(),
            "google/protobuf/timestamp.proto".into(),
        ],
        message_type: vec![message],
        enum_type: vec![color],
        service: vec![ServiceDescriptorProto {
            name: Some("Sampler".into()),
            method: vec![
                method("Get", false, false),
                method("Watch", false, true),
                method("Upload", true, false),
                method("Chat", true, true),
            ],
            ..Default::default()
        }],
        syntax: Some("proto3".into()),
        ..Default::default()
    }
}

/// A `Descriptors` event with `files`, as reflection from `upstream` would send it.
pub(crate) fn descriptors(files: Vec<FileDescriptorProto>, upstream: &str) -> pb::Descriptors {
    let services = crate::descriptor::services(&files);
    pb::Descriptors::schema(
        FileDescriptorSet { file: files }.encode_to_vec(),
        services,
        pb::SchemaOrigin::ReflectionV1,
        "",
        upstream,
        Vec::new(),
    )
}

/// The sample schema (as reflected from `http://backend:50051`).
pub(crate) fn schema() -> Schema {
    Schema::from_descriptors([&descriptors(vec![file()], "http://backend:50051")])
}

pub(crate) fn sample_descriptor(schema: &Schema) -> MessageDescriptor {
    schema
        .pool()
        .get_message_by_name(SAMPLE)
        .expect("the sample schema has Sample")
}

/// An encoded `Sample` with the given fields set (by name).
pub(crate) fn sample(schema: &Schema, fields: &[(&str, Value)]) -> Bytes {
    let mut message = DynamicMessage::new(sample_descriptor(schema));
    for (name, value) in fields {
        message.set_field_by_name(name, value.clone());
    }
    message.encode_to_vec().into()
}

/// Runs `line` (a command of `program`) through bash (the `$'…'` quoting
/// of control characters is bash's, zsh's and ksh's), with the program
/// replaced by a printer of its arguments, and returns the arguments the
/// shell parsed.
#[cfg(all(unix, not(target_arch = "wasm32")))]
pub(crate) fn shell_args(line: &str, program: &str) -> Vec<String> {
    let rest = line
        .strip_prefix(program)
        .and_then(|r| r.strip_prefix(' '))
        .expect("starts with the program");
    let script = format!("printf '%s\\0' {rest}");
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("sh runs");
    assert!(out.status.success(), "bash failed on {script:?}: {:?}", out);
    let mut args: Vec<String> = out
        .stdout
        .split(|&b| b == 0)
        .map(|a| String::from_utf8(a.to_vec()).expect("UTF-8 arguments"))
        .collect();
    assert_eq!(args.pop().as_deref(), Some(""), "NUL-terminated");
    args
}
