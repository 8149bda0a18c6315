//! The gRPC family's protocols beside gRPC itself, gRPC-Web (binary and
//! text) and Connect (unary POST, unary GET, streaming), as pure functions
//! and incremental parsers over bytes: what the relay's capture tap needs
//! to follow a call it forwards untouched, and what the browser needs to
//! show it. Specs: gRPC's `PROTOCOL-WEB.md` and
//! `http-grpc-status-mapping.md`, and <https://connectrpc.com/docs/protocol>;
//! where a spec is silent, connect-go's behaviour.
//!
//! Layout, from a request's head to a call's status:
//!
//! - [`mod@classify`]: which protocol and codec a request speaks (method,
//!   content type, `connect-protocol-version`, query), as the capture's
//!   [`crate::pb::RpcProtocol`] and [`crate::pb::Codec`].
//! - [`envelope`]: the 5-byte-prefixed envelope every streamed body uses,
//!   split over any chunk cuts; the protocols below give its flags meaning.
//! - [`grpc_web`]: gRPC-Web bodies as messages and the trailer frame
//!   (0x80); [`text`]: gRPC-Web text's base64, padding mid-body and all.
//! - [`connect`]: Connect streaming bodies (0x02: end of stream), its JSON
//!   errors and end-of-stream message, a unary GET's query, its headers.
//! - [`code`]: codes between gRPC's numbers, Connect's names and HTTP
//!   statuses; [`status`]: a call's status in gRPC's terms from whatever
//!   its protocol ended it with.
//!
//! The incremental parsers ([`envelope::Splitter`], [`grpc_web::Splitter`],
//! [`text::TextDecoder`], [`connect::Splitter`]) share their manners: bytes
//! in as they arrive, in chunks cut anywhere; results appended to a
//! caller's `Vec` (reusable from chunk to chunk); one allocation per
//! message payload, sized by what arrived, never by what a prefix
//! declares; an error is returned at the first byte that makes it one, and
//! again by every later call; `finish` says whether the body ended cleanly.
//! Arbitrary bytes never panic them (property tests and fuzz targets).
//!
//! What it is not: a client or a server (it never answers anything, though
//! it writes the few forms the relay answers with: a trailer frame, a
//! Connect error, an end-of-stream), nor a decompressor of messages
//! (payloads are handed on as sent, flag and all; only a compressed
//! trailer frame or end-of-stream is decompressed, since its fields are
//! what it is for). No IO, no clock: it builds for wasm32.

mod b64;
pub mod classify;
pub mod code;
pub mod connect;
pub mod envelope;
pub mod grpc_web;
pub mod status;
pub mod text;

pub use classify::{Classified, NotRpc, classify, compression_header, protocol_of_response};
pub use status::{Source, Status, StatusError};

#[cfg(all(test, not(target_arch = "wasm32")))]
mod proptests;
