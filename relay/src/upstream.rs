//! The pooled HTTP/2 client that reaches the upstream.
//!
//! One client for the relay's life: hyper keeps a single multiplexed HTTP/2
//! connection per upstream, opens a new one when it dies, and detects dead
//! peers with keep-alive pings. Nothing here is per call.

use std::time::Duration;

use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::tap::TapBody;

pub type UpstreamClient = Client<HttpConnector, TapBody<Incoming>>;

pub fn client() -> UpstreamClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(5)));
    connector.enforce_http(true);
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .http2_adaptive_window(true)
        .http2_keep_alive_interval(Some(Duration::from_secs(20)))
        .http2_keep_alive_timeout(Duration::from_secs(10))
        .http2_max_header_list_size(16 << 20)
        .build(connector)
}

/// An error and its causes on one line: "client error (Connect): tcp connect
/// error: Connection refused (os error 111)".
pub fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let piece = cause.to_string();
        if !text.contains(&piece) {
            text.push_str(": ");
            text.push_str(&piece);
        }
        source = cause.source();
    }
    text
}
