//! Loom's integration tests, as one test binary (one link of tonic, hyper
//! and axum instead of one per file). Each module is one area; shared
//! helpers live in the `loom-tests` library (`tests/src/`), never here.
//!
//! Run one area with `cargo test -p loom-tests --test it -- reflection::`.

mod browser;
mod browser_peers;
mod call_end;
mod call_end_interop;
mod call_end_load;
mod call_end_upstream;
mod capture_golden;
mod connect_peers;
mod connect_relay;
mod decode;
mod failures;
mod forwarding;
mod hardening;
mod hardening_memory;
mod hosted;
mod hosted_api;
mod interop_grpcio;
mod layout;
mod peers;
mod preview;
mod protocols_view;
mod proxy;
mod record;
mod reflection;
mod seams;
mod search;
mod tls_peers;
mod tls_relay;
mod ui_api;
mod unix;
mod upstreams_browser;
mod upstreams_decode;
mod web_protocols;
