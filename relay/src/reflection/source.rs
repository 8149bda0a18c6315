//! One upstream as reflection sees it: the relay's own channel to it, the
//! outcome of each service's fetch, and the reflection version that worked
//! last there.
//!
//! The channel is the relay's own: its reflection calls never pass through
//! the forward path, so they never appear in the capture. It reaches the
//! upstream the way calls do (TLS, `--resolve`, Unix sockets included):
//! tonic is given a cleartext URI, so that it never tries TLS of its own,
//! and the upstream's as the requests' origin.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moka::future::Cache;
use tonic::transport::Channel;

use super::session::Version;
use super::state::{ByOutcome, SchemaState};
use crate::config::Upstream;
use crate::forward::upstream::{Connect, ConnectService};

/// Services whose outcome one upstream's cache keeps.
const MAX_SERVICES: u64 = 10_000;

/// One upstream's reflection state.
pub struct Source {
    /// `http://host:port`, `unix:/path`: what captures and events name.
    pub name: Arc<str>,
    pub(super) channel: Channel,
    pub(super) cache: Cache<String, SchemaState>,
    /// The version that worked last, and since when.
    pub(super) preferred: Mutex<(Version, Instant)>,
}

impl Source {
    /// Lazily connected: nothing is dialed until a fetch.
    pub(super) fn new(upstream: &Upstream, connect: Arc<dyn Connect>) -> Self {
        let channel = tonic::transport::Endpoint::from(upstream.cleartext_uri())
            .origin(upstream.uri().clone())
            .connect_timeout(Duration::from_secs(5))
            .connect_with_connector_lazy(ConnectService {
                connect,
                target: upstream.clone(),
            });
        Source {
            name: upstream.to_string().into(),
            channel,
            cache: Cache::builder()
                .max_capacity(MAX_SERVICES)
                .expire_after(ByOutcome)
                .build(),
            preferred: Mutex::new((Version::V1, Instant::now())),
        }
    }
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source").field("name", &self.name).finish()
    }
}
