//! What clients can make reflection do, bounded: which fetches may start
//! ([`Pending`]: one per upstream and service, at most
//! [`super::MAX_IN_FLIGHT`] at once, at most [`super::FETCHES_PER_SECOND`]),
//! and failures a moment apart gathered to be announced as one event
//! ([`Folding`]).

use std::collections::{BTreeMap, HashMap};
use std::time::{Instant, SystemTime};

use super::{FETCHES_PER_SECOND, MAX_IN_FLIGHT};

/// The burst of fetches allowed before the rate applies.
pub(super) const FETCH_BURST: f64 = 20.0;

/// Fetches under way, and the allowance for starting more.
pub(super) struct Pending {
    /// By (upstream, service): since when.
    in_flight: HashMap<(String, String), SystemTime>,
    tokens: f64,
    refilled: Instant,
}

impl Pending {
    pub(super) fn new() -> Self {
        Pending {
            in_flight: HashMap::new(),
            tokens: FETCH_BURST,
            refilled: Instant::now(),
        }
    }

    /// Whether a fetch of `service` from `upstream` may start now (none is
    /// under way for it, fewer than [`MAX_IN_FLIGHT`] are, and the rate
    /// allows); if so, it is counted as under way.
    pub(super) fn admit(&mut self, upstream: &str, service: &str) -> bool {
        let key = (upstream.to_owned(), service.to_owned());
        if self.in_flight.contains_key(&key) || self.in_flight.len() >= MAX_IN_FLIGHT {
            return false;
        }
        let now = Instant::now();
        let earned = now.duration_since(self.refilled).as_secs_f64() * FETCHES_PER_SECOND;
        self.tokens = (self.tokens + earned).min(FETCH_BURST);
        self.refilled = now;
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        self.in_flight.insert(key, SystemTime::now());
        true
    }

    pub(super) fn done(&mut self, upstream: &str, service: &str) {
        self.in_flight
            .remove(&(upstream.to_owned(), service.to_owned()));
    }

    /// Fetches under way, all upstreams.
    pub(super) fn len(&self) -> usize {
        self.in_flight.len()
    }

    /// `upstream`'s fetches under way: each service, since when.
    pub(super) fn in_flight(&self, upstream: &str) -> Vec<(String, SystemTime)> {
        self.in_flight
            .iter()
            .filter(|((u, _), _)| u == upstream)
            .map(|((_, service), since)| (service.clone(), *since))
            .collect()
    }
}

/// Failures not yet announced, by upstream and reason.
#[derive(Default)]
pub(super) struct Folding {
    pub(super) groups: BTreeMap<(String, String), FoldedFailure>,
    pub(super) scheduled: bool,
}

#[derive(Default)]
pub(super) struct FoldedFailure {
    pub(super) services: Vec<String>,
    pub(super) retry_nanos: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    const UP: &str = "http://a:1";

    #[test]
    fn fetches_are_admitted_one_per_upstream_and_service_and_within_bounds() {
        let mut p = Pending::new();
        assert!(p.admit(UP, "a.S"));
        assert!(!p.admit(UP, "a.S"), "one fetch per service");
        assert!(
            p.admit("http://b:1", "a.S"),
            "another upstream's is its own"
        );
        for i in 0..MAX_IN_FLIGHT - 2 {
            assert!(p.admit(UP, &format!("b.S{i}")));
        }
        assert!(!p.admit(UP, "c.S"), "at most MAX_IN_FLIGHT at once");
        assert_eq!(p.in_flight(UP).len(), MAX_IN_FLIGHT - 1);
        p.done(UP, "a.S");
        assert!(p.admit(UP, "c.S"));
        // The burst runs out: 20 starts, then none until time passes.
        let mut p = Pending::new();
        let mut started = 0;
        for i in 0..100 {
            if p.admit(UP, &format!("d.S{i}")) {
                started += 1;
                p.done(UP, &format!("d.S{i}"));
            }
        }
        assert_eq!(started, FETCH_BURST as usize);
    }
}
