//! The forward path: client connections in, calls relayed to the upstream,
//! each one captured on the side.
//!
//! # Layout, in the order bytes move
//! - [`listen`]: accepts connected byte streams (the [`listen::Listener`]
//!   seam: TCP now; TLS and tunnels next) and runs one task per connection
//!   until shutdown, each on one of the [`workers`]: a single-threaded
//!   runtime per core, so a connection never changes threads.
//! - [`connection`]: that task. It tells HTTP/2 from HTTP/1.1 by the first
//!   bytes ([`protocol`]), and for HTTP/2 owns the client's connection,
//!   every call on it, and the upstream connections in the client's
//!   [`upstream::Pool`], all driven in one poll: a call is a state machine
//!   ([`call`]), not a task, and crosses no thread on its way.
//! - [`call`]: one call: the refusals the relay makes itself
//!   ([`header_limit`], [`status`]), the upstream stream, both directions
//!   moved by a [`pump::Pump`] through the capture tap, and how it ended,
//!   as each side saw it ([`ending`]: what an HTTP/2 error says of that;
//!   [`late_reset`]: a client's reset that crosses the trailers).
//! - [`tunnel`]: proxy mode: a client's `CONNECT host:port` answered, and
//!   the tunnel served as a connection whose calls all go to that target.
//! - [`unix`]: the listen port on a Unix domain socket, whose clients'
//!   socket-path authorities [`authority`] makes ones `h2` accepts.
//! - [`upstream`]: the [`upstream::Connect`] seam, dialing (TCP with
//!   `--resolve`, Unix sockets) and the per-target pool; [`route`]: which
//!   target serves a call (`--upstream`, `--route`, `--route-path`).
//!
//! # What it is not
//! Nothing here decodes a payload or waits for capture: a call costs its
//! tap's bookkeeping and one non-blocking hand-off per event
//! (`crate::capture`).

pub mod authority;
pub mod call;
pub mod connection;
pub mod ending;
pub mod header_limit;
pub mod http1;
pub mod keepalive;
pub mod late_reset;
pub mod listen;
pub mod protocol;
pub mod pump;
pub mod route;
pub mod status;
pub mod tunnel;
pub mod unix;
pub mod upstream;
pub mod web;
pub mod workers;

use std::sync::Arc;
use std::time::Duration;

use crate::capture::call::Stopping;
use crate::capture::framing::PartialBudget;
use crate::capture::hub::Hub;
use crate::reflection::Reflector;

/// The forward path's seams, each with the one implementation the relay
/// has today: what a test (or the next feature) may replace.
#[derive(Clone, Default)]
pub struct Seams {
    /// How targets are reached (`None`: [`crate::tls::client::TlsConnect`]
    /// with the configured upstream TLS, plain TCP for `http://` targets).
    pub connect: Option<Arc<dyn upstream::Connect>>,
    /// Which target serves each call (`None`: [`route::OneUpstream`], the
    /// configured upstream).
    pub route: Option<Arc<dyn route::Route>>,
    /// The way in for HTTP/1.1 (`None`: [`protocol::Http1Refusal`]).
    pub http1: Option<Arc<dyn protocol::Http1>>,
}

/// What every connection and call of a relay shares. Nothing in it changes
/// per call, and nothing in it is locked.
pub struct Forwarder {
    pub hub: Hub,
    pub reflector: Arc<Reflector>,
    /// Which target serves each call.
    pub route: Arc<dyn route::Route>,
    /// How targets are reached.
    pub connect: Arc<dyn upstream::Connect>,
    /// The way in for HTTP/1.1 connections.
    pub http1: Arc<dyn protocol::Http1>,
    /// TLS on the listen port (`None`: cleartext only).
    pub tls: Option<Arc<crate::tls::server::ListenTlsServer>>,
    /// The most of a single message the capture keeps.
    pub max_message_bytes: usize,
    /// What incomplete messages may hold in all.
    pub partial: PartialBudget,
    /// Where proxy clients may open tunnels to, and where names go.
    pub proxy: tunnel::Proxy,
    /// A connection that sends no request within this is closed.
    pub first_request_timeout: Duration,
    /// Set when the relay starts shutting down.
    pub stopping: Stopping,
}
