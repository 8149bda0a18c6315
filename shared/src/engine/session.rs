//! A capture or live session: events go in one at a time; call summaries
//! stay current and cheap; messages are decoded only when a call is viewed
//! (or searched), and the result is cached until the schema or the view
//! options change.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::call::{CallRecord, CallSummary};
use super::detail::CallDetail;
use super::json::JsonOptions;
use super::message::MessageView;
use super::metadata::HeaderView;
use super::protocol::{Protocol, ProtocolStatus};
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
    /// Calls per protocol.
    protocols: Protocols,
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
                    self.protocols.add(call.summary.protocol);
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

    /// The protocols the calls spoke, in [`Protocol::ALL`]'s order, with
    /// how many calls each has now (calls whose start was not captured are
    /// not counted).
    pub fn protocols(&self) -> Vec<(Protocol, usize)> {
        self.protocols.calls()
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
        let how = context.for_direction(message.direction());
        Some(MessageView::decode(
            message,
            index,
            call.ordinal(index),
            &how,
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
            self.protocols.remove(gone.summary.protocol);
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
            codec: call.codec(),
            http_version: started
                .map(|s| s.http_version().to_owned())
                .unwrap_or_default(),
            protocol_status: ended.map(ProtocolStatus::of).unwrap_or_default(),
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
            request_encoding: call.encoding(pb::Direction::Request),
            response_encoding: call.encoding(pb::Direction::Response),
            messages,
        })
    }
}

mod context;
mod export;
mod names;
mod preview;
mod protocols;
mod replay;
mod search;
mod upstreams;

use context::{CallContext, decoded};
pub(crate) use names::Names;
pub use preview::CompleteError;
use protocols::Protocols;
pub use search::Search;
pub(crate) use search::SearchText;
pub use upstreams::UpstreamCalls;
use upstreams::Upstreams;
#[cfg(test)]
mod protocol_tests;
#[cfg(test)]
mod tests;
