//! The upstreams a session's calls went to: how many calls each has now,
//! and the services called on it, kept as calls start and are removed, so
//! that a view listing them (a filter's choices, schemas per upstream)
//! never walks the calls.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::engine::call::CallSummary;

/// One upstream's calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamCalls {
    /// As the calls' `CallStarted` names it: `http://host:port`,
    /// `https://host:port` or `unix:/path`.
    pub upstream: Arc<str>,
    /// Calls to it in the session now.
    pub calls: usize,
}

/// Calls and services per upstream.
#[derive(Debug, Clone, Default)]
pub(crate) struct Upstreams {
    by_name: BTreeMap<Arc<str>, Tally>,
}

#[derive(Debug, Clone, Default)]
struct Tally {
    calls: usize,
    /// The services called on it, also of calls since removed.
    services: BTreeSet<String>,
}

impl Upstreams {
    /// A call whose start arrived.
    pub(crate) fn add(&mut self, call: &CallSummary) {
        let tally = match self.by_name.get_mut(&call.upstream) {
            Some(tally) => tally,
            None => self.by_name.entry(call.upstream.clone()).or_default(),
        };
        tally.calls += 1;
        if let Some(method) = &call.method
            && !tally.services.contains(&method.service)
        {
            tally.services.insert(method.service.clone());
        }
    }

    /// A started call was removed.
    pub(crate) fn remove(&mut self, call: &CallSummary) {
        if let Some(tally) = self.by_name.get_mut(&call.upstream) {
            tally.calls = tally.calls.saturating_sub(1);
        }
    }

    /// Every upstream with calls now, by name (the empty name: calls whose
    /// start did not say).
    pub(crate) fn calls(&self) -> Vec<UpstreamCalls> {
        self.by_name
            .iter()
            .filter(|(_, tally)| tally.calls > 0)
            .map(|(upstream, tally)| UpstreamCalls {
                upstream: upstream.clone(),
                calls: tally.calls,
            })
            .collect()
    }

    /// The services called on `upstream`, sorted.
    pub(crate) fn services(&self, upstream: &str) -> impl Iterator<Item = &str> {
        self.by_name
            .get(upstream)
            .into_iter()
            .flat_map(|tally| tally.services.iter().map(String::as_str))
    }
}
