//! The demo's traffic generator: a varied call about every second and one
//! long-lived Watch stream, so the inspector always has something to show.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::codec::CompressionEncoding;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

use super::backend::{MAX_MESSAGE_BYTES, REQUEST_ID_HEADER};
use super::catalog::{self, ITEM_COUNT};
use super::pb::{self, inventory_client::InventoryClient, watch_request::Command};
use crate::config::Upstream;
use crate::forward::upstream::{Connect, ConnectService};
use crate::shutdown::Shutdown;

/// Time between two calls.
pub const TICK: Duration = Duration::from_secs(1);
/// Time between two messages on the Watch stream.
const PING_EVERY: Duration = Duration::from_secs(2);
/// A call that takes longer than this is given up.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait before reopening a broken Watch stream.
const REOPEN_AFTER: Duration = Duration::from_secs(1);
/// On stop, how long the server may take to end the Watch stream cleanly.
const WATCH_DRAIN: Duration = Duration::from_millis(500);

type Client = InventoryClient<Channel>;

/// Call the demo service at `target` (the relay), reached by `connect`
/// (TLS for an `https://` target), until `stop` turns true (or its sender
/// is dropped). Failures are logged and never end the generator.
pub async fn generate_traffic(target: Upstream, connect: Arc<dyn Connect>, stop: Shutdown) {
    let channel = tonic::transport::Endpoint::from(target.cleartext_uri())
        .origin(target.uri().clone())
        .connect_timeout(Duration::from_secs(2))
        .connect_with_connector_lazy(ConnectService { connect, target });
    let client = InventoryClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    tokio::join!(
        calls(client.clone(), stop.clone()),
        watch_stream(client, stop)
    );
}

/// Logs the first failure of an outage as a warning, the rest at debug.
#[derive(Default)]
struct Outage {
    failing: bool,
}

impl Outage {
    fn ok(&mut self) {
        if std::mem::take(&mut self.failing) {
            tracing::info!("demo traffic is flowing again");
        }
    }

    fn failed(&mut self, what: &str, status: &Status) {
        if std::mem::replace(&mut self.failing, true) {
            tracing::debug!("demo {what} failed: {status}");
        } else {
            tracing::warn!("demo {what} failed (retrying every second): {status}");
        }
    }
}

async fn calls(client: Client, mut stop: Shutdown) {
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut outage = Outage::default();
    for tick in 0u64.. {
        tokio::select! {
            () = stop.wait() => return,
            _ = ticker.tick() => {}
        }
        let step = tokio::time::timeout(CALL_TIMEOUT, one_call(client.clone(), tick));
        let (what, result) = tokio::select! {
            () = stop.wait() => return,
            done = step => match done {
                Ok(outcome) => outcome,
                Err(_) => ("call", Err(Status::deadline_exceeded("the demo call timed out"))),
            },
        };
        match result {
            Ok(()) => outage.ok(),
            Err(status) => outage.failed(what, &status),
        }
    }
}

/// A request with `x-request-id: demo-<kind>-<n>` and a binary header.
fn request<T>(message: T, kind: &str, n: u64) -> Request<T> {
    let mut req = Request::new(message);
    if let Ok(v) = format!("demo-{kind}-{n:06}").parse() {
        req.metadata_mut().insert(REQUEST_ID_HEADER, v);
    }
    req.metadata_mut().insert_bin(
        "x-demo-client-bin",
        tonic::metadata::MetadataValue::from_bytes(&n.to_be_bytes()),
    );
    req
}

fn sku(n: u64) -> String {
    format!("sku-{}", n % ITEM_COUNT as u64 + 1)
}

