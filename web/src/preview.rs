//! Whole messages for live previews. The relay sends messages larger than
//! `--live-preview-bytes` to the page as their first bytes only
//! (`pb::Message::preview`); opening such a message fetches the whole from
//! the relay's `/api/message` and puts it in the session
//! (`Session::complete_message`), so the detail re-renders decoded in full.
//!
//! Wasm-only; the URL is `relay_url`'s. Not the decoding (the engine's) nor
//! the rendering (`detail`'s).

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::relay_url::RelayUrl;
use crate::state::{AppState, Level, Source};

/// Fetches message `index` of call `id` whole from the live relay, puts
/// it in the session and calls `done` (to re-render). Does nothing when
/// the page is not live (a file's messages are whole or truncated, never
/// previews to complete).
pub fn complete(state: AppState, id: u64, index: usize, done: impl Fn() + 'static) {
    let Source::Live(ws_url) = state.source.get_untracked() else {
        return;
    };
    let Some(relay) = RelayUrl::parse(&ws_url) else {
        return;
    };
    let url = relay.message(id, index, state.token.get_value().as_deref());
    spawn_local(async move {
        let fetched = match gloo_net::http::Request::get(&url).send().await {
            Ok(r) if r.ok() => r.binary().await.map_err(|e| e.to_string()),
            Ok(r) => Err(format!(
                "HTTP {} {}: {}",
                r.status(),
                r.status_text(),
                r.text().await.unwrap_or_default().trim()
            )),
            Err(e) => Err(e.to_string()),
        };
        let outcome = fetched.and_then(|bytes| {
            state
                .session
                .try_update_value(|s| s.complete_message(id, index, bytes.into()))
                .unwrap_or(Ok(()))
                .map_err(|e| e.to_string())
        });
        if let Err(why) = outcome {
            state.notify(
                Level::Warn,
                format!(
                    "cannot load the whole of message {} of call {id}: {why}",
                    index + 1
                ),
            );
        }
        done();
    });
}
