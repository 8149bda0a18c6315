//! Which upstream serves a call: the seam where routing by service or
//! authority, and proxy mode, plug in. Today one upstream serves them all.

use std::sync::Arc;

use crate::config::Upstream;

/// Picks a call's target from its request head.
pub trait Route: Send + Sync + 'static {
    /// The target for a call (from its `:path`/`:authority` and metadata).
    fn target(&self, uri: &http::Uri, headers: &http::HeaderMap) -> Arc<Target>;
}

/// A target and the name the relay gives it in captures and errors.
#[derive(Debug, Clone)]
pub struct Target {
    pub upstream: Upstream,
    /// `http://host:port`, shared by every call to it.
    pub name: Arc<str>,
}

impl Target {
    pub fn new(upstream: Upstream) -> Self {
        let name = upstream.to_string().into();
        Target { upstream, name }
    }
}

/// Every call goes to one upstream.
#[derive(Debug, Clone)]
pub struct OneUpstream(pub Arc<Target>);

impl OneUpstream {
    pub fn new(upstream: Upstream) -> Self {
        OneUpstream(Arc::new(Target::new(upstream)))
    }
}

impl Route for OneUpstream {
    fn target(&self, _uri: &http::Uri, _headers: &http::HeaderMap) -> Arc<Target> {
        self.0.clone()
    }
}
