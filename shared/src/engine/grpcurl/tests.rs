use bytes::Bytes;
use serde_json::json;

use super::*;
use crate::engine::replay::{ReplayCommand, Target, shell_quote};
use crate::engine::schema::ResolvedMethod;
use crate::engine::testing;
#[cfg(all(unix, not(target_arch = "wasm32")))]
use crate::engine::testing::shell_args;
use crate::header::header;

fn started(headers: Vec<pb::Header>) -> pb::CallStarted {
    pb::CallStarted {
        client_tls: None,
        start_unix_nanos: 1,
        path: "/loom.enginetest.Sampler/Get".into(),
        authority: "localhost:9999".into(),
        headers,
        upstream: "http://127.0.0.1:50051".into(),
        scheme: "http".into(),
        method: "POST".into(),
        ..Default::default()
    }
}

fn method(path: &str) -> ResolvedMethod {
    testing::schema().resolve(path).unwrap()
}

#[test]
fn quoting() {
    assert_eq!(
        shell_quote("plain-arg_1.2:3/x@y%z+=,"),
        "plain-arg_1.2:3/x@y%z+=,"
    );
    assert_eq!(shell_quote(""), "''");
    assert_eq!(shell_quote("a b"), "'a b'");
    assert_eq!(shell_quote("it's"), "'it'\\''s'");
    assert_eq!(shell_quote("$(rm -rf /)"), "'$(rm -rf /)'");
    assert_eq!(shell_quote("{\"a\":1}"), "'{\"a\":1}'");
}

#[test]
fn timeouts() {
    assert_eq!(grpc_timeout_seconds("5S").as_deref(), Some("5"));
    assert_eq!(grpc_timeout_seconds("100m").as_deref(), Some("0.1"));
    assert_eq!(grpc_timeout_seconds("2M").as_deref(), Some("120"));
    assert_eq!(grpc_timeout_seconds("1H").as_deref(), Some("3600"));
    assert_eq!(grpc_timeout_seconds("1500u").as_deref(), Some("0.0015"));
    assert_eq!(grpc_timeout_seconds("7n").as_deref(), Some("0.000000007"));
    assert_eq!(
        grpc_timeout_seconds("99999999H").as_deref(),
        Some("359999996400")
    );
    for bad in ["", "S", "5", "5x", "-5S", "123456789S", "5 S", "ü"] {
        assert_eq!(grpc_timeout_seconds(bad), None, "{bad:?}");
    }
}

#[test]
fn a_unary_call() {
    let headers = vec![
        header("content-type", "application/grpc"),
        header("te", "trailers"),
        header("grpc-timeout", "1500m"),
        header("grpc-accept-encoding", "gzip"),
        header("user-agent", "grpc-go/1.60"),
        header("x-request-id", "req-1"),
        header("x-trace-bin", vec![0xde, 0xad]),
        pb::Header {
            name: "authorization".into(),
            value: Bytes::new(),
            redacted: true,
        },
    ];
    let cmd = grpcurl_command(
        &started(headers),
        &method("/loom.enginetest.Sampler/Get"),
        &[json!({"name": "it's"})],
        &ReplayTo::Upstream,
    )
    .unwrap();
    assert_eq!(
        cmd.args,
        [
            "-plaintext",
            "-max-time",
            "1.5",
            "-H",
            "x-request-id: req-1",
            "-H",
            "x-trace-bin: 3q0=",
            "-d",
            "{\"name\":\"it's\"}",
            "127.0.0.1:50051",
            "loom.enginetest.Sampler/Get",
        ]
    );
    assert_eq!(
        cmd.to_shell(),
        "grpcurl -plaintext -max-time 1.5 -H 'x-request-id: req-1' -H 'x-trace-bin: 3q0=' \
         -d '{\"name\":\"it'\\''s\"}' 127.0.0.1:50051 loom.enginetest.Sampler/Get \
         # left out: authorization (redacted)"
    );
}

