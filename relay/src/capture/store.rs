//! The in-memory capture store: what a late WebSocket client or a capture
//! download gets.
//!
//! Bounded by a byte budget. When over budget it evicts the oldest whole
//! calls (events arriving later for an evicted call are dropped too) and
//! remembers how much it evicted, which the snapshot reports as a gap.
//! Descriptor events are needed to decode everything else, so they have a
//! budget of their own (`max_schema_bytes`) and never crowd out calls: past
//! it, the oldest failure notices go first, then the oldest schemas, and the
//! snapshot says how many.
//!
//! The hub inserts every event as it is emitted, so the store never falls
//! behind; a snapshot copies only pointers, and is put in order outside the
//! hub's lock ([`Snapshot::ordered`]).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use loom_shared::pb;

use crate::capture::hub::Stamped;

#[derive(Default)]
struct CallEntry {
    events: Vec<Arc<Stamped>>,
    bytes: u64,
}

pub struct Store {
    max_bytes: u64,
    bytes: u64,
    /// Descriptor events, oldest first, and their own budget.
    descriptors: VecDeque<Arc<Stamped>>,
    schema_bytes: u64,
    max_schema_bytes: u64,
    evicted_schemas: u64,
    /// Keyed by call id; ids grow with start order, so the first is the oldest.
    calls: BTreeMap<u64, CallEntry>,
    /// The highest call id evicted so far: later events of such calls are dropped.
    evicted_below: u64,
    evicted_calls: u64,
    evicted_events: u64,
    last_seq: u64,
}

/// A consistent copy of the store, in the order a consumer should replay
/// it: descriptors first, then an eviction gap if anything was evicted, then
/// every call event in the order it happened.
pub struct Snapshot {
    pub events: Vec<Arc<Stamped>>,
    /// Every event with `seq <= last_seq` is either in `events` or accounted
    /// for by the eviction gap.
    pub last_seq: u64,
    /// Where the call events start in `events`, and whether they are sorted yet.
    calls_from: usize,
    sorted: bool,
}

impl Snapshot {
    /// Sorts the call events by sequence number (done outside the hub's lock).
    pub fn ordered(mut self) -> Self {
        if !self.sorted {
            self.events[self.calls_from..].sort_unstable_by_key(|s| s.seq);
            self.sorted = true;
        }
        self
    }
}

/// Why [`Store::message`] found nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MessageLookup {
    #[error("the relay no longer holds this call: the memory cap evicted it")]
    Evicted,
    #[error("the relay has no call with this id")]
    NoSuchCall,
    #[error("the call has no message at this index")]
    NoSuchMessage,
}

/// Counters for health reporting.
#[derive(Debug, Clone, Copy)]
pub struct StoreStats {
    pub calls: u64,
    pub bytes: u64,
    pub max_bytes: u64,
    pub evicted_calls: u64,
    pub evicted_events: u64,
    /// Descriptor events held, their bytes, and how many were evicted.
    pub schemas: u64,
    pub schema_bytes: u64,
    pub max_schema_bytes: u64,
    pub evicted_schemas: u64,
}

impl Store {
    pub fn new(max_bytes: u64, max_schema_bytes: u64) -> Self {
        Store {
            max_bytes,
            bytes: 0,
            descriptors: VecDeque::new(),
            schema_bytes: 0,
            max_schema_bytes,
            evicted_schemas: 0,
            calls: BTreeMap::new(),
            evicted_below: 0,
            evicted_calls: 0,
            evicted_events: 0,
            last_seq: 0,
        }
    }

    pub fn insert(&mut self, stamped: Arc<Stamped>) {
        self.last_seq = self.last_seq.max(stamped.seq);
        let call_id = stamped.event.call_id;
        match &stamped.event.kind {
            Some(pb::event::Kind::Descriptors(_)) => {
                self.schema_bytes += stamped.size;
                self.descriptors.push_back(stamped);
                self.evict_schemas();
                return;
            }
            // The store never loses events: only its consumers' gaps exist.
            Some(pb::event::Kind::Gap(_)) => return,
            _ => {}
        }
        if call_id <= self.evicted_below && !self.calls.contains_key(&call_id) {
            self.evicted_events += 1;
            return;
        }
        let size = stamped.size;
        let entry = self.calls.entry(call_id).or_default();
        entry.events.push(stamped);
        entry.bytes += size;
        self.bytes += size;
        self.evict();
    }

