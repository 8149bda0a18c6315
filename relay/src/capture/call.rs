//! One call's capture state, owned by the future that forwards the call.
//!
//! A `Call` turns what the forward path sees into capture events and makes
//! sure every call ends exactly once, however it ends, with the list of
//! [`pb::CallEnding`]s that says who ended it and how, in the order the
//! relay saw them: the upstream's trailers ([`Call::end_with_trailers`]),
//! the relay refusing it ([`Call::refuse`]), an upstream failure
//! ([`Call::fail_upstream`], which also decides what the client is told),
//! the client resetting or leaving ([`Call::end_by_client`]), or, when the
//! call is dropped unended, the relay's shutdown or the client's
//! connection closing.
//!
//! It is not shared: one task drives the call, so nothing here locks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::HeaderMap;
use loom_shared::pb::{self, event::Kind};

use crate::capture::framing::GrpcMessage;
use crate::capture::headers::{decode_bin, headers_to_pb, parse_grpc_timeout};
use crate::capture::hub::Hub;
use crate::capture::spoken::{BodyEnd, Spoken};
use crate::forward::status;

/// What the relay tells a client about a call it ended itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayStatus {
    pub code: u32,
    pub message: String,
}

/// Set once the relay is shutting down: calls dropped unended after that
/// were cut by the shutdown, not by their client.
#[derive(Debug, Clone, Default)]
pub struct Stopping(Arc<AtomicBool>);

impl Stopping {
    pub fn set(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// One side's end of a call, before it gets its time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    pub side: pb::EndSide,
    pub kind: pb::EndKind,
    pub code: u32,
    pub detail: String,
}

impl Ending {
    pub fn new(side: pb::EndSide, kind: pb::EndKind, code: u32, detail: impl Into<String>) -> Self {
        Ending {
            side,
            kind,
            code,
            detail: detail.into(),
        }
    }
}

pub struct Call {
    pub id: u64,
    /// The upstream's name, for the errors clients see.
    upstream: Arc<str>,
    start: Instant,
    hub: Hub,
    ended: bool,
    stopping: Stopping,
    /// The deadline the client sent (`grpc-timeout`), if any.
    deadline: Option<Duration>,
    /// Who ended what so far, in the order seen.
    endings: Vec<pb::CallEnding>,
    /// Framing problems seen in either direction, reported at the end.
    problems: Vec<String>,
    /// TLS on the upstream connection the call went out on.
    upstream_tls: Option<Arc<pb::TlsSession>>,
    /// Its protocol of the gRPC family.
    spoken: Spoken,
    /// The response's HTTP status, once its head came.
    response_status: Option<http::StatusCode>,
    /// What ended the response body, in the protocol's own form.
    body_end: Option<BodyEnd>,
    messages: [u64; 2],
    pub span: tracing::Span,
}

impl Call {
    /// Record the start of a call.
    pub fn start(
        hub: &Hub,
        parts: &http::request::Parts,
        upstream: &Arc<str>,
        client_tls: Option<&pb::TlsSession>,
        spoken: &Spoken,
        stopping: &Stopping,
    ) -> Call {
        let id = hub.next_call_id();
        let path = parts.uri.path().to_owned();
        // A debug span: at the default level a call costs no span, and the
        // few warnings name the call themselves.
        let span = tracing::debug_span!("call", id, path = %path);
        let start_unix_nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let deadline = parts
            .headers
            .get("grpc-timeout")
            .and_then(|v| parse_grpc_timeout(v.as_bytes()));
        hub.emit(pb::Event::new(
            id,
            pb::CallStarted {
                client_tls: client_tls.cloned().map(Box::new),
                start_unix_nanos,
                path,
                authority: parts
                    .uri
                    .authority()
                    .map(|a| a.to_string())
                    .unwrap_or_default(),
                headers: headers_to_pb(&parts.headers),
                upstream: upstream.to_string(),
                scheme: parts.uri.scheme_str().unwrap_or("http").to_owned(),
                method: parts.method.to_string(),
                protocol: spoken.protocol.into(),
                codec: spoken.codec.into(),
                codec_name: spoken.codec_name.clone(),
                http_version: spoken.http_version.as_str().to_owned(),
            },
        ));
        Call {
            id,
            upstream: upstream.clone(),
            start: Instant::now(),
            hub: hub.clone(),
            ended: false,
            stopping: stopping.clone(),
            deadline,
            endings: Vec::new(),
            problems: Vec::new(),
            upstream_tls: None,
            spoken: spoken.clone(),
            response_status: None,
            body_end: None,
            messages: [0, 0],
            span,
        }
    }

    /// What the call speaks.
    pub fn spoken(&self) -> &Spoken {
        &self.spoken
    }

    /// The response's head said 200 (or has not come).
    pub fn response_ok(&self) -> bool {
        self.response_status
            .is_none_or(|s| s == http::StatusCode::OK)
    }

