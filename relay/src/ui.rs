//! The UI port: the inspector page, the live WebSocket, the capture download
//! and a health check. Everything here is a capture consumer; nothing here
//! can slow the forward path.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use http::{HeaderValue, header};
use loom_shared::capture;
use loom_shared::redact::Redactor;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};

use crate::access::{self, Access};
use crate::assets;
use crate::hub::{self, Hub, Stamped};
use crate::reflection::Reflector;
use crate::store::SharedStore;

/// A WebSocket message carries at most about this many bytes of records.
const BATCH_BYTES: usize = 512 << 10;

pub struct UiState {
    pub hub: Hub,
    pub store: SharedStore,
    /// `None` keeps secrets in downloads.
    pub redactor: Option<Redactor>,
    pub upstream: String,
    pub relay_addr: SocketAddr,
    pub started: Instant,
    pub stop: watch::Receiver<bool>,
    pub ws_clients: AtomicU64,
    /// Each service's schema state, for `/healthz`.
    pub reflector: Arc<Reflector>,
}

pub fn router(state: Arc<UiState>, access: Arc<Access>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/ws", get(ws))
        .route("/api/capture", get(download))
        .route("/healthz", get(health))
        .fallback(get(asset))
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(access, access::guard))
}

pub async fn serve(listener: TcpListener, router: Router, mut stop: watch::Receiver<bool>) {
    let shutdown = async move { crate::stopped(&mut stop).await };
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
    let stats = state.store.stats();
    let body = serde_json::json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "upstream": state.upstream,
        "relay": state.relay_addr.to_string(),
        "uptime_seconds": state.started.elapsed().as_secs(),
        "events_emitted": state.hub.emitted(),
        "websocket_clients": state.ws_clients.load(Ordering::Relaxed),
        "store": {
            "calls": stats.calls,
            "bytes": stats.bytes,
            "max_bytes": stats.max_bytes,
            "evicted_calls": stats.evicted_calls,
            "evicted_events": stats.evicted_events,
        },
        "schemas": state
            .reflector
            .states()
            .into_iter()
            .map(|(service, s)| (service, s.to_json()))
            .collect::<serde_json::Map<_, _>>(),
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn download(State(state): State<Arc<UiState>>) -> Response {
    // Everything emitted before this request is in the download.
    let snapshot = state.store.snapshot_from(state.hub.next_seq()).await;
    let mut file = capture::file_header().to_vec();
    for stamped in &snapshot.events {
        match &state.redactor {
            Some(redactor) => {
                let mut event = stamped.event.clone();
                redactor.redact_event(&mut event);
                capture::encode_record(&event, &mut file);
            }
            None => capture::encode_record(&stamped.event, &mut file),
        }
    }
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let disposition = format!("attachment; filename=\"loom-{secs}.loom\"");
    let mut res = Bytes::from(file).into_response();
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

/// The backlog (descriptors first), then live events, skipping anything the
/// backlog already held. A client that falls behind gets a gap event.
async fn stream_events(mut socket: WebSocket, state: &UiState) -> Result<(), axum::Error> {
    let mut sub = state.hub.subscribe();
    let snapshot = state.store.snapshot_from(sub.first_seq).await;
    // The backlog in batches. At least one message is always sent, empty
    // when there is no backlog, so a client knows it is connected and
    // up to date even with an idle relay.
    let mut batch = Vec::new();
    let mut sent = false;
    for stamped in &snapshot.events {
        push(&mut batch, stamped);
        if batch.len() >= BATCH_BYTES {
            socket.send(binary(&mut batch)).await?;
            sent = true;
        }
    }
    if !batch.is_empty() || !sent {
        socket.send(binary(&mut batch)).await?;
    }
    let mut stop = state.stop.clone();
    loop {
        tokio::select! {
            received = sub.rx.recv() => {
                match received {
                    Ok(stamped) => {
                        if stamped.seq > snapshot.last_seq {
                            push(&mut batch, &stamped);
                        }
                        // Send what is ready now in one message.
                        while batch.len() < BATCH_BYTES {
                            match sub.rx.try_recv() {
                                Ok(more) if more.seq > snapshot.last_seq => push(&mut batch, &more),
                                Ok(_) => {}
                                Err(_) => break,
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        capture::encode_record(&hub::lag_gap(n, "this WebSocket client"), &mut batch);
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                }
                if !batch.is_empty() {
                    socket.send(binary(&mut batch)).await?;
                }
            }
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                Some(Ok(_)) => {}
            },
            () = crate::stopped(&mut stop) => {
                let _ = socket.send(Message::Close(None)).await;
                break;
            }
        }
    }
    Ok(())
}

fn push(batch: &mut Vec<u8>, stamped: &Stamped) {
    capture::encode_record(&stamped.event, batch);
}

fn binary(batch: &mut Vec<u8>) -> Message {
    Message::Binary(Bytes::from(std::mem::take(batch)))
}
