//! The in-memory capture store: what a late WebSocket client or a capture
//! download gets.
//!
//! Bounded by a byte budget. When over budget it evicts the oldest whole
//! calls (events arriving later for an evicted call are dropped too) and
//! remembers how much it evicted, which the snapshot reports as a gap.
//! Descriptor events are small, few and needed to decode everything else,
//! so they are never evicted.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use loom_shared::pb::{self, event::Kind};
use tokio::sync::{broadcast, watch};

use crate::hub::{self, Stamped, Subscription};

/// Fixed per-event overhead added to the encoded size when accounting.
const EVENT_OVERHEAD: u64 = 96;

#[derive(Default)]
struct CallEntry {
    events: Vec<Arc<Stamped>>,
    bytes: u64,
}

pub struct Store {
    max_bytes: u64,
    bytes: u64,
    descriptors: Vec<Arc<Stamped>>,
    /// Keyed by call id; ids grow with start order, so the first is the oldest.
    calls: BTreeMap<u64, CallEntry>,
    /// Gaps this store itself suffered (it fell behind the hub).
    gaps: Vec<Arc<Stamped>>,
    /// The highest call id evicted so far: later events of such calls are dropped.
    evicted_below: u64,
    evicted_calls: u64,
    evicted_events: u64,
    last_seq: u64,
}

/// A consistent copy of the store, in the order a consumer should replay it.
pub struct Snapshot {
    pub events: Vec<Arc<Stamped>>,
    /// Every event with `seq <= last_seq` is either in `events` or accounted
    /// for by a gap.
    pub last_seq: u64,
}

/// Counters for health reporting.
#[derive(Debug, Clone, Copy)]
pub struct StoreStats {
    pub calls: u64,
    pub bytes: u64,
    pub max_bytes: u64,
    pub evicted_calls: u64,
    pub evicted_events: u64,
}

impl Store {
    pub fn new(max_bytes: u64) -> Self {
        Store {
            max_bytes,
            bytes: 0,
            descriptors: Vec::new(),
            calls: BTreeMap::new(),
            gaps: Vec::new(),
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
            Some(Kind::Descriptors(_)) => {
                self.bytes += size_of_event(&stamped.event);
                self.descriptors.push(stamped);
                return;
            }
            Some(Kind::Gap(_)) => {
                self.gaps.push(stamped);
                return;
            }
            _ => {}
        }
        if call_id <= self.evicted_below && !self.calls.contains_key(&call_id) {
            self.evicted_events += 1;
            return;
        }
        let size = size_of_event(&stamped.event);
        let entry = self.calls.entry(call_id).or_default();
        entry.events.push(stamped);
        entry.bytes += size;
        self.bytes += size;
        self.evict();
    }

    /// A gap for events this store never saw.
    pub fn note_lag(&mut self, dropped: u64, seq: u64) {
        self.gaps.push(Arc::new(Stamped {
            seq,
            event: hub::lag_gap(dropped, "the capture store"),
        }));
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

    /// Descriptors first, then an eviction gap if anything was evicted, then
    /// every call event and gap in the order they happened.
    pub fn snapshot(&self) -> Snapshot {
        let mut events: Vec<Arc<Stamped>> = self.descriptors.clone();
        if self.evicted_events > 0 {
            events.push(Arc::new(Stamped {
                seq: 0,
                event: pb::Event {
                    call_id: 0,
                    kind: Some(Kind::Gap(pb::CaptureGap {
                        dropped_events: self.evicted_events,
                        reason: format!(
                            "the memory cap ({} bytes) evicted the {} oldest calls",
                            self.max_bytes, self.evicted_calls
                        ),
                        kind: pb::GapKind::Evicted as i32,
                        call_ids: Vec::new(),
                    })),
                },
            }));
        }
        let start = events.len();
        events.extend(self.calls.values().flat_map(|c| c.events.iter().cloned()));
        events.extend(self.gaps.iter().cloned());
        events[start..].sort_by_key(|s| s.seq);
        Snapshot {
            events,
            last_seq: self.last_seq,
        }
    }

    pub fn stats(&self) -> StoreStats {
        StoreStats {
            calls: self.calls.len() as u64,
            bytes: self.bytes,
            max_bytes: self.max_bytes,
            evicted_calls: self.evicted_calls,
            evicted_events: self.evicted_events,
        }
    }
}

fn size_of_event(event: &pb::Event) -> u64 {
    prost::Message::encoded_len(event) as u64 + EVENT_OVERHEAD
}

/// The store shared between its feeding task and its readers.
#[derive(Clone)]
pub struct SharedStore {
    store: Arc<Mutex<Store>>,
    /// The last sequence number the store has taken in.
    applied: watch::Receiver<u64>,
}

impl SharedStore {
    /// Start the task that feeds `store` from the hub.
    pub fn spawn(store: Store, sub: Subscription) -> Self {
        let store = Arc::new(Mutex::new(store));
        let (applied_tx, applied) = watch::channel(sub.first_seq.saturating_sub(1));
        tokio::spawn(feed(store.clone(), sub, applied_tx));
        SharedStore { store, applied }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        // The store's invariants hold between statements; a panic elsewhere
        // while holding the lock cannot leave it half-updated in a way that
        // matters for reading.
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A snapshot that includes at least every event with `seq < first_seq`.
    pub async fn snapshot_from(&self, first_seq: u64) -> Snapshot {
        let mut applied = self.applied.clone();
        // If the feeding task is gone, take what there is.
        let _ = applied.wait_for(|seq| *seq + 1 >= first_seq).await;
        self.lock().snapshot()
    }

    pub fn stats(&self) -> StoreStats {
        self.lock().stats()
    }
}

async fn feed(store: Arc<Mutex<Store>>, mut sub: Subscription, applied: watch::Sender<u64>) {
    let mut last_seq = sub.first_seq.saturating_sub(1);
    loop {
        match sub.rx.recv().await {
            Ok(stamped) => {
                last_seq = stamped.seq;
                let mut guard = store.lock().unwrap_or_else(PoisonError::into_inner);
                guard.insert(stamped);
                // Take whatever else is ready under the same lock.
                while let Ok(more) = sub.rx.try_recv() {
                    last_seq = more.seq;
                    guard.insert(more);
                }
                drop(guard);
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(dropped = n, "capture store fell behind; events lost");
                store
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .note_lag(n, last_seq + 1);
                last_seq += n;
            }
            Err(broadcast::error::RecvError::Closed) => break,
        }
        applied.send_replace(last_seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn stamped(seq: u64, call_id: u64, kind: Kind) -> Arc<Stamped> {
        Arc::new(Stamped {
            seq,
            event: pb::Event {
                call_id,
                kind: Some(kind),
            },
        })
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
        let mut store = Store::new(7_000);
        store.insert(stamped(1, 0, Kind::Descriptors(pb::Descriptors::default())));
        for call in 1..=5u64 {
            store.insert(stamped(call * 10, call, msg(3000)));
        }
        let snap = store.snapshot();
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
    fn snapshot_interleaves_calls_in_sequence_order() {
        let mut store = Store::new(u64::MAX);
        store.insert(stamped(1, 1, msg(1)));
        store.insert(stamped(2, 2, msg(1)));
        store.insert(stamped(3, 1, msg(1)));
        store.note_lag(4, 4);
        store.insert(stamped(8, 2, msg(1)));
        let seqs: Vec<u64> = store.snapshot().events.iter().map(|s| s.seq).collect();
        assert_eq!(seqs, vec![1, 2, 3, 4, 8]);
    }
}
