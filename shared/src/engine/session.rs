//! A capture or live session: events go in one at a time; call summaries
//! stay current and cheap; messages are decoded only when a call is viewed
//! (or searched), and the result is cached until the schema or the view
//! options change.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use prost_reflect::MessageDescriptor;

use super::call::{CallRecord, CallSummary, DecodeCache};
use super::compression::Encoding;
use super::detail::CallDetail;
use super::json::JsonOptions;
use super::message::MessageView;
use super::metadata::HeaderView;
use super::schema::{Added, Schema};
use super::status::decode_details;
use crate::pb::{self, event::Kind};

/// What an ingested event changed, for a live view to refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A call appeared or changed (its summary, its messages).
    Call(u64),
    /// The schema changed: every call's decoded view may differ.
    Schema,
    /// Events were lost; the calls named (if any) are now incomplete.
    Gap,
    /// Nothing visible (an event without a kind).
    Nothing,
}

/// Calls by state, for a status line (kept current as events arrive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Every call in the session (removed calls no longer count).
    pub calls: usize,
    /// Still running (no end captured yet).
    pub open: usize,
    /// Ended with a status other than OK (or none).
    pub failed: usize,
    /// Missing events (start not captured, or named by a gap).
    pub incomplete: usize,
}

impl Counts {
    fn of(call: &CallSummary) -> Self {
        Counts {
            calls: 1,
            open: usize::from(!call.is_ended()),
            failed: usize::from(call.status.as_ref().is_some_and(|s| !s.is_ok())),
            incomplete: usize::from(call.incomplete),
        }
    }

    /// Takes `was` out and puts `now` in.
    fn replace(&mut self, was: Counts, now: Counts) {
        self.calls = self.calls + now.calls - was.calls;
        self.open = self.open + now.open - was.open;
        self.failed = self.failed + now.failed - was.failed;
        self.incomplete = self.incomplete + now.incomplete - was.incomplete;
    }
}

/// Every call seen so far, in the order they started.
#[derive(Debug, Clone, Default)]
pub struct Session {
    schema: Schema,
    /// Boxed: a million calls then grow the vector by moving pointers, not
    /// records, and never need one block of memory for all of them.
    #[expect(clippy::vec_box, reason = "a record is large; see above")]
    calls: Vec<Box<CallRecord>>,
    index: HashMap<u64, usize, foldhash::fast::RandomState>,
    gaps: Vec<pb::CaptureGap>,
    /// Every descriptor event taken in (sets and failure notices), once.
    descriptors: Vec<pb::Descriptors>,
    /// Counts for a status line, kept as events arrive.
    counts: Counts,
    /// Calls a gap named before any of their events arrived.
    lost_ahead: HashSet<u64>,
    /// The paths, authorities and upstreams the calls share.
    names: Names,
    /// Calls and services per upstream.
    upstreams: Upstreams,
    options: JsonOptions,
}

impl Session {
    /// An empty session with the bundled types and default view options
    /// (defaults shown, unknown fields listed).
    pub fn new() -> Self {
        Self::default()
    }

    /// A session holding `events`.
    pub fn from_events(events: impl IntoIterator<Item = pb::Event>) -> Self {
        let mut session = Self::new();
        session.ingest_all(events);
        session
    }

    /// Takes one event.
    pub fn ingest(&mut self, event: pb::Event) -> Change {
        let Some(kind) = event.kind else {
            return Change::Nothing;
        };
        match kind {
            Kind::Descriptors(set) => {
                let added = self.schema.add_set(&set);
                if !self.descriptors.contains(&set) {
                    self.descriptors.push(set.clone());
                }
                for call in &mut self.calls {
                    // New files only resolve what did not resolve before.
                    let stale = match added {
                        Added::Nothing => false,
                        Added::Extended => !call.summary.has_schema,
                        Added::Rebuilt => true,
                    };
                    if stale {
                        call.refresh_kind(&self.schema);
                    }
                }
                // A failure notice or warnings change the schema's notes.
                if added != Added::Nothing || set.is_failure() || !set.warnings.is_empty() {
                    Change::Schema
                } else {
                    Change::Nothing
                }
            }
            Kind::Gap(gap) => {
                for id in &gap.call_ids {
                    match self.index.get(id) {
                        Some(&i) => {
                            let summary = &mut self.calls[i].summary;
                            let was = Counts::of(summary);
                            summary.incomplete = true;
                            summary.events_lost = true;
                            self.counts.replace(was, Counts::of(summary));
                        }
                        None => {
                            self.lost_ahead.insert(*id);
                        }
                    }
                }
                self.gaps.push(gap);
                Change::Gap
            }
            kind => {
                let id = event.call_id;
                let mut created = false;
                let i = *self.index.entry(id).or_insert_with(|| {
                    created = true;
                    let mut call = Box::new(CallRecord::new(id, &self.names));
                    if self.lost_ahead.remove(&id) {
                        call.summary.events_lost = true;
                    }
                    self.calls.push(call);
                    self.calls.len() - 1
                });
                let call = &mut self.calls[i];
                let was = if created {
                    Counts::default()
                } else {
                    Counts::of(&call.summary)
                };
                let was_started = call.started.is_some();
                call.ingest(kind, &self.schema, &mut self.names);
                if !was_started && call.started.is_some() {
                    self.upstreams.add(&call.summary);
                }
                self.counts.replace(was, Counts::of(&call.summary));
                Change::Call(id)
            }
        }
    }

