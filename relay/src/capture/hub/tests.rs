use std::time::Duration;

use super::*;

fn config(live_bytes: u64, record_bytes: Option<u64>) -> HubConfig {
    HubConfig {
        store_bytes: u64::MAX,
        schema_bytes: u64::MAX,
        live_bytes,
        record_bytes,
    }
}

fn ev(call_id: u64) -> pb::Event {
    pb::Event::new(
        call_id,
        pb::Message::new(pb::Direction::Request, 0, false, vec![1u8; 10]),
    )
}

fn seqs(read: Read) -> Vec<u64> {
    match read {
        Read::Events(events) => events.iter().map(|s| s.seq).collect(),
        Read::Lagged { missed } => panic!("lagged by {missed}"),
    }
}

#[tokio::test]
async fn a_subscription_starts_after_the_snapshot() {
    let hub = Hub::new(&config(u64::MAX, None));
    hub.emit(ev(1));
    let (snapshot, mut cursor) = hub.subscribe();
    assert_eq!(snapshot.ordered().events.len(), 1);
    assert_eq!(cursor.next_seq(), 2);
    hub.emit(ev(2));
    tokio::time::timeout(Duration::from_secs(5), cursor.changed())
        .await
        .expect("woken");
    assert_eq!(seqs(cursor.read(u64::MAX)), [2]);
    assert_eq!(seqs(cursor.read(u64::MAX)), Vec::<u64>::new());
}

#[tokio::test]
async fn a_waiting_cursor_is_woken_by_the_next_event() {
    let hub = Hub::new(&config(u64::MAX, None));
    let (_, mut cursor) = hub.subscribe();
    let emitter = hub.clone();
    let task = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        emitter.emit(ev(1));
    });
    tokio::time::timeout(Duration::from_secs(5), cursor.changed())
        .await
        .expect("woken");
    assert_eq!(seqs(cursor.read(u64::MAX)), [1]);
    task.await.unwrap();
}

#[test]
fn a_slow_cursor_lags_instead_of_holding_events() {
    let size = Stamped::new(1, ev(1)).size;
    let hub = Hub::new(&config(size * 16, None));
    let (_, mut cursor) = hub.subscribe();
    for i in 1..=100 {
        hub.emit(ev(i));
    }
    match cursor.read(u64::MAX) {
        Read::Lagged { missed } => assert_eq!(missed, 84),
        other => panic!("expected lag, got {other:?}"),
    }
    assert_eq!(seqs(cursor.read(u64::MAX)).len(), 16);
    assert_eq!(hub.emitted(), 100);
    // The store missed nothing.
    assert_eq!(hub.store_stats().calls, 100);
}

#[test]
fn the_recorder_gets_every_event_in_order_then_none() {
    let hub = Hub::new(&config(64, Some(u64::MAX)));
    for i in 1..=1000 {
        hub.emit(ev(i));
    }
    let writer = hub.clone();
    let thread = std::thread::spawn(move || {
        let mut got = Vec::new();
        while let Some(batch) = writer.take_record_batch() {
            got.extend(batch.events.iter().map(|s| s.seq));
        }
        got
    });
    for i in 1001..=2000 {
        hub.emit(ev(i));
    }
    hub.close_recording();
    let got = thread.join().unwrap();
    assert_eq!(got, (1..=2000).collect::<Vec<u64>>());
}

#[test]
fn records_encode_as_capture_records() {
    let stamped = Stamped::new(1, ev(3));
    let mut out = Vec::new();
    stamped.encode_into(&mut out);
    assert_eq!(capture::decode_batch(&out).unwrap(), [ev(3)]);
}