#[test]
fn client_streaming_concatenates_requests_and_local_schemas_are_hinted() {
    let mut m = method("/loom.enginetest.Sampler/Upload");
    m.source = Some(crate::engine::SchemaSource {
        origin: pb::SchemaOrigin::DescriptorSet,
        location: "/tmp/my api.pb".into(),
        ..Default::default()
    });
    let mut s = started(vec![]);
    s.upstream = "https://api.example.com:443/".into();
    let cmd = grpcurl_command(
        &s,
        &m,
        &[json!({"name": "a"}), json!({"name": "b"})],
        &ReplayTo::Upstream,
    )
    .unwrap();
    assert_eq!(
        cmd.args,
        [
            "-d",
            "{\"name\":\"a\"} {\"name\":\"b\"}",
            "api.example.com:443",
            "loom.enginetest.Sampler/Upload"
        ]
    );
    assert_eq!(
        cmd.schema_hint,
        Some(vec!["-protoset".into(), "/tmp/my api.pb".into()])
    );
    assert!(cmd.to_shell().ends_with(
        "# schema from local files; without server reflection add: -protoset '/tmp/my api.pb'"
    ));
    // No requests: fine for client streaming, not for unary.
    assert!(grpcurl_command(&s, &m, &[], &ReplayTo::Upstream).is_ok());
    assert_eq!(
        grpcurl_command(
            &s,
            &method("/loom.enginetest.Sampler/Get"),
            &[],
            &ReplayTo::Upstream
        ),
        Err(ReplayError::NoRequest)
    );
}

#[test]
fn comments_cannot_inject_commands() {
    let mut m = method("/loom.enginetest.Sampler/Get");
    m.source = Some(crate::engine::SchemaSource {
        origin: pb::SchemaOrigin::Proto,
        location: "a\nrm -rf ~".into(),
        ..Default::default()
    });
    let cmd = grpcurl_command(&started(vec![]), &m, &[json!({})], &ReplayTo::Upstream).unwrap();
    let line = cmd.to_shell();
    assert!(!line.contains('\n'), "{line}");
}

#[cfg(all(unix, not(target_arch = "wasm32")))]
#[test]
fn commands_survive_the_shell() {
    let nasty = [
        "it's a \"quote\"",
        "line\nbreak\ttab",
        "ünïcödé ✓ 日本",
        "$HOME `id` $(id) \\ ; | & > < * ? [a] ~ # !",
        "'''",
        "",
        "-d",
    ];
    for text in nasty {
        let headers = vec![
            header("x-text", text.replace('\n', " ")),
            header("x-blob-bin", text.as_bytes().to_vec()),
            header("x-quote", "it's"),
        ];
        let cmd = grpcurl_command(
            &started(headers),
            &method("/loom.enginetest.Sampler/Get"),
            &[json!({"name": text, "snakeCaseName": "'"})],
            &ReplayTo::Upstream,
        )
        .unwrap();
        assert_eq!(shell_args(&cmd.to_shell(), "grpcurl"), cmd.args, "{text:?}");
    }
}

#[test]
fn control_characters_stay_on_one_quoted_line() {
    assert_eq!(shell_quote("plain"), "plain");
    assert_eq!(shell_quote("it's"), "'it'\\''s'");
    assert_eq!(shell_quote("a\nb'c\\\u{1b}[2J"), "$'a\\nb\\'c\\\\\\x1b[2J'");
    let quoted = shell_quote("x\ntouch PWNED\r\t");
    assert!(!quoted.chars().any(char::is_control), "{quoted}");
}

/// The command for a unary Get of `{}` that went to `upstream`, sent where `to` says.
fn replay(upstream: &str, to: ReplayTo) -> ReplayCommand {
    let mut s = started(vec![]);
    s.upstream = upstream.into();
    grpcurl_command(
        &s,
        &method("/loom.enginetest.Sampler/Get"),
        &[json!({})],
        &to,
    )
    .unwrap()
}

