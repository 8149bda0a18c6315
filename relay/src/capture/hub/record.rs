//! The record queue: what `--record` has yet to write, lossless up to a byte
//! budget. Past it (a disk slower than the traffic for that whole budget)
//! events are dropped, counted with the calls they belong to, and a gap
//! saying so goes into the file where they would have been.

use std::collections::BTreeSet;
use std::sync::Arc;

use loom_shared::pb;

use super::Stamped;

/// The most call ids one gap names (the count stays exact beyond it).
const MAX_GAP_CALLS: usize = 100_000;

pub struct RecordQueue {
    events: Vec<Arc<Stamped>>,
    /// Queued, plus taken but not yet written: the budget covers both.
    bytes: u64,
    budget: u64,
    /// Dropped since the last gap was queued, and their calls.
    lost_events: u64,
    lost_calls: BTreeSet<u64>,
    /// The recorder is waiting for events.
    waiting: bool,
    closed: bool,
}

/// What the recorder writes next, in order (gaps included).
pub struct RecordBatch {
    pub events: Vec<Arc<Stamped>>,
}

impl RecordQueue {
    pub fn new(budget: u64) -> Self {
        RecordQueue {
            events: Vec::new(),
            bytes: 0,
            budget,
            lost_events: 0,
            lost_calls: BTreeSet::new(),
            waiting: false,
            closed: false,
        }
    }

    /// Queues an event, or counts it as lost past the budget. Returns whether
    /// the recorder must be woken.
    pub(super) fn push(&mut self, stamped: &Arc<Stamped>) -> bool {
        if self.closed {
            return false;
        }
        if !self.events.is_empty() && self.bytes + stamped.size > self.budget {
            self.lost_events += 1;
            let id = stamped.event.call_id;
            if id != 0 && self.lost_calls.len() < MAX_GAP_CALLS {
                self.lost_calls.insert(id);
            }
            return false;
        }
        self.queue_gap();
        self.bytes += stamped.size;
        self.events.push(stamped.clone());
        std::mem::take(&mut self.waiting)
    }

    /// Everything queued, or `None` when there is nothing. Its bytes count
    /// against the budget until the recorder reports them [`written`].
    ///
    /// [`written`]: RecordQueue::written
    pub(super) fn take(&mut self) -> Option<RecordBatch> {
        if self.closed {
            self.queue_gap();
        }
        if self.events.is_empty() {
            return None;
        }
        Some(RecordBatch {
            events: std::mem::take(&mut self.events),
        })
    }

    /// Events of `bytes` (their [`Stamped::size`]s) taken earlier are
    /// written and released.
    pub(super) fn written(&mut self, bytes: u64) {
        self.bytes = self.bytes.saturating_sub(bytes);
    }

    pub(super) fn set_waiting(&mut self) {
        self.waiting = true;
    }

    pub(super) fn close(&mut self) {
        self.closed = true;
    }

    pub(super) fn is_closed(&self) -> bool {
        self.closed
    }

    /// Puts a gap for the events lost so far in their place in the queue.
    fn queue_gap(&mut self) {
        if self.lost_events == 0 {
            return;
        }
        let calls: Vec<u64> = std::mem::take(&mut self.lost_calls).into_iter().collect();
        let reason = format!(
            "the record file's writer fell behind by its whole buffer (--record-buffer, {} \
             bytes): the disk did not keep up, and {} events of {} calls were lost",
            self.budget,
            self.lost_events,
            calls.len()
        );
        let gap = pb::Event::gap(pb::GapKind::Lagged, self.lost_events, reason, calls);
        self.lost_events = 0;
        // Gaps belong to no call and are queued even past the budget (there
        // is at most one per stretch of losses), but count against it like
        // any event: the recorder reports every event's size as written.
        let gap = Arc::new(Stamped::new(0, gap));
        self.bytes += gap.size;
        self.events.push(gap);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamped(seq: u64, call: u64) -> Arc<Stamped> {
        Arc::new(Stamped::new(
            seq,
            pb::Event::new(
                call,
                pb::Message::new(pb::Direction::Request, 0, false, vec![0u8; 100]),
            ),
        ))
    }

    /// What the recorder does with a batch: reports its events written.
    fn written(q: &mut RecordQueue, batch: &RecordBatch) {
        q.written(batch.events.iter().map(|s| s.size).sum());
    }

    /// Takes and writes the next batch, which starts with a gap and is all
    /// that is held: the gap, and the batch's sequence numbers.
    fn gap_then(q: &mut RecordQueue) -> (pb::CaptureGap, Vec<u64>) {
        let batch = q.take().expect("a batch");
        let held: u64 = batch.events.iter().map(|s| s.size).sum();
        assert_eq!(q.bytes, held, "the budget holds the batch, its gap too");
        written(q, &batch);
        let Some(pb::event::Kind::Gap(gap)) = &batch.events[0].event.kind else {
            panic!("a gap first");
        };
        let seqs = batch.events.iter().map(|s| s.seq).collect();
        (gap.clone(), seqs)
    }

    #[test]
    fn lossless_within_the_budget_and_a_gap_past_it() {
        let size = stamped(1, 1).size;
        let mut q = RecordQueue::new(size * 2);
        q.set_waiting();
        assert!(q.push(&stamped(1, 1)), "wakes a waiting recorder");
        assert!(!q.push(&stamped(2, 1)));
        // Over budget: lost, with their calls.
        q.push(&stamped(3, 7));
        q.push(&stamped(4, 8));
        let batch = q.take().expect("a batch");
        assert_eq!(batch.events.len(), 2);
        // Taken is not written: the budget still holds them.
        q.push(&stamped(5, 9));
        assert!(
            !q.push(&stamped(6, 10)),
            "over budget while the batch is written"
        );
        written(&mut q, &batch);
        let (gap, seqs) = gap_then(&mut q);
        assert_eq!(seqs, [0, 5]);
        assert_eq!(gap.dropped_events, 2);
        assert_eq!(gap.call_ids, [7, 8]);
        // The next event to fit comes after a gap naming what was lost.
        q.push(&stamped(7, 11));
        let (gap, seqs) = gap_then(&mut q);
        assert_eq!(seqs, [0, 7]);
        assert_eq!(gap.dropped_events, 1);
        assert_eq!(gap.call_ids, [10]);
        assert!(gap.reason.contains("--record-buffer"), "{}", gap.reason);
        assert!(q.take().is_none());
    }

    #[test]
    fn losses_at_the_end_are_written_at_close() {
        let size = stamped(1, 1).size;
        let mut q = RecordQueue::new(size);
        q.push(&stamped(1, 1));
        q.push(&stamped(2, 2));
        q.close();
        let batch = q.take().expect("a batch");
        assert_eq!(batch.events.len(), 2, "the event, then the gap");
        assert!(q.take().is_none());
        assert!(!q.push(&stamped(3, 3)), "nothing is queued after close");
    }
}
