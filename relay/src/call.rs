//! One call's capture state, shared by the request tap, the response tap and
//! the proxy future.
//!
//! A `Call` turns what the forward path sees into capture events and makes
//! sure every call ends exactly once, however it ends: trailers
//! ([`Call::end_with_trailers`]), the relay refusing it ([`Call::refuse`]),
//! an upstream failure ([`Call::fail_upstream`], which also decides what the
//! client is told), or the client going away ([`Call::end_cancelled`];
//! also when the last holder drops).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::{GeneralPurpose, GeneralPurposeConfig, general_purpose};
use http::HeaderMap;
use loom_shared::pb::{self, event::Kind};

use crate::framing::GrpcMessage;
use crate::hub::Hub;
use crate::status;

/// gRPC senders may or may not pad base64 in `-bin` headers; accept both.
const BIN_HEADER: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// Shards of [`LiveCalls`]: calls of different shards never wait for each
/// other's lock.
const SHARDS: usize = 16;

/// The calls still running, so that a shutdown can end the ones it cuts
/// (hyper may drop their last parts only after the relay has stopped).
#[derive(Clone, Default)]
pub struct LiveCalls(Arc<[Shard; SHARDS]>);

/// One shard of [`LiveCalls`]: call id to the call.
type Shard = Mutex<HashMap<u64, Weak<Call>>>;

impl LiveCalls {
    fn shard(&self, id: u64) -> &Shard {
        &self.0[(id % SHARDS as u64) as usize]
    }

    /// End every call still running, with `why` as the relay's reason.
    pub fn end_all(&self, why: &str) {
        let calls: Vec<Weak<Call>> = self
            .0
            .iter()
            .flat_map(|shard| lock(shard).drain().map(|(_, c)| c).collect::<Vec<_>>())
            .collect();
        for call in calls.iter().filter_map(Weak::upgrade) {
            call.end_cancelled(why);
        }
    }
}

/// What the relay tells a client about a call it ended itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayStatus {
    pub code: u32,
    pub message: String,
}

pub struct Call {
    pub id: u64,
    /// The upstream's name, for the errors clients see.
    upstream: Arc<str>,
    live: LiveCalls,
    start: Instant,
    hub: Hub,
    ended: AtomicBool,
    /// Set when the client's side failed (reset, disconnect), so that the
    /// resulting upstream error is attributed to the client.
    client_gone: Mutex<Option<String>>,
    /// Framing problems seen in either direction, reported at the end.
    problems: Mutex<Vec<String>>,
    pub messages: [AtomicU64; 2],
    pub span: tracing::Span,
}

impl Call {
    /// Record the start of a call and return its shared state.
    pub fn start(
        hub: &Hub,
        live: &LiveCalls,
        parts: &http::request::Parts,
        upstream: &Arc<str>,
    ) -> Arc<Call> {
        let id = hub.next_call_id();
        let path = parts.uri.path().to_owned();
        // A debug span: at the default level a call costs no span, and the
        // few warnings name the call themselves.
        let span = tracing::debug_span!("call", id, path = %path);
        let start_unix_nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        hub.emit(pb::Event::new(
            id,
            pb::CallStarted {
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
            },
        ));
        let call = Arc::new(Call {
            id,
            upstream: upstream.clone(),
            live: live.clone(),
            start: Instant::now(),
            hub: hub.clone(),
            ended: AtomicBool::new(false),
            client_gone: Mutex::new(None),
            problems: Mutex::new(Vec::new()),
            messages: [AtomicU64::new(0), AtomicU64::new(0)],
            span,
        });
        lock(live.shard(id)).insert(id, Arc::downgrade(&call));
        call
    }

