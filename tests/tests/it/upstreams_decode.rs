//! `loom decode` on a capture of three upstreams
//! (`loom_tests::captures::upstreams_capture`): every JSON line names its
//! call's upstream and is decoded with that upstream's schema, each grpcurl
//! command goes where its call went (TLS, cleartext, a Unix socket), and a
//! call without a command says its upstream.

use loom_relay::decode::{DecodeOptions, run};
use loom_tests::captures::{UPSTREAMS, VERSION_SERVICE, upstreams_capture};
use serde_json::{Value, json};

/// `loom decode` of the capture (`grpcurl`: as commands): its output lines
/// and its warnings.
fn decode(grpcurl: Grpcurl) -> (Vec<String>, String) {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), upstreams_capture()).expect("write the capture");
    let opts = DecodeOptions {
        input: file.path().to_owned(),
        grpcurl: grpcurl == Grpcurl::Commands,
        ..Default::default()
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let outcome = run(&opts, &mut out, &mut err).expect("decode");
    assert_eq!(outcome.exit_code(), 0);
    let out = String::from_utf8(out).expect("UTF-8");
    (
        out.lines().map(str::to_owned).collect(),
        String::from_utf8(err).expect("UTF-8"),
    )
}

/// What `loom decode` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grpcurl {
    /// JSON Lines.
    Json,
    /// A grpcurl command per call.
    Commands,
}

#[test]
fn each_call_names_its_upstream_and_decodes_with_its_schema() {
    let [a, b, c] = UPSTREAMS;
    let (lines, warnings) = decode(Grpcurl::Json);
    assert_eq!(warnings, "", "two versions of one service are no problem");
    let calls: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let upstreams: Vec<&str> = calls
        .iter()
        .map(|c| c["upstream"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(upstreams, [a, b, a, b, c]);
    // The same bytes, each with its upstream's schema (and it says so).
    assert_eq!(calls[0]["requests"][0]["json"]["text"], json!("alpha one"));
    assert_eq!(calls[0]["requests"][0]["json"].get("label"), None);
    assert_eq!(calls[0]["schema"]["upstream"], json!(a));
    assert_eq!(calls[1]["requests"][0]["json"]["label"], json!("beta one"));
    assert_eq!(calls[1]["requests"][0]["json"].get("text"), None);
    assert_eq!(
        calls[1]["responses"][0]["json"]["answer"],
        json!("echo: beta one")
    );
    assert_eq!(calls[1]["schema"]["upstream"], json!(b));
    // The socket's reflection failed: it says why, for its own calls.
    let note = calls[4]["schemaNote"].as_str().expect("a schema note");
    assert!(
        note.contains(VERSION_SERVICE) && note.contains("UNIMPLEMENTED") && note.contains(c),
        "{note}"
    );
}

#[test]
fn each_command_goes_where_its_call_went() {
    let (lines, _) = decode(Grpcurl::Commands);
    assert_eq!(lines.len(), 5, "{lines:#?}");
    let ends = |line: &str, tail: &str| {
        assert!(line.ends_with(tail), "{line}\n  does not end with\n{tail}");
    };
    assert!(lines[0].starts_with("grpcurl -plaintext "), "{}", lines[0]);
    ends(
        &lines[0],
        r#"-d '{"text":"alpha one"}' 127.0.0.1:50051 loom.test.v1.Probe/Unary"#,
    );
    assert!(!lines[1].contains("-plaintext"), "TLS: {}", lines[1]);
    ends(
        &lines[1],
        r#"-d '{"label":"beta one"}' api.example:443 loom.test.v1.Probe/Unary"#,
    );
    assert_eq!(
        lines[4],
        format!(
            "# call 5 ({VERSION_SERVICE}/Version on {}): no grpcurl command: no schema for \
             {VERSION_SERVICE}: reflection from {}: the upstream serves no reflection \
             (UNIMPLEMENTED)",
            UPSTREAMS[2], UPSTREAMS[2]
        )
    );
}
