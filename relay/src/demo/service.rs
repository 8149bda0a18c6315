//! The `loom.demo.v1.Inventory` service: deterministic answers from the
//! [`catalog`](super::catalog), with every call kind and an error with
//! `google.rpc` details.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use loom_shared::rpc::to_any;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::catalog::not_found;
use super::catalog::{self, ITEM_COUNT};
use super::pb::{self, inventory_server::Inventory, watch_event, watch_request};
use super::validate::{import_problem, update};
use crate::shutdown::Shutdown;

/// Time between two items of a ListItems stream.
pub const LIST_SPACING: Duration = Duration::from_millis(20);
/// Time between two updates on a Watch stream.
pub const WATCH_EVERY: Duration = Duration::from_secs(1);

const DEFAULT_EDGE_PX: u32 = 1024;
const MAX_EDGE_PX: u32 = 2048;

pub struct InventoryService {
    /// Turns true when the backend stops: open Watch streams end then.
    stop: Shutdown,
}

impl InventoryService {
    pub fn new(stop: Shutdown) -> Self {
        InventoryService { stop }
    }
}

#[tonic::async_trait]
impl Inventory for InventoryService {
    async fn get_item(
        &self,
        request: Request<pb::GetItemRequest>,
    ) -> Result<Response<pb::Item>, Status> {
        let id = &request.get_ref().id;
        catalog::item(id)
            .map(Response::new)
            .ok_or_else(|| not_found(id))
    }

    type ListItemsStream = ReceiverStream<Result<pb::Item, Status>>;

