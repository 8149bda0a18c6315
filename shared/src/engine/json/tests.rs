use bytes::Bytes;
use prost::Message as _;
use prost_reflect::{DynamicMessage, MapKey, Value as V};
use serde_json::json;

use super::*;
use crate::engine::testing;

fn render(payload: Bytes, options: &JsonOptions) -> Json {
    let schema = testing::schema();
    decode_json(&testing::sample_descriptor(&schema), payload, options).unwrap()
}

fn hide_defaults() -> JsonOptions {
    JsonOptions {
        show_defaults: false,
        unknown_fields: true,
    }
}

#[test]
fn canonical_mapping_of_every_kind() {
    let schema = testing::schema();
    let desc = testing::sample_descriptor(&schema);
    let mut child = DynamicMessage::new(desc.clone());
    child.set_field_by_name("name", V::String("kid".into()));
    let counts = [
        (MapKey::String("b".into()), V::I64(2)),
        (MapKey::String("a".into()), V::I64(-1)),
    ]
    .into_iter()
    .collect();
    let timestamp = {
        let ts = schema
            .pool()
            .get_message_by_name("google.protobuf.Timestamp")
            .unwrap();
        let mut m = DynamicMessage::new(ts);
        m.set_field_by_name("seconds", V::I64(1_700_000_000));
        m.set_field_by_name("nanos", V::I32(500_000_000));
        m
    };
    let payload = testing::sample(
        &schema,
        &[
            ("name", V::String("ünï \"q\"".into())),
            ("big", V::I64(-(1 << 40))),
            ("ubig", V::U64(u64::MAX)),
            ("data", V::Bytes(Bytes::from_static(&[0, 1, 254, 255]))),
            ("color", V::EnumNumber(1)),
            ("child", V::Message(child)),
            ("numbers", V::List(vec![V::I32(1), V::I32(-2)])),
            ("counts", V::Map(counts)),
            ("at", V::Message(timestamp)),
            ("ratio", V::F64(f64::NAN)),
            ("small", V::F32(1.1)),
            ("flag", V::Bool(true)),
            ("maybe", V::String(String::new())),
            ("int_choice", V::I32(0)),
            ("snake_case_name", V::String("s".into())),
        ],
    );
    let got = render(payload, &hide_defaults());
    assert_eq!(
        got,
        json!({
            "name": "ünï \"q\"",
            "big": "-1099511627776",
            "ubig": "18446744073709551615",
            "data": "AAH+/w==",
            "color": "RED",
            "child": {"name": "kid"},
            "numbers": [1, -2],
            "counts": {"a": "-1", "b": "2"},
            "at": "2023-11-14T22:13:20.500Z",
            "ratio": "NaN",
            "small": 1.1,
            "flag": true,
            "maybe": "",
            "intChoice": 0,
            "snakeCaseName": "s",
        })
    );
    // Field order follows field numbers.
    let keys: Vec<&String> = got.as_object().unwrap().keys().collect();
    assert_eq!(keys[..3], ["name", "big", "ubig"]);
}

#[test]
fn defaults_shown_or_hidden() {
    let payload = testing::sample(&testing::schema(), &[("name", V::String("x".into()))]);
    assert_eq!(
        render(payload.clone(), &hide_defaults()),
        json!({"name": "x"})
    );
    // Shown: every field without presence; not message fields, the
    // proto3 `optional` one or the oneof.
    assert_eq!(
        render(payload, &JsonOptions::default()),
        json!({
            "name": "x", "big": "0", "ubig": "0", "data": "", "color": "COLOR_UNSPECIFIED",
            "numbers": [], "counts": {}, "ratio": 0.0, "small": 0.0, "flag": false,
            "snakeCaseName": "",
        })
    );
}

/// `child { name: "c", 99: 7 }, 100: "extra", 101: fixed32 1`.
fn with_unknown_fields() -> Bytes {
    let mut child = vec![0x0a, 0x01, b'c', 0x98, 0x06, 0x07];
    let mut payload = vec![0x32, child.len() as u8];
    payload.append(&mut child);
    payload.extend_from_slice(&[0xa2, 0x06, 0x05]);
    payload.extend_from_slice(b"extra");
    payload.extend_from_slice(&[0xad, 0x06, 1, 0, 0, 0]);
    Bytes::from(payload)
}

#[test]
fn unknown_fields_are_listed_at_their_level() {
    assert_eq!(
        render(with_unknown_fields(), &hide_defaults()),
        json!({
            "child": {
                "name": "c",
                "@unknown": [{"field": 99, "wire": "varint", "uint": "7", "sint": "-4"}],
            },
            "@unknown": [
                {"field": 100, "wire": "len", "text": "extra"},
                {"field": 101, "wire": "fixed32", "uint": 1, "int": 1, "float": f64::from(f32::from_bits(1))},
            ],
        })
    );
    // Replay JSON (for grpcurl) leaves them out.
    assert_eq!(
        render(with_unknown_fields(), &JsonOptions::for_replay()),
        json!({"child": {"name": "c"}})
    );
}

