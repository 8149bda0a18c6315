//! The UI port: the inspector page, the live WebSocket, the capture download
//! and a health check. Everything here is a capture consumer; nothing here
//! can slow the forward path.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use futures_util::stream;
use http::{HeaderValue, header};
use loom_shared::capture;
use loom_shared::pb::{self, event::Kind};
use loom_shared::redact::{self, Redactor};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::access::{self, Access};
use crate::assets;
use crate::capture::hub::{self, Hub, Read, Stamped};
use crate::reflection::Reflector;
use crate::shutdown::Shutdown;

/// While events keep coming, a WebSocket client gets what accumulated at
/// most this often (at once after a quiet spell).
const LIVE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(25);
/// A WebSocket message carries at most about this many bytes of records.
const BATCH_BYTES: usize = 512 << 10;
/// A download is sent in chunks of about this many bytes.
const CHUNK_BYTES: usize = 256 << 10;
/// How many capture downloads may run at once.
pub const MAX_DOWNLOADS: usize = 2;

pub struct UiState {
    pub hub: Hub,
    /// `None` keeps secrets in downloads.
    pub redactor: Option<Redactor>,
    pub upstream: String,
    /// Where the relay listens, for people.
    pub relay_addr: String,
    pub started: Instant,
    pub stop: Shutdown,
    pub ws_clients: AtomicU64,
    /// Each service's schema state, for `/healthz`.
    pub reflector: Arc<Reflector>,
    /// What incomplete messages hold, for `/healthz`.
    pub partial: crate::capture::framing::PartialBudget,
    /// Permits for concurrent downloads ([`MAX_DOWNLOADS`]).
    pub downloads: Arc<Semaphore>,
    /// Larger messages reach WebSocket clients as previews (0: never).
    pub live_preview_bytes: usize,
    /// How each hop is secured (`crate::tls::health`).
    pub tls: serde_json::Value,
}

pub fn router(state: Arc<UiState>, access: Arc<Access>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/ws", get(ws))
        .route("/api/capture", get(download))
        .route("/api/message", get(crate::message_api::get))
        .route("/healthz", get(health))
        .fallback(get(asset))
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(access, access::guard))
}

pub async fn serve(listener: TcpListener, router: Router, mut stop: Shutdown) {
    let shutdown = async move { stop.wait().await };
    if let Err(e) = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!("the UI server failed: {e}");
    }
}

async fn index(State(state): State<Arc<UiState>>) -> Response {
    match assets::get("index.html") {
        Some(bytes) => bundle_file("index.html", bytes),
        None => not_built(&state).into_response(),
    }
}

