//! Replaying a captured call from a shell: the command each protocol needs
//! ([`Program`]: grpcurl for gRPC, curl for Connect unary POST and GET,
//! `buf curl` for gRPC-Web and Connect streaming), where it sends the call
//! ([`ReplayTo`], said by [`Target`]), and the one command line the views
//! copy ([`ReplayCommand::to_shell`]). The builders are
//! [`super::grpcurl`] and [`super::curl`]; `Session::replay_to` feeds them
//! a call's requests.

use bytes::Bytes;

use super::protocol::Protocol;
use super::schema::{CallKind, LocalSchema, ResolvedMethod};
use crate::pb;

/// The program a command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    /// `grpcurl`: gRPC.
    Grpcurl,
    /// `curl`: Connect unary, POST or GET (a bare message and headers).
    Curl,
    /// `buf curl`: gRPC-Web and Connect streaming (envelopes; JSON in).
    BufCurl,
}

impl Program {
    /// The program's command: `grpcurl`, `curl`, `buf curl`.
    pub fn name(self) -> &'static str {
        match self {
            Program::Grpcurl => "grpcurl",
            Program::Curl => "curl",
            Program::BufCurl => "buf curl",
        }
    }

    /// What replays a call of `protocol`.
    pub fn for_protocol(protocol: Protocol) -> Program {
        match protocol {
            Protocol::Grpc => Program::Grpcurl,
            Protocol::ConnectUnary | Protocol::ConnectGet => Program::Curl,
            Protocol::GrpcWeb | Protocol::GrpcWebText | Protocol::ConnectStream => Program::BufCurl,
        }
    }
}

/// Why no command can be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// The session has no call with this id.
    #[error("no call {0} in this session")]
    NoSuchCall(u64),
    /// The call's start (its path, authority and metadata) was not captured.
    #[error("the call's start was not captured")]
    NotStarted,
    /// The schema does not know the method, so requests cannot be written as
    /// JSON; the reason in words, as [`super::Schema::resolve`] gives it.
    #[error("{0}")]
    NoSchema(String),
    /// A request message could not be rendered (truncated,
    /// undecompressable, not of the method's input type, not JSON).
    #[error("request {index} does not decode: {reason}")]
    Undecodable {
        /// The message's position among the call's requests, from 0.
        index: usize,
        /// Why, as [`super::Body::note`] gives it.
        reason: String,
    },
    /// No request message was captured and the method is not
    /// client-streaming, so there is nothing to send. (A client stream of
    /// no messages replays as such.)
    #[error("no request message was captured")]
    NoRequest,
    /// The call's messages are of a codec that has no JSON form to write
    /// them in.
    #[error("its messages are of the {0} codec, which the command cannot send")]
    Codec(String),
    /// The command asked for does not speak the call's protocol (grpcurl
    /// speaks only gRPC).
    #[error("a {0} call: grpcurl speaks gRPC only")]
    NotGrpc(Protocol),
}

/// Where a replayed call should go.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ReplayTo {
    /// Straight to the upstream the call was forwarded to (through the
    /// relay at the call's `:authority` when the capture does not say).
    #[default]
    Upstream,
    /// Through a relay that takes calls at this address (`host:port`, or
    /// `unix:/path`), asked for the call's own `:authority`.
    Relay(String),
}

/// Where a command sends the call, as the UI says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The call's upstream, as captured: `http://host:port`,
    /// `https://host:port` or `unix:/path`.
    Upstream(String),
    /// A relay at `address`, asked for `authority` (the call's own).
    Relay {
        /// `host:port` or `unix:/path`.
        address: String,
        /// The call's `:authority`; empty when it had none.
        authority: String,
    },
}