/// Tick `tick`'s call: what it was and whether it went as expected.
async fn one_call(mut client: Client, tick: u64) -> (&'static str, Result<(), Status>) {
    let gzip = |c: Client| {
        c.accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip)
    };
    let round = tick / 10;
    match tick % 10 {
        0 | 1 => {
            if tick % 10 == 1 {
                client = gzip(client);
            }
            let req = request(pb::GetItemRequest { id: sku(tick / 2) }, "call", tick);
            ("GetItem", client.get_item(req).await.map(drop))
        }
        2 | 6 => {
            if tick % 10 == 6 {
                client = gzip(client);
            }
            let category = if tick % 10 == 6 {
                pb::Category::try_from((round % 4 + 1) as i32).unwrap_or_default()
            } else {
                pb::Category::Unspecified
            };
            let req = request(
                pb::ListItemsRequest {
                    category: category as i32,
                    page_size: 0,
                    include_discontinued: round.is_multiple_of(2),
                },
                "call",
                tick,
            );
            ("ListItems", list(client, req).await)
        }
        3 | 7 => {
            if tick % 10 == 7 {
                client = gzip(client);
            }
            let items = import_batch(round);
            let req = request(futures_util::stream::iter(items), "call", tick);
            ("ImportItems", client.import_items(req).await.map(drop))
        }
        4 => {
            // Fails on purpose: INVALID_ARGUMENT with error details.
            let mut item = catalog::item(&sku(round)).unwrap_or_default();
            item.display_name = String::new();
            item.price = Some(pb::Money {
                currency_code: "euro".into(),
                units: -5,
                nanos: 0,
            });
            let req = request(
                update_request(item, &["display_name", "price", "color"]),
                "call",
                tick,
            );
            let result = match client.update_item(req).await {
                Err(status) if status.code() == Code::InvalidArgument => Ok(()),
                Err(status) => Err(status),
                Ok(_) => Err(Status::internal("an invalid update was accepted")),
            };
            ("UpdateItem", result)
        }
        5 => {
            // Fails on purpose: NOT_FOUND.
            let req = request(
                pb::GetItemRequest {
                    id: "sku-404".into(),
                },
                "call",
                tick,
            );
            let result = match client.get_item(req).await {
                Err(status) if status.code() == Code::NotFound => Ok(()),
                other => other.map(drop),
            };
            ("GetItem", result)
        }
        8 => {
            let mut item = catalog::item(&sku(round + 3)).unwrap_or_default();
            item.display_name = format!("{} (round {round})", item.display_name);
            item.tags.push("on-sale".into());
            let req = request(
                update_request(item, &["display_name", "tags"]),
                "call",
                tick,
            );
            ("UpdateItem", client.update_item(req).await.map(drop))
        }
        _ => {
            let req = request(
                pb::GetThumbnailRequest {
                    item_id: sku(round),
                    edge_px: 0,
                },
                "call",
                tick,
            );
            // Every other one travels compressed: 3 MiB as about 120 KiB.
            if round.is_multiple_of(2) {
                client = gzip(client);
            }
            let result = client.get_thumbnail(req).await.map(drop);
            ("GetThumbnail", result)
        }
    }
}

async fn list(mut client: Client, req: Request<pb::ListItemsRequest>) -> Result<(), Status> {
    let mut stream = client.list_items(req).await?.into_inner();
    while stream.message().await?.is_some() {}
    Ok(())
}

fn update_request(item: pb::Item, paths: &[&str]) -> pb::UpdateItemRequest {
    pb::UpdateItemRequest {
        item: Some(item),
        update_mask: Some(prost_types::FieldMask {
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        }),
    }
}

/// Three catalog items and one that is rejected (it has no price).
fn import_batch(round: u64) -> Vec<pb::ImportItemsRequest> {
    let mut out: Vec<pb::ImportItemsRequest> = (0..3)
        .map(|k| pb::ImportItemsRequest {
            item: catalog::item(&sku(round + k)),
            source: format!("import-{round}.csv:{}", k + 2),
        })
        .collect();
    let mut broken = catalog::item(&sku(round + 3)).unwrap_or_default();
    broken.id = format!("new-{round}");
    broken.price = None;
    out.push(pb::ImportItemsRequest {
        item: Some(broken),
        source: format!("import-{round}.csv:5"),
    });
    out
}

/// Keeps one Watch stream open, reopening it when it breaks.
async fn watch_stream(client: Client, mut stop: Shutdown) {
    let mut outage = Outage::default();
    for attempt in 0u64.. {
        match one_watch(client.clone(), &mut stop, attempt).await {
            None => return,
            Some(status) => outage.failed("Watch stream", &status),
        }
        tokio::select! {
            () = stop.wait() => return,
            () = tokio::time::sleep(REOPEN_AFTER) => {}
        }
    }
}

/// One Watch stream until it breaks (`Some(why)`) or `stop` (`None`, after
/// half-closing and letting the server end the stream).
async fn one_watch(mut client: Client, stop: &mut Shutdown, attempt: u64) -> Option<Status> {
    let (tx, rx) = mpsc::channel(4);
    let mut seq = 0u64;
    let mut send = |command: Command| {
        seq += 1;
        // The channel has room: at most one message waits at a time.
        let _ = tx.try_send(pb::WatchRequest {
            client_seq: seq,
            command: Some(command),
        });
    };
    send(Command::Subscribe(pb::Subscription {
        item_ids: Vec::new(),
    }));
    let req = request(ReceiverStream::new(rx), "watch", attempt);
    let opened = tokio::select! {
        () = stop.wait() => return None,
        opened = client.watch(req) => opened,
    };
    let mut events = match opened {
        Ok(response) => response.into_inner(),
        Err(status) => return Some(status),
    };
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    let mut pings = 0u64;
    loop {
        tokio::select! {
            () = stop.wait() => break,
            _ = ping.tick() => {
                pings += 1;
                send(Command::Ping(format!("ping {pings}")));
            }
            event = events.next() => match event {
                Some(Ok(_)) => {}
                Some(Err(status)) => return Some(status),
                None => return Some(Status::unavailable("the Watch stream ended")),
            },
        }
    }
    // Half-close, so the server can end the stream with OK.
    drop(tx);
    let drain = async { while let Some(Ok(_)) = events.next().await {} };
    let _ = tokio::time::timeout(WATCH_DRAIN, drain).await;
    None
}
