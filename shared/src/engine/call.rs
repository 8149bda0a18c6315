//! One call as captured so far, and its cheap summary for call lists.

use std::sync::Arc;

use super::compression::Encoding;
use super::json::JsonOptions;
use super::message::MessageView;
use super::metadata::find_text;
use super::schema::{CallKind, MethodPath, Schema};
use super::session::SearchText;
use super::status::CallStatus;
use super::time::Timing;
use crate::pb::{self, event::Kind};

/// Messages and bytes in one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Traffic {
    /// Messages captured, truncated ones included.
    pub messages: usize,
    /// Payload bytes as captured (compressed, after the 5-byte prefixes).
    pub wire_bytes: u64,
}

/// What a call list shows: kept up to date as events arrive, never decodes
/// a payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallSummary {
    /// The call's `call_id` in the capture.
    pub id: u64,
    /// `:path`; empty when the call's start was not captured.
    pub path: String,
    /// `path` split into service and method, when it has that form.
    pub method: Option<MethodPath>,
    /// Unary or streaming: from the schema when it knows the method, else
    /// guessed (see `kind_inferred`).
    pub kind: CallKind,
    /// `kind` was guessed from message counts: the schema does not know the method.
    pub kind_inferred: bool,
    /// The schema knows the method (its messages decode as JSON).
    pub has_schema: bool,
    /// The `:authority` the client sent to the relay; empty when the call's
    /// start was not captured.
    pub authority: String,
    /// The upstream the call was forwarded to (`scheme://host:port`); empty
    /// when the call's start was not captured.
    pub upstream: String,
    /// `None` while the call is in progress (or its end was not captured).
    pub status: Option<CallStatus>,
    /// Request messages (client to server), counting any whose direction is
    /// unspecified.
    pub requests: Traffic,
    /// Response messages (server to client).
    pub responses: Traffic,
    /// When its headers, messages and end arrived.
    pub timing: Timing,
    /// Events of this call are missing: its start was not captured, or a gap
    /// names it.
    pub incomplete: bool,
    /// A gap names this call: some of its events were lost.
    pub events_lost: bool,
    /// Messages the capture kept only part of.
    pub truncated_messages: usize,
}

impl CallSummary {
    fn new(id: u64) -> Self {
        CallSummary {
            id,
            path: String::new(),
            method: None,
            kind: CallKind::Unary,
            kind_inferred: true,
            has_schema: false,
            authority: String::new(),
            upstream: String::new(),
            status: None,
            requests: Traffic::default(),
            responses: Traffic::default(),
            timing: Timing::default(),
            incomplete: true,
            events_lost: false,
            truncated_messages: 0,
        }
    }

    /// The call has ended (with or without a status).
    pub fn is_ended(&self) -> bool {
        self.status.is_some()
    }

    /// What the capture lacks of this call: `start`, `events` (a gap names
    /// it), `end` (still running when captured, or its end was lost).
    pub fn missing(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.timing.start_unix_nanos.is_none() {
            out.push("start");
        }
        if self.events_lost {
            out.push("events");
        }
        if !self.is_ended() {
            out.push("end");
        }
        out
    }

    /// `package.Service/Method`, or the raw path when it is not of that form.
    pub fn method_name(&self) -> String {
        self.method
            .as_ref()
            .map_or_else(|| self.path.clone(), MethodPath::full_name)
    }
}

/// Everything captured about one call, plus its decode cache.
#[derive(Debug, Clone)]
pub(crate) struct CallRecord {
    pub started: Option<pb::CallStarted>,
    pub response_headers: Option<pb::ResponseHeaders>,
    pub messages: Vec<pb::Message>,
    /// Each message's position among those of its direction.
    pub ordinals: Vec<usize>,
    pub ended: Option<pb::CallEnded>,
    pub summary: CallSummary,
    /// Decoded messages, by index; valid for `cache_key`.
    pub cache: Vec<Option<Arc<MessageView>>>,
    pub cache_key: Option<(u64, JsonOptions)>,
    /// The call's entry in the search index; dropped when the call changes.
    pub search: Option<SearchText>,
}

impl CallRecord {
    pub(crate) fn new(id: u64) -> Self {
        CallRecord {
            started: None,
            response_headers: None,
            messages: Vec::new(),
            ordinals: Vec::new(),
            ended: None,
            summary: CallSummary::new(id),
            cache: Vec::new(),
            cache_key: None,
            search: None,
        }
    }

    /// Takes one event of this call.
    pub(crate) fn ingest(&mut self, kind: Kind, schema: &Schema) {
        self.search = None;
        let summary = &mut self.summary;
        match kind {
            Kind::CallStarted(started) => {
                summary.path.clone_from(&started.path);
                summary.method = MethodPath::parse(&started.path);
                summary.authority.clone_from(&started.authority);
                summary.upstream.clone_from(&started.upstream);
                summary.timing.start_unix_nanos = Some(started.start_unix_nanos);
                summary.incomplete = summary.events_lost;
                self.started = Some(started);
                self.refresh_kind(schema);
            }
            Kind::ResponseHeaders(headers) => {
                summary.timing.response_headers = Some(headers.offset_nanos);
                self.response_headers = Some(headers);
            }
            Kind::Message(message) => {
                let request = message.direction() != pb::Direction::Response;
                let traffic = if request {
                    &mut summary.requests
                } else {
                    &mut summary.responses
                };
                traffic.messages += 1;
                traffic.wire_bytes += if message.preview {
                    u64::from(message.declared_length)
                } else {
                    message.payload.len() as u64
                };
                summary.timing.message(request, message.offset_nanos);
                summary.truncated_messages += usize::from(message.truncated);
                self.ordinals.push(traffic_count(summary, request) - 1);
                self.messages.push(message);
                if self.summary.kind_inferred {
                    self.refresh_kind(schema);
                }
            }
            Kind::CallEnded(ended) => {
                summary.timing.ended = Some(ended.offset_nanos);
                summary.status = Some(CallStatus::from_ended(&ended));
                self.ended = Some(ended);
            }
            Kind::Descriptors(_) | Kind::Gap(_) => {}
        }
    }

    /// Recomputes the kind (after the schema or the message counts changed).
    pub(crate) fn refresh_kind(&mut self, schema: &Schema) {
        let summary = &mut self.summary;
        match schema.kind(&summary.path) {
            Some(kind) => {
                summary.kind = kind;
                summary.kind_inferred = false;
                summary.has_schema = true;
            }
            None => {
                summary.kind =
                    CallKind::infer(summary.requests.messages, summary.responses.messages);
                summary.kind_inferred = true;
                summary.has_schema = false;
            }
        }
    }

    /// The `grpc-encoding` of requests (`true`) or responses.
    pub(crate) fn encoding(&self, request: bool) -> Encoding {
        let headers = if request {
            self.started.as_ref().map(|s| s.headers.as_slice())
        } else {
            self.response_headers.as_ref().map(|h| h.headers.as_slice())
        };
        Encoding::from_header(headers.and_then(|h| find_text(h, "grpc-encoding")))
    }
}

fn traffic_count(summary: &CallSummary, request: bool) -> usize {
    if request {
        summary.requests.messages
    } else {
        summary.responses.messages
    }
}
