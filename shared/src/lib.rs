//! What the Loom relay and the browser app agree on.
//!
//! Loom is a gRPC debugging relay: it forwards calls to an upstream server and
//! records what it sees as a stream of [`pb::Event`]s. This crate holds the
//! parts of that which more than one program needs to understand identically:
//!
//! - [`pb`]: the event model, generated from
//!   `proto/loom/capture/v1/events.proto` (the contract; read it first).
//! - [`event`]: a few convenience constructors on the generated types, and
//!   accessors such as the status a call's client saw
//!   ([`pb::CallEnded::client_status`]).
//! - [`capture`]: the capture file format (a 13-byte header, then
//!   length-delimited events), its incremental [`capture::StreamDecoder`], and
//!   the WebSocket batch framing. `docs/capture-format.md` specifies it byte
//!   by byte.
//! - [`descriptor`]: descriptor graphs: the services of a set, the types its
//!   files use, and repairing sets whose imports do not match (as some
//!   servers' reflection sends them).
//! - [`redact`]: removing secret header values before events leave the relay.
//! - [`h2frame`]: following an HTTP/2 byte stream's frame headers as it
//!   goes by (the relay's watch for a client's late resets).
//! - [`header`]: small header and metadata helpers (`-bin` names,
//!   `grpc-message` percent-coding).
//! - [`access`]: who may use the relay's UI port, as both sides see it:
//!   refusal reasons, the `/api/access` answer, the pairing-token parameter.
//! - [`engine`]: decoding captures for people: one schema from every
//!   descriptor set, messages as proto3 JSON (or schema-less), statuses,
//!   metadata, timing, "copy as grpcurl", and a lazily-decoding
//!   [`engine::Session`] for call lists. Used by the browser and by
//!   `loom decode`.
//!
//! What this crate is not: it performs no IO and spawns nothing (no files,
//! sockets, async runtime or clock). Everything here is plain data and pure
//! functions over byte slices, so it builds for `wasm32-unknown-unknown` and
//! behaves the same in the relay and in the browser. Reading files, talking to
//! sockets and deciding *when* to redact are the callers' business.

#![warn(missing_docs)]

pub mod access;
pub mod capture;
pub mod descriptor;
pub mod engine;
pub mod event;
pub mod h2frame;
pub mod header;
pub mod pb;
pub mod redact;
pub mod rpc;
pub mod web_protocol;