/// Its arguments but `-d '{}'` and the method.
fn endpoint_args(cmd: &ReplayCommand) -> Vec<&str> {
    let n = cmd.args.len();
    cmd.args[..n - 4]
        .iter()
        .chain(&cmd.args[n - 2..n - 1])
        .map(String::as_str)
        .collect()
}

#[test]
fn each_upstream_is_replayed_the_way_it_is_reached() {
    let cases = [
        (
            "http://10.0.0.1:50051",
            vec!["-plaintext", "10.0.0.1:50051"],
            "straight to the upstream http://10.0.0.1:50051 (cleartext)",
        ),
        (
            "https://api.example:443",
            vec!["api.example:443"],
            "straight to the upstream https://api.example:443 (TLS)",
        ),
        (
            "unix:/run/containerd/containerd.sock",
            vec!["-unix", "-plaintext", "/run/containerd/containerd.sock"],
            "straight to the upstream's Unix socket /run/containerd/containerd.sock \
             (from the relay's machine)",
        ),
        (
            "unix:///run/x.sock",
            vec!["-unix", "-plaintext", "/run/x.sock"],
            "straight to the upstream's Unix socket /run/x.sock (from the relay's machine)",
        ),
        (
            "unix:relative.sock",
            vec!["-unix", "-plaintext", "relative.sock"],
            "straight to the upstream's Unix socket relative.sock (from the relay's machine)",
        ),
    ];
    for (upstream, args, said) in cases {
        let cmd = replay(upstream, ReplayTo::Upstream);
        assert_eq!(endpoint_args(&cmd), args, "{upstream}");
        assert_eq!(cmd.target, Target::Upstream(upstream.into()));
        assert_eq!(cmd.target.describe(), said);
        assert_eq!(cmd.args.last().unwrap(), "loom.enginetest.Sampler/Get");
    }
    // The capture does not say where the call went: the relay the client dialed.
    let cmd = replay("", ReplayTo::Upstream);
    assert_eq!(endpoint_args(&cmd), ["-plaintext", "localhost:9999"]);
    assert_eq!(cmd.target.describe(), "through the relay at localhost:9999");
}

#[test]
fn through_the_relay_with_the_calls_authority() {
    let mut s = started(vec![]);
    s.upstream = "https://api.example:443".into();
    s.authority = "api.example:443".into();
    let get = method("/loom.enginetest.Sampler/Get");
    let to = |address: &str| ReplayTo::Relay(address.into());
    let cmd = grpcurl_command(&s, &get, &[json!({})], &to("127.0.0.1:9999")).unwrap();
    assert_eq!(
        endpoint_args(&cmd),
        [
            "-plaintext",
            "-authority",
            "api.example:443",
            "127.0.0.1:9999"
        ]
    );
    assert_eq!(
        cmd.target.describe(),
        "through the relay at 127.0.0.1:9999, as :authority api.example:443, \
         which it routes as it routed this call"
    );
    // A client hop over TLS is replayed over TLS; a relay on a Unix socket.
    s.scheme = "https".into();
    let cmd = grpcurl_command(&s, &get, &[json!({})], &to("127.0.0.1:9999")).unwrap();
    assert_eq!(
        endpoint_args(&cmd),
        ["-authority", "api.example:443", "127.0.0.1:9999"]
    );
    let cmd = grpcurl_command(&s, &get, &[json!({})], &to("unix:/tmp/loom.sock")).unwrap();
    assert_eq!(
        endpoint_args(&cmd),
        [
            "-unix",
            "-plaintext",
            "-authority",
            "api.example:443",
            "/tmp/loom.sock"
        ]
    );
    // The relay at the call's own authority needs no -authority.
    let cmd = grpcurl_command(&s, &get, &[json!({})], &to("api.example:443")).unwrap();
    assert_eq!(endpoint_args(&cmd), ["api.example:443"]);
    assert_eq!(
        cmd.target.describe(),
        "through the relay at api.example:443"
    );
}
