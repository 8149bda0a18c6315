//! The long-lived Watch stream, called directly on the demo backend.

use std::time::Duration;

use tonic::Code;

use super::calls::{assert_demo_headers, elapsed_ms, with_id};
use super::{client, start_backend};
use crate::demo::pb::{self, watch_event, watch_request::Command};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_answers_every_message_and_sends_updates_until_half_closed() {
    let backend = start_backend().await;
    let mut c = client(backend.addr, true).await;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let send = |seq, command| pb::WatchRequest {
        client_seq: seq,
        command: Some(command),
    };
    let subscribe = pb::Subscription {
        item_ids: vec!["sku-5".into(), "sku-77".into()],
    };
    tx.send(send(1, Command::Subscribe(subscribe)))
        .await
        .unwrap();
    let req = with_id(tokio_stream::wrappers::ReceiverStream::new(rx), "req-watch");
    let res = c.watch(req).await.unwrap();
    assert_demo_headers(res.metadata(), "req-watch");
    let mut events = res.into_inner();
    let next = async |events: &mut tonic::Streaming<pb::WatchEvent>| {
        tokio::time::timeout(Duration::from_secs(5), events.message())
            .await
            .expect("an event in time")
            .expect("no error")
            .expect("not ended")
    };
    let first = next(&mut events).await;
    assert_eq!(first.seq, 1);
    let Some(watch_event::Kind::Reply(reply)) = first.kind else {
        panic!("a reply first: {first:?}");
    };
    assert_eq!(reply.client_seq, 1);
    assert_eq!(
        reply.text,
        "watching 1 item(s): sku-5; ignoring unknown sku-77"
    );

    let second = next(&mut events).await;
    let Some(watch_event::Kind::Update(update)) = second.kind else {
        panic!("then an update: {second:?}");
    };
    assert_eq!(update.item_id, "sku-5");
    let snapshot: pb::Item = update.snapshot.unwrap().to_msg().expect("a packed Item");
    assert_eq!(snapshot.id, "sku-5");
    assert_eq!(snapshot.price, update.new_price);

    tx.send(send(2, Command::Ping("hello".into())))
        .await
        .unwrap();
    let reply = loop {
        // An update may come first.
        if let Some(watch_event::Kind::Reply(r)) = next(&mut events).await.kind {
            break r;
        }
    };
    assert_eq!((reply.client_seq, reply.text.as_str()), (2, "pong: hello"));

    drop(tx);
    while let Some(event) = events.message().await.expect("ends OK") {
        assert!(event.seq > 2);
    }
    let trailers = events.trailers().await.unwrap().expect("trailers");
    assert!(elapsed_ms(&trailers) >= 1000, "an update came a second in");
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_backend_ends_open_watch_streams() {
    let backend = start_backend().await;
    let mut c = client(backend.addr, false).await;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.send(pb::WatchRequest::default()).await.unwrap();
    let mut events = c
        .watch(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    events.message().await.unwrap().expect("the reply");
    let started = std::time::Instant::now();
    backend.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let status = loop {
        match events.message().await {
            Ok(Some(_)) => {}
            Ok(None) => panic!("ended OK"),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    drop(tx);
}
