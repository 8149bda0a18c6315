//! The decoding engine: what the browser inspector and `loom decode` both use
//! to turn raw capture events into something to read.
//!
//! The relay ships raw gRPC messages and the descriptor sets it learned;
//! everything here is pure functions over those events (no IO, no clock, no
//! threads), so the browser (WASM) and the command line decode identically.
//!
//! # Model
//! - [`Session`]: feed it [`pb::Event`]s as they arrive (a capture file, or
//!   the live WebSocket). It keeps a [`CallSummary`] per call (method, kind,
//!   status, counts, bytes, timing) current and cheap, and decodes a call's
//!   messages only when asked ([`Session::detail`], [`Session::message`]),
//!   caching the result until the schema or the view [`JsonOptions`]
//!   change. Free-text search ([`Session::search`], or a [`Search`] a slice
//!   at a time) reads a search index: one lower-cased text per call, built
//!   the first time a search reaches the call.
//! - [`CallDetail`]: one call, decoded: its protocol, codec and HTTP
//!   version (format 1.4), headers ([`HeaderView`]), messages
//!   ([`MessageView`], each a [`Body`], by the call's codec), status
//!   ([`CallStatus`] and its decoded details, and the protocol's own form:
//!   [`ProtocolStatus`]), how each side ended it (format 1.2's endings),
//!   how each hop was secured (format 1.3's TLS sessions, [`Hop`],
//!   [`Security`]), timing ([`Timing`]). `to_json` gives `loom decode`'s
//!   output line.
//! - [`Schema`]: every `Descriptors` event merged into one pool with the
//!   bundled `google.rpc` and well-known types, plus a pool of its own for
//!   an upstream whose files differ from another upstream's, so that each
//!   call decodes with its own upstream's schema
//!   ([`Schema::resolve_for`]); problems and reflection failures are kept
//!   for the UI, never fatal.
//! - The upstreams the calls went to, with their calls and services
//!   ([`Session::upstreams`], [`UpstreamCalls`]), for views that list,
//!   filter or group by upstream; the protocols they spoke, with their
//!   calls ([`Session::protocols`]).
//!
//! # Pieces
//! - [`json`]: canonical proto3 JSON, unknown fields under `"@unknown"`.
//! - [`wire`]: the schema-less view, for payloads without a schema.
//! - [`compression`]: `grpc-encoding` (Connect's `content-encoding` and
//!   `connect-content-encoding` alike: gzip, deflate, zstd), size-capped.
//! - [`status`]: code names, `google.rpc.Status` details.
//! - [`ending`]: how each side ended a call (format 1.2), in words.
//! - [`tls`]: each hop's TLS (format 1.3): what a missing session means,
//!   and its JSON.
//! - [`protocol`]: the protocol of the gRPC family a call spoke, its
//!   codec, and its status in the protocol's own form (format 1.4).
//! - [`json_text`]: messages of the JSON codec, shown as sent and checked
//!   against the schema.
//! - [`replay`]: "copy as command", in the call's own protocol
//!   ([`Program`]: [`grpcurl`] for gRPC, [`curl`] and `buf curl` for
//!   Connect and gRPC-Web), to the call's upstream or through a relay
//!   ([`ReplayTo`]), saying which ([`Target`]).
//!
//! Everything decodes untrusted bytes: nothing panics on bad input, nesting
//! is depth-limited, and work is capped: decompression at
//! [`MAX_DECOMPRESSED_BYTES`], JSON rendering at [`MAX_JSON_ELEMENTS`]
//! values a message, schema-less parsing by [`WireLimits`].
//!
//! [`pb::Event`]: crate::pb::Event

mod body;
mod call;
pub mod compression;
pub mod curl;
mod detail;
pub mod ending;
pub mod grpcurl;
pub mod json;
pub mod json_text;
mod message;
mod metadata;
pub mod protocol;
pub mod replay;
pub mod schema;
mod session;
pub mod status;
mod time;
pub mod tls;
pub mod wire;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod testing;

pub use body::Body;
pub use call::{CallSummary, Traffic};
pub use compression::{DecompressError, Encoding};
pub use detail::CallDetail;
pub use json::{JsonError, JsonOptions, MAX_JSON_ELEMENTS};
pub use message::{Decoding, MessageView};
pub use metadata::{HeaderValue, HeaderView};
pub use protocol::{Codec, Protocol, ProtocolStatus, StatusSource};
pub use replay::{
    Program, ReplayCommand, ReplayError, ReplayMethod, ReplayTo, Target, shell_quote,
};
pub use schema::{
    Added, CallKind, LocalSchema, MethodPath, ResolvedMethod, Schema, SchemaProblem, SchemaSource,
    SchemaState, ServiceNote, ServiceOrigin,
};
pub use session::{Change, CompleteError, Counts, Search, Session, UpstreamCalls};
pub use status::{CallStatus, code_name, describe_code, parse_code};
pub use time::{Timing, rfc3339, rfc3339_seconds};
pub use tls::{Hop, Security};
pub use wire::{WireField, WireLimits, WireMessage, WireValue, decode_wire};

/// The reflection library the engine's types come from (descriptors in
/// [`ResolvedMethod`], pools in [`Schema`]), for callers that need more.
pub use prost_reflect;

/// The largest a message may decompress to; beyond it the message is shown
/// raw with an error (a compression bomb, or a mistake).
pub const MAX_DECOMPRESSED_BYTES: usize = 64 << 20;

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}
