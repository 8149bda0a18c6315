use serde_json::json;

use super::*;
use crate::engine::replay::Target;
#[cfg(all(unix, not(target_arch = "wasm32")))]
use crate::engine::replay::printf_format;
use crate::engine::schema::CallKind;
use crate::header::header;

fn started(upstream: &str, headers: Vec<pb::Header>) -> pb::CallStarted {
    pb::CallStarted {
        start_unix_nanos: 1,
        path: "/echo.v1.Echo/Say".into(),
        authority: "localhost:9999".into(),
        headers,
        upstream: upstream.into(),
        scheme: "http".into(),
        method: "POST".into(),
        ..Default::default()
    }
}

fn shape(protocol: Protocol, codec: Codec, http: &str, kind: CallKind) -> CallShape {
    CallShape {
        protocol,
        codec,
        http_version: http.into(),
        method: ReplayMethod {
            full_name: "echo.v1.Echo/Say".into(),
            kind,
            local_schema: None,
        },
    }
}

fn unary(protocol: Protocol, codec: Codec, http: &str) -> CallShape {
    shape(protocol, codec, http, CallKind::Unary)
}

#[test]
fn connect_unary_json_posts_the_body_as_sent() {
    let headers = vec![
        header("content-type", "application/json; charset=utf-8"),
        header("connect-protocol-version", "1"),
        header("connect-timeout-ms", "1500"),
        header("content-encoding", "gzip"),
        header("accept-encoding", "gzip"),
        header("user-agent", "connect-es/1.4"),
        header("x-request-id", "req-1"),
        header("x-trace-bin", vec![0xde, 0xad]),
        pb::Header {
            name: "authorization".into(),
            value: Bytes::new(),
            redacted: true,
        },
    ];
    let body = Bytes::from_static(br#"{"sentence": "it's me"}"#);
    let cmd = curl_command(
        &started("http://127.0.0.1:8080", headers),
        &unary(Protocol::ConnectUnary, Codec::Json, "HTTP/1.1"),
        &body,
        &ReplayTo::Upstream,
    )
    .unwrap();
    assert_eq!(cmd.program, Program::Curl);
    assert_eq!(
        cmd.args,
        [
            "-H",
            "content-type: application/json; charset=utf-8",
            "-H",
            "connect-protocol-version: 1",
            "-H",
            "connect-timeout-ms: 1500",
            "-H",
            "x-request-id: req-1",
            "-H",
            "x-trace-bin: 3q0=",
            "--data-binary",
            r#"{"sentence": "it's me"}"#,
            "http://127.0.0.1:8080/echo.v1.Echo/Say",
        ]
    );
    assert_eq!(cmd.stdin, None);
    assert_eq!(
        cmd.to_shell(),
        "curl -H 'content-type: application/json; charset=utf-8' \
         -H 'connect-protocol-version: 1' -H 'connect-timeout-ms: 1500' \
         -H 'x-request-id: req-1' -H 'x-trace-bin: 3q0=' \
         --data-binary '{\"sentence\": \"it'\\''s me\"}' \
         http://127.0.0.1:8080/echo.v1.Echo/Say # left out: authorization (redacted)"
    );
}

#[test]
fn connect_unary_proto_pipes_its_bytes_in() {
    let body = Bytes::from_static(b"\x0a\x05it's\x00%\\-");
    let cmd = curl_command(
        &started("https://api.example:443", vec![]),
        &unary(Protocol::ConnectUnary, Codec::Proto, "HTTP/2"),
        &body,
        &ReplayTo::Upstream,
    )
    .unwrap();
    assert_eq!(
        cmd.args,
        [
            "-H",
            "content-type: application/proto",
            "-H",
            "connect-protocol-version: 1",
            "--data-binary",
            "@-",
            "https://api.example:443/echo.v1.Echo/Say",
        ]
    );
    assert_eq!(cmd.stdin.as_ref(), Some(&body));
    let line = cmd.to_shell();
    assert!(
        line.starts_with("printf '\\012\\005it\\047s\\000%%\\\\-' | curl "),
        "{line}"
    );
    assert!(
        line.ends_with("# the request's 10 bytes (proto) are piped in"),
        "{line}"
    );
    // Over cleartext HTTP/2, curl is told so; over TLS HTTP/1.1, that.
    let cmd = curl_command(
        &started("http://10.0.0.1:80", vec![]),
        &unary(Protocol::ConnectUnary, Codec::Proto, "HTTP/2"),
        &body,
        &ReplayTo::Upstream,
    )
    .unwrap();
    assert_eq!(cmd.args[0], "--http2-prior-knowledge");
    let cmd = curl_command(
        &started("https://api.example:443", vec![]),
        &unary(Protocol::ConnectUnary, Codec::Proto, "HTTP/1.1"),
        &body,
        &ReplayTo::Upstream,
    )
    .unwrap();
    assert_eq!(cmd.args[0], "--http1.1");
}

#[cfg(all(unix, not(target_arch = "wasm32")))]
#[test]
fn printf_writes_back_every_byte() {
    let every: Vec<u8> = (0..=255u8).rev().chain(*b"-%s\\n'").collect();
    for bytes in [every.as_slice(), b"-n", b"%d", b""] {
        let script = format!(
            "printf {}",
            crate::engine::shell_quote(&printf_format(bytes))
        );
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .output()
            .expect("sh runs");
        assert!(out.status.success(), "{script}: {out:?}");
        assert_eq!(out.stdout, bytes, "{script}");
    }
}

#[test]
fn a_large_binary_body_is_read_from_a_file() {
    let body = Bytes::from(vec![7u8; MAX_PRINTF_BYTES + 1]);
    let cmd = curl_command(
        &started("http://127.0.0.1:8080", vec![]),
        &unary(
            Protocol::ConnectUnary,
            Codec::Other("cbor".into()),
            "HTTP/1.1",
        ),
        &body,
        &ReplayTo::Upstream,
    )
    .unwrap();
    assert_eq!(cmd.stdin, None);
    assert!(
        cmd.args
            .contains(&"content-type: application/cbor".to_owned())
    );
    assert!(cmd.args.contains(&format!("@{REQUEST_FILE}")));
    assert!(cmd.to_shell().ends_with(&format!(
        "# the request is {} bytes (cbor): save its bytes as {REQUEST_FILE}",
        MAX_PRINTF_BYTES + 1
    )));
}

#[test]
fn connect_get_puts_the_message_in_the_query() {
    let mut s = started("http://127.0.0.1:8080", vec![header("x-a", "1")]);
    s.method = "GET".into();
    let cmd = curl_command(
        &s,
        &unary(Protocol::ConnectGet, Codec::Json, "HTTP/1.1"),
        &Bytes::from_static(br#"{"q":"a b&c"}"#),
        &ReplayTo::Upstream,
    )
    .unwrap();
    assert_eq!(
        cmd.args,
        [
            "-H",
            "x-a: 1",
            "http://127.0.0.1:8080/echo.v1.Echo/Say?connect=v1&encoding=json\
             &message=%7B%22q%22%3A%22a%20b%26c%22%7D",
        ]
    );
    let cmd = curl_command(
        &s,
        &unary(Protocol::ConnectGet, Codec::Proto, "HTTP/1.1"),
        &Bytes::from_static(b"\x0a\x03foo\xff"),
        &ReplayTo::Upstream,
    )
    .unwrap();
    assert_eq!(
        cmd.args.last().unwrap(),
        "http://127.0.0.1:8080/echo.v1.Echo/Say?connect=v1&encoding=proto&base64=1&message=CgNmb2__"
    );
}

#[test]
fn curl_through_the_relay_asks_for_the_calls_authority() {
    let mut s = started("https://api.example:443", vec![]);
    s.authority = "api.example:443".into();
    let body = Bytes::from_static(b"{}");
    let json = unary(Protocol::ConnectUnary, Codec::Json, "HTTP/1.1");
    let cmd = curl_command(&s, &json, &body, &ReplayTo::Relay("127.0.0.1:9999".into())).unwrap();
    assert_eq!(cmd.args[..2], ["-H", "host: api.example:443"]);
    assert_eq!(
        cmd.args.last().unwrap(),
        "http://127.0.0.1:9999/echo.v1.Echo/Say"
    );
    assert_eq!(
        cmd.target,
        Target::Relay {
            address: "127.0.0.1:9999".into(),
            authority: "api.example:443".into()
        }
    );
    // A Unix-socket upstream: curl's own flag, and a placeholder host.
    let cmd = curl_command(
        &started("unix:/run/app.sock", vec![]),
        &unary(Protocol::ConnectUnary, Codec::Json, "HTTP/2"),
        &body,
        &ReplayTo::Upstream,
    )
    .unwrap();
    assert_eq!(
        cmd.args[..3],
        ["--unix-socket", "/run/app.sock", "--http2-prior-knowledge"]
    );
    assert_eq!(
        cmd.args.last().unwrap(),
        "http://localhost/echo.v1.Echo/Say"
    );
}

#[test]
fn buf_curl_names_the_protocol_and_takes_json() {
    let headers = vec![
        header("content-type", "application/grpc-web+proto"),
        header("x-grpc-web", "1"),
        header("x-user-agent", "grpc-web-javascript/0.1"),
        header("grpc-timeout", "5S"),
        header("x-request-id", "r"),
    ];
    let s = started("http://127.0.0.1:8080", headers);
    let web = unary(Protocol::GrpcWeb, Codec::Proto, "HTTP/2");
    let cmd =
        buf_curl_command(&s, &web, &[json!({"sentence": "hi"})], &ReplayTo::Upstream).unwrap();
    assert_eq!(cmd.program, Program::BufCurl);
    assert_eq!(
        cmd.to_shell(),
        "buf curl --protocol grpcweb --http2-prior-knowledge -H 'x-request-id: r' \
         -d '{\"sentence\":\"hi\"}' http://127.0.0.1:8080/echo.v1.Echo/Say"
    );
    // Connect streaming over HTTP/1.1: reflection needs HTTP/2, it says.
    let stream = shape(
        Protocol::ConnectStream,
        Codec::Json,
        "HTTP/1.1",
        CallKind::ClientStreaming,
    );
    let cmd = buf_curl_command(
        &started("http://127.0.0.1:8080", vec![]),
        &stream,
        &[json!({"a": 1}), json!({"a": 2})],
        &ReplayTo::Upstream,
    )
    .unwrap();
    assert_eq!(
        cmd.args,
        [
            "--protocol",
            "connect",
            "-d",
            "{\"a\":1} {\"a\":2}",
            "http://127.0.0.1:8080/echo.v1.Echo/Say"
        ]
    );
    assert!(cmd.notes[0].contains("needs HTTP/2"), "{:?}", cmd.notes);
    // A client stream of no messages is still a call; a unary call is not.
    assert!(buf_curl_command(&s, &stream, &[], &ReplayTo::Upstream).is_ok());
    assert_eq!(
        buf_curl_command(&s, &web, &[], &ReplayTo::Upstream),
        Err(ReplayError::NoRequest)
    );
}

#[test]
fn buf_curl_says_what_it_cannot_do() {
    let mut text = unary(Protocol::GrpcWebText, Codec::Proto, "HTTP/1.1");
    text.method.local_schema = Some(LocalSchema::DescriptorSet("/tmp/api.protoset".into()));
    let mut s = started("https://api.example:443", vec![]);
    s.authority = "api.example:443".into();
    let cmd = buf_curl_command(
        &s,
        &text,
        &[json!({})],
        &ReplayTo::Relay("127.0.0.1:9999".into()),
    )
    .unwrap();
    assert_eq!(
        cmd.schema_hint,
        Some(vec![
            "--schema".to_owned(),
            "/tmp/api.protoset#format=binpb".to_owned()
        ])
    );
    let line = cmd.to_shell();
    assert!(
        line.starts_with(
            "buf curl --protocol grpcweb -d '{}' http://127.0.0.1:9999/echo.v1.Echo/Say # "
        ),
        "{line}"
    );
    assert!(
        line.contains("binary form; the call used its text form"),
        "{line}"
    );
    assert!(
        line.contains("cannot ask for :authority api.example:443"),
        "{line}"
    );
    assert!(
        line.contains("without server reflection add: --schema '/tmp/api.protoset#format=binpb'"),
        "{line}"
    );
    // With a local schema, reflection is not what the note is about.
    assert!(!line.contains("needs HTTP/2"), "{line}");
    text.method.local_schema = Some(LocalSchema::Proto("api/echo.proto".into()));
    let cmd = buf_curl_command(&s, &text, &[json!({})], &ReplayTo::Upstream).unwrap();
    assert_eq!(
        cmd.schema_hint,
        Some(vec!["--schema".to_owned(), "api/echo.proto".to_owned()])
    );
    assert_eq!(
        cmd.args.last().unwrap(),
        "https://api.example:443/echo.v1.Echo/Say"
    );
}

#[cfg(all(unix, not(target_arch = "wasm32")))]
#[test]
fn commands_survive_the_shell() {
    use crate::engine::testing::shell_args;
    for text in ["it's \"q\"", "line\nbreak", "$HOME `id` ; | &", "ünï ✓"] {
        let s = started(
            "http://127.0.0.1:8080",
            vec![header("x-q", text.replace('\n', " "))],
        );
        let body = Bytes::from(json!({ "s": text }).to_string());
        let json = unary(Protocol::ConnectUnary, Codec::Json, "HTTP/1.1");
        let cmd = curl_command(&s, &json, &body, &ReplayTo::Upstream).unwrap();
        assert_eq!(shell_args(&cmd.to_shell(), "curl"), cmd.args, "{text:?}");
        let web = unary(Protocol::GrpcWeb, Codec::Proto, "HTTP/2");
        let cmd = buf_curl_command(&s, &web, &[json!({ "s": text })], &ReplayTo::Upstream).unwrap();
        assert_eq!(
            shell_args(&cmd.to_shell(), "buf curl"),
            cmd.args,
            "{text:?}"
        );
    }
}

#[test]
fn percent_encoding_keeps_only_unreserved_characters() {
    assert_eq!(percent_encode(b"aZ09-._~"), "aZ09-._~");
    assert_eq!(
        percent_encode(b"a b/?&=+%\xff"),
        "a%20b%2F%3F%26%3D%2B%25%FF"
    );
}
