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

/// Flow-control window of a whole HTTP/2 connection (either side of the relay).
pub const CONNECTION_WINDOW: u32 = 16 << 20;
/// Flow-control window of one stream: a slow reader holds back only this much.
pub const STREAM_WINDOW: u32 = 2 << 20;

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
        // Fixed, generous windows rather than adaptive ones: h2 bounds how
        // many small DATA frames may sit unread by half the connection
        // window, and adaptive windows start at 64 KiB, which hundreds of
        // concurrent small responses exceed.
        .http2_initial_connection_window_size(CONNECTION_WINDOW)
        .http2_initial_stream_window_size(STREAM_WINDOW)
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
