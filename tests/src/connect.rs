//! The Connect, gRPC and gRPC-Web peers of `tests/connect`, as child
//! processes: a connect-node server of `loom.test.v1.Web`
//! (`tests/proto/loom/test/v1/web.proto`) speaking all three protocols at
//! once over HTTP/1.1 or h2c ([`ConnectServer`]), the connect-node client in
//! any protocol, HTTP version and codec ([`connect_client`]), `buf curl`
//! ([`buf_curl`]), and a page for headless Chromium with connect-web or
//! grpc-web's text mode ([`page_dir`], [`page_query`]). The server also
//! answers gRPC-Web's text form, which connect-node refuses, as a proxy
//! such as Envoy does: each response chunk base64-encoded on its own, so
//! padded mid-body; [`grpc_web_text`] speaks it by hand, byte for byte,
//! with the service's messages as prost types ([`WebRequest`],
//! [`WebReply`]).
//!
//! `scripts/setup.sh test` installs them (`npm ci` in `tests/connect`, then
//! its `build.mjs`, which writes `tests/connect/gen/`: the service's
//! descriptor set and the page's bundle); the harness runs `build.mjs` again
//! once per test process, which does nothing unless `web.proto` or a page
//! source changed. A test that needs a peer fails (it does not skip) when it
//! is missing.
//!
//! What each request makes the server do is in `tests/connect/server.mjs`'s
//! header: replies that say how the call came (protocol, HTTP version and
//! method, content type, request compression), failures with a
//! `google.rpc.ErrorInfo` detail, `x-echo-*` request headers echoed, the
//! `x-loom-peer` header and `x-loom-trailer` trailer on every response.
//! Every wait is bounded; readiness is the server's `PORT` line, never a
//! sleep.

mod client;
mod curl;
mod messages;
mod server;
mod text;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

pub use crate::peer::Shape;
pub use client::{CallOutcome, ClientOutcome, Detail, Reply, WebCall, connect_client};
pub use curl::{CurlOutcome, buf_curl};
pub use messages::{WebReply, WebRequest};
pub use server::ConnectServer;
pub use text::{Frame, TextReply, base64_decode, base64_encode, grpc_web_text};

use crate::peer::{need, workspace_root};

/// The service every peer here serves or calls.
pub const SERVICE: &str = "loom.test.v1.Web";

/// The HTTP version a peer speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Http {
    /// HTTP/1.1.
    H1,
    /// Cleartext HTTP/2 with prior knowledge (h2c).
    H2,
}

impl Http {
    pub const ALL: [Http; 2] = [Http::H1, Http::H2];

    /// As the peers' `--http` flags spell it.
    fn arg(self) -> &'static str {
        match self {
            Http::H1 => "1.1",
            Http::H2 => "2",
        }
    }

    /// As the server reports it in `WebReply.http_version` (Node's
    /// `httpVersion`).
    pub fn reported(self) -> &'static str {
        match self {
            Http::H1 => "1.1",
            Http::H2 => "2.0",
        }
    }
}

/// The protocols of the gRPC family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Connect,
    Grpc,
    GrpcWeb,
}

impl Protocol {
    pub const ALL: [Protocol; 3] = [Protocol::Connect, Protocol::Grpc, Protocol::GrpcWeb];

    /// As `client.mjs --protocol` and `buf curl --protocol` spell it.
    fn arg(self) -> &'static str {
        match self {
            Protocol::Connect => "connect",
            Protocol::Grpc => "grpc",
            Protocol::GrpcWeb => "grpcweb",
        }
    }

    /// As the server reports it in `WebReply.protocol` (connect's
    /// `protocolName`).
    pub fn reported(self) -> &'static str {
        match self {
            Protocol::Connect => "connect",
            Protocol::Grpc => "grpc",
            Protocol::GrpcWeb => "grpc-web",
        }
    }

    /// Whether calls of `shape` in this protocol work over `http` between
    /// these peers: gRPC needs HTTP/2, and so does a bidi stream in every
    /// protocol (connect-node answers one over HTTP/1.1 with 505).
    pub fn allows(self, http: Http, shape: Shape) -> bool {
        http == Http::H2 || (self != Protocol::Grpc && shape != Shape::Bidi)
    }
}

/// How messages are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// Binary protobuf.
    Proto,
    /// Protobuf's canonical JSON.
    Json,
}

impl Codec {
    pub const ALL: [Codec; 2] = [Codec::Proto, Codec::Json];

