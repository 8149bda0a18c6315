use serde_json::json;

use super::*;
use crate::engine::testing;

fn with_schema(text: &str) -> Body {
    let schema = testing::schema();
    let desc = testing::sample_descriptor(&schema);
    decode(Ok(&desc), &Bytes::from(text.to_owned()))
}

/// The differences listed for `text` against `Sample`.
fn problems(text: &str) -> Vec<String> {
    match with_schema(text) {
        Body::JsonText { problems, .. } => problems,
        other => panic!("{text}: {other:?}"),
    }
}

#[test]
fn matching_json_is_shown_as_sent_with_its_type() {
    let text = r#"{"name":"hi","big":"12","color":"RED","child":{"flag":true},
        "numbers":[1,2],"counts":{"a":"3"},"at":"2024-01-01T00:00:00Z",
        "ratio":"NaN","snake_case_name":"x","maybe":null,
        "any":{"@type":"type.googleapis.com/google.protobuf.Timestamp","value":"2024-01-01T00:00:00Z"}}"#;
    let Body::JsonText {
        type_name,
        json,
        note,
        problems,
    } = with_schema(text)
    else {
        panic!("JSON text");
    };
    assert_eq!(type_name.as_deref(), Some(testing::SAMPLE));
    assert_eq!(note, None);
    assert!(problems.is_empty(), "{problems:?}");
    // Key order as sent, the proto field name kept as sent.
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys[..3], ["name", "big", "color"]);
    assert_eq!(json["snake_case_name"], json!("x"));
    let body = with_schema(text);
    assert_eq!(body.json(), Some(&json));
    assert_eq!(body.note(), None);
    assert_eq!(body.to_json()["codec"], json!("json"));
    assert_eq!(body.to_json()["type"], json!(testing::SAMPLE));
}

#[test]
fn each_difference_is_named_with_where_it_is() {
    let found = problems(
        r#"{"name":5,"nope":1,"child":{"flag":"yes","deeper":{}},"numbers":[1,"2",null,[]],
            "counts":{"k":true},"color":"BLUE","at":7,"data":false,"any":[]}"#,
    );
    let expected = [
        "name: expected a string, found a number",
        "nope: no such field in loom.enginetest.Sample",
        "child.flag: expected true or false, found a string",
        "child.deeper: no such field in loom.enginetest.Sample",
        "numbers[2]: null in a list",
        "numbers[3]: expected an integer (or a string of one), found a list",
        "counts[\"k\"]: expected an integer (or a string of one), found a boolean",
        "color: \"BLUE\" is not a value of loom.enginetest.Color",
        "at: expected a string (google.protobuf.Timestamp), found a number",
        "data: expected a string (base64), found a boolean",
        "any: expected an object (google.protobuf.Any), found a list",
    ];
    assert_eq!(found, expected);
    let Body::JsonText { note, .. } = with_schema(r#"{"nope":1}"#) else {
        panic!("JSON text");
    };
    assert_eq!(
        note.as_deref(),
        Some("does not match loom.enginetest.Sample: 1 difference")
    );
    assert_eq!(
        problems("[1]"),
        ["(the message): expected an object (loom.enginetest.Sample), found a list"]
    );
    assert_eq!(
        problems(r#"{"counts":{"a":1},"numbers":{}}"#),
        ["numbers: expected a list, found an object"]
    );
}

#[test]
fn what_the_shape_allows_but_the_parser_refuses_is_named_too() {
    for (text, says) in [
        (r#"{"big":"12x"}"#, "(the message): "),
        (r#"{"numbers":[1.5]}"#, "(the message): "),
        (r#"{"at":"yesterday"}"#, "(the message): "),
        (r#"{"textChoice":"a","intChoice":1}"#, "(the message): "),
    ] {
        let found = problems(text);
        assert_eq!(found.len(), 1, "{text}: {found:?}");
        assert!(found[0].starts_with(says), "{text}: {found:?}");
    }
}

#[test]
fn many_differences_are_counted_past_the_cap() {
    let fields: Vec<String> = (0..30).map(|i| format!("\"f{i}\":1")).collect();
    let found = problems(&format!("{{{}}}", fields.join(",")));
    assert_eq!(found.len(), MAX_PROBLEMS + 1);
    assert_eq!(found.last().map(String::as_str), Some("… and 10 more"));
    let Body::JsonText { note, .. } = with_schema(&format!("{{{}}}", fields.join(","))) else {
        panic!("JSON text");
    };
    assert!(note.unwrap().contains("more than 20 differences"));
}

#[test]
fn without_a_schema_it_is_json_unchecked() {
    let body = decode(
        Err("no schema for loom.x.Svc"),
        &Bytes::from_static(b"{\"a\": [1, 2]}"),
    );
    let Body::JsonText {
        type_name,
        json,
        note,
        problems,
    } = &body
    else {
        panic!("{body:?}");
    };
    assert_eq!((type_name, json), (&None, &json!({"a": [1, 2]})));
    assert_eq!(
        note.as_deref(),
        Some("JSON, not checked against a schema: no schema for loom.x.Svc")
    );
    assert!(problems.is_empty());
    assert_eq!(
        body.to_json(),
        json!({"codec": "json", "json": {"a": [1, 2]}, "note": note})
    );
}

#[test]
fn what_is_not_json_is_text_with_why() {
    for (bytes, why) in [
        (&b"{\"a\": "[..], "not valid JSON: EOF"),
        (&b"hello"[..], "not valid JSON: expected value"),
        (&b"\xff\xfe{}"[..], "not valid JSON: not UTF-8 text"),
    ] {
        let body = decode(Err("none"), &Bytes::copy_from_slice(bytes));
        let Body::Text { reason, text } = &body else {
            panic!("{body:?}");
        };
        assert!(reason.starts_with(why), "{reason}");
        assert_eq!(text, &String::from_utf8_lossy(bytes));
        assert_eq!(body.note(), Some(reason.as_str()));
        assert_eq!(body.json(), None);
        assert_eq!(body.to_json()["text"], json!(text));
    }
    // Nesting past serde_json's limit is refused, not a stack overflow.
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let body = decode(Err("none"), &Bytes::from(deep));
    assert!(matches!(body, Body::Text { .. }), "{body:?}");
}

#[test]
fn too_many_values_are_not_parsed() {
    assert!(!too_many_values(b"[1,2,3]", 4));
    assert!(too_many_values(b"[1,2,3,4,5]", 4));
    // Separators inside strings do not count.
    assert!(!too_many_values(br#"["a,b,c,d,e,\",f"]"#, 2));
    let big = format!("[{}0]", "0,".repeat(MAX_JSON_ELEMENTS + 1));
    let body = decode(Err("none"), &Bytes::from(big));
    let Body::Text { reason, .. } = body else {
        panic!("text");
    };
    assert!(reason.starts_with("too big to render"), "{reason}");
}

#[test]
fn paths_quote_keys_that_are_not_names() {
    assert_eq!(join("", "a"), "a");
    assert_eq!(join("a", "b_c"), "a.b_c");
    assert_eq!(join("a", "x y"), "a[\"x y\"]");
    assert_eq!(join("", ""), "[\"\"]");
}
