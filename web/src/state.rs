//! The inspector's shared state, provided through Leptos context.
//!
//! The decoding [`Session`] is large and changes in place, so it lives in a
//! `StoredValue`; `version` is the signal that says "it changed". Views read
//! the session inside closures that also read `version`, so they re-render
//! when events arrive.

use std::collections::HashSet;

use leptos::prelude::*;
use loom_shared::engine::{Change, JsonOptions, Session};
use loom_shared::pb;

use crate::filter::Filter;
use crate::search::Runs;

/// Where the calls come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Nothing loaded yet.
    Empty,
    /// A relay's live feed.
    Live(String),
    /// A capture file (its name) or URL.
    File(String),
}

/// The live connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conn {
    Idle,
    Connecting,
    Live,
    /// Lost or refused; the reason, and whether a retry is scheduled.
    Down(String, bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

#[derive(Clone, Copy)]
pub struct AppState {
    /// The only store: every call, schema and gap (and what saving writes).
    pub session: StoredValue<Session>,
    /// Events received while paused, ingested on resume.
    pub held: StoredValue<Vec<pb::Event>>,
    pub version: RwSignal<u64>,
    pub selected: RwSignal<Option<u64>>,
    pub filter: RwSignal<Filter>,
    /// Calls matching the free-text search, when there is one.
    pub hits: RwSignal<Option<HashSet<u64>>>,
    /// Which free-text search is current (see `search`).
    pub search: StoredValue<Runs>,
    /// A long search's progress: calls looked at, and calls.
    pub searching: RwSignal<Option<(usize, usize)>>,
    /// Searches finished (a superseded one never finishes), for tests and
    /// benchmarks (the search box's `data-searches`).
    pub searches_run: RwSignal<u64>,
    pub source: RwSignal<Source>,
    pub conn: RwSignal<Conn>,
    /// Where the live relay takes gRPC calls (`127.0.0.1:9999`,
    /// `unix:/path`), as its `/healthz` says: what a call replayed through
    /// the relay is sent to. `None` offline, or until it answers.
    pub relay_addr: RwSignal<Option<String>>,
    /// The relay's pairing token, from the page's fragment (`#token=…`).
    pub token: StoredValue<Option<String>>,
    /// Bumped to stop the current live feed (a file was opened, or the
    /// relay address changed).
    pub generation: RwSignal<u64>,
    pub paused: RwSignal<bool>,
    pub follow: RwSignal<bool>,
    pub notice: RwSignal<Option<(Level, String)>>,
    /// Loading progress: bytes done and total.
    pub progress: RwSignal<Option<(f64, f64)>>,
    pub redact_on_save: RwSignal<bool>,
    pub hide_defaults: RwSignal<bool>,
    /// Ticks every second, for the durations of open calls.
    pub now_ms: RwSignal<f64>,
}

impl AppState {
    pub fn new(filter: Filter) -> Self {
        AppState {
            session: StoredValue::new(Session::new()),
            held: StoredValue::new(Vec::new()),
            version: RwSignal::new(0),
            selected: RwSignal::new(None),
            filter: RwSignal::new(filter),
            hits: RwSignal::new(None),
            search: StoredValue::new(Runs::default()),
            searching: RwSignal::new(None),
            searches_run: RwSignal::new(0),
            source: RwSignal::new(Source::Empty),
            conn: RwSignal::new(Conn::Idle),
            relay_addr: RwSignal::new(None),
            token: StoredValue::new(None),
            generation: RwSignal::new(0),
            paused: RwSignal::new(false),
            follow: RwSignal::new(true),
            notice: RwSignal::new(None),
            progress: RwSignal::new(None),
            redact_on_save: RwSignal::new(true),
            hide_defaults: RwSignal::new(false),
            now_ms: RwSignal::new(crate::dom::now_ms()),
        }
    }

    pub fn notify(&self, level: Level, text: impl Into<String>) {
        self.notice.set(Some((level, text.into())));
    }

    /// Take a batch of events (live or loaded), unless paused.
    pub fn ingest(&self, batch: Vec<pb::Event>) {
        if self.ingest_quietly(batch) {
            self.touch();
        }
    }

    /// [`AppState::ingest`] without telling the views; true when something
    /// they show changed, and [`AppState::touch`] is due. For loading a
    /// file, so that a million calls do not redo the list and the summary
    /// for every chunk.
    pub fn ingest_quietly(&self, batch: Vec<pb::Event>) -> bool {
        if batch.is_empty() {
            return false;
        }
        if self.paused.get_untracked() {
            self.held.update_value(|h| h.extend(batch));
            return false;
        }
        self.apply(batch)
    }

    /// Tell the views the session changed.
    pub fn touch(&self) {
        self.version.update(|v| *v += 1);
    }

    fn apply(&self, batch: Vec<pb::Event>) -> bool {
        let mut changed = false;
        self.session.update_value(|s| {
            for event in batch {
                changed |= s.ingest(event) != Change::Nothing;
            }
        });
        changed
    }

    pub fn resume(&self) {
        self.paused.set(false);
        let held = self
            .held
            .try_update_value(std::mem::take)
            .unwrap_or_default();
        // Views re-render only when something they show changed.
        if self.apply(held) {
            self.touch();
        }
    }

    /// Start over with no calls (keeping the schemas when `keep_schemas`).
    pub fn reset(&self, keep_schemas: bool) {
        let kept: Vec<pb::Event> = if keep_schemas {
            self.session.with_value(|s| {
                s.descriptors()
                    .iter()
                    .cloned()
                    .map(pb::Event::descriptors)
                    .collect()
            })
        } else {
            Vec::new()
        };
        let options = self.options();
        self.session.set_value({
            let mut s = Session::from_events(kept);
            s.set_options(options);
            s
        });
        self.held.set_value(Vec::new());
        self.selected.set(None);
        crate::search::run::clear(*self);
        self.version.update(|v| *v += 1);
    }

    pub fn options(&self) -> JsonOptions {
        JsonOptions {
            show_defaults: !self.hide_defaults.get_untracked(),
            ..JsonOptions::default()
        }
    }

    /// Apply the view options (defaults shown or hidden) to every call.
    pub fn apply_options(&self) {
        let options = self.options();
        self.session.update_value(|s| s.set_options(options));
        self.version.update(|v| *v += 1);
    }
}

pub fn use_state() -> AppState {
    expect_context::<AppState>()
}