    /// Past the schema budget: failure notices first, then schemas, oldest
    /// first (the newest is always kept).
    fn evict_schemas(&mut self) {
        while self.schema_bytes > self.max_schema_bytes && self.descriptors.len() > 1 {
            let failure = self.descriptors.iter().position(|s| {
                matches!(&s.event.kind, Some(pb::event::Kind::Descriptors(d)) if d.is_failure())
            });
            let at = failure
                .filter(|&i| i + 1 < self.descriptors.len())
                .unwrap_or(0);
            if let Some(gone) = self.descriptors.remove(at) {
                self.schema_bytes -= gone.size;
                self.evicted_schemas += 1;
            }
        }
    }

    fn evict(&mut self) {
        while self.bytes > self.max_bytes {
            let Some((id, entry)) = self.calls.pop_first() else {
                break;
            };
            self.bytes -= entry.bytes;
            self.evicted_below = self.evicted_below.max(id);
            self.evicted_calls += 1;
            self.evicted_events += entry.events.len() as u64;
        }
    }

    /// Its contents, not yet in order: call [`Snapshot::ordered`].
    /// Message `index` (its position among the call's messages, both
    /// directions) of call `call_id`.
    pub fn message(&self, call_id: u64, index: usize) -> Result<pb::Message, MessageLookup> {
        let Some(entry) = self.calls.get(&call_id) else {
            return Err(if call_id <= self.evicted_below {
                MessageLookup::Evicted
            } else {
                MessageLookup::NoSuchCall
            });
        };
        entry
            .events
            .iter()
            .filter_map(|s| match &s.event.kind {
                Some(pb::event::Kind::Message(m)) => Some(m),
                _ => None,
            })
            .nth(index)
            .cloned()
            .ok_or(MessageLookup::NoSuchMessage)
    }

    pub fn snapshot(&self) -> Snapshot {
        let mut events: Vec<Arc<Stamped>> =
            Vec::with_capacity(self.descriptors.len() + 1 + self.events());
        events.extend(self.descriptors.iter().cloned());
        if self.evicted_schemas > 0 {
            events.push(Arc::new(Stamped::new(
                0,
                pb::Event::gap(
                    pb::GapKind::Evicted,
                    self.evicted_schemas,
                    format!(
                        "the schema budget ({} bytes) evicted the {} oldest schema events",
                        self.max_schema_bytes, self.evicted_schemas
                    ),
                    Vec::new(),
                ),
            )));
        }
        if self.evicted_events > 0 {
            events.push(Arc::new(Stamped::new(
                0,
                pb::Event::gap(
                    pb::GapKind::Evicted,
                    self.evicted_events,
                    format!(
                        "the memory cap ({} bytes) evicted the {} oldest calls",
                        self.max_bytes, self.evicted_calls
                    ),
                    Vec::new(),
                ),
            )));
        }
        let calls_from = events.len();
        events.extend(self.calls.values().flat_map(|c| c.events.iter().cloned()));
        Snapshot {
            events,
            last_seq: self.last_seq,
            calls_from,
            sorted: false,
        }
    }

    fn events(&self) -> usize {
        self.calls.values().map(|c| c.events.len()).sum()
    }