    pub fn offset_nanos(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    pub fn is_ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    pub fn message(&self, direction: pb::Direction, frame: GrpcMessage) {
        let slot = usize::from(direction == pb::Direction::Response);
        self.messages[slot].fetch_add(1, Ordering::Relaxed);
        self.emit(Kind::Message(pb::Message {
            direction: direction as i32,
            offset_nanos: self.offset_nanos(),
            compressed: frame.compressed,
            payload: frame.payload,
            declared_length: frame.declared_length,
            truncated: frame.truncated,
            preview: false,
        }));
    }

    pub fn response_headers(&self, status: http::StatusCode, headers: &HeaderMap) {
        self.emit(Kind::ResponseHeaders(pb::ResponseHeaders {
            offset_nanos: self.offset_nanos(),
            http_status: u32::from(status.as_u16()),
            headers: headers_to_pb(headers),
        }));
    }

    pub fn note_problem(&self, problem: String) {
        tracing::warn!(parent: &self.span, call = self.id, "{problem}");
        lock(&self.problems).push(problem);
    }

    /// The client's side failed first (a reset, a disconnect): an upstream
    /// error that follows is the client's doing.
    pub fn note_client_gone(&self, why: String) {
        lock(&self.client_gone).get_or_insert(why);
    }

    fn client_gone(&self) -> Option<String> {
        lock(&self.client_gone).clone()
    }

    /// End the call from the trailers (or trailers-only headers) the upstream sent.
    pub fn end_with_trailers(&self, trailers: &HeaderMap, trailers_only: Option<http::StatusCode>) {
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
        let relay_error = if grpc_status.is_none() {
            "the upstream ended the call without a grpc-status".to_owned()
        } else {
            String::new()
        };
        self.end(pb::CallEnded {
            offset_nanos: self.offset_nanos(),
            trailers: headers_to_pb(trailers),
            grpc_status,
            grpc_message,
            grpc_status_details: grpc_status_details.into(),
            trailers_only: trailers_only.is_some(),
            relay_error,
            http_status: trailers_only.map_or(0, |s| u32::from(s.as_u16())),
            ..Default::default()
        });
    }

    /// The client went away (it reset the stream or closed its connection,
    /// or the relay shut down): nobody is told anything.
    pub fn end_cancelled(&self, why: &str) {
        self.end(pb::CallEnded::by_relay(
            self.offset_nanos(),
            None,
            "",
            why,
            false,
        ));
    }

    /// The relay answers the call itself with `code` (a trailers-only
    /// response, not forwarded); returns what to send.
    pub fn refuse(&self, code: u32, message: String) -> RelayStatus {
        tracing::warn!(parent: &self.span, call = self.id, "{message}");
        self.end(pb::CallEnded::by_relay(
            self.offset_nanos(),
            Some(code),
            message.as_str(),
            message.as_str(),
            true,
        ));
        RelayStatus { code, message }
    }

    /// The upstream failed: before any response (`during` false: the client
    /// gets a trailers-only answer) or during it. Ends the call and returns
    /// what to tell the client: nothing (`None`) when the client had gone
    /// already, which is then what the call ended of; otherwise UNAVAILABLE
    /// naming the upstream and `detail`.
    pub fn fail_upstream(&self, detail: &str, during: bool) -> Option<RelayStatus> {
        if let Some(why) = self.client_gone() {
            self.end_cancelled(&why);
            return None;
        }
        let message = if during {
            format!(
                "loom: upstream {} failed during the call: {detail}",
                self.upstream
            )
        } else {
            format!("loom: upstream {} is unavailable: {detail}", self.upstream)
        };
        tracing::warn!(parent: &self.span, call = self.id, "{message}");
        self.end(pb::CallEnded::by_relay(
            self.offset_nanos(),
            Some(status::UNAVAILABLE),
            message.as_str(),
            message.as_str(),
            !during,
        ));
        Some(RelayStatus {
            code: status::UNAVAILABLE,
            message,
        })
    }

    fn end(&self, mut ended: pb::CallEnded) {
        if self.ended.swap(true, Ordering::AcqRel) {
            return;
        }
        lock(self.live.shard(self.id)).remove(&self.id);
        ended.protocol_errors = std::mem::take(&mut *lock(&self.problems));
        tracing::debug!(
            parent: &self.span,
            grpc_status = ended.grpc_status,
            requests = self.messages[0].load(Ordering::Relaxed),
            responses = self.messages[1].load(Ordering::Relaxed),
            micros = ended.offset_nanos / 1000,
            relay_error = %ended.relay_error,
            "call ended"
        );
        self.emit(Kind::CallEnded(ended));
    }

    fn emit(&self, kind: Kind) {
        self.hub.emit(pb::Event::new(self.id, kind));
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        // Every holder is gone without an end: the client went away before
        // the call finished (the response body was dropped unfinished).
        if !self.is_ended() {
            let why = self.client_gone().unwrap_or_else(|| {
                "the client cancelled the call or closed its connection".to_owned()
            });
            self.end_cancelled(&why);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The guarded values are plain data, valid at every point.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Decode a `-bin` header value; undecodable values are kept as sent.
pub fn decode_bin(value: &[u8]) -> Vec<u8> {
    BIN_HEADER
        .decode(value)
        .or_else(|_| general_purpose::URL_SAFE_NO_PAD.decode(value))
        .unwrap_or_else(|_| value.to_vec())
}

/// Metadata as capture headers: `-bin` values decoded to their bytes.
pub fn headers_to_pb(map: &HeaderMap) -> Vec<pb::Header> {
    map.iter()
        .map(|(name, value)| {
            let name = name.as_str();
            let bytes = if loom_shared::header::is_binary(name) {
                decode_bin(value.as_bytes())
            } else {
                value.as_bytes().to_vec()
            };
            pb::Header {
                name: name.to_owned(),
                value: bytes.into(),
                redacted: false,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bin_headers_decode_padded_and_unpadded() {
        assert_eq!(decode_bin(b"AQID"), vec![1, 2, 3]);
        assert_eq!(decode_bin(b"AQI"), vec![1, 2]);
        assert_eq!(decode_bin(b"AQI="), vec![1, 2]);
        assert_eq!(decode_bin(b"not base64!"), b"not base64!".to_vec());
    }

    #[test]
    fn headers_keep_order_and_decode_bin() {
        let mut map = HeaderMap::new();
        map.insert("x-a", "1".parse().unwrap());
        map.insert("x-trace-bin", "AAEC".parse().unwrap());
        let got = headers_to_pb(&map);
        assert_eq!(got[0].name, "x-a");
        assert_eq!(&got[0].value[..], b"1");
        assert_eq!(&got[1].value[..], &[0, 1, 2]);
    }
}