    /// A body ended in its protocol's own form (see [`BodyEnd`]); only a
    /// response's first end counts, anything else is a protocol error.
    pub fn body_end(&mut self, direction: pb::Direction, end: BodyEnd) {
        if direction != pb::Direction::Response {
            self.note_problem("request body carries a frame that only ends a response".into());
        } else if self.body_end.is_some() {
            self.note_problem(
                "response body ended twice (a second trailer or end-of-stream frame)".into(),
            );
        } else {
            self.body_end = Some(end);
        }
    }

    pub fn offset_nanos(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// Whether the deadline the client sent has passed (allowing for the
    /// time its request took to get here).
    pub fn deadline_passed(&self) -> bool {
        self.deadline.is_some_and(|d| {
            // The client's clock started before its request left; under
            // load that can be tens of milliseconds before it got here.
            let slack = (d / 5).min(Duration::from_millis(100));
            self.start.elapsed() + slack >= d
        })
    }

    pub fn message(&mut self, direction: pb::Direction, frame: GrpcMessage) {
        if direction == pb::Direction::Response && self.body_end.is_some() {
            self.note_problem(
                "response message after the body's end (its trailer or end-of-stream frame)".into(),
            );
        }
        let slot = usize::from(direction == pb::Direction::Response);
        self.messages[slot] += 1;
        let offset_nanos = self.offset_nanos();
        self.emit(Kind::Message(pb::Message {
            direction: direction as i32,
            offset_nanos,
            compressed: frame.compressed,
            payload: frame.payload,
            declared_length: frame.declared_length,
            truncated: frame.truncated,
            preview: false,
        }));
    }

    /// Messages seen so far in `direction`.
    pub fn messages(&self, direction: pb::Direction) -> u64 {
        self.messages[usize::from(direction == pb::Direction::Response)]
    }

    pub fn response_headers(&mut self, status: http::StatusCode, headers: &HeaderMap) {
        self.response_status = Some(status);
        let offset_nanos = self.offset_nanos();
        self.emit(Kind::ResponseHeaders(pb::ResponseHeaders {
            offset_nanos,
            http_status: u32::from(status.as_u16()),
            headers: headers_to_pb(headers),
        }));
    }

    pub fn note_problem(&mut self, problem: String) {
        tracing::warn!(parent: &self.span, call = self.id, "{problem}");
        self.problems.push(problem);
    }

    /// Notes one side's end, in the order seen. Once the call has ended,
    /// this is a no-op (its event is out).
    pub fn note_ending(&mut self, ending: Ending) {
        if self.ended {
            return;
        }
        let offset_nanos = self.offset_nanos();
        self.endings.push(pb::CallEnding::new(
            offset_nanos,
            ending.side,
            ending.kind,
            ending.code,
            ending.detail,
        ));
    }

    /// The first ending noted: what ended the call.
    pub fn first_ending(&self) -> Option<(pb::EndSide, pb::EndKind)> {
        self.endings.first().map(|e| (e.side(), e.kind()))
    }

    /// End the call from the trailers (or trailers-only headers) the upstream sent.
    pub fn end_with_trailers(
        &mut self,
        trailers: &HeaderMap,
        trailers_only: Option<http::StatusCode>,
    ) {
        if trailers_only.is_some() {
            self.response_status = trailers_only;
        }
        if !self.spoken.is_grpc() {
            let ended = crate::capture::spoken::web_end(
                &self.spoken,
                trailers,
                trailers_only,
                self.response_status,
                self.body_end.take(),
            );
            let code = ended.grpc_status.unwrap_or(2);
            let kind = if ended.grpc_status.is_some() {
                pb::EndKind::Trailers
            } else {
                pb::EndKind::NoTrailers
            };
            self.note_ending(Ending::new(pb::EndSide::Upstream, kind, code, ""));
            self.end(pb::CallEnded {
                offset_nanos: self.offset_nanos(),
                ..ended
            });
            return;
        }
        let grpc_status = trailers
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u32>().ok());
        let grpc_message = trailers
            .get("grpc-message")
            .map(|v| {
                loom_shared::header::percent_decode_grpc_message(&String::from_utf8_lossy(
                    v.as_bytes(),
                ))
            })
            .unwrap_or_default();
        let grpc_status_details = trailers
            .get("grpc-status-details-bin")
            .map(|v| decode_bin(v.as_bytes()))
            .unwrap_or_default();
        let (relay_error, kind) = if grpc_status.is_none() {
            let kind = if trailers.is_empty() && trailers_only.is_none() {
                pb::EndKind::NoTrailers
            } else {
                pb::EndKind::Trailers
            };
            (
                "the upstream ended the call without a grpc-status".to_owned(),
                kind,
            )
        } else {
            (String::new(), pb::EndKind::Trailers)
        };
        self.note_ending(Ending::new(
            pb::EndSide::Upstream,
            kind,
            grpc_status.unwrap_or(2),
            "",
        ));
        self.end(pb::CallEnded {
            offset_nanos: self.offset_nanos(),
            trailers: headers_to_pb(trailers),
            grpc_status,
            grpc_message,
            grpc_status_details: grpc_status_details.into(),
            trailers_only: trailers_only.is_some(),
            relay_error,
            http_status: trailers_only.map_or(0, |s| u32::from(s.as_u16())),
            response_http_status: self.response_status.map_or(0, |s| u32::from(s.as_u16())),
            status_source: "trailers".into(),
            ..Default::default()
        });
    }

