//! Test helpers for Loom's integration and browser tests.
//!
//! Everything runs for real on `127.0.0.1:0`: a tonic [`backend`] whose
//! behaviour each request controls, the relay itself started in-process
//! ([`relay::TestRelay`]), a raw HTTP/2 client that sees exact bytes
//! ([`raw`]), and a WebSocket consumer of the live event stream ([`ws`]).
//! Readiness is awaited, never slept for.

pub mod backend;
pub mod raw;
pub mod reflection;
pub mod relay;
pub mod ws;

/// The probe test service.
pub mod probe {
    tonic::include_proto!("loom.test.v1");
}

pub use relay::TestRelay;

/// Log to the test output when `RUST_LOG` is set; harmless to call often.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}
