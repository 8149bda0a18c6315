//! The capture hub: where the forward path hands off events.
//!
//! `Hub::emit` never blocks and never waits for a consumer. Events go into a
//! bounded broadcast ring; each consumer (the store, the recorder, every
//! WebSocket client) reads at its own pace, and one that falls behind loses
//! the oldest events and learns how many (`Lagged`), which it turns into a
//! capture-gap event. Every event gets a sequence number so that a consumer
//! joining late can line up a snapshot of the store with the live stream
//! without duplicates or holes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use loom_shared::pb;
use tokio::sync::broadcast;

/// An event with its position in the relay's event sequence.
#[derive(Debug)]
pub struct Stamped {
    /// 1-based, strictly increasing in broadcast order.
    pub seq: u64,
    pub event: pb::Event,
}

/// Cheap to clone; all clones feed the same consumers.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    /// The last sequence number handed out. Held only for the duration of a
    /// ring insert so that sequence order equals broadcast order.
    seq: Mutex<u64>,
    tx: broadcast::Sender<Arc<Stamped>>,
    next_call_id: AtomicU64,
    emitted: AtomicU64,
}

/// A consumer's view: the live receiver plus the first sequence number it will see.
pub struct Subscription {
    pub rx: broadcast::Receiver<Arc<Stamped>>,
    /// Events with `seq < first_seq` were emitted before this subscription.
    pub first_seq: u64,
}

impl Hub {
    /// `capacity` is how many events a consumer may fall behind before it
    /// starts losing them.
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(16));
        Hub {
            inner: Arc::new(Inner {
                seq: Mutex::new(0),
                tx,
                next_call_id: AtomicU64::new(1),
                emitted: AtomicU64::new(0),
            }),
        }
    }

    /// A new call id: unique within this relay run, starting at 1.
    pub fn next_call_id(&self) -> u64 {
        self.inner.next_call_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Hand an event to every consumer. Never blocks on a consumer.
    pub fn emit(&self, event: pb::Event) {
        // A poisoned lock only means another thread panicked mid-emit; the
        // counter itself is always consistent, so keep going.
        let mut seq = self
            .inner
            .seq
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *seq += 1;
        // An error only means nobody is subscribed right now.
        let _ = self.inner.tx.send(Arc::new(Stamped { seq: *seq, event }));
        drop(seq);
        self.inner.emitted.fetch_add(1, Ordering::Relaxed);
    }

    pub fn subscribe(&self) -> Subscription {
        let seq = self
            .inner
            .seq
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let rx = self.inner.tx.subscribe();
        Subscription {
            rx,
            first_seq: *seq + 1,
        }
    }

    /// The sequence number the next event will get.
    pub fn next_seq(&self) -> u64 {
        *self
            .inner
            .seq
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            + 1
    }

    /// Events emitted so far.
    pub fn emitted(&self) -> u64 {
        self.inner.emitted.load(Ordering::Relaxed)
    }
}

/// A gap event for a consumer that lost `dropped` events.
pub fn lag_gap(dropped: u64, consumer: &str) -> pb::Event {
    pb::Event {
        call_id: 0,
        kind: Some(pb::event::Kind::Gap(pb::CaptureGap {
            dropped_events: dropped,
            reason: format!("{consumer} fell behind and lost {dropped} events"),
            kind: pb::GapKind::Lagged as i32,
            call_ids: Vec::new(),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(call_id: u64) -> pb::Event {
        pb::Event {
            call_id,
            kind: None,
        }
    }

    #[tokio::test]
    async fn subscription_starts_after_earlier_events() {
        let hub = Hub::new(16);
        hub.emit(ev(1));
        let mut sub = hub.subscribe();
        assert_eq!(sub.first_seq, 2);
        hub.emit(ev(2));
        let got = sub.rx.recv().await.unwrap();
        assert_eq!(got.seq, 2);
        assert_eq!(got.event.call_id, 2);
    }

    #[tokio::test]
    async fn slow_consumer_lags_instead_of_blocking() {
        let hub = Hub::new(16);
        let mut sub = hub.subscribe();
        for i in 0..100 {
            hub.emit(ev(i));
        }
        match sub.rx.recv().await {
            Err(broadcast::error::RecvError::Lagged(n)) => assert_eq!(n, 84),
            other => panic!("expected lag, got {other:?}"),
        }
        assert_eq!(hub.emitted(), 100);
    }
}
