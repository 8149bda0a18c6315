//! [`buf_curl`]: one run of `buf curl` (npm's `@bufbuild/buf`, in
//! `tests/connect/node_modules`), with the Web service's descriptor set as
//! its schema (no reflection), verbose so that the response's metadata can
//! be read back.

use std::process::{Command, Stdio};

use serde_json::Value;

use super::client::wait_bounded;
use super::{Http, Method, Protocol, code_from_name, descriptor_set, peers_dir};
use crate::peer::without_proxy;

/// What `buf curl` did.
#[derive(Debug, Clone)]
pub struct CurlOutcome {
    /// Its exit code: 0, or 8 × the status code of a failed call.
    pub exit_code: i32,
    /// The call's status: OK, or the code of the error it printed.
    pub code: tonic::Code,
    /// The error's message ("" when OK).
    pub message: String,
    /// The error's details as buf prints them (`type`, `value`, `debug`:
    /// the decoded message when buf knows its type).
    pub details: Vec<Value>,
    /// Each response message as JSON (proto3 JSON names: `httpVersion`).
    pub replies: Vec<Value>,
    /// Every response header and trailer it received, in order, names
    /// lower-cased (`x-loom-peer`, `grpc-status`, `trailer-x-loom-trailer`).
    pub metadata: Vec<(String, String)>,
    pub stderr: String,
}

impl CurlOutcome {
    /// The first value of `name` in [`CurlOutcome::metadata`].
    pub fn metadata_value(&self, name: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Runs `buf curl` once: `method` of `loom.test.v1.Web` at `target` (a base
/// URL) in `protocol` over `http`, sending `requests` (JSON objects; one
/// for unary and server-streaming methods) with `headers`. Panics if it
/// cannot start, runs past a minute, or prints what is not JSON.
pub async fn buf_curl(
    target: &http::Uri,
    protocol: Protocol,
    http: Http,
    method: Method,
    requests: &[Value],
    headers: &[(&str, &str)],
) -> CurlOutcome {
    let dir = peers_dir();
    let url = format!(
        "{}{}",
        target.to_string().trim_end_matches('/'),
        method.path()
    );
    let data = requests
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    let mut command = Command::new(dir.join("node_modules/.bin/buf"));
    command
        .args(["curl", "--verbose", "--protocol", protocol.arg()])
        .arg("--schema")
        .arg(descriptor_set())
        .args(["--data", &data]);
    if http == Http::H2 {
        command.arg("--http2-prior-knowledge");
    }
    for (name, value) in headers {
        command.args(["--header", &format!("{name}: {value}")]);
    }
    command
        .arg(&url)
        .current_dir(&dir)
        .env("BUF_CACHE_DIR", crate::target_dir().join("buf-cache"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    without_proxy(&mut command);
    let child = command
        .spawn()
        .unwrap_or_else(|e| panic!("starting buf curl: {e}"));
    let output = wait_bounded(child, "buf curl").await;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let replies = serde_json::Deserializer::from_str(&stdout)
        .into_iter::<Value>()
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| panic!("buf curl printed {stdout:?} ({e}); stderr: {stderr}"));
    // Verbose lines start with "buf: "; the rest of stderr is the error.
    let mut metadata = Vec::new();
    let mut error_text = String::new();
    for line in stderr.lines() {
        match line.strip_prefix("buf: ") {
            Some(verbose) => {
                if let Some((name, value)) = received_header(verbose) {
                    metadata.push((name, value));
                }
            }
            None => {
                error_text.push_str(line);
                error_text.push('\n');
            }
        }
    }
    let exit_code = output.status.code().unwrap_or(-1);
    let (code, message, details) = if exit_code == 0 {
        (tonic::Code::Ok, String::new(), Vec::new())
    } else {
        let error: Value = serde_json::from_str(&error_text).unwrap_or_else(|e| {
            panic!("buf curl exited {exit_code} without a JSON error ({e}): {stderr}")
        });
        let name = error["code"].as_str().unwrap_or_default();
        (
            code_from_name(name).unwrap_or_else(|| panic!("buf curl's code {name:?}")),
            error["message"].as_str().unwrap_or_default().to_owned(),
            error["details"].as_array().cloned().unwrap_or_default(),
        )
    };
    CurlOutcome {
        exit_code,
        code,
        message,
        details,
        replies,
        metadata,
        stderr,
    }
}

/// `< (#1) Name: value` → (`name`, `value`).
fn received_header(verbose: &str) -> Option<(String, String)> {
    let rest = verbose.strip_prefix("< (#")?;
    let (_, header) = rest.split_once(") ")?;
    let (name, value) = header.split_once(": ")?;
    Some((name.to_ascii_lowercase(), value.to_owned()))
}
