//! Free-text search through a session's calls, over a search index.
//!
//! # The index
//! Each call's searchable text is built once, the first time a search
//! reaches the call: its method path, authority, every header and trailer
//! (`name: value`), its status (name and message, relay error, Connect's
//! code), how each side ended it (`rst_stream cancel`, `trailers ok`, their details), each
//! hop's TLS (version, SNI, certificate subjects), and each message decoded (canonical JSON without default values, whatever
//! the view shows; or the schema-less view with its note), joined with
//! `\u{1f}` and lower-cased: one boxed string per call, kept on the call.
//! It is dropped when an event of that call arrives, and rebuilt when the
//! schema changed since it was built. Building it decodes without keeping
//! the decoded views, so the index costs about as much as the text it
//! holds.
//!
//! # A search
//! [`Search`] goes through the calls a slice at a time ([`Search::step`]),
//! so a UI can yield to the browser between slices, show how far it got
//! ([`Search::progress`]) and drop it half-way when the query changes.
//! [`Session::search`] is the same, all at once.
//!
//! # What it is not
//! No tokenizing, ranking or regular expressions: a case-insensitive
//! substring, the way a network panel's filter box works.

use super::{CallContext, Session};
use crate::engine::body::Body;
use crate::engine::call::{CallRecord, DecodeCache};
use crate::engine::ending;
use crate::engine::json::JsonOptions;
use crate::engine::message::MessageView;
use crate::engine::schema::Schema;

/// Between the fields of a call's text, so a query never matches across two.
const SEPARATOR: char = '\u{1f}';

/// A call's searchable text and what it was built with.
#[derive(Debug, Clone)]
pub(crate) struct SearchText {
    /// Schema generation the text was built with.
    generation: u64,
    /// Every searchable field, lower-cased, separated by [`SEPARATOR`].
    text: Box<str>,
}

/// One search in progress: where it got to and what matched so far.
#[derive(Debug, Clone)]
pub struct Search {
    needle: String,
    /// Position (in start order) of the next call to look at.
    next: usize,
    hits: Vec<u64>,
}

impl Search {
    /// A search for `query` (case-insensitive), at the first call.
    pub fn new(query: &str) -> Search {
        Search {
            needle: query.to_lowercase(),
            next: 0,
            hits: Vec::new(),
        }
    }

    /// Looks at up to `calls` more calls of `session` (building the index
    /// entries it lacks); true once every call has been looked at. Calls
    /// that arrive meanwhile are looked at too.
    pub fn step(&mut self, session: &mut Session, calls: usize) -> bool {
        let end = self.next.saturating_add(calls).min(session.calls.len());
        let generation = session.schema.generation();
        for call in &mut session.calls[self.next.min(end)..end] {
            let stale = call
                .search
                .as_ref()
                .is_none_or(|t| t.generation != generation);
            if stale {
                let text = index_text(call, &session.schema);
                call.search = Some(SearchText { generation, text });
            }
            if call
                .search
                .as_ref()
                .is_some_and(|t| t.text.contains(self.needle.as_str()))
            {
                self.hits.push(call.summary.id);
            }
        }
        self.next = end;
        self.is_done(session)
    }

    /// Every call of `session` has been looked at.
    pub fn is_done(&self, session: &Session) -> bool {
        self.next >= session.calls.len()
    }

    /// Calls looked at, and calls in the session.
    pub fn progress(&self, session: &Session) -> (usize, usize) {
        (self.next.min(session.calls.len()), session.calls.len())
    }

    /// The lower-cased query.
    pub fn needle(&self) -> &str {
        &self.needle
    }

    /// The matching calls found so far, in start order.
    pub fn hits(&self) -> &[u64] {
        &self.hits
    }

    /// The matching calls, in start order.
    pub fn into_hits(self) -> Vec<u64> {
        self.hits
    }
}

impl Session {
    /// Calls whose method, authority, metadata, status or decoded messages
    /// contain `needle` (case-insensitive), in start order, through the
    /// search index (built for the calls that lack it).
    pub fn search(&mut self, needle: &str) -> Vec<u64> {
        let mut search = Search::new(needle);
        while !search.step(self, usize::MAX) {}
        search.into_hits()
    }

    /// Bytes of text the search index holds (for benchmarks and tests).
    pub fn search_index_bytes(&self) -> usize {
        self.calls
            .iter()
            .filter_map(|c| c.search.as_ref())
            .map(|t| t.text.len())
            .sum()
    }
}

/// How messages are rendered for the index, whatever the view shows:
/// default values left out (`"count":0` is nothing to search for, and
/// would double the index), unknown fields in.
const INDEX_JSON: JsonOptions = JsonOptions {
    show_defaults: false,
    unknown_fields: true,
};

/// The searchable text of `call`, lower-cased.
fn index_text(call: &CallRecord, schema: &Schema) -> Box<str> {
    let options = &INDEX_JSON;
    let mut text = String::new();
    let mut field = |s: &str| {
        text.push_str(s);
        text.push(SEPARATOR);
    };
    field(&call.summary.path);
    field(&call.summary.authority);
    let headers = call
        .started
        .iter()
        .flat_map(|s| s.headers.iter())
        .chain(call.response_headers.iter().flat_map(|h| h.headers.iter()))
        .chain(call.ended.iter().flat_map(|e| e.trailers.iter()));
    for h in headers {
        field(&format!(
            "{}: {}",
            h.name,
            String::from_utf8_lossy(&h.value)
        ));
    }
    if let Some(status) = &call.summary.status {
        field(&status.name());
        field(&status.message);
        if let Some(error) = &status.relay_error {
            field(error);
        }
    }
    if let Some(ended) = call.ended.as_ref().filter(|e| !e.connect_code.is_empty()) {
        field(&ended.connect_code);
    }
    for ending in call.ended.iter().flat_map(|e| e.endings.iter()) {
        field(&ending::what(ending));
        field(&ending.detail);
    }
    let client_tls = call.started.as_ref().and_then(|s| s.client_tls.as_deref());
    for tls in client_tls.into_iter().chain(call.upstream_tls.as_deref()) {
        field(&tls.version);
        field(&tls.sni);
        for cert in tls.server_certificate.iter().chain(&tls.client_certificate) {
            field(&cert.subject);
        }
    }
    let context = CallContext::new(call, schema, options);
    for ((i, message), ordinal) in call.messages.iter().enumerate().zip(call.ordinals()) {
        let cached = DecodeCache::get(&call.cache, context.key, i);
        let decoded;
        let view: &MessageView = match &cached {
            Some(view) => view,
            None => {
                let how = context.for_direction(message.direction());
                decoded = MessageView::decode(message, i, ordinal, &how);
                &decoded
            }
        };
        match &view.body {
            Body::Json { json, .. } => field(&json.to_string()),
            Body::JsonText { json, problems, .. } => {
                field(&json.to_string());
                for problem in problems {
                    field(problem);
                }
            }
            Body::Text { reason, text } => {
                field(reason);
                field(text);
            }
            Body::Schemaless { reason, wire } => {
                field(reason);
                field(&wire.to_json_object().to_string());
            }
            // Base64 of compressed bytes is nothing anyone searches for.
            Body::Raw { reason, .. } => field(reason),
        }
    }
    text.to_lowercase().into_boxed_str()
}
