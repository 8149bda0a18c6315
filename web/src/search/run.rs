//! Runs live searches in the page: debounced, in slices that yield to the
//! browser, superseded by the next keystroke (see [`super`]).

use std::collections::HashSet;

use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;
use leptos::task::spawn_local;
use loom_shared::engine::Search;

use super::{BATCH, DEBOUNCE_MS, PROGRESS_AFTER_MS, Runs, SLICE_MS};
use crate::dom;
use crate::state::AppState;

/// The user typed: search for `text` once typing pauses.
pub fn typed(state: AppState, text: String) {
    start(state, text, DEBOUNCE_MS);
}

/// The user pressed Enter: search now, unless that search already runs or ran.
pub fn entered(state: AppState, text: String) {
    if !state.search.with_value(|r| r.is_for(text.trim())) {
        start(state, text, 0);
    }
}

/// The calls changed: search the current query again, unless a search runs.
pub fn refresh(state: AppState) {
    if state.search.with_value(Runs::is_running) {
        return;
    }
    let text = state.filter.with_untracked(|f| f.text.clone());
    if !text.trim().is_empty() {
        start(state, text, 0);
    }
}

/// Stop any search and show every call (Escape, or the calls were replaced).
pub fn clear(state: AppState) {
    state.search.update_value(Runs::cancel);
    state.searching.set(None);
    state.hits.set(None);
}

fn is_current(state: AppState, generation: u64) -> bool {
    state.search.with_value(|r| r.is_current(generation))
}

fn start(state: AppState, text: String, delay_ms: u32) {
    let query = text.trim().to_owned();
    let generation = state
        .search
        .try_update_value(|r| r.begin(&query))
        .unwrap_or_default();
    // Whatever ran is superseded: its progress goes with it.
    state.searching.set(None);
    spawn_local(async move {
        if delay_ms > 0 {
            TimeoutFuture::new(delay_ms).await;
            if !is_current(state, generation) {
                return;
            }
        }
        if state.filter.with_untracked(|f| f.text != text) {
            state.filter.update(|f| f.text = text);
        }
        if query.is_empty() {
            state.hits.set(None);
        } else if let Some(hits) = search(state, generation, &query).await {
            state.hits.set(Some(hits));
            state.searches_run.update(|n| *n += 1);
        } else {
            return;
        }
        state.search.update_value(|r| r.finish(generation));
    });
}

/// The calls matching `query`; `None` when a newer run superseded this one.
async fn search(state: AppState, generation: u64, query: &str) -> Option<HashSet<u64>> {
    let began = dom::now_ms();
    let mut search = Search::new(query);
    loop {
        let until = dom::now_ms() + SLICE_MS;
        let done = loop {
            let done = state
                .session
                .try_update_value(|s| search.step(s, BATCH))
                .unwrap_or(true);
            if done || dom::now_ms() >= until {
                break done;
            }
        };
        if done {
            break;
        }
        if dom::now_ms() - began >= PROGRESS_AFTER_MS {
            let progress = state.session.with_value(|s| search.progress(s));
            state.searching.set(Some(progress));
        }
        TimeoutFuture::new(0).await;
        if !is_current(state, generation) {
            return None;
        }
    }
    state.searching.set(None);
    Some(search.into_hits().into_iter().collect())
}