fn any(schema: &crate::engine::schema::Schema, url: &str, value: Vec<u8>) -> V {
    let desc = schema
        .pool()
        .get_message_by_name("google.protobuf.Any")
        .unwrap();
    let mut m = DynamicMessage::new(desc);
    m.set_field_by_name("type_url", V::String(url.into()));
    m.set_field_by_name("value", V::Bytes(value.into()));
    V::Message(m)
}

#[test]
fn any_is_expanded_when_its_type_is_known() {
    let schema = testing::schema();
    let inner = testing::sample(&schema, &[("name", V::String("in".into()))]).to_vec();
    let payload = testing::sample(
        &schema,
        &[(
            "any",
            any(&schema, "type.googleapis.com/loom.enginetest.Sample", inner),
        )],
    );
    assert_eq!(
        render(payload, &hide_defaults()),
        json!({"any": {"@type": "type.googleapis.com/loom.enginetest.Sample", "name": "in"}})
    );

    // A well-known type inside: its special form under "value".
    let duration = prost_types::Duration {
        seconds: 3,
        nanos: 0,
    }
    .encode_to_vec();
    let payload = testing::sample(
        &schema,
        &[(
            "any",
            any(
                &schema,
                "type.googleapis.com/google.protobuf.Duration",
                duration,
            ),
        )],
    );
    assert_eq!(
        render(payload, &hide_defaults()),
        json!({"any": {"@type": "type.googleapis.com/google.protobuf.Duration", "value": "3s"}})
    );
}

#[test]
fn any_of_an_unknown_type_keeps_its_bytes() {
    let schema = testing::schema();
    let payload = testing::sample(
        &schema,
        &[(
            "any",
            any(&schema, "type.googleapis.com/x.Missing", vec![0x08, 0x2a]),
        )],
    );
    assert_eq!(
        render(payload, &hide_defaults()),
        json!({"any": {
            "@type": "type.googleapis.com/x.Missing",
            "@error": "type \"x.Missing\" is not in the schema",
            "@wire": {"fields": [{"field": 1, "wire": "varint", "uint": "42", "sint": "21"}]},
        }})
    );
    // Known type, bad bytes.
    let payload = testing::sample(
        &schema,
        &[(
            "any",
            any(
                &schema,
                "type.googleapis.com/loom.enginetest.Sample",
                vec![0x0a, 0x05],
            ),
        )],
    );
    let got = render(payload, &hide_defaults());
    assert!(
        got["any"]["@error"]
            .as_str()
            .unwrap()
            .contains("does not decode"),
        "{got}"
    );
}

#[test]
fn deeply_nested_any_is_cut_off() {
    let schema = testing::schema();
    // Sample { any: Sample { any: Sample { ... } } }, 150 levels.
    let mut payload = testing::sample(&schema, &[("name", V::String("core".into()))]).to_vec();
    for _ in 0..150 {
        payload = testing::sample(
            &schema,
            &[(
                "any",
                any(
                    &schema,
                    "type.googleapis.com/loom.enginetest.Sample",
                    payload,
                ),
            )],
        )
        .to_vec();
    }
    let got = render(Bytes::from(payload), &hide_defaults());
    let text = got.to_string();
    assert!(
        text.contains("nested more than 100 levels deep"),
        "{}",
        &text[text.len().saturating_sub(300)..]
    );
}

#[test]
fn out_of_range_timestamps_fall_back_to_fields() {
    let schema = testing::schema();
    let ts = schema
        .pool()
        .get_message_by_name("google.protobuf.Timestamp")
        .unwrap();
    let mut m = DynamicMessage::new(ts);
    m.set_field_by_name("seconds", V::I64(i64::MAX));
    let payload = testing::sample(&schema, &[("at", V::Message(m))]);
    assert_eq!(
        render(payload, &hide_defaults()),
        json!({"at": {"seconds": "9223372036854775807"}})
    );
}

#[test]
fn unknown_enum_numbers_are_numbers() {
    let payload = testing::sample(&testing::schema(), &[("color", V::EnumNumber(7))]);
    assert_eq!(render(payload, &hide_defaults()), json!({"color": 7}));
}

#[test]
fn huge_packed_lists_are_declined_not_decoded() {
    // `numbers`: 2 million one-byte varints in one packed field.
    let n = 2_000_000usize;
    let mut payload = vec![0x3a];
    let mut len = n;
    while len >= 0x80 {
        payload.push((len as u8) | 0x80);
        len >>= 7;
    }
    payload.push(len as u8);
    payload.resize(payload.len() + n, 1);
    let schema = testing::schema();
    let err = decode_json(
        &testing::sample_descriptor(&schema),
        Bytes::from(payload),
        &JsonOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        JsonError::TooManyValues {
            limit: MAX_JSON_ELEMENTS
        }
    );
    assert!(err.to_string().contains("too big to render"));
}
