//! Per-method summaries, one per upstream and method (the same method on
//! two upstreams is two rows): calls, error rate, latency percentiles and a
//! small histogram. Pure logic, tested natively.

use std::collections::HashMap;

use loom_shared::engine::CallSummary;

#[derive(Debug, Clone, PartialEq)]
pub struct MethodStats {
    /// The upstream the calls went to, as captured (empty: not said).
    pub upstream: String,
    pub method: String,
    pub calls: usize,
    pub ended: usize,
    pub errors: usize,
    /// Latencies of ended calls, in nanoseconds, sorted.
    pub latencies: Vec<u64>,
}

impl MethodStats {
    pub fn error_rate(&self) -> f64 {
        if self.ended == 0 {
            0.0
        } else {
            self.errors as f64 / self.ended as f64
        }
    }

    /// The `p`th percentile (0–100) by nearest rank.
    pub fn percentile(&self, p: f64) -> Option<u64> {
        percentile(&self.latencies, p)
    }
}

pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// One summary per upstream and method: by upstream, then busiest first.
/// Calls share their method's and upstream's names (the session keeps one
/// copy), so a million calls cost a lookup each, not an allocation.
pub fn by_method<'a>(calls: impl IntoIterator<Item = &'a CallSummary>) -> Vec<MethodStats> {
    let mut map: HashMap<(&'a str, &'a str), MethodStats> = HashMap::new();
    for call in calls {
        let name = call.method_name();
        let entry = map
            .entry((&call.upstream, name))
            .or_insert_with(|| MethodStats {
                upstream: call.upstream.to_string(),
                method: name.to_owned(),
                calls: 0,
                ended: 0,
                errors: 0,
                latencies: Vec::new(),
            });
        entry.calls += 1;
        if let Some(status) = &call.status {
            entry.ended += 1;
            if !status.is_ok() {
                entry.errors += 1;
            }
            if let Some(total) = call.timing.ended {
                entry.latencies.push(total);
            }
        }
    }
    let mut out: Vec<MethodStats> = map.into_values().collect();
    for s in &mut out {
        s.latencies.sort_unstable();
    }
    out.sort_by(|a, b| {
        a.upstream
            .cmp(&b.upstream)
            .then_with(|| b.calls.cmp(&a.calls))
            .then_with(|| a.method.cmp(&b.method))
    });
    out
}

/// Latency histogram on a log scale: `(upper bound in ns, count)` per bin,
/// from 10 µs up, doubling, until every latency fits.
pub fn histogram(sorted: &[u64]) -> Vec<(u64, usize)> {
    let Some(&max) = sorted.last() else {
        return Vec::new();
    };
    let mut bins = Vec::new();
    let mut bound: u64 = 10_000;
    let mut i = 0;
    loop {
        let start = i;
        while i < sorted.len() && sorted[i] <= bound {
            i += 1;
        }
        bins.push((bound, i - start));
        if bound >= max || bins.len() >= 40 {
            break;
        }
        bound = bound.saturating_mul(2);
    }
    // Drop empty bins before the first non-empty one.
    let first = bins.iter().position(|(_, n)| *n > 0).unwrap_or(0);
    bins.drain(..first);
    bins
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 90.0), Some(90));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn client_cancels_count_as_errors() {
        use loom_shared::engine::Session;
        use loom_shared::pb::{self, EndKind, EndSide};
        let start = || pb::CallStarted {
            path: "/shop.Inventory/Get".into(),
            ..Default::default()
        };
        let ok = pb::CallEnded {
            grpc_status: Some(0),
            ..Default::default()
        };
        let cancelled = ok.clone().with_endings(vec![pb::CallEnding::new(
            1,
            EndSide::Client,
            EndKind::Reset,
            8,
            "",
        )]);
        let s = Session::from_events([
            pb::Event::new(1, start()),
            pb::Event::new(1, ok),
            pb::Event::new(2, start()),
            pb::Event::new(2, cancelled),
        ]);
        let stats = by_method(s.calls());
        assert_eq!((stats[0].ended, stats[0].errors), (2, 1));
        assert_eq!(stats[0].error_rate(), 0.5);
    }

    #[test]
    fn the_same_method_on_two_upstreams_is_two_rows() {
        use loom_shared::engine::Session;
        use loom_shared::pb;
        let call = |id: u64, path: &str, upstream: &str, code: u32| {
            [
                pb::Event::new(
                    id,
                    pb::CallStarted {
                        path: path.into(),
                        upstream: upstream.into(),
                        ..Default::default()
                    },
                ),
                pb::Event::new(
                    id,
                    pb::CallEnded {
                        grpc_status: Some(code),
                        offset_nanos: id * 1000,
                        ..Default::default()
                    },
                ),
            ]
        };
        let (a, b) = ("http://a:1", "unix:/run/b.sock");
        let s = Session::from_events(
            [
                call(1, "/shop.Inventory/Get", b, 0),
                call(2, "/shop.Inventory/Get", a, 5),
                call(3, "/shop.Inventory/Get", a, 0),
                call(4, "/shop.Inventory/List", a, 0),
                call(5, "/shop.Inventory/List", a, 0),
                call(6, "/shop.Inventory/List", a, 0),
            ]
            .into_iter()
            .flatten(),
        );
        let stats = by_method(s.calls());
        let got: Vec<(&str, &str, usize, usize)> = stats
            .iter()
            .map(|m| (m.upstream.as_str(), m.method.as_str(), m.calls, m.errors))
            .collect();
        assert_eq!(
            got,
            [
                (a, "shop.Inventory/List", 3, 0),
                (a, "shop.Inventory/Get", 2, 1),
                (b, "shop.Inventory/Get", 1, 0),
            ]
        );
        assert_eq!(stats[1].latencies, [2000, 3000]);
    }

    #[test]
    fn histogram_covers_every_latency() {
        let v = vec![15_000, 15_000, 80_000, 2_000_000];
        let h = histogram(&v);
        assert_eq!(h.iter().map(|(_, n)| n).sum::<usize>(), 4);
        assert_eq!(h[0], (20_000, 2));
        assert!(h.last().unwrap().0 >= 2_000_000);
        assert!(histogram(&[]).is_empty());
        assert!(histogram(&[u64::MAX]).len() <= 40);
    }
}