    /// The client ended the call (it reset the stream, or its connection
    /// went): nobody is told anything. `ending` is noted first.
    pub fn end_by_client(&mut self, ending: Ending) {
        let why = ending.detail.clone();
        self.note_ending(ending);
        self.end_cancelled(why);
    }

    /// Ends the call with the endings noted so far; nobody is told
    /// anything (`why`: what happened, in words).
    pub fn end_cancelled(&mut self, why: String) {
        let offset = self.offset_nanos();
        self.end(pb::CallEnded::by_relay(offset, None, "", why, false));
    }

    /// The relay answers the call itself with `code` (a trailers-only
    /// response, not forwarded); returns what to send.
    pub fn refuse(&mut self, code: u32, message: String) -> RelayStatus {
        tracing::warn!(parent: &self.span, call = self.id, "{message}");
        self.note_ending(Ending::new(
            pb::EndSide::Relay,
            pb::EndKind::Refused,
            code,
            message.as_str(),
        ));
        self.end(pb::CallEnded::by_relay(
            self.offset_nanos(),
            Some(code),
            message.as_str(),
            message.as_str(),
            true,
        ));
        RelayStatus { code, message }
    }

    /// The upstream failed (`ending` says how): before any response
    /// (`during` false: the client gets a trailers-only answer) or during
    /// it. Ends the call and returns what to tell the client: UNAVAILABLE
    /// naming the upstream and the failure.
    pub fn fail_upstream(&mut self, ending: Ending, during: bool) -> RelayStatus {
        let answer = self.fail(ending, during);
        tracing::warn!(parent: &self.span, call = self.id, "{}", answer.message);
        answer
    }

    /// No connection to the upstream could be had: [`Call::fail_upstream`]
    /// before any response, logged only at debug level (the connector logs
    /// each failure once per upstream, not once per call).
    pub fn fail_unreachable(&mut self, ending: Ending) -> RelayStatus {
        let answer = self.fail(ending, false);
        tracing::debug!(parent: &self.span, call = self.id, "{}", answer.message);
        answer
    }

    fn fail(&mut self, ending: Ending, during: bool) -> RelayStatus {
        let detail = ending.detail.clone();
        let message = if during {
            format!(
                "loom: upstream {} failed during the call: {detail}",
                self.upstream
            )
        } else {
            format!("loom: upstream {} is unavailable: {detail}", self.upstream)
        };
        self.note_ending(ending);
        self.end(pb::CallEnded::by_relay(
            self.offset_nanos(),
            Some(status::UNAVAILABLE),
            message.as_str(),
            message.as_str(),
            !during,
        ));
        RelayStatus {
            code: status::UNAVAILABLE,
            message,
        }
    }

    fn end(&mut self, mut ended: pb::CallEnded) {
        if self.ended {
            return;
        }
        self.ended = true;
        ended.protocol_errors = std::mem::take(&mut self.problems);
        ended.upstream_tls = self.upstream_tls.as_deref().cloned().map(Box::new);
        let ended = ended.with_endings(std::mem::take(&mut self.endings));
        tracing::debug!(
            parent: &self.span,
            grpc_status = ended.grpc_status,
            requests = self.messages[0],
            responses = self.messages[1],
            micros = ended.offset_nanos / 1000,
            relay_error = %ended.relay_error,
            "call ended"
        );
        self.emit(Kind::CallEnded(ended));
    }

    /// The call went out on a connection with this TLS session.
    pub fn set_upstream_tls(&mut self, tls: Option<Arc<pb::TlsSession>>) {
        self.upstream_tls = tls;
    }

    fn emit(&self, kind: Kind) {
        self.hub.emit(pb::Event::new(self.id, kind));
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        // Dropped without an end: the relay's shutdown cut it, or the
        // client's connection went and took the call with it.
        if !self.ended {
            let ending = if self.stopping.is_set() {
                Ending::new(
                    pb::EndSide::Relay,
                    pb::EndKind::Shutdown,
                    0,
                    "the relay shut down before the call finished",
                )
            } else {
                Ending::new(
                    pb::EndSide::Client,
                    pb::EndKind::Disconnect,
                    0,
                    "the client's connection closed before the call finished",
                )
            };
            self.end_by_client(ending);
        }
    }
}
