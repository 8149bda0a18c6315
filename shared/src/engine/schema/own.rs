//! An upstream's own pool: for an upstream whose descriptor sets do not fit
//! the merged pool as they came — another upstream serves a different
//! version of one of its files, or one of its files clashes with another
//! upstream's — a pool built from its own sets and the local files (in
//! arrival order, the latest copy of a file winning), so that its calls
//! decode with the schema it serves.
//!
//! The merged pool stays what every other call uses: calls of upstreams
//! that agree with it, calls whose upstream is unknown, and calls of a
//! service an upstream's own pool does not describe (its sets may not name
//! every service it is called for). A capture of one upstream never has an
//! own pool: it would be the merged pool again.

use std::collections::{BTreeSet, HashMap};

use prost_reflect::DescriptorPool;

use super::{Schema, SchemaProblem, SchemaSource, ServiceOrigin, build};

/// One upstream's own pool.
#[derive(Debug, Clone)]
pub(super) struct OwnPool {
    pool: DescriptorPool,
    services: HashMap<String, ServiceOrigin>,
    /// Its problems with the upstream's own files (local files' problems
    /// are the merged pool's).
    problems: Vec<SchemaProblem>,
}

/// The pool a call of one upstream and one service resolves in, and where
/// its services came from.
#[derive(Debug, Clone, Copy)]
pub(super) struct View<'a> {
    pub pool: &'a DescriptorPool,
    pub services: &'a HashMap<String, ServiceOrigin>,
}

impl Schema {
    /// Rebuilds the own pools of `upstreams` (dropping those that would be
    /// the merged pool again), and what [`Schema::problems`] says. Returns
    /// whether any own pool was built or dropped.
    pub(super) fn rebuild_own(&mut self, upstreams: &BTreeSet<String>) -> bool {
        let mut changed = false;
        for upstream in upstreams {
            let mine =
                |set: &crate::pb::Descriptors| set.upstream.is_empty() || set.upstream == *upstream;
            // Every set is its own or local: its pool would be the merged one.
            if self.sets.iter().all(mine) {
                changed |= self.own.remove(upstream).is_some();
                continue;
            }
            let sets: Vec<crate::pb::Descriptors> =
                self.sets.iter().filter(|s| mine(s)).cloned().collect();
            let built = build::merge(self.base.clone(), &sets);
            let own = OwnPool {
                pool: built.pool,
                services: built.services,
                problems: built
                    .problems
                    .into_iter()
                    .filter(|p| p.source.upstream == *upstream)
                    .collect(),
            };
            self.own.insert(upstream.clone(), own);
            changed = true;
        }
        self.settle_problems();
        changed
    }

    /// [`Schema::problems`]: the merged pool's, but for the files of
    /// upstreams with their own pool, whose problems are that pool's.
    fn settle_problems(&mut self) {
        let mut problems: Vec<SchemaProblem> = self
            .merged_problems
            .iter()
            .filter(|p| !self.own.contains_key(&p.source.upstream))
            .cloned()
            .collect();
        let mut upstreams: Vec<&String> = self.own.keys().collect();
        upstreams.sort();
        for upstream in upstreams {
            problems.extend(self.own[upstream].problems.iter().cloned());
        }
        self.problems = problems;
    }

    /// Where a call to `upstream` of `service` resolves: the upstream's own
    /// pool when it has one that describes the service, else the merged pool.
    pub(super) fn view(&self, upstream: &str, service: &str) -> View<'_> {
        match self.own.get(upstream) {
            Some(own)
                if own.services.contains_key(service)
                    || own.pool.get_service_by_name(service).is_some() =>
            {
                View {
                    pool: &own.pool,
                    services: &own.services,
                }
            }
            _ => View {
                pool: &self.pool,
                services: &self.services,
            },
        }
    }

    /// The pool the calls to `upstream` decode their metadata and status
    /// details with: its own when it has one, else the merged pool.
    pub fn pool_for(&self, upstream: &str) -> &DescriptorPool {
        self.own.get(upstream).map_or(&self.pool, |own| &own.pool)
    }

    /// The upstreams with a pool of their own, sorted: those whose files
    /// differ from another upstream's.
    pub fn upstreams_with_own_pool(&self) -> impl Iterator<Item = &str> {
        let mut upstreams: Vec<&str> = self.own.keys().map(String::as_str).collect();
        upstreams.sort_unstable();
        upstreams.into_iter()
    }

    /// Where `service`'s schema came from (or why it is unusable) in the
    /// pool a call to `upstream` resolves in.
    pub(super) fn origin_for(&self, upstream: &str, service: &str) -> Option<&ServiceOrigin> {
        self.view(upstream, service).services.get(service)
    }

    /// The source of `origin` (`service`'s, for a call to `upstream`): the
    /// set its pool took it from, or, when that is another upstream's copy,
    /// the latest set of `upstream`'s own that names the service. (Its files
    /// went into the merged pool as they came, so the copies are the same:
    /// else the upstream would have a pool of its own.)
    pub(super) fn source_for(
        &self,
        upstream: &str,
        service: &str,
        origin: &ServiceOrigin,
    ) -> SchemaSource {
        let other = &origin.source.upstream;
        if upstream.is_empty() || other.is_empty() || other == upstream {
            return origin.source.clone();
        }
        self.sets
            .iter()
            .rev()
            .find(|set| set.upstream == upstream && set.services.iter().any(|s| s == service))
            .map_or_else(|| origin.source.clone(), SchemaSource::of)
    }
}

#[cfg(test)]
mod tests;