    fn arg(self) -> &'static str {
        match self {
            Codec::Proto => "proto",
            Codec::Json => "json",
        }
    }
}

/// Message compression, both ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    Identity,
    Gzip,
}

/// The HTTP method of a unary Connect call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    Post,
    /// A Connect GET: the request in the query string (`Lookup`, the
    /// service's idempotent method).
    Get,
}

/// A method of `loom.test.v1.Web`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Unary,
    /// Unary, marked `NO_SIDE_EFFECTS`.
    Lookup,
    ServerStream,
    ClientStream,
    Bidi,
}

impl Method {
    /// Its name in the service.
    pub fn name(self) -> &'static str {
        match self {
            Method::Unary => "Unary",
            Method::Lookup => "Lookup",
            Method::ServerStream => "ServerStream",
            Method::ClientStream => "ClientStream",
            Method::Bidi => "Bidi",
        }
    }

    /// `/loom.test.v1.Web/Name`.
    pub fn path(self) -> String {
        format!("/{SERVICE}/{}", self.name())
    }

    /// The method a call of `shape` uses (`Unary` for unary calls).
    pub fn of(shape: Shape) -> Method {
        match shape {
            Shape::Unary => Method::Unary,
            Shape::ServerStream => Method::ServerStream,
            Shape::ClientStream => Method::ClientStream,
            Shape::Bidi => Method::Bidi,
        }
    }
}

/// gRPC's names of the status codes, by number.
const CODE_NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// `INVALID_ARGUMENT` for [`tonic::Code::InvalidArgument`].
pub fn code_name(code: tonic::Code) -> &'static str {
    CODE_NAMES.get(code as usize).copied().unwrap_or("UNKNOWN")
}

/// The code of a name in gRPC's spelling (`NOT_FOUND`) or Connect's
/// (`not_found`).
pub fn code_from_name(name: &str) -> Option<tonic::Code> {
    let upper = name.to_ascii_uppercase();
    CODE_NAMES
        .iter()
        .position(|n| *n == upper)
        .map(|i| tonic::Code::from(i as i32))
}

/// `tests/connect`, its packages installed and `gen/` up to date.
fn peers_dir() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let dir = workspace_root().join("tests/connect");
            need(
                dir.join("node_modules/@connectrpc/connect-node"),
                "the Connect peers' packages",
            );
            let output = Command::new("node")
                .arg("build.mjs")
                .current_dir(&dir)
                .stdin(Stdio::null())
                .output()
                .unwrap_or_else(|e| panic!("running node build.mjs in {}: {e}", dir.display()));
            assert!(
                output.status.success(),
                "tests/connect/build.mjs failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
            dir
        })
        .clone()
}

/// `tests/connect/gen/web.binpb`: the encoded `FileDescriptorSet` of
/// `web.proto` (for `--schema` and `--descriptor-set` flags).
pub fn descriptor_set() -> PathBuf {
    peers_dir().join("gen/web.binpb")
}

/// `tests/connect/gen/`: the browser test page (`index.html`, `page.js`) to
/// serve with [`crate::static_files::StaticFiles`], opened with
/// [`page_query`]. It writes its three calls' outcomes (`unary`, `server`,
/// `error`) as JSON into the elements with those `data-test` names, each
/// then marked `data-done="1"` (see `tests/connect/web/page.mjs`).
pub fn page_dir() -> PathBuf {
    peers_dir().join("gen")
}

/// The browser client the test page uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PageClient {
    /// connect-web's fetch transports: Connect or gRPC-Web (binary), in
    /// either codec. Browsers cannot speak gRPC.
    ConnectWeb(Protocol, Codec),
    /// grpc-web (Google's client) in its text mode:
    /// `application/grpc-web-text` over XMLHttpRequest.
    GrpcWebText,
}

/// The test page's query string (`?target=…&client=…`) for calls to
/// `target` (a base URL) with `client`.
pub fn page_query(target: &http::Uri, client: PageClient) -> String {
    let target = target.to_string();
    let target = target.trim_end_matches('/');
    match client {
        PageClient::ConnectWeb(Protocol::Grpc, _) => {
            panic!("connect-web in a browser cannot speak gRPC")
        }
        PageClient::ConnectWeb(protocol, codec) => format!(
            "?target={target}&client=connect-web&protocol={}&codec={}",
            protocol.arg(),
            codec.arg()
        ),
        PageClient::GrpcWebText => format!("?target={target}&client=grpc-web"),
    }
}
