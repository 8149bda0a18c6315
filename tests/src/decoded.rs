//! A capture file as `loom decode` prints it: one JSON object per call.

use std::path::Path;

use serde_json::Value;

/// Every call of `file`, decoded (panics if `loom decode` fails).
pub fn decode_file(file: &Path) -> Vec<Value> {
    let options = loom_relay::decode::DecodeOptions {
        input: file.to_owned(),
        ..Default::default()
    };
    let mut out = Vec::new();
    let mut err = Vec::new();
    let outcome = loom_relay::decode::run(&options, &mut out, &mut err)
        .unwrap_or_else(|e| panic!("loom decode {}: {e}", file.display()));
    assert_eq!(
        outcome.exit_code(),
        0,
        "loom decode: {}",
        String::from_utf8_lossy(&err)
    );
    String::from_utf8(out)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// The first call of `path` among `calls`.
pub fn call_at<'a>(calls: &'a [Value], path: &str) -> &'a Value {
    calls
        .iter()
        .find(|c| c["path"] == path)
        .unwrap_or_else(|| panic!("no call of {path} in {calls:#?}"))
}