/// Any other path: a file of the embedded inspector, or 404.
async fn asset(uri: http::Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    match assets::get(path) {
        Some(bytes) => bundle_file(path, bytes),
        None => (http::StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}

fn bundle_file(path: &str, bytes: &'static [u8]) -> Response {
    let mut res = Bytes::from_static(bytes).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(assets::content_type(path)),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Trunk names every file but index.html by its content hash.
    let cache = if path == "index.html" {
        "no-cache"
    } else {
        "public, max-age=31536000, immutable"
    };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    res
}

fn not_built(state: &UiState) -> Html<String> {
    Html(format!(
        "<!doctype html><meta charset=utf-8><title>Loom</title>\
         <style>body{{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem}}\
         code{{background:#8882;padding:0 .3em}}</style>\
         <h1>Loom relay</h1>\
         <p>Relaying gRPC from <code>{relay}</code> to <code>{upstream}</code>.</p>\
         <p>The browser inspector is not built into this binary. Build it and the relay together \
         with <code>scripts/build.sh</code> (it runs <code>trunk build --release</code>, then builds \
         <code>loom</code> with <code>LOOM_WEB_DIST=dist</code>).</p>\
         <p>The relay is capturing meanwhile: download what it has as a \
         <a href=/api/capture>capture file</a>, or check <a href=/healthz>its health</a>.</p>",
        relay = state.relay_addr,
        upstream = html_escape(&state.upstream),
    ))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

async fn health(State(state): State<Arc<UiState>>) -> Response {
    let stats = state.hub.store_stats();
    let schemas: Vec<(String, serde_json::Value)> = state
        .reflector
        .upstreams()
        .iter()
        .map(|upstream| {
            let services = state
                .reflector
                .states(upstream)
                .into_iter()
                .map(|(service, s)| (service, s.to_json()))
                .collect::<serde_json::Map<_, _>>();
            (upstream.to_string(), services.into())
        })
        .collect();
    let body = serde_json::json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "upstream": state.upstream,
        "relay": state.relay_addr.to_string(),
        "tls": state.tls,
        "uptime_seconds": state.started.elapsed().as_secs(),
        "events_emitted": state.hub.emitted(),
        "websocket_clients": state.ws_clients.load(Ordering::Relaxed),
        "store": {
            "calls": stats.calls,
            "bytes": stats.bytes,
            "max_bytes": stats.max_bytes,
            "evicted_calls": stats.evicted_calls,
            "evicted_events": stats.evicted_events,
            "schemas": stats.schemas,
            "schema_bytes": stats.schema_bytes,
            "max_schema_bytes": stats.max_schema_bytes,
            "evicted_schemas": stats.evicted_schemas,
        },
        "reflection": state.reflector.bounds(),
        "partial_messages": {
            "bytes": state.partial.used(),
            "max_bytes": state.partial.max(),
        },
        // The default upstream's (and local files'), as ever; then every
        // upstream's, by upstream.
        "schemas": schemas.first().map(|(_, s)| s.clone()).unwrap_or_default(),
        "upstreams": schemas.into_iter().collect::<serde_json::Map<_, _>>(),
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The store as a capture file, streamed from one snapshot (pointers to the
/// stored events, not a copy of them), at most [`MAX_DOWNLOADS`] at a time.
async fn download(State(state): State<Arc<UiState>>) -> Response {
    let Ok(permit) = state.downloads.clone().try_acquire_owned() else {
        let mut res = (
            http::StatusCode::SERVICE_UNAVAILABLE,
            format!("{MAX_DOWNLOADS} capture downloads are already running; try again shortly\n"),
        )
            .into_response();
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
        return res;
    };
    // Everything emitted before this request is in the download.
    let snapshot = state.hub.snapshot().ordered();
    let redactor = state.redactor.clone();
    let header = Bytes::copy_from_slice(&capture::file_header());
    let chunks = stream::unfold(
        (snapshot.events, 0usize, Some(header), permit),
        move |(events, at, header, permit)| {
            let redactor = redactor.clone();
            async move {
                if let Some(header) = header {
                    return Some((
                        Ok::<_, std::convert::Infallible>(header),
                        (events, at, None, permit),
                    ));
                }
                if at >= events.len() {
                    return None;
                }
                let mut chunk = Vec::with_capacity(CHUNK_BYTES);
                let mut next = at;
                while next < events.len() && chunk.len() < CHUNK_BYTES {
                    redact::encode_record(&events[next].event, redactor.as_ref(), &mut chunk);
                    next += 1;
                }
                Some((Ok(Bytes::from(chunk)), (events, next, None, permit)))
            }
        },
    );
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let disposition = format!("attachment; filename=\"loom-{secs}.loom\"");
    let mut res = axum::body::Body::from_stream(chunks).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.loom.capture"),
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

async fn ws(State(state): State<Arc<UiState>>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |socket| async move {
        state.ws_clients.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = stream_events(socket, &state).await {
            tracing::debug!("websocket client left: {e}");
        }
        state.ws_clients.fetch_sub(1, Ordering::Relaxed);
    })
}

/// The backlog (descriptors first), then live events. A client that falls
/// further behind than the live ring holds is told so with a gap, and gets
/// what the store still has of what it missed.
async fn stream_events(mut socket: WebSocket, state: &UiState) -> Result<(), axum::Error> {
    let (snapshot, mut cursor) = state.hub.subscribe();
    // The backlog in batches. At least one message is always sent, empty
    // when there is no backlog, so a client knows it is connected and
    // up to date even with an idle relay.
    send_all(
        &mut socket,
        &snapshot.ordered().events,
        true,
        state.live_preview_bytes,
    )
    .await?;
    let mut last_sent = cursor.next_seq() - 1;
    let mut stop = state.stop.clone();
    // When the feed last went out: while busy, what accumulates goes at most
    // once per `LIVE_INTERVAL`, so a busy relay wakes this task tens of
    // times a second, not once per event; after a quiet spell, at once.
    let mut flushed: Option<tokio::time::Instant> = None;
    loop {
        match cursor.read(BATCH_BYTES as u64) {
            // Everything there was is sent: rest until the interval is over
            // (or, after a quiet spell, until something happens).
            Read::Events(events) if events.is_empty() => {
                let due = flushed.take().map(|at| at + LIVE_INTERVAL);
                tokio::select! {
                    () = cursor.changed(), if due.is_none() => {}
                    () = tokio::time::sleep_until(due.unwrap_or_else(tokio::time::Instant::now)), if due.is_some() => {}
                    incoming = socket.recv() => match incoming {
                        None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                        Some(Ok(_)) => {}
                    },
                    () = stop.wait() => {
                        let _ = socket.send(Message::Close(None)).await;
                        break;
                    }
                }
            }
            Read::Events(events) => {
                send_all(&mut socket, &events, false, state.live_preview_bytes).await?;
                last_sent = events.last().map_or(last_sent, |s| s.seq);
                flushed.get_or_insert_with(tokio::time::Instant::now);
            }
            Read::Lagged { missed } => {
                let (snapshot, fresh) = state.hub.subscribe();
                let resent: Vec<Arc<Stamped>> = snapshot
                    .ordered()
                    .events
                    .into_iter()
                    .filter(|s| s.seq > last_sent)
                    .collect();
                let skipped = fresh.next_seq() - 1 - last_sent;
                let lost = skipped.saturating_sub(resent.len() as u64);
                tracing::debug!(
                    missed,
                    lost,
                    "a WebSocket client fell behind; resynchronized"
                );
                let gap = Stamped::new(
                    0,
                    hub::lag_gap(
                        lost,
                        "this WebSocket client (resynchronized from the store)",
                    ),
                );
                let mut batch = Vec::new();
                gap.encode_into(&mut batch);
                socket.send(binary(&mut batch)).await?;
                send_all(&mut socket, &resent, false, state.live_preview_bytes).await?;
                last_sent = fresh.next_seq() - 1;
                cursor = fresh;
            }
        }
    }
    Ok(())
}

/// Sends `events` in batches of about [`BATCH_BYTES`]; with `always`, one
/// (empty) message even when there are none. Messages larger than `preview`
/// bytes (unless 0) go as previews of their first `preview` bytes.
async fn send_all(
    socket: &mut WebSocket,
    events: &[Arc<Stamped>],
    always: bool,
    preview: usize,
) -> Result<(), axum::Error> {
    let mut batch = Vec::new();
    let mut sent = false;
    for stamped in events {
        let cut = match &stamped.event.kind {
            Some(Kind::Message(m)) if preview > 0 => m.preview(preview),
            _ => None,
        };
        match cut {
            Some(m) => {
                capture::encode_record(&pb::Event::new(stamped.event.call_id, m), &mut batch)
            }
            None => stamped.encode_into(&mut batch),
        }
        if batch.len() >= BATCH_BYTES {
            socket.send(binary(&mut batch)).await?;
            sent = true;
        }
    }
    if !batch.is_empty() || (always && !sent) {
        socket.send(binary(&mut batch)).await?;
    }
    Ok(())
}

fn binary(batch: &mut Vec<u8>) -> Message {
    Message::Binary(Bytes::from(std::mem::take(batch)))
}
