//! The Loom inspector: a Leptos app, compiled to WASM by Trunk, that shows
//! gRPC calls captured by the Loom relay — live over its WebSocket, or from a
//! capture file with no relay at all.
//!
//! # Layout
//! - [`state`]: the app's shared state: the decoding [`Session`] from
//!   `loom-shared` (the only store of calls, also what saving writes),
//!   selection, filters.
//! - [`connection`]: the live WebSocket feed, with reconnects.
//! - [`files`]: opening, fetching and saving capture files; adding schemas.
//! - [`filter`], [`viewport`], [`stats`], [`format`], [`rows`], [`schemas`],
//!   [`protos`], [`search`]: view-model logic, native and tested natively
//!   (`search::run`, which drives live search with timers, is wasm only).
//! - [`app`], [`list`], [`detail`], [`json_view`], [`summary`]: components.
//! - [`dom`]: the few browser calls the components need.
//!
//! # What it is not
//! The app never decodes anything itself: `loom_shared::engine` does, the
//! same code as `loom decode`. Captured data (payloads, metadata, method
//! names) is only ever rendered as text nodes, never as HTML.
//!
//! [`Session`]: loom_shared::engine::Session

pub mod filter;
pub mod format;
pub mod protos;
pub mod rows;
pub mod schemas;
pub mod search;
pub mod stats;
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
pub mod json_view;
#[cfg(target_arch = "wasm32")]
pub mod list;
#[cfg(target_arch = "wasm32")]
pub mod state;
#[cfg(target_arch = "wasm32")]
pub mod summary;

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