    /// Takes many events.
    pub fn ingest_all(&mut self, events: impl IntoIterator<Item = pb::Event>) {
        for event in events {
            self.ingest(event);
        }
    }

    /// The schema built from every `Descriptors` event taken in so far.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Every call's summary, in start (first seen) order.
    pub fn calls(&self) -> impl ExactSizeIterator<Item = &CallSummary> {
        self.calls.iter().map(|c| &c.summary)
    }

    /// The summary of call `id`; `None` when the session has no such call.
    pub fn call(&self, id: u64) -> Option<&CallSummary> {
        self.index.get(&id).map(|&i| &self.calls[i].summary)
    }

    /// The services of the calls' methods, sorted, once each (also of calls
    /// since removed).
    pub fn services(&self) -> impl Iterator<Item = &str> {
        self.names.services().into_iter()
    }

    /// The upstreams the calls went to, by name, with how many calls each
    /// has now (calls whose start was not captured are not counted; the
    /// empty name: calls whose start named none).
    pub fn upstreams(&self) -> Vec<UpstreamCalls> {
        self.upstreams.calls()
    }

    /// The services called on `upstream`, sorted, once each (also of calls
    /// since removed).
    pub fn upstream_services(&self, upstream: &str) -> impl Iterator<Item = &str> {
        self.upstreams.services(upstream)
    }

    /// How many calls there are.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// Whether there are no calls (descriptors and gaps alone do not count).
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// How many calls there are, still open, failed, and incomplete.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// Every descriptor event taken in, in arrival order.
    pub fn descriptors(&self) -> &[pb::Descriptors] {
        &self.descriptors
    }

    /// The gaps seen: places where events were lost.
    pub fn gaps(&self) -> &[pb::CaptureGap] {
        &self.gaps
    }

    /// How messages are currently rendered.
    pub fn options(&self) -> JsonOptions {
        self.options
    }

    /// Changes how messages are rendered (decoded views are redone on demand).
    pub fn set_options(&mut self, options: JsonOptions) {
        self.options = options;
    }

    /// One message of a call, decoded (cached).
    pub fn message(&mut self, id: u64, index: usize) -> Option<Arc<MessageView>> {
        let &i = self.index.get(&id)?;
        let call = &mut self.calls[i];
        let context = CallContext::new(call, &self.schema, &self.options);
        let ordinal = call.ordinal(index);
        decoded(call, &context, index, ordinal)
    }

    /// Everything about a call, its messages decoded (cached).
    pub fn detail(&mut self, id: u64) -> Option<CallDetail> {
        self.detail_with(id, true)
    }

    /// Everything about a call but its messages (`messages` is empty): for
    /// writers that decode them one at a time ([`Session::decode_once`]).
    pub fn detail_without_messages(&mut self, id: u64) -> Option<CallDetail> {
        self.detail_with(id, false)
    }

    /// Message `index` of a call, decoded without keeping the result: the
    /// memory for its decompressed bytes is freed when the view is dropped.
    pub fn decode_once(&self, id: u64, index: usize) -> Option<MessageView> {
        let call = &self.calls[*self.index.get(&id)?];
        let message = call.messages.get(index)?;
        let context = CallContext::new(call, &self.schema, &self.options);
        let (desc, encoding) = context.for_direction(message.direction());
        Some(MessageView::decode(
            message,
            index,
            call.ordinal(index),
            desc.as_ref().map_err(String::as_str),
            encoding,
            &self.options,
        ))
    }

    /// The direction of each of a call's messages, in capture order.
    pub fn directions(&self, id: u64) -> Vec<pb::Direction> {
        self.index.get(&id).map_or_else(Vec::new, |&i| {
            self.calls[i]
                .messages
                .iter()
                .map(|m| m.direction())
                .collect()
        })
    }

    /// Forgets a call (and everything decoded of it), e.g. once written out.
    pub fn remove(&mut self, id: u64) -> bool {
        let Some(i) = self.index.remove(&id) else {
            return false;
        };
        let gone = self.calls.remove(i);
        self.counts
            .replace(Counts::of(&gone.summary), Counts::default());
        if gone.started.is_some() {
            self.upstreams.remove(&gone.summary);
        }
        for slot in self.index.values_mut() {
            if *slot > i {
                *slot -= 1;
            }
        }
        true
    }

