//! The live feed: a WebSocket to the relay, decoded batch by batch into the
//! session, reconnecting with backoff. Each connection starts from the
//! relay's full backlog, so after a reconnect the list is rebuilt complete,
//! without duplicates, even if the relay restarted meanwhile.
//!
//! The WebSocket carries the pairing token (`?token=`) when the page has
//! one. When it fails, `probe` finds out why (relay down, origin or token
//! refused, local network access blocked) and the page says so. Once it
//! works, the relay's `/healthz` says where it takes gRPC calls (for
//! replaying a call through it).

use futures_util::StreamExt;
use gloo_net::websocket::Message;
use gloo_net::websocket::futures::WebSocket;
use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;
use leptos::task::spawn_local;
use loom_shared::capture;

use crate::relay_url::RelayUrl;
use crate::state::{AppState, Conn, Level, Source};

const FIRST_RETRY_MS: u32 = 500;
const MAX_RETRY_MS: u32 = 10_000;

/// Connect to `relay` and keep the feed going until another source
/// replaces it.
pub fn connect(state: AppState, relay: RelayUrl) {
    state.generation.update(|g| *g += 1);
    let generation = state.generation.get_untracked();
    state.source.set(Source::Live(relay.ws()));
    state.relay_addr.set(None);
    state.notice.set(None);
    let token = state.token.get_value();
    let url = relay.ws_with_token(token.as_deref());
    let health = relay.health(token.as_deref());
    spawn_local(async move {
        let mut retry = FIRST_RETRY_MS;
        // Said once per reason: a dismissed notice stays dismissed.
        let mut said: Option<String> = None;
        loop {
            if state.generation.get_untracked() != generation {
                return;
            }
            state.conn.set(Conn::Connecting);
            let outcome = feed(state, &url, &health, generation).await;
            if state.generation.get_untracked() != generation {
                return;
            }
            match outcome {
                Feed::Received => {
                    retry = FIRST_RETRY_MS;
                    said = None;
                    state
                        .conn
                        .set(Conn::Down("connection lost; reconnecting".into(), true));
                }
                Feed::Failed => {
                    let diagnosis = crate::probe::diagnose(&relay, token.as_deref()).await;
                    if state.generation.get_untracked() != generation {
                        return;
                    }
                    state
                        .conn
                        .set(Conn::Down(diagnosis.reason.label().to_owned(), true));
                    if said.as_ref() != Some(&diagnosis.message) {
                        state.notify(Level::Warn, diagnosis.message.clone());
                        said = Some(diagnosis.message);
                    }
                }
            }
            TimeoutFuture::new(retry).await;
            retry = (retry * 2).min(MAX_RETRY_MS);
        }
    });
}

/// Connect to the relay `text` names (what the user typed, or `?relay=`),
/// or say why it names none.
pub fn connect_to(state: AppState, text: &str) {
    let text = text.trim();
    if text.is_empty() {
        return;
    }
    match RelayUrl::parse(text) {
        Some(relay) => connect(state, relay),
        None => state.notify(
            Level::Error,
            format!("`{text}` is not a relay address: give ws://host:port/ws (or host:port)."),
        ),
    }
}

enum Feed {
    /// The connection worked for a while, then ended.
    Received,
    /// It never delivered anything (a browser does not say why).
    Failed,
}

/// Where the relay takes gRPC calls, from its `/healthz` (`relay`);
/// `None` when it does not say.
async fn relay_addr(health: &str) -> Option<String> {
    let response = gloo_net::http::Request::get(health).send().await.ok()?;
    let text = response.text().await.ok()?;
    let body: serde_json::Value = serde_json::from_str(&text).ok()?;
    body.get("relay")?.as_str().map(str::to_owned)
}

async fn feed(state: AppState, url: &str, health: &str, generation: u64) -> Feed {
    let socket = match WebSocket::open(url) {
        Ok(s) => s,
        Err(_) => return Feed::Failed,
    };
    let (_sink, mut stream) = socket.split();
    let mut started = false;
    while let Some(message) = stream.next().await {
        if state.generation.get_untracked() != generation {
            return Feed::Received;
        }
        let bytes = match message {
            Ok(Message::Bytes(bytes)) => bytes,
            Ok(Message::Text(_)) => continue,
            Err(_) => {
                return if started {
                    Feed::Received
                } else {
                    Feed::Failed
                };
            }
        };
        if !started {
            // A fresh connection brings the relay's whole backlog: start over.
            started = true;
            state.reset(false);
            state.conn.set(Conn::Live);
            state.notice.set(None);
            let health = health.to_owned();
            spawn_local(async move {
                let addr = relay_addr(&health).await;
                if state.generation.get_untracked() == generation {
                    state.relay_addr.set(addr);
                }
            });
        }
        match capture::decode_batch(&bytes) {
            Ok(events) => state.ingest(events),
            Err(e) => state.notify(
                Level::Error,
                format!("the relay sent a malformed batch: {e}"),
            ),
        }
    }
    if started {
        Feed::Received
    } else {
        Feed::Failed
    }
}