    pub fn stats(&self) -> StoreStats {
        StoreStats {
            calls: self.calls.len() as u64,
            bytes: self.bytes,
            max_bytes: self.max_bytes,
            evicted_calls: self.evicted_calls,
            evicted_events: self.evicted_events,
            schemas: self.descriptors.len() as u64,
            schema_bytes: self.schema_bytes,
            max_schema_bytes: self.max_schema_bytes,
            evicted_schemas: self.evicted_schemas,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use pb::event::Kind;

    fn stamped(seq: u64, call_id: u64, kind: Kind) -> Arc<Stamped> {
        Arc::new(Stamped::new(
            seq,
            pb::Event {
                call_id,
                kind: Some(kind),
            },
        ))
    }

    fn msg(len: usize) -> Kind {
        Kind::Message(pb::Message {
            direction: pb::Direction::Request as i32,
            payload: Bytes::from(vec![7u8; len]),
            declared_length: len as u32,
            ..Default::default()
        })
    }

    #[test]
    fn evicts_oldest_whole_calls_and_reports_a_gap() {
        let mut store = Store::new(7_000, u64::MAX);
        store.insert(stamped(1, 0, Kind::Descriptors(pb::Descriptors::default())));
        for call in 1..=5u64 {
            store.insert(stamped(call * 10, call, msg(3000)));
        }
        let snap = store.snapshot().ordered();
        // Descriptors survive; the oldest calls went.
        assert!(matches!(
            snap.events[0].event.kind,
            Some(Kind::Descriptors(_))
        ));
        let Some(Kind::Gap(gap)) = &snap.events[1].event.kind else {
            panic!("expected an eviction gap");
        };
        assert_eq!(gap.kind, pb::GapKind::Evicted as i32);
        assert_eq!(gap.dropped_events, 3);
        let ids: Vec<u64> = snap.events[2..].iter().map(|s| s.event.call_id).collect();
        assert_eq!(ids, vec![4, 5]);
        // A late event for an evicted call is dropped, not resurrected.
        store.insert(stamped(60, 2, msg(1)));
        assert_eq!(store.stats().calls, 2);
        assert_eq!(snap.last_seq, 50);
    }

    #[test]
    fn schema_events_have_their_own_budget_and_failures_go_first() {
        let failure = |seq: u64| {
            stamped(
                seq,
                0,
                Kind::Descriptors(pb::Descriptors::failure(
                    vec![format!("made.up.Service{seq}")],
                    pb::SchemaOrigin::Reflection,
                    "http://u:1",
                    "the server does not know <service>",
                    0,
                )),
            )
        };
        let schema = stamped(
            1,
            0,
            Kind::Descriptors(pb::Descriptors::schema(
                vec![1u8; 500],
                vec!["real.Svc".into()],
                pb::SchemaOrigin::ReflectionV1,
                "",
                "http://u:1",
                vec![],
            )),
        );
        let budget = schema.size + 3 * failure(2).size;
        let mut store = Store::new(10_000, budget);
        store.insert(schema);
        for seq in 2..=400 {
            store.insert(failure(seq));
        }
        store.insert(stamped(401, 1, msg(100)));
        let stats = store.stats();
        assert!(stats.schema_bytes <= budget, "{stats:?}");
        assert_eq!(
            stats.calls, 1,
            "the call is kept: schemas do not count against it"
        );
        let snap = store.snapshot().ordered();
        let kinds: Vec<&str> = snap.events.iter().map(|s| s.event.kind_name()).collect();
        let n = kinds.len();
        assert_eq!(kinds[n - 2..], ["gap", "message"], "{kinds:?}");
        assert!(
            kinds[..n - 2].iter().all(|k| *k == "descriptors") && n - 2 >= 2,
            "{kinds:?}"
        );
        let Some(Kind::Descriptors(kept)) = &snap.events[0].event.kind else {
            panic!()
        };
        assert_eq!(
            kept.services,
            ["real.Svc"],
            "the schema outlives the failures"
        );
    }

    #[test]
    fn snapshot_interleaves_calls_in_sequence_order() {
        let mut store = Store::new(u64::MAX, u64::MAX);
        store.insert(stamped(1, 1, msg(1)));
        store.insert(stamped(2, 2, msg(1)));
        store.insert(stamped(3, 1, msg(1)));
        store.insert(stamped(8, 2, msg(1)));
        let seqs: Vec<u64> = store
            .snapshot()
            .ordered()
            .events
            .iter()
            .map(|s| s.seq)
            .collect();
        assert_eq!(seqs, vec![1, 2, 3, 8]);
    }
}
