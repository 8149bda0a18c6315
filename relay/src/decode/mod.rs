//! `loom decode FILE`: a capture file as JSON Lines, one object per call, or
//! as commands replaying each call's request: grpcurl for gRPC, curl for
//! Connect unary (POST and GET), `buf curl` for gRPC-Web and Connect
//! streaming.
//!
//! Each call says its protocol of the gRPC family, codec and HTTP version
//! (the JSON's `protocol`, `codec`, `httpVersion`, and `connectCode` for a
//! Connect error); a call without a command says its protocol and codec
//! beside its method when it is not gRPC or the capture holds several.
//! Messages of the JSON codec are JSON as sent, checked against the schema.
//!
//! Each call names its upstream: the JSON's `upstream`, and each grpcurl
//! command's address (`-unix` for a Unix socket, `-plaintext` for
//! cleartext); a call without a command says its upstream beside its
//! method when the capture holds several. Each call is decoded with its own
//! upstream's schema where two upstreams serve a service in different
//! versions (the engine's `Schema::resolve_for`).
//!
//! Decoding is the shared engine's ([`loom_shared::engine`]); this is the
//! IO around it: reading the file ([`read`], in two streaming passes),
//! adding schemas from local files (`--descriptor-set`, `--proto`),
//! filtering, and writing each call as it ends ([`write`]).

mod read;
mod write;

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::PathBuf;

use loom_shared::capture::CaptureError;
use loom_shared::engine::{JsonOptions, Protocol, Session, parse_code};
use loom_shared::pb::{self, event::Kind};

use crate::schema::{self, SchemaError};
pub use write::terminal_safe;

/// What `loom decode` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct DecodeOptions {
    /// The capture file (the command line spools standard input to one).
    pub input: PathBuf,
    /// What to call the input in messages, when not its path.
    pub input_name: Option<String>,
    /// Schemas for servers without reflection (added after the capture's
    /// own descriptor sets, so they win where both describe a service).
    pub descriptor_sets: Vec<PathBuf>,
    pub protos: Vec<PathBuf>,
    pub proto_includes: Vec<PathBuf>,
    /// Only calls whose `package.Service/Method` matches this glob (`*`
    /// any run of characters, `?` one character).
    pub method: Option<String>,
    /// Only calls that ended with this status: a number or a name in any
    /// case (`5`, `NOT_FOUND`, `not_found`).
    pub status: Option<String>,
    /// Print a command per call instead of JSON (grpcurl for gRPC, curl or
    /// `buf curl` for the other protocols).
    pub grpcurl: bool,
    /// Leave out fields holding their default value.
    pub hide_defaults: bool,
}

/// How it went, when it went at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeOutcome {
    /// Calls written.
    pub calls: usize,
    /// The file ends mid-record: what was complete was decoded, and this
    /// says where it stops.
    pub truncated: Option<String>,
    /// Events the capture says it lost (its gaps).
    pub lost_events: u64,
}

impl DecodeOutcome {
    /// 0 when the capture is whole; 1 when it is incomplete (cut off, or
    /// events were lost), with everything complete decoded. (Errors are 2.)
    pub fn exit_code(&self) -> u8 {
        if self.truncated.is_some() || self.lost_events > 0 {
            1
        } else {
            0
        }
    }
}

/// Why nothing could be decoded. Each message is one line.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("{path}: cannot read it: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Capture { path: String, source: CaptureError },
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error("--status {0:?}: not a gRPC status code (a number, or a name such as NOT_FOUND)")]
    Status(String),
    #[error("writing the output: {0}")]
    Write(std::io::Error),
}

