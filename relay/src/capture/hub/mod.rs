//! The capture hub: where the forward path hands off events.
//!
//! [`Hub::emit`] never blocks on a consumer. Under one short lock it stamps
//! the event with the next sequence number and puts it in three places:
//! - the [`Store`] (bounded by `--max-capture-bytes`, evicting whole calls),
//!   which is what a late WebSocket client and a download get;
//! - the live ring, bounded by bytes: WebSocket clients read it with a
//!   [`Cursor`]; one that falls more than the ring behind learns how many
//!   events it missed ([`Read::Lagged`]) and resynchronizes from the store;
//! - when recording, the record queue ([`RecordQueue`]), which is lossless up
//!   to its byte budget (`--record-buffer`): only a disk that cannot keep up
//!   with that whole budget loses events, and the loss is written to the file
//!   as a gap naming the calls affected.
//!
//! Every event gets a sequence number, so that a snapshot of the store and
//! the live ring line up without duplicates or holes.

mod record;
mod ring;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use loom_shared::{capture, pb};
use tokio::sync::Notify;

use crate::capture::store::{MessageLookup, Snapshot, Store, StoreStats};
pub use record::{RecordBatch, RecordQueue};
use ring::Ring;
pub use ring::{Cursor, Read};

/// What an event costs in memory beyond its encoded bytes, so that the
/// budgets bound the relay's real footprint (measured with `scripts/bench.sh`,
/// see docs/performance.md): the shared `Stamped` allocation with its
/// reference counts and allocator header, the payload's own allocation, and
/// the slots that the store and the live ring keep for it.
const EVENT_OVERHEAD: u64 = std::mem::size_of::<Stamped>() as u64 + 96;
/// Beyond its encoded bytes, one header entry: its place in the list and the
/// allocations of its name and value.
const HEADER_OVERHEAD: u64 = (std::mem::size_of::<pb::Header>() + 48) as u64;
/// Beyond its encoded bytes, one string of a repeated field.
const STRING_OVERHEAD: u64 = (std::mem::size_of::<String>() + 24) as u64;

/// The bytes `event` accounts for in every budget.
fn accounted_size(event: &pb::Event) -> u64 {
    use pb::event::Kind;
    let encoded = prost::Message::encoded_len(event) as u64;
    let headers = |n: usize| n as u64 * HEADER_OVERHEAD;
    let strings = |n: usize| n as u64 * STRING_OVERHEAD;
    let extra = match &event.kind {
        Some(Kind::CallStarted(c)) => headers(c.headers.len()),
        Some(Kind::ResponseHeaders(h)) => headers(h.headers.len()),
        Some(Kind::CallEnded(e)) => headers(e.trailers.len()) + strings(e.protocol_errors.len()),
        Some(Kind::Descriptors(d)) => strings(d.services.len() + d.warnings.len()),
        // Ids are 8 bytes each in memory, fewer as varints.
        Some(Kind::Gap(g)) => 8 * g.call_ids.len() as u64,
        Some(Kind::Message(_)) | None => 0,
    };
    encoded + EVENT_OVERHEAD + extra
}

/// An event with its position in the relay's event sequence.
#[derive(Debug)]
pub struct Stamped {
    /// 1-based, strictly increasing in emission order.
    pub seq: u64,
    pub event: pb::Event,
    /// Bytes it accounts for in every budget: its encoded size plus what it
    /// costs in memory beyond that.
    pub size: u64,
}

impl Stamped {
    pub fn new(seq: u64, event: pb::Event) -> Self {
        let size = accounted_size(&event);
        Stamped { seq, event, size }
    }

    /// [`Stamped::new`] with the size already known.
    fn sized(seq: u64, event: pb::Event, size: u64) -> Self {
        Stamped { seq, event, size }
    }

    /// Appends the event as a capture record (length-delimited, unredacted).
    /// Each consumer encodes into its own batch: a cached copy per event
    /// would double what the store holds.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        capture::encode_record(&self.event, out);
    }
}

/// How the hub is sized.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Byte budget of the store (`--max-capture-bytes`).
    pub store_bytes: u64,
    /// Byte budget of the store's descriptor events.
    pub schema_bytes: u64,
    /// Byte budget of the live ring WebSocket clients read.
    pub live_bytes: u64,
    /// Byte budget of the record queue (`--record-buffer`), when recording.
    pub record_bytes: Option<u64>,
}

