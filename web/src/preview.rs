//! Whole messages for live previews. The relay sends messages larger than
//! `--live-preview-bytes` to the page as their first bytes only
//! (`pb::Message::preview`); opening such a message fetches the whole from
//! the relay's `/api/message` and puts it in the session
//! (`Session::complete_message`), so the detail re-renders decoded in full.
//!
//! The URL logic is native and tested; the fetch is wasm-only. Not the
//! decoding (the engine's) nor the rendering (`detail`'s).

/// The relay's address for message `index` of call `id`, from the live
/// feed's WebSocket URL (`ws://host:port/ws` gives
/// `http://host:port/api/message?call=ID&index=N`; `wss` gives `https`).
/// `None` for anything that is not a WebSocket URL.
pub fn message_url(ws_url: &str, id: u64, index: usize) -> Option<String> {
    let (scheme, rest) = ws_url.split_once("://")?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "ws" => "http",
        "wss" => "https",
        _ => return None,
    };
    let authority = rest
        .split(['/', '?', '#'])
        .next()
        .filter(|a| !a.is_empty())?;
    Some(format!(
        "{scheme}://{authority}/api/message?call={id}&index={index}"
    ))
}

#[cfg(target_arch = "wasm32")]
pub use fetch::complete;

#[cfg(target_arch = "wasm32")]
mod fetch {
    use leptos::prelude::*;
    use leptos::task::spawn_local;

    use crate::state::{AppState, Level, Source};

    /// Fetches message `index` of call `id` whole from the live relay, puts
    /// it in the session and calls `done` (to re-render). Does nothing when
    /// the page is not live (a file's messages are whole or truncated, never
    /// previews to complete).
    pub fn complete(state: AppState, id: u64, index: usize, done: impl Fn() + 'static) {
        let Source::Live(ws_url) = state.source.get_untracked() else {
            return;
        };
        let Some(url) = super::message_url(&ws_url, id, index) else {
            return;
        };
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
}

#[cfg(test)]
mod tests {
    use super::message_url;

    #[test]
    fn the_message_url_is_beside_the_feed() {
        assert_eq!(
            message_url("ws://127.0.0.1:9998/ws", 7, 2).as_deref(),
            Some("http://127.0.0.1:9998/api/message?call=7&index=2")
        );
        assert_eq!(
            message_url("WSS://relay.example:443/ws?x=1", 1, 0).as_deref(),
            Some("https://relay.example:443/api/message?call=1&index=0")
        );
        assert_eq!(message_url("http://127.0.0.1/ws", 1, 0), None);
        assert_eq!(message_url("ws:///ws", 1, 0), None);
    }
}
