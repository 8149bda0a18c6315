//! One call as captured so far, and its cheap summary for call lists.

use std::sync::Arc;

use super::compression::Encoding;
use super::json::JsonOptions;
use super::message::MessageView;
use super::metadata::find_text;
use super::protocol::{Codec, Protocol};
use super::schema::{CallKind, MethodPath, Schema};
use super::session::{Names, SearchText};
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
    /// `:path`; empty when the call's start was not captured. Shared with
    /// every call of the same path in the session.
    pub path: Arc<str>,
    /// `path` split into service and method, when it has that form.
    pub method: Option<Arc<MethodPath>>,
    /// `package.Service/Method`, or the raw path when it is not of that
    /// form ([`CallSummary::method_name`]).
    pub name: Arc<str>,
    /// Unary or streaming: from the schema when it knows the method, else
    /// guessed (see `kind_inferred`).
    pub kind: CallKind,
    /// `kind` was guessed from message counts: the schema does not know the method.
    pub kind_inferred: bool,
    /// The schema knows the method (its messages decode as JSON).
    pub has_schema: bool,
    /// The `:authority` the client sent to the relay; empty when the call's
    /// start was not captured.
    pub authority: Arc<str>,
    /// The upstream the call was forwarded to (`scheme://host:port`); empty
    /// when the call's start was not captured.
    pub upstream: Arc<str>,
    /// The protocol the call spoke (format 1.4; gRPC in older files, and
    /// when the call's start was not captured).
    pub protocol: Protocol,
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
    fn new(id: u64, empty: &Arc<str>) -> Self {
        CallSummary {
            id,
            path: empty.clone(),
            method: None,
            name: empty.clone(),
            kind: CallKind::Unary,
            kind_inferred: true,
            has_schema: false,
            authority: empty.clone(),
            upstream: empty.clone(),
            protocol: Protocol::Grpc,
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
    pub fn method_name(&self) -> &str {
        &self.name
    }
}

/// What a call's record keeps of its `CallStarted` beyond the summary (which
/// has its path, authority, upstream and start time).
#[derive(Debug, Clone)]
pub(crate) struct Started {
    pub scheme: Arc<str>,
    pub method: Arc<str>,
    pub headers: Vec<pb::Header>,
    /// The client's TLS (format 1.3), shared with every call that had the
    /// same; `None`: cleartext.
    pub client_tls: Option<Arc<pb::TlsSession>>,
    /// Format 1.4: the protocol, codec and HTTP version, as captured.
    pub protocol: i32,
    pub codec: i32,
    pub codec_name: Arc<str>,
    pub http_version: Arc<str>,
}

impl Started {
    /// The codec of the call's messages.
    pub(crate) fn codec(&self) -> Codec {
        Codec::of(self.codec, &self.codec_name)
    }

    /// `HTTP/2` or `HTTP/1.1` (`HTTP/2` in files older than 1.4).
    pub(crate) fn http_version(&self) -> &str {
        if self.http_version.is_empty() {
            "HTTP/2"
        } else {
            &self.http_version
        }
    }
}

/// A call's decoded messages, by index, and what they were decoded with
/// (schema generation and view options).
#[derive(Debug, Clone)]
pub(crate) struct DecodeCache {
    pub key: (u64, JsonOptions),
    pub views: Vec<Option<Arc<MessageView>>>,
}

impl DecodeCache {
    /// Message `index`'s view, if decoded with `key`.
    pub(crate) fn get(
        cache: &Option<Box<Self>>,
        key: (u64, JsonOptions),
        index: usize,
    ) -> Option<Arc<MessageView>> {
        cache
            .as_ref()
            .filter(|c| c.key == key)
            .and_then(|c| c.views.get(index).cloned().flatten())
    }
}

/// Everything captured about one call, plus its decode cache.
#[derive(Debug, Clone)]
pub(crate) struct CallRecord {
    pub started: Option<Started>,
    pub response_headers: Option<pb::ResponseHeaders>,
    pub messages: Vec<pb::Message>,
    /// The `CallEnded` as captured, but for its `upstream_tls`, which is
    /// kept shared in `upstream_tls` ([`CallRecord::ended_event`] puts it
    /// back).
    pub ended: Option<pb::CallEnded>,
    /// The upstream's TLS (format 1.3), shared with every call that had the
    /// same; `None`: cleartext, no connection, or the call has not ended.
    pub upstream_tls: Option<Arc<pb::TlsSession>>,
    pub summary: CallSummary,
    /// Decoded messages, once the call was viewed: boxed, because most calls
    /// of a big capture never are.
    pub cache: Option<Box<DecodeCache>>,
    /// The call's entry in the search index; dropped when the call changes.
    pub search: Option<SearchText>,
}

impl CallRecord {
    pub(crate) fn new(id: u64, names: &Names) -> Self {
        CallRecord {
            started: None,
            response_headers: None,
            messages: Vec::new(),
            ended: None,
            upstream_tls: None,
            summary: CallSummary::new(id, &names.empty()),
            cache: None,
            search: None,
        }
    }

    /// Takes one event of this call.
    pub(crate) fn ingest(&mut self, kind: Kind, schema: &Schema, names: &mut Names) {
        self.search = None;
        let summary = &mut self.summary;
        match kind {
            Kind::CallStarted(started) => {
                let path = names.path(&started.path);
                summary.path = path.path;
                summary.method = path.method;
                summary.name = path.name;
                summary.authority = names.host(&started.authority);
                summary.upstream = names.host(&started.upstream);
                summary.protocol = Protocol::from_i32(started.protocol);
                summary.timing.start_unix_nanos = Some(started.start_unix_nanos);
                summary.incomplete = summary.events_lost;
                self.started = Some(Started {
                    scheme: names.host(&started.scheme),
                    method: names.host(&started.method),
                    headers: started.headers,
                    client_tls: started.client_tls.map(|tls| names.tls(*tls)),
                    protocol: started.protocol,
                    codec: started.codec,
                    codec_name: names.host(&started.codec_name),
                    http_version: names.host(&started.http_version),
                });
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
                if self.messages.is_empty() {
                    // A unary call's two, without growing to four.
                    self.messages.reserve_exact(2);
                }
                traffic.wire_bytes += if message.preview {
                    u64::from(message.declared_length)
                } else {
                    message.payload.len() as u64
                };
                summary.timing.message(request, message.offset_nanos);
                summary.truncated_messages += usize::from(message.truncated);
                self.messages.push(message);
                if self.summary.kind_inferred {
                    self.refresh_kind(schema);
                }
            }
            Kind::CallEnded(mut ended) => {
                summary.timing.ended = Some(ended.offset_nanos);
                summary.status = Some(CallStatus::from_ended(&ended));
                self.upstream_tls = ended.upstream_tls.take().map(|tls| names.tls(*tls));
                self.ended = Some(ended);
            }
            Kind::Descriptors(_) | Kind::Gap(_) => {}
        }
    }

    /// Recomputes the kind (after the schema or the message counts changed).
    pub(crate) fn refresh_kind(&mut self, schema: &Schema) {
        let summary = &mut self.summary;
        match schema.kind_for(&summary.upstream, &summary.path) {
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

    /// The compression of the messages going `direction`, as the
    /// protocol's header names it (request headers for requests, response
    /// headers for responses): `grpc-encoding`, Connect streaming's
    /// `connect-content-encoding`, Connect unary's `content-encoding`. A
    /// Connect GET's request names it in the query, which the capture does
    /// not keep: it is told from the bytes of its message.
    pub(crate) fn encoding(&self, direction: pb::Direction) -> Encoding {
        let response = direction == pb::Direction::Response;
        let headers = if response {
            self.response_headers.as_ref().map(|h| h.headers.as_slice())
        } else {
            self.started.as_ref().map(|s| s.headers.as_slice())
        };
        match self.summary.protocol.encoding_header(direction) {
            Some(name) => Encoding::from_header(headers.and_then(|h| find_text(h, name))),
            None => self
                .messages
                .iter()
                .find(|m| m.compressed && (m.direction() == pb::Direction::Response) == response)
                .and_then(|m| Encoding::sniff(&m.payload))
                .unwrap_or(Encoding::Identity),
        }
    }

    /// The codec of the call's messages (proto when its start was not
    /// captured).
    pub(crate) fn codec(&self) -> Codec {
        self.started
            .as_ref()
            .map(Started::codec)
            .unwrap_or_default()
    }
}

impl CallRecord {
    /// The `CallStarted` event as captured.
    pub(crate) fn started_event(&self) -> Option<pb::CallStarted> {
        let started = self.started.as_ref()?;
        let summary = &self.summary;
        Some(pb::CallStarted {
            client_tls: started.client_tls.as_deref().cloned().map(Box::new),
            start_unix_nanos: summary.timing.start_unix_nanos.unwrap_or_default(),
            path: summary.path.to_string(),
            authority: summary.authority.to_string(),
            headers: started.headers.clone(),
            upstream: summary.upstream.to_string(),
            scheme: started.scheme.to_string(),
            method: started.method.to_string(),
            protocol: started.protocol,
            codec: started.codec,
            codec_name: started.codec_name.to_string(),
            http_version: started.http_version.to_string(),
        })
    }

    /// The `CallEnded` event as captured.
    pub(crate) fn ended_event(&self) -> Option<pb::CallEnded> {
        let mut ended = self.ended.clone()?;
        ended.upstream_tls = self.upstream_tls.as_deref().cloned().map(Box::new);
        Some(ended)
    }

    /// Message `index`'s position among the messages of its direction.
    pub(crate) fn ordinal(&self, index: usize) -> usize {
        let Some(message) = self.messages.get(index) else {
            return 0;
        };
        let response = message.direction() == pb::Direction::Response;
        self.messages[..index]
            .iter()
            .filter(|m| (m.direction() == pb::Direction::Response) == response)
            .count()
    }

    /// Every message's position among those of its direction, in one pass.
    pub(crate) fn ordinals(&self) -> impl Iterator<Item = usize> + '_ {
        let (mut requests, mut responses) = (0, 0);
        self.messages.iter().map(move |m| {
            let count = if m.direction() == pb::Direction::Response {
                &mut responses
            } else {
                &mut requests
            };
            *count += 1;
            *count - 1
        })
    }
}