/// Runs `loom decode`: writes the decoded calls to `out`, warnings to `err`.
///
/// Two passes over the file, each holding little: the first gathers its
/// schemas and gaps, where each call's last record is (and checks the file
/// reads to the end); the second writes each call at its last record and
/// then forgets it, decoding its messages one at a time. So a call decodes
/// with a schema that came later in the file, and memory is bounded by the
/// largest call (plus a few bytes per call id), not by the file.
pub fn run(
    opts: &DecodeOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<DecodeOutcome, DecodeError> {
    let status = match &opts.status {
        Some(text) => Some(parse_code(text).ok_or_else(|| DecodeError::Status(text.clone()))?),
        None => None,
    };
    let local = schema::load(&opts.descriptor_sets, &opts.protos, &opts.proto_includes)?;
    let name = opts
        .input_name
        .clone()
        .unwrap_or_else(|| opts.input.display().to_string());
    let file = read::Records::open(&opts.input, &name)?;

    // Pass 1: schemas, gaps, and where (if anywhere) the file stops.
    let mut session = Session::new();
    session.set_options(JsonOptions {
        show_defaults: !opts.hide_defaults,
        unknown_fields: true,
    });
    let mut last_record: HashMap<u64, u64> = HashMap::new();
    let mut upstreams: HashSet<String> = HashSet::new();
    let mut protocols: HashSet<Protocol> = HashSet::new();
    let mut record = 0u64;
    let truncation = file.scan(|event| {
        match &event.kind {
            Some(Kind::Descriptors(_) | Kind::Gap(_)) => {
                session.ingest(event);
            }
            Some(kind) => {
                if let Kind::CallStarted(started) = kind {
                    if !upstreams.contains(&started.upstream) {
                        upstreams.insert(started.upstream.clone());
                    }
                    protocols.insert(Protocol::from_i32(started.protocol));
                }
                last_record.insert(event.call_id, record);
            }
            None => {}
        }
        record += 1;
    })?;
    session.ingest_all(local.into_iter().map(pb::Event::descriptors));

    let mut warnings = Vec::new();
    let truncated = truncation.map(|t| {
        warnings.push(format!(
            "{name}: {t}; decoded the {} complete records",
            t.complete_records
        ));
        t.to_string()
    });
    for problem in session.schema().problems() {
        warnings.push(format!("schema: {problem}"));
    }
    let lost_events = session.gaps().iter().map(|g| g.dropped_events).sum();
    if let Some(summary) = gaps_summary(&session) {
        warnings.push(summary);
    }
    for warning in &warnings {
        writeln!(err, "warning: {}", terminal_safe(warning)).map_err(DecodeError::Write)?;
    }

    // Pass 2: every call, written when it ends.
    let mut writer = write::CallWriter {
        out,
        grpcurl: opts.grpcurl,
        upstreams: if upstreams.len() > 1 {
            write::Upstreams::Several
        } else {
            write::Upstreams::One
        },
        protocols: if protocols.len() > 1 {
            write::Protocols::Several
        } else {
            write::Protocols::One
        },
        method: opts.method.as_deref(),
        status,
        written: 0,
    };
    let mut failed = None;
    let mut record = 0u64;
    file.scan(|event| {
        let at = record;
        record += 1;
        if failed.is_some()
            || matches!(event.kind, Some(Kind::Descriptors(_) | Kind::Gap(_)) | None)
        {
            return;
        }
        let id = event.call_id;
        session.ingest(event);
        if last_record.get(&id) == Some(&at) {
            if let Err(e) = writer.write(&mut session, id) {
                failed = Some(e);
            }
            session.remove(id);
        }
    })?;
    if let Some(e) = failed {
        return Err(DecodeError::Write(e));
    }
    writer.out.flush().map_err(DecodeError::Write)?;
    Ok(DecodeOutcome {
        calls: writer.written,
        truncated,
        lost_events,
    })
}

/// One line for every gap in the capture: how many events were lost, of
/// what kinds, and how many calls are affected (marked `incomplete` in the
/// output). `None` when nothing was lost.
fn gaps_summary(session: &Session) -> Option<String> {
    let lost: Vec<&pb::CaptureGap> = session
        .gaps()
        .iter()
        .filter(|g| g.dropped_events > 0)
        .collect();
    if lost.is_empty() {
        return None;
    }
    let events: u64 = lost.iter().map(|g| g.dropped_events).sum();
    let mut kinds: std::collections::BTreeMap<&str, usize> = Default::default();
    for gap in &lost {
        let kind = match gap.kind() {
            pb::GapKind::Lagged => "a consumer fell behind",
            pb::GapKind::Evicted => "the memory cap evicted calls",
            pb::GapKind::Unspecified => "unspecified",
        };
        *kinds.entry(kind).or_default() += 1;
    }
    let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} × {k}")).collect();
    let named: std::collections::BTreeSet<u64> = lost
        .iter()
        .flat_map(|g| g.call_ids.iter().copied())
        .collect();
    let calls = if named.is_empty() {
        "the calls affected are not named".to_owned()
    } else {
        format!("{} calls affected, marked incomplete", named.len())
    };
    Some(format!(
        "the capture is incomplete: {events} events lost in {} gap{} ({}); {calls}; first: {}",
        lost.len(),
        if lost.len() == 1 { "" } else { "s" },
        kinds.join(", "),
        lost[0].reason,
    ))
}

/// Whether `text` matches `pattern`, where `*` is any run of characters and
/// `?` any one character. A pattern starting with `/` is matched against
/// `/` + text (so a `:path` works too).
pub fn glob(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern
        .strip_prefix('/')
        .unwrap_or(pattern)
        .chars()
        .collect();
    let text: Vec<char> = text.chars().collect();
    // Two pointers, backtracking only to the last `*`: at worst
    // len(pattern) × len(text) steps, never exponential.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let m = "loom.test.v1.Probe/Unary";
        for yes in [
            "*",
            m,
            "/loom.test.v1.Probe/Unary",
            "*Probe/*",
            "loom.*.Probe/Un?ry",
            "*Unary",
            "loom.test.v1.*",
            "**",
        ] {
            assert!(glob(yes, m), "{yes}");
        }
        for no in ["", "Unary", "*Probe", "loom.test.v1.Probe/Unar", "?", "*x*"] {
            assert!(!glob(no, m), "{no}");
        }
        assert!(glob("", ""));
        assert!(glob("*", ""));
        // Pathological patterns stay fast.
        let long = "a".repeat(5000);
        assert!(!glob(&format!("{}b", "*a".repeat(200)), &long));
    }

    #[test]
    fn errors_are_one_line() {
        let opts = DecodeOptions {
            input: PathBuf::from("/nonexistent/capture.loom"),
            ..Default::default()
        };
        let e = run(&opts, &mut Vec::new(), &mut Vec::new()).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("/nonexistent/capture.loom: cannot read it"),
            "{text}"
        );
        assert!(!text.contains('\n'));
        let opts = DecodeOptions {
            status: Some("bogus".into()),
            ..Default::default()
        };
        let text = run(&opts, &mut Vec::new(), &mut Vec::new())
            .unwrap_err()
            .to_string();
        assert!(text.contains("--status \"bogus\""), "{text}");
    }
}
