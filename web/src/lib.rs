//! The Loom inspector: a Leptos app, compiled to WASM by Trunk, that shows
//! gRPC calls captured by the Loom relay — live over its WebSocket, or from a
//! capture file with no relay at all.
//!
//! # Layout
//! - [`state`]: the app's shared state: the decoding [`Session`] from
//!   `loom-shared` (the only store of calls, also what saving writes),
//!   selection, filters.
//! - [`connection`]: the live WebSocket feed, with reconnects; [`probe`]:
//!   why it failed (permission, origin, a fetch of the relay's verdict),
//!   which [`diagnosis`] turns into a reason and a sentence.
//! - [`relay_url`]: the relay's address, the pairing token, address spaces.
//! - [`files`]: opening, fetching and saving capture files; adding schemas.
//! - [`filter`], [`viewport`], [`stats`], [`format`], [`rows`], [`endings`],
//!   [`tls`], [`schemas`], [`upstreams`], [`protocols`], [`protos`],
//!   [`diagnosis`], [`relay_url`], [`search`]: view-model logic, native and
//!   tested natively (`search::run`, which drives live search with timers,
//!   is wasm only).
//! - [`preview`]: fetching the whole of a message the live feed sent as a
//!   preview.
//! - [`app`], [`filter_bar`], [`list`], [`detail`], [`replay`] (a call's
//!   replay command), [`json_view`], [`summary`], [`welcome`] (a hosted
//!   copy with no relay yet): components.
//! - [`dom`]: the few browser calls the components need.
//!
//! # What it is not
//! The app never decodes anything itself: `loom_shared::engine` does, the
//! same code as `loom decode`. Captured data (payloads, metadata, method
//! names) is only ever rendered as text nodes, never as HTML.
//!
//! [`Session`]: loom_shared::engine::Session

pub mod diagnosis;
pub mod endings;
pub mod filter;
pub mod format;
pub mod protocols;
pub mod protos;
pub mod relay_url;
pub mod rows;
pub mod schemas;
pub mod search;
pub mod stats;
pub mod tls;
pub mod upstreams;
pub mod viewport;

#[cfg(target_arch = "wasm32")]
pub mod app;
#[cfg(target_arch = "wasm32")]
pub mod connection;
#[cfg(target_arch = "wasm32")]
pub mod detail;
#[cfg(target_arch = "wasm32")]
pub mod dom;
#[cfg(target_arch = "wasm32")]
pub mod files;
#[cfg(target_arch = "wasm32")]
pub mod filter_bar;
#[cfg(target_arch = "wasm32")]
pub mod json_view;
#[cfg(target_arch = "wasm32")]
pub mod list;
#[cfg(target_arch = "wasm32")]
pub mod preview;
#[cfg(target_arch = "wasm32")]
pub mod probe;
#[cfg(target_arch = "wasm32")]
pub mod replay;
#[cfg(target_arch = "wasm32")]
pub mod state;
#[cfg(target_arch = "wasm32")]
pub mod summary;
#[cfg(target_arch = "wasm32")]
pub mod welcome;

/// Mount the app on `<body>`, with panics shown in the console with their
/// message (not just "unreachable").
#[cfg(target_arch = "wasm32")]
pub fn mount() {
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("loom inspector panicked: {info}").into());
    }));
    leptos::mount::mount_to_body(app::App);
}

/// The app only runs in a browser; natively, this crate is its view-model
/// logic and tests.
#[cfg(not(target_arch = "wasm32"))]
pub fn mount() {}