    fn detail_with(&mut self, id: u64, with_messages: bool) -> Option<CallDetail> {
        let &i = self.index.get(&id)?;
        let call = &mut self.calls[i];
        let context = CallContext::new(call, &self.schema, &self.options);
        let messages = if with_messages {
            let ordinals: Vec<usize> = call.ordinals().collect();
            ordinals
                .into_iter()
                .enumerate()
                .filter_map(|(m, ordinal)| decoded(call, &context, m, ordinal))
                .collect()
        } else {
            Vec::new()
        };
        let upstream = &call.summary.upstream;
        let pool = self.schema.pool_for(upstream);
        let started = call.started.as_ref();
        let ended = call.ended.as_ref();
        Some(CallDetail {
            summary: call.summary.clone(),
            method: self.schema.resolve_for(upstream, &call.summary.path),
            scheme: started.map(|s| s.scheme.to_string()).unwrap_or_default(),
            http_method: started.map(|s| s.method.to_string()).unwrap_or_default(),
            request_headers: started.map_or_else(Vec::new, |s| {
                HeaderView::all(&s.headers, pool, &self.options)
            }),
            response_headers: call.response_headers.as_ref().map_or_else(Vec::new, |h| {
                HeaderView::all(&h.headers, pool, &self.options)
            }),
            http_status: call
                .response_headers
                .as_ref()
                .map(|h| h.http_status)
                .or_else(|| ended.map(|e| e.http_status).filter(|&s| s != 0)),
            trailers: ended.map_or_else(Vec::new, |e| {
                HeaderView::all(&e.trailers, pool, &self.options)
            }),
            status_details: ended
                .filter(|e| !e.grpc_status_details.is_empty())
                .map(|e| decode_details(pool, &e.grpc_status_details, &self.options)),
            protocol_errors: ended.map(|e| e.protocol_errors.clone()).unwrap_or_default(),
            endings: ended.map(|e| e.endings.clone()).unwrap_or_default(),
            client_tls: started.and_then(|s| s.client_tls.clone()),
            upstream_tls: call.upstream_tls.clone(),
            request_encoding: call.encoding(true),
            response_encoding: call.encoding(false),
            messages,
        })
    }
}

/// What decoding a call's messages needs, worked out once per call.
struct CallContext {
    key: (u64, JsonOptions),
    request: Result<MessageDescriptor, String>,
    response: Result<MessageDescriptor, String>,
    request_encoding: Encoding,
    response_encoding: Encoding,
}

impl CallContext {
    fn new(call: &CallRecord, schema: &Schema, options: &JsonOptions) -> Self {
        let method = schema.resolve_for(&call.summary.upstream, &call.summary.path);
        CallContext {
            key: (schema.generation(), *options),
            request: method.as_ref().map(|m| m.input()).map_err(Clone::clone),
            response: method.as_ref().map(|m| m.output()).map_err(Clone::clone),
            request_encoding: call.encoding(true),
            response_encoding: call.encoding(false),
        }
    }
}

impl CallContext {
    fn for_direction(
        &self,
        direction: pb::Direction,
    ) -> (&Result<MessageDescriptor, String>, &Encoding) {
        if direction == pb::Direction::Response {
            (&self.response, &self.response_encoding)
        } else {
            (&self.request, &self.request_encoding)
        }
    }
}

/// Message `index` of `call` (`ordinal` among its direction's), from the
/// cache or decoded now.
fn decoded(
    call: &mut CallRecord,
    context: &CallContext,
    index: usize,
    ordinal: usize,
) -> Option<Arc<MessageView>> {
    if let Some(view) = DecodeCache::get(&call.cache, context.key, index) {
        return Some(view);
    }
    let message = call.messages.get(index)?;
    let (desc, encoding) = context.for_direction(message.direction());
    let view = Arc::new(MessageView::decode(
        message,
        index,
        ordinal,
        desc.as_ref().map_err(String::as_str),
        encoding,
        &context.key.1,
    ));
    let len = call.messages.len();
    let cache = call.cache.get_or_insert_with(|| {
        Box::new(DecodeCache {
            key: context.key,
            views: Vec::new(),
        })
    });
    if cache.key != context.key {
        cache.key = context.key;
        cache.views.clear();
    }
    cache.views.resize(len, None);
    if let Some(slot) = cache.views.get_mut(index) {
        *slot = Some(view.clone());
    }
    Some(view)
}

mod export;
mod names;
mod preview;
mod replay;
mod search;
mod upstreams;

pub(crate) use names::Names;
pub use preview::CompleteError;
pub use search::Search;
pub(crate) use search::SearchText;
pub use upstreams::UpstreamCalls;
use upstreams::Upstreams;
#[cfg(test)]
mod tests;