/// Cheap to clone; all clones feed the same consumers.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    /// Wakes cursors waiting for events.
    live: Notify,
    live_waiting: AtomicBool,
    /// Wakes the recorder waiting for events.
    recorder: Condvar,
    next_call_id: AtomicU64,
    emitted: AtomicU64,
}

struct State {
    /// The last sequence number handed out.
    seq: u64,
    store: Store,
    ring: Ring,
    record: Option<RecordQueue>,
}

impl Hub {
    pub fn new(config: &HubConfig) -> Self {
        Hub {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    seq: 0,
                    store: Store::new(config.store_bytes, config.schema_bytes),
                    ring: Ring::new(config.live_bytes),
                    record: config.record_bytes.map(RecordQueue::new),
                }),
                live: Notify::new(),
                live_waiting: AtomicBool::new(false),
                recorder: Condvar::new(),
                next_call_id: AtomicU64::new(1),
                emitted: AtomicU64::new(0),
            }),
        }
    }

    /// A new call id: unique within this relay run, starting at 1.
    pub fn next_call_id(&self) -> u64 {
        self.inner.next_call_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Hand an event to every consumer. Never waits for one.
    pub fn emit(&self, event: pb::Event) {
        // Measured before the lock: every call's events pass through it.
        let size = accounted_size(&event);
        let mut state = self.lock();
        state.seq += 1;
        let stamped = Arc::new(Stamped::sized(state.seq, event, size));
        state.store.insert(stamped.clone());
        let wake_recorder = match &mut state.record {
            Some(queue) => queue.push(&stamped),
            None => false,
        };
        state.ring.push(stamped);
        drop(state);
        if wake_recorder {
            self.inner.recorder.notify_one();
        }
        if self.inner.live_waiting.swap(false, Ordering::SeqCst) {
            self.inner.live.notify_waiters();
        }
        self.inner.emitted.fetch_add(1, Ordering::Relaxed);
    }

    /// The store's contents now, and a cursor on the live ring that starts
    /// right after them.
    pub fn subscribe(&self) -> (Snapshot, Cursor) {
        let state = self.lock();
        let snapshot = state.store.snapshot();
        let cursor = Cursor::new(self.clone(), state.seq + 1);
        (snapshot, cursor)
    }

    /// The store's contents now.
    pub fn snapshot(&self) -> Snapshot {
        self.lock().store.snapshot()
    }

    /// A stored message, for a consumer that got only its preview.
    pub fn message(&self, call_id: u64, index: usize) -> Result<pb::Message, MessageLookup> {
        self.lock().store.message(call_id, index)
    }

    pub fn store_stats(&self) -> StoreStats {
        self.lock().store.stats()
    }

    /// Events emitted so far.
    pub fn emitted(&self) -> u64 {
        self.inner.emitted.load(Ordering::Relaxed)
    }

    /// The next batch for the recorder: blocks until there is one, or
    /// returns `None` once recording is closed and everything is taken.
    pub fn take_record_batch(&self) -> Option<RecordBatch> {
        let mut state = self.lock();
        loop {
            let queue = state.record.as_mut()?;
            if let Some(batch) = queue.take() {
                return Some(batch);
            }
            if queue.is_closed() {
                return None;
            }
            queue.set_waiting();
            state = self
                .inner
                .recorder
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// The recorder wrote (and let go of) events of `bytes` in all.
    pub fn record_written(&self, bytes: u64) {
        if let Some(queue) = self.lock().record.as_mut() {
            queue.written(bytes);
        }
    }

    /// No more events for the record file: the recorder takes what is
    /// queued, then stops.
    pub fn close_recording(&self) {
        if let Some(queue) = self.lock().record.as_mut() {
            queue.close();
        }
        self.inner.recorder.notify_all();
    }

    /// Stops recording at once, dropping what is queued (the recorder
    /// failed, so nothing would write it).
    pub fn abandon_recording(&self) {
        self.lock().record = None;
        self.inner.recorder.notify_all();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is plain data, consistent between statements: a panic
        // elsewhere while holding the lock leaves nothing half-updated that
        // matters.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// A gap event for a consumer that lost `dropped` events.
pub fn lag_gap(dropped: u64, consumer: &str) -> pb::Event {
    pb::Event::gap(
        pb::GapKind::Lagged,
        dropped,
        format!("{consumer} fell behind and lost {dropped} events"),
        Vec::new(),
    )
}

#[cfg(test)]
mod tests;