    async fn list_items(
        &self,
        request: Request<pb::ListItemsRequest>,
    ) -> Result<Response<Self::ListItemsStream>, Status> {
        let req = request.into_inner();
        let category = pb::Category::try_from(req.category)
            .map_err(|_| Status::invalid_argument(format!("unknown category {}", req.category)))?;
        let limit = match req.page_size {
            0 => usize::MAX,
            n => n as usize,
        };
        let items: Vec<pb::Item> = catalog::items()
            .filter(|i| category == pb::Category::Unspecified || i.category == category as i32)
            .filter(|i| {
                req.include_discontinued
                    || !matches!(
                        i.availability,
                        Some(pb::item::Availability::DiscontinuedReason(_))
                    )
            })
            .take(limit)
            .collect();
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(async move {
            for (n, item) in items.into_iter().enumerate() {
                if n > 0 {
                    tokio::time::sleep(LIST_SPACING).await;
                }
                if tx.send(Ok(item)).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn import_items(
        &self,
        request: Request<Streaming<pb::ImportItemsRequest>>,
    ) -> Result<Response<pb::ImportSummary>, Status> {
        let started = Instant::now();
        let mut incoming = request.into_inner();
        let mut summary = pb::ImportSummary::default();
        while let Some(req) = incoming.message().await? {
            let id = req.item.as_ref().map_or("", |i| i.id.as_str()).to_owned();
            match import_problem(req.item.as_ref(), &summary.accepted_ids) {
                Some(problem) => summary.rejections.push(pb::import_summary::Rejection {
                    id,
                    reason: if req.source.is_empty() {
                        problem
                    } else {
                        format!("{}: {problem}", req.source)
                    },
                }),
                None => {
                    let category = req.item.map_or(0, |i| i.category);
                    let name = pb::Category::try_from(category)
                        .map_or("CATEGORY_UNKNOWN", |c| c.as_str_name());
                    *summary.by_category.entry(name.to_owned()).or_default() += 1;
                    summary.accepted += 1;
                    summary.accepted_ids.push(id);
                }
            }
        }
        summary.took = prost_types::Duration::try_from(started.elapsed()).ok();
        Ok(Response::new(summary))
    }

    async fn update_item(
        &self,
        request: Request<pb::UpdateItemRequest>,
    ) -> Result<Response<pb::Item>, Status> {
        update(request.into_inner()).map(Response::new)
    }

    async fn get_thumbnail(
        &self,
        request: Request<pb::GetThumbnailRequest>,
    ) -> Result<Response<pb::Thumbnail>, Status> {
        let req = request.into_inner();
        if catalog::item(&req.item_id).is_none() {
            return Err(not_found(&req.item_id));
        }
        let edge = match req.edge_px {
            0 => DEFAULT_EDGE_PX,
            n if n <= MAX_EDGE_PX => n,
            n => {
                return Err(Status::invalid_argument(format!(
                    "edge_px {n} is too large; at most {MAX_EDGE_PX}"
                )));
            }
        };
        let data = picture(&req.item_id, edge);
        let mut crc = flate2::Crc::new();
        crc.update(&data);
        Ok(Response::new(pb::Thumbnail {
            item_id: req.item_id,
            content_type: "image/x-portable-pixmap".into(),
            width: edge,
            height: edge,
            data,
            crc32: crc.sum(),
        }))
    }

    type WatchStream = ReceiverStream<Result<pb::WatchEvent, Status>>;

    async fn watch(
        &self,
        request: Request<Streaming<pb::WatchRequest>>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(watch_session(request.into_inner(), tx, self.stop.clone()));
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// A binary PPM image: a gradient tinted per item, `edge`² pixels.
fn picture(item_id: &str, edge: u32) -> Bytes {
    let tint = item_id
        .bytes()
        .fold(0u8, |a, b| a.wrapping_mul(31).wrapping_add(b));
    let header = format!("P6\n{edge} {edge}\n255\n");
    let edge = edge as usize;
    let mut data = Vec::with_capacity(header.len() + edge * edge * 3);
    data.extend_from_slice(header.as_bytes());
    for y in 0..edge {
        let g = (y * 255 / edge) as u8;
        for x in 0..edge {
            let r = (x * 255 / edge) as u8;
            data.extend_from_slice(&[r, g, tint]);
        }
    }
    Bytes::from(data)
}

/// One Watch stream: a simulated update every [`WATCH_EVERY`], a reply to
/// every client message. Ends OK when the client half-closes, UNAVAILABLE
/// when the backend stops.
async fn watch_session(
    mut incoming: Streaming<pb::WatchRequest>,
    tx: mpsc::Sender<Result<pb::WatchEvent, Status>>,
    mut stop: Shutdown,
) {
    let mut ticker =
        tokio::time::interval_at(tokio::time::Instant::now() + WATCH_EVERY, WATCH_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seq = 0u64;
    let mut updates = 0u64;
    let mut received = 0u64;
    let mut filter: Vec<String> = Vec::new();
    loop {
        let kind = tokio::select! {
            () = stop.wait() => {
                let _ = tx.send(Err(Status::unavailable("the demo backend is shutting down"))).await;
                return;
            }
            () = tx.closed() => return,
            _ = ticker.tick() => {
                updates += 1;
                watch_event::Kind::Update(item_update(updates - 1, &filter))
            }
            next = incoming.message() => match next {
                Ok(Some(req)) => {
                    received += 1;
                    let text = match req.command {
                        Some(watch_request::Command::Subscribe(s)) => {
                            let (known, unknown): (Vec<_>, Vec<_>) =
                                s.item_ids.into_iter().partition(|id| catalog::item(id).is_some());
                            filter = known;
                            let mut text = match filter.len() {
                                0 => "watching every item".to_owned(),
                                n => format!("watching {n} item(s): {}", filter.join(", ")),
                            };
                            if !unknown.is_empty() {
                                text += &format!("; ignoring unknown {}", unknown.join(", "));
                            }
                            text
                        }
                        Some(watch_request::Command::Ping(text)) => format!("pong: {text}"),
                        None => "empty request: send subscribe or ping".to_owned(),
                    };
                    watch_event::Kind::Reply(pb::Reply {
                        client_seq: req.client_seq,
                        text,
                        stats: Some(stats(received, updates, &filter)),
                    })
                }
                // The client half-closed (or broke) its side: end the stream.
                Ok(None) | Err(_) => return,
            },
        };
        seq += 1;
        let event = pb::WatchEvent {
            seq,
            at: Some(SystemTime::now().into()),
            kind: Some(kind),
        };
        if tx.send(Ok(event)).await.is_err() {
            return;
        }
    }
}

/// The `n`th simulated update (from 0) among the watched items.
pub fn item_update(n: u64, filter: &[String]) -> pb::ItemUpdate {
    let id = if filter.is_empty() {
        format!("sku-{}", n % ITEM_COUNT as u64 + 1)
    } else {
        filter[(n % filter.len() as u64) as usize].clone()
    };
    // The filter holds catalog ids only.
    let mut item = catalog::item(&id).unwrap_or_default();
    let old_price = item.price.clone().unwrap_or_default();
    let old_cents = old_price.units * 100 + i64::from(old_price.nanos / 10_000_000);
    let new_price = catalog::money(old_cents + (n % 7) as i64 * 50 - 150);
    item.price = Some(new_price.clone());
    item.revision += 1 + (n / ITEM_COUNT as u64) as i64;
    item.etag = catalog::etag(&item.id, item.revision);
    pb::ItemUpdate {
        item_id: id,
        old_price: Some(old_price),
        new_price: Some(new_price),
        stock_delta: (n % 5) as i32 - 2,
        snapshot: Some(to_any(&item)),
    }
}

fn stats(received: u64, updates: u64, filter: &[String]) -> prost_types::Struct {
    use prost_types::Value;
    prost_types::Struct {
        fields: BTreeMap::from([
            ("messages_received".to_owned(), Value::from(received as f64)),
            ("updates_sent".to_owned(), Value::from(updates as f64)),
            (
                "watching".to_owned(),
                Value::from(
                    filter
                        .iter()
                        .map(|id| Value::from(id.clone()))
                        .collect::<Vec<_>>(),
                ),
            ),
        ]),
    }
}
