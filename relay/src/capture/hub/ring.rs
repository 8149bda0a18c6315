//! The live ring: the most recent events, bounded by bytes, and the
//! cursors WebSocket clients read it with.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Hub, Stamped};

pub(super) struct Ring {
    events: VecDeque<Arc<Stamped>>,
    bytes: u64,
    max_bytes: u64,
}

/// What a cursor read.
#[derive(Debug)]
pub enum Read {
    /// The next events in order (none when there is nothing new).
    Events(Vec<Arc<Stamped>>),
    /// The ring no longer holds the next `missed` events: this reader fell
    /// too far behind. The cursor has moved past them.
    Lagged { missed: u64 },
}

impl Ring {
    pub(super) fn new(max_bytes: u64) -> Self {
        Ring {
            events: VecDeque::new(),
            bytes: 0,
            max_bytes,
        }
    }

    /// Adds the newest event, dropping the oldest past the byte budget (the
    /// newest is always kept, however large).
    pub(super) fn push(&mut self, stamped: Arc<Stamped>) {
        self.bytes += stamped.size;
        self.events.push_back(stamped);
        while self.bytes > self.max_bytes && self.events.len() > 1 {
            if let Some(old) = self.events.pop_front() {
                self.bytes -= old.size;
            }
        }
    }

    /// Up to about `max_bytes` of events from sequence number `from` on (at
    /// least one, if there is one); `next` is the sequence number the next
    /// emitted event will get.
    fn read(&self, from: u64, next: u64, max_bytes: u64) -> (Read, u64) {
        let first = self.events.front().map_or(next, |s| s.seq);
        if from < first {
            return (
                Read::Lagged {
                    missed: first - from,
                },
                first,
            );
        }
        let skip = usize::try_from(from - first).unwrap_or(usize::MAX);
        let mut out = Vec::new();
        let mut bytes = 0;
        for stamped in self.events.iter().skip(skip) {
            if !out.is_empty() && bytes + stamped.size > max_bytes {
                break;
            }
            bytes += stamped.size;
            out.push(stamped.clone());
        }
        let after = out.last().map_or(from, |s| s.seq + 1);
        (Read::Events(out), after)
    }
}

/// A reader of the live ring: sees every event from its start on, in order,
/// unless it falls more than the ring behind.
pub struct Cursor {
    hub: Hub,
    next: u64,
}

impl Cursor {
    pub(super) fn new(hub: Hub, next: u64) -> Self {
        Cursor { hub, next }
    }

    /// The sequence number of the next event this cursor reads.
    pub fn next_seq(&self) -> u64 {
        self.next
    }

    /// What is there now, up to about `max_bytes`; never waits.
    pub fn read(&mut self, max_bytes: u64) -> Read {
        let state = self.hub.lock();
        let (read, next) = state.ring.read(self.next, state.seq + 1, max_bytes);
        self.next = next;
        read
    }

    /// Waits until there is something to read.
    pub async fn changed(&self) {
        let inner = &self.hub.inner;
        loop {
            let notified = inner.live.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            inner.live_waiting.store(true, Ordering::SeqCst);
            if self.hub.lock().seq >= self.next {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use loom_shared::pb;

    fn stamped(seq: u64, payload: usize) -> Arc<Stamped> {
        Arc::new(Stamped::new(
            seq,
            pb::Event::new(
                1,
                pb::Message::new(pb::Direction::Request, 0, false, vec![0u8; payload]),
            ),
        ))
    }

    #[test]
    fn reads_in_order_and_reports_what_fell_out() {
        let size = stamped(1, 1000).size;
        let mut ring = Ring::new(size * 3);
        for seq in 1..=5 {
            ring.push(stamped(seq, 1000));
        }
        // Only the last three fit.
        let (read, next) = ring.read(1, 6, u64::MAX);
        assert!(matches!(read, Read::Lagged { missed: 2 }), "{read:?}");
        assert_eq!(next, 3);
        let (read, next) = ring.read(3, 6, size * 2);
        let Read::Events(events) = read else {
            panic!("events")
        };
        assert_eq!(events.iter().map(|s| s.seq).collect::<Vec<_>>(), [3, 4]);
        assert_eq!(next, 5);
        let (read, next) = ring.read(6, 6, u64::MAX);
        assert!(matches!(read, Read::Events(e) if e.is_empty()));
        assert_eq!(next, 6);
    }

    #[test]
    fn the_newest_event_stays_however_large() {
        let mut ring = Ring::new(10);
        ring.push(stamped(1, 100_000));
        let (read, _) = ring.read(1, 2, 10);
        assert!(matches!(read, Read::Events(e) if e.len() == 1));
    }
}