impl Target {
    /// Which it is, in words: `straight to the upstream https://api:443
    /// (TLS)`, `through the relay at 127.0.0.1:9999, as :authority api:443`.
    pub fn describe(&self) -> String {
        match self {
            Target::Upstream(upstream) => match Endpoint::of(upstream) {
                Endpoint::Unix(path) => format!(
                    "straight to the upstream's Unix socket {path} (from the relay's machine)"
                ),
                Endpoint::Tcp { tls: Tls::Yes, .. } => {
                    format!("straight to the upstream {upstream} (TLS)")
                }
                Endpoint::Tcp { tls: Tls::No, .. } => {
                    format!("straight to the upstream {upstream} (cleartext)")
                }
            },
            Target::Relay { address, authority }
                if authority.is_empty() || authority == address =>
            {
                format!("through the relay at {address}")
            }
            Target::Relay { address, authority } => format!(
                "through the relay at {address}, as :authority {authority}, \
                 which it routes as it routed this call"
            ),
        }
    }

    /// The address the command dials, and the `:authority` it must ask for
    /// when that is not the address itself (a relay routing by it).
    pub(crate) fn endpoint(&self, started: &pb::CallStarted) -> (Endpoint, Option<String>) {
        match self {
            Target::Upstream(upstream) => (Endpoint::of(upstream), None),
            Target::Relay { address, authority } => {
                let endpoint = match Endpoint::of(address) {
                    Endpoint::Unix(path) => Endpoint::Unix(path),
                    Endpoint::Tcp { address, .. } => Endpoint::Tcp {
                        address,
                        tls: client_tls(started),
                    },
                };
                let own = match &endpoint {
                    Endpoint::Tcp { address, .. } => authority == address,
                    Endpoint::Unix(_) => false,
                };
                (
                    endpoint,
                    (!authority.is_empty() && !own).then(|| authority.clone()),
                )
            }
        }
    }
}

/// Whether a hop is TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tls {
    Yes,
    No,
}

/// An address a command dials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// A Unix socket's path (always cleartext).
    Unix(String),
    /// `host:port`, with or without TLS.
    Tcp { address: String, tls: Tls },
}

impl Endpoint {
    /// `unix:/path` (gRPC's `unix:path` and `unix:///path` too),
    /// `http://host:port`, `https://host:port`, or a bare `host:port`
    /// (cleartext).
    pub(crate) fn of(text: &str) -> Endpoint {
        let text = text.trim_end_matches('/');
        if let Some(path) = text.strip_prefix("unix:") {
            let path = match path.strip_prefix("//") {
                Some(rest) => rest,
                None => path,
            };
            return Endpoint::Unix(path.to_owned());
        }
        let (address, tls) = if let Some(rest) = text.strip_prefix("https://") {
            (rest, Tls::Yes)
        } else {
            (text.strip_prefix("http://").unwrap_or(text), Tls::No)
        };
        Endpoint::Tcp {
            address: address.to_owned(),
            tls,
        }
    }
}

/// What a replay needs to know of the call's method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayMethod {
    /// `package.Service/Method`.
    pub full_name: String,
    /// Unary or streaming (from the schema, else guessed from the
    /// capture's message counts).
    pub kind: CallKind,
    /// The local file the schema came from, when it did not come from
    /// reflection: what a command needs without server reflection.
    pub local_schema: Option<LocalSchema>,
}

impl From<&ResolvedMethod> for ReplayMethod {
    fn from(method: &ResolvedMethod) -> Self {
        ReplayMethod {
            full_name: method.path.full_name(),
            kind: method.kind(),
            local_schema: method.source.as_ref().and_then(|s| s.local_file()),
        }
    }
}

/// A command line replaying a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayCommand {
    /// What it runs.
    pub program: Program,
    /// Where it sends the call.
    pub target: Target,
    /// The arguments after the program's name, unquoted.
    pub args: Vec<String>,
    /// Bytes the command reads on its standard input (`--data-binary @-`):
    /// a request that is not text, written before it as `printf '…' |`.
    pub stdin: Option<Bytes>,
    /// Headers not on the command line, with why (`redacted`, ...).
    pub left_out: Vec<(String, String)>,
    /// What to add when the server has no reflection (the schema came from
    /// local files): `-protoset PATH`, `-proto PATH`, `--schema PATH`.
    pub schema_hint: Option<Vec<String>>,
    /// Anything else the reader should know, in words (a trailing comment).
    pub notes: Vec<String>,
}

/// The longest request body written into a command with `printf`; a larger
/// one is read from a file the user saves.
pub const MAX_PRINTF_BYTES: usize = 64 << 10;

