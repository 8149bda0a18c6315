use super::*;

fn parse_err(json: &str) -> ConnectFormError {
    ConnectError::parse(json.as_bytes()).unwrap_err()
}

#[test]
fn an_error_with_details_reads_and_becomes_a_google_rpc_status() {
    let e = ConnectError::parse(
        br#"{"code":"not_found","message":"no such","details":[
            {"type":"google.rpc.ErrorInfo","value":"CgNmb28","debug":{"reason":"foo"}},
            {"type":"type.example.com/x.Y","value":"AQI="}]}"#,
    )
    .unwrap();
    assert_eq!(
        (e.code.as_str(), e.message.as_str()),
        ("not_found", "no such")
    );
    assert_eq!(e.grpc_code(), Some(5));
    assert_eq!(e.details[0].value, b"\x0a\x03foo");
    assert_eq!(e.details[0].debug.as_deref(), Some(r#"{"reason":"foo"}"#));
    assert_eq!(e.details[1].debug, None);
    let status = crate::rpc::Status::decode(e.status_details().as_slice()).unwrap();
    assert_eq!((status.code, status.message.as_str()), (5, "no such"));
    assert_eq!(
        status.details[0].type_url,
        "type.googleapis.com/google.rpc.ErrorInfo"
    );
    assert_eq!(status.details[1].type_url, "type.example.com/x.Y");
    assert_eq!(status.details[1].value, [1, 2]);
    let info = crate::rpc::ErrorInfo::decode(status.details[0].value.as_slice()).unwrap();
    assert_eq!(info.reason, "foo");
}

#[test]
fn missing_fields_are_empty_and_unknown_codes_are_kept() {
    let e = ConnectError::parse(b"{}").unwrap();
    assert_eq!((e.code.as_str(), e.message.as_str()), ("", ""));
    assert!(e.details.is_empty() && e.status_details().is_empty());
    let e = ConnectError::parse(br#"{"code":"teapot","message":null,"details":null}"#).unwrap();
    assert_eq!((e.code.as_str(), e.grpc_code()), ("teapot", None));
    let e =
        ConnectError::parse(br#"{"code":"teapot","details":[{"type":"a.B","value":""}]}"#).unwrap();
    let status = crate::rpc::Status::decode(e.status_details().as_slice()).unwrap();
    assert_eq!(status.code, 2, "a code Connect does not define is unknown");
    assert_eq!(
        ConnectError::parse(br#"{"code":"ok"}"#)
            .unwrap()
            .grpc_code(),
        None
    );
}

#[test]
fn wrong_shapes_are_errors() {
    assert!(matches!(parse_err("<html>"), ConnectFormError::NotJson(_)));
    assert!(matches!(parse_err(""), ConnectFormError::NotJson(_)));
    for json in [
        "[]",
        "null",
        r#"{"code":5}"#,
        r#"{"message":["a"]}"#,
        r#"{"details":{}}"#,
        r#"{"details":["x"]}"#,
        r#"{"details":[{"type":1}]}"#,
        r#"{"details":[{"type":"a.B","value":"!!"}]}"#,
    ] {
        assert!(
            matches!(parse_err(json), ConnectFormError::Shape(_)),
            "{json}"
        );
    }
    assert_eq!(
        parse_err(r#"{"details":[{"type":"a.B","value":"!!"}]}"#).to_string(),
        "the value of detail 0 (a.B) is not base64"
    );
}

#[test]
fn end_stream_messages_read() {
    let end = EndStream::parse(br#"{"metadata":{"X-Trace":["a","b"],"x-one":["c"]}}"#).unwrap();
    assert_eq!(end.error, None);
    assert_eq!(
        end.metadata,
        [
            ("x-trace".into(), "a".into()),
            ("x-trace".into(), "b".into()),
            ("x-one".into(), "c".into())
        ]
    );
    let end =
        EndStream::parse(br#"{"error":{"code":"internal","message":"boom"},"metadata":null}"#)
            .unwrap();
    let error = end.error.unwrap();
    assert_eq!(
        (error.code.as_str(), error.message.as_str()),
        ("internal", "boom")
    );
    assert_eq!(EndStream::parse(br#"{"error":null}"#).unwrap().error, None);
    assert_eq!(
        EndStream::parse(b"{}").unwrap(),
        EndStream {
            error: None,
            metadata: vec![]
        }
    );
    for json in [
        &b"not json"[..],
        b"[]",
        br#"{"error":"x"}"#,
        br#"{"metadata":[]}"#,
        br#"{"metadata":{"a":"b"}}"#,
        br#"{"metadata":{"a":[1]}}"#,
    ] {
        assert!(
            EndStream::parse(json).is_err(),
            "{}",
            String::from_utf8_lossy(json)
        );
    }
}

#[test]
fn the_relays_own_forms_read_back() {
    let frame = end_stream_envelope(14, "down");
    assert_eq!(frame[0], END_STREAM_FLAG);
    assert_eq!(&frame[1..5], &(frame.len() as u32 - 5).to_be_bytes());
    let error = EndStream::parse(&frame[5..]).unwrap().error.unwrap();
    assert_eq!(
        (error.code.as_str(), error.message.as_str()),
        ("unavailable", "down")
    );
    assert_eq!(
        EndStream::parse(&end_stream_envelope(0, "")[5..])
            .unwrap()
            .error,
        None
    );
    assert_eq!(
        error_json(5, "x\"y"),
        r#"{"code":"not_found","message":"x\"y"}"#
    );
    assert_eq!(
        ConnectError::parse(error_json(16, "who").as_bytes())
            .unwrap()
            .grpc_code(),
        Some(16)
    );
}
