//! The capture pipeline: what the forward path sees becomes events, and
//! events reach their consumers.
//!
//! # Layout, in the order data moves
//! - [`tap`]: looks at each forwarded DATA frame; [`framing`] cuts the bytes
//!   into gRPC messages, within a budget for incomplete ones ([`whole`]:
//!   a body that is one message, Connect's unary); [`spoken`]: the
//!   protocol of the gRPC family a call speaks, and what ended its body.
//! - [`call`]: one call's events, from its start to how it ended;
//!   [`headers`]: metadata as events record it.
//! - [`hub`]: takes each event without ever blocking the forward path, and
//!   hands it to the [`store`] (bounded, in memory), the live ring
//!   (WebSocket clients) and the record queue, which the [`recorder`]
//!   thread drains to the `--record` file.
//!
//! # What it is not
//! Nothing here forwards bytes or decodes payloads: the forward path
//! (`crate::forward`) moves bytes; browsers and `loom decode` decode.

pub mod call;
pub mod framing;
pub mod headers;
pub mod hub;
pub mod recorder;
pub mod spoken;
pub mod store;
pub mod tap;
pub mod whole;