/// The file a command reads a request body from when it is too large for
/// the command line.
pub const REQUEST_FILE: &str = "request.bin";

impl ReplayCommand {
    /// The command as one line of shell, every argument quoted as needed,
    /// its standard input (if any) piped from `printf`, and a trailing
    /// comment for what was left out.
    pub fn to_shell(&self) -> String {
        let mut line = String::new();
        if let Some(stdin) = &self.stdin {
            line.push_str("printf ");
            line.push_str(&shell_quote(&printf_format(stdin)));
            line.push_str(" | ");
        }
        line.push_str(self.program.name());
        for arg in &self.args {
            line.push(' ');
            line.push_str(&shell_quote(arg));
        }
        let mut comments = Vec::new();
        if !self.left_out.is_empty() {
            let names: Vec<String> = self
                .left_out
                .iter()
                .map(|(name, why)| format!("{name} ({why})"))
                .collect();
            comments.push(format!("left out: {}", names.join(", ")));
        }
        if let Some(hint) = &self.schema_hint {
            let hint: Vec<String> = hint.iter().map(|a| shell_quote(a)).collect();
            comments.push(format!(
                "schema from local files; without server reflection add: {}",
                hint.join(" ")
            ));
        }
        comments.extend(self.notes.iter().cloned());
        if !comments.is_empty() {
            line.push_str(" # ");
            // Nothing after the `#` may start a new shell line.
            let comment: String = comments
                .join("; ")
                .chars()
                .map(|c| if c.is_control() { '?' } else { c })
                .collect();
            line.push_str(&comment);
        }
        line
    }
}

/// `bytes` as a `printf` format that prints exactly them: printable ASCII
/// as is (`%` doubled, `\` escaped, a leading `-` escaped), every other
/// byte as a three-digit octal escape, which every `printf` (POSIX's,
/// bash's, zsh's) reads.
pub fn printf_format(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            // A format starting with `-` would read as an option.
            b'-' if i == 0 => out.push_str("\\055"),
            b'%' => out.push_str("%%"),
            b'\\' => out.push_str("\\\\"),
            b'\'' => out.push_str("\\047"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\{b:03o}")),
        }
    }
    out
}

/// Where the command goes: as `to` says, but through the relay the client
/// dialed (its `:authority`) when the capture does not name the upstream.
pub(crate) fn target(started: &pb::CallStarted, to: &ReplayTo) -> Target {
    let relay = |address: &str| Target::Relay {
        address: address.to_owned(),
        authority: started.authority.clone(),
    };
    match to {
        ReplayTo::Upstream if started.upstream.is_empty() => relay(&started.authority),
        ReplayTo::Upstream => {
            let upstream = started.upstream.trim_end_matches('/');
            // A bare `host:port` (no scheme) is as secure as the client's hop.
            let known = ["http://", "https://", "unix:"];
            if known.iter().any(|scheme| upstream.starts_with(scheme)) {
                Target::Upstream(upstream.to_owned())
            } else {
                let scheme = match client_tls(started) {
                    Tls::Yes => "https",
                    Tls::No => "http",
                };
                Target::Upstream(format!("{scheme}://{upstream}"))
            }
        }
        ReplayTo::Relay(address) => relay(address),
    }
}

/// Whether the client's hop to the relay was TLS.
pub(crate) fn client_tls(started: &pb::CallStarted) -> Tls {
    if started.scheme == "https" || started.client_tls.is_some() {
        Tls::Yes
    } else {
        Tls::No
    }
}

/// Quotes `arg` for a shell: as is when it only has safe characters, else
/// in single quotes (a `'` inside becomes `'\''`). An argument holding
/// control characters (a newline, an escape) is written in bash's `$'…'`
/// form with them escaped, so that the command stays on one line and
/// nothing raw reaches the terminal.
pub fn shell_quote(arg: &str) -> String {
    let safe = !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(&b));
    if safe {
        return arg.to_owned();
    }
    if !arg.chars().any(char::is_control) {
        return format!("'{}'", arg.replace('\'', "'\\''"));
    }
    let mut out = String::from("$'");
    for c in arg.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}
