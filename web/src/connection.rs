//! The live feed: a WebSocket to the relay, decoded batch by batch into the
//! session, reconnecting with backoff. Each connection starts from the
//! relay's full backlog, so after a reconnect the list is rebuilt complete,
//! without duplicates, even if the relay restarted meanwhile.

use futures_util::StreamExt;
use gloo_net::websocket::Message;
use gloo_net::websocket::futures::WebSocket;
use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;
use leptos::task::spawn_local;
use loom_shared::capture;

use crate::state::{AppState, Conn, Level, Source};

const FIRST_RETRY_MS: u32 = 500;
const MAX_RETRY_MS: u32 = 10_000;

/// Connect to `url` (a `ws://…/ws` address) and keep the feed going until
/// another source replaces it.
pub fn connect(state: AppState, url: String) {
    state.generation.update(|g| *g += 1);
    let generation = state.generation.get_untracked();
    state.source.set(Source::Live(url.clone()));
    state.notice.set(None);
    spawn_local(async move {
        let mut retry = FIRST_RETRY_MS;
        let mut ever_connected = false;
        loop {
            if state.generation.get_untracked() != generation {
                return;
            }
            state.conn.set(Conn::Connecting);
            let outcome = feed(state, &url, generation).await;
            if state.generation.get_untracked() != generation {
                return;
            }
            match outcome {
                Feed::Received => {
                    ever_connected = true;
                    retry = FIRST_RETRY_MS;
                    state
                        .conn
                        .set(Conn::Down("connection lost; reconnecting".into(), true));
                }
                Feed::Failed(why) => {
                    state.conn.set(Conn::Down(why, true));
                    if !ever_connected {
                        state.notify(Level::Warn, refusal_hint(&url));
                    }
                }
            }
            TimeoutFuture::new(retry).await;
            retry = (retry * 2).min(MAX_RETRY_MS);
        }
    });
}

enum Feed {
    /// The connection worked for a while, then ended.
    Received,
    /// It never delivered anything.
    Failed(String),
}

async fn feed(state: AppState, url: &str, generation: u64) -> Feed {
    let socket = match WebSocket::open(url) {
        Ok(s) => s,
        Err(e) => return Feed::Failed(format!("cannot open {url}: {e}")),
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
            Err(e) => {
                return if started {
                    Feed::Received
                } else {
                    Feed::Failed(format!("{e}"))
                };
            }
        };
        if !started {
            // A fresh connection brings the relay's whole backlog: start over.
            started = true;
            state.reset(false);
            state.conn.set(Conn::Live);
            state.notice.set(None);
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
        Feed::Failed(format!("{url} closed the connection"))
    }
}

fn refusal_hint(url: &str) -> String {
    let origin = crate::dom::origin();
    format!(
        "Cannot reach the relay at {url}. Is `loom` running? If it is, it may be refusing this page's \
         origin: start it with --allow-origin {origin}"
    )
}
