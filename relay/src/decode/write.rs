//! Writing one call: a JSON line, decoded one message at a time, or a
//! command replaying it (grpcurl for gRPC, curl or `buf curl` for Connect
//! and gRPC-Web); and keeping what a capture holds from steering the
//! terminal.

use std::io::{self, Write};

use loom_shared::engine::{Program, Protocol, Session};
use loom_shared::pb;
use serde_json::Value;

use super::glob;

/// How many upstreams the capture's calls went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Upstreams {
    /// One (or none): a line need not say which.
    One,
    /// Several: a line that has no address says which.
    Several,
}

/// How many protocols the capture's calls spoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Protocols {
    /// gRPC only (or one other): a line need not say which, unless the
    /// call is not gRPC.
    One,
    /// Several: a line that has no command says which.
    Several,
}

/// Writes calls that pass the filters, one line each.
pub(super) struct CallWriter<'a> {
    pub(super) out: &'a mut dyn Write,
    pub(super) grpcurl: bool,
    pub(super) upstreams: Upstreams,
    pub(super) protocols: Protocols,
    /// Only calls whose `package.Service/Method` matches this glob.
    pub(super) method: Option<&'a str>,
    /// Only calls that ended with this status.
    pub(super) status: Option<u32>,
    pub(super) written: usize,
}

impl CallWriter<'_> {
    /// Writes call `id` if it passes the filters.
    pub(super) fn write(&mut self, session: &mut Session, id: u64) -> io::Result<()> {
        let Some(call) = session.call(id) else {
            return Ok(());
        };
        if self.method.is_some_and(|g| !glob(g, call.method_name())) {
            return Ok(());
        }
        if self
            .status
            .is_some_and(|want| call.status.as_ref().and_then(|s| s.code) != Some(want))
        {
            return Ok(());
        }
        let mut method = call.method_name().to_owned();
        if self.upstreams == Upstreams::Several {
            match &*call.upstream {
                "" => method.push_str(" on an unknown upstream"),
                upstream => method = format!("{method} on {upstream}"),
            }
        }
        let protocol = call.protocol;
        self.written += 1;
        if self.grpcurl {
            let line = match session.replay(id) {
                Ok(cmd) => cmd.to_shell(),
                Err(e) => {
                    if protocol != Protocol::Grpc || self.protocols == Protocols::Several {
                        let codec = session
                            .detail_without_messages(id)
                            .map(|d| d.codec.name().to_owned())
                            .unwrap_or_default();
                        method = format!("{method}; {protocol}, {codec}");
                    }
                    format!(
                        "# call {id} ({}): no {} command: {}",
                        terminal_safe(&method),
                        Program::for_protocol(protocol).name(),
                        terminal_safe(&e.to_string())
                    )
                }
            };
            return writeln!(self.out, "{line}");
        }
        self.json(session, id)?;
        writeln!(self.out)
    }

    /// The call's JSON object, as `CallDetail::to_json` has it, with each
    /// message decoded, written and dropped in turn.
    fn json(&mut self, session: &mut Session, id: u64) -> io::Result<()> {
        let Some(head) = session.detail_without_messages(id) else {
            return Ok(());
        };
        let Value::Object(fields) = head.to_json() else {
            return Ok(());
        };
        let directions = session.directions(id);
        self.out.write_all(b"{")?;
        for (n, (key, value)) in fields.iter().enumerate() {
            if n > 0 {
                self.out.write_all(b",")?;
            }
            serde_json::to_writer(&mut *self.out, key)?;
            self.out.write_all(b":")?;
            let wanted = match key.as_str() {
                "requests" => Some(false),
                "responses" => Some(true),
                _ => None,
            };
            let Some(responses) = wanted else {
                serde_json::to_writer(&mut *self.out, value)?;
                continue;
            };
            self.out.write_all(b"[")?;
            let mut first = true;
            for (index, direction) in directions.iter().enumerate() {
                if (*direction == pb::Direction::Response) != responses {
                    continue;
                }
                let Some(view) = session.decode_once(id, index) else {
                    continue;
                };
                if !first {
                    self.out.write_all(b",")?;
                }
                first = false;
                serde_json::to_writer(&mut *self.out, &view.to_json())?;
            }
            self.out.write_all(b"]")?;
        }
        self.out.write_all(b"}")
    }
}

/// `text` with control characters escaped, so that nothing a capture holds
/// can move the cursor, clear the screen or retitle the terminal.
pub fn terminal_safe(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}
