//! Everything about one call, decoded: what a call's detail pane shows and
//! what `loom decode` prints.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::body::Body;
use super::call::CallSummary;
use super::compression::Encoding;
use super::message::MessageView;
use super::metadata::HeaderView;
use super::protocol::{Codec, Protocol, ProtocolStatus, StatusSource};
use super::schema::ResolvedMethod;
use super::tls::{self, Hop, Security};
use crate::pb;

/// A call with its messages decoded. Built by [`super::Session::detail`].
#[derive(Debug, Clone, PartialEq)]
pub struct CallDetail {
    /// The same summary the call list shows (its protocol included).
    pub summary: CallSummary,
    /// How its messages are encoded (format 1.4; proto in older files).
    pub codec: Codec,
    /// `HTTP/2` or `HTTP/1.1`: how the client's request arrived (`HTTP/2`
    /// in older files); empty when the call's start was not captured.
    pub http_version: String,
    /// The status in the protocol's own form (format 1.4): Connect's code,
    /// the response's HTTP status, where the status came from; empty while
    /// the call is open, and in older files.
    pub protocol_status: ProtocolStatus,
    /// The method in the schema, or why there is none (the reason the
    /// messages are shown schema-less).
    pub method: Result<ResolvedMethod, String>,
    /// `:scheme` (`http` for cleartext) and `:method` of the request; empty
    /// when the call's start was not captured.
    pub scheme: String,
    /// `:method` of the request, normally `POST`; empty when the call's
    /// start was not captured.
    pub http_method: String,
    /// Request metadata in arrival order, pseudo-headers excluded; empty when
    /// the call's start was not captured.
    pub request_headers: Vec<HeaderView>,
    /// The response HEADERS frame's entries; empty for a trailers-only
    /// response (whose entries are in `trailers`) or when none arrived.
    pub response_headers: Vec<HeaderView>,
    /// HTTP status of the response (headers, or a trailers-only response).
    pub http_status: Option<u32>,
    /// Trailers (for a trailers-only response, its only headers); empty while
    /// the call is in progress.
    pub trailers: Vec<HeaderView>,
    /// `grpc-status-details-bin`, decoded as a `google.rpc.Status`.
    pub status_details: Option<Body>,
    /// Framing problems the relay saw.
    pub protocol_errors: Vec<String>,
    /// How the call ended, as each side saw it, in order: the first is what
    /// ended it (format 1.2; empty for older files and open calls). See
    /// [`super::ending`] for them in words.
    pub endings: Vec<pb::CallEnding>,
    /// TLS between the client and the relay (format 1.3); `None`: cleartext,
    /// or the call's start was not captured. [`CallDetail::security`] tells
    /// which.
    pub client_tls: Option<Arc<pb::TlsSession>>,
    /// TLS between the relay and the upstream (format 1.3); `None`:
    /// cleartext, no connection was made, or the call has not ended.
    /// [`CallDetail::security`] tells which.
    pub upstream_tls: Option<Arc<pb::TlsSession>>,
    /// The request headers' `grpc-encoding` (identity when absent).
    pub request_encoding: Encoding,
    /// The response headers' `grpc-encoding` (identity when absent).
    pub response_encoding: Encoding,
    /// Every message, both directions, in capture order.
    pub messages: Vec<Arc<MessageView>>,
}

impl CallDetail {
    /// The request messages (and any whose direction is unspecified), in
    /// capture order.
    pub fn requests(&self) -> impl Iterator<Item = &MessageView> {
        self.messages
            .iter()
            .map(AsRef::as_ref)
            .filter(|m| m.direction != pb::Direction::Response)
    }

    /// The response messages, in capture order.
    pub fn responses(&self) -> impl Iterator<Item = &MessageView> {
        self.messages
            .iter()
            .map(AsRef::as_ref)
            .filter(|m| m.direction == pb::Direction::Response)
    }

    /// How `hop` was secured, as far as the capture says (see
    /// [`Security::of`]).
    pub fn security(&self, hop: Hop) -> Security<'_> {
        let s = &self.summary;
        match hop {
            Hop::Client => Security::of(
                hop,
                self.client_tls.as_deref(),
                s.timing.start_unix_nanos.is_some(),
                &s.upstream,
            ),
            Hop::Upstream => {
                Security::of(hop, self.upstream_tls.as_deref(), s.is_ended(), &s.upstream)
            }
        }
    }

    /// The call as one JSON object (a line of `loom decode`'s output):
    ///
    /// `id`, `method` (`package.Service/Method`), `path`, `kind`,
    /// `kindInferred`, `authority`, `upstream`, `protocol` (`grpc`,
    /// `grpc-web`, `grpc-web-text`, `connect-unary`, `connect-stream`,
    /// `connect-get`), `codec` (`proto`, `json`, or another's name),
    /// `httpVersion`, `connectCode` (Connect's code string, when the call
    /// has one), `timing` (RFC 3339 `start` and nanosecond offsets),
    /// `status` (`code`, `name`, `message`, `details`, `relayError`,
    /// `byClient` when the client ended the call, and, since format 1.4,
    /// `responseHttpStatus` and `source`: where the status came from, but
    /// for gRPC's usual HTTP 200 and trailers; `null` while in progress),
    /// `endings` (when the capture has them: see
    /// [`super::ending::to_json`]), `tls` (when a hop had TLS: `client` and
    /// `upstream`, each when it had, see [`tls::to_json`]), `schema` (where
    /// it came from) or `schemaNote` (why there is none), `requestMetadata`,
    /// `responseHeaders`, `trailers`, `requests`, `responses` (see
    /// [`MessageView::to_json`]), and, when there are any,
    /// `protocolErrors`, and `incomplete` with `missing` (`start`, `events`,
    /// `end`: what the capture lacks of the call).
    pub fn to_json(&self) -> Value {
        let s = &self.summary;
        let mut out = Map::new();
        out.insert("id".into(), json!(s.id));
        out.insert("method".into(), json!(s.method_name()));
        out.insert("path".into(), json!(&*s.path));
        out.insert("kind".into(), json!(s.kind.name()));
        out.insert("kindInferred".into(), json!(s.kind_inferred));
        out.insert("authority".into(), json!(&*s.authority));
        out.insert("upstream".into(), json!(&*s.upstream));
        out.insert("protocol".into(), json!(s.protocol.key()));
        out.insert("codec".into(), json!(self.codec.name()));
        if !self.http_version.is_empty() {
            out.insert("httpVersion".into(), json!(self.http_version));
        }
        if let Some(code) = &self.protocol_status.connect_code {
            out.insert("connectCode".into(), json!(code));
        }
        out.insert("timing".into(), s.timing.to_json());
        out.insert("status".into(), self.status_json());
        if !self.endings.is_empty() {
            out.insert(
                "endings".into(),
                self.endings.iter().map(super::ending::to_json).collect(),
            );
        }
        if let Some(hops) = tls::hops_json(self.client_tls.as_deref(), self.upstream_tls.as_deref())
        {
            out.insert("tls".into(), hops);
        }
        match &self.method {
            Ok(method) => {
                let mut schema = Map::new();
                schema.insert("input".into(), json!(method.input().full_name()));
                schema.insert("output".into(), json!(method.output().full_name()));
                if let Some(source) = &method.source {
                    // The format 1.0 spelling, stable for scripts.
                    let legacy = match source.origin {
                        crate::pb::SchemaOrigin::Unspecified => source.legacy.clone(),
                        origin => origin.legacy_source(&source.location),
                    };
                    schema.insert("source".into(), json!(legacy));
                    if !source.upstream.is_empty() {
                        schema.insert("upstream".into(), json!(source.upstream));
                    }
                }
                out.insert("schema".into(), Value::Object(schema));
            }
            Err(reason) => {
                out.insert("schemaNote".into(), json!(reason));
            }
        }
        let headers = |h: &[HeaderView]| Value::Array(h.iter().map(HeaderView::to_json).collect());
        out.insert("requestMetadata".into(), headers(&self.request_headers));
        out.insert("responseHeaders".into(), headers(&self.response_headers));
        out.insert("trailers".into(), headers(&self.trailers));
        out.insert(
            "requests".into(),
            self.requests().map(MessageView::to_json).collect(),
        );
        out.insert(
            "responses".into(),
            self.responses().map(MessageView::to_json).collect(),
        );
        if !self.protocol_errors.is_empty() {
            out.insert("protocolErrors".into(), json!(self.protocol_errors));
        }
        let missing = s.missing();
        if !missing.is_empty() {
            out.insert("incomplete".into(), json!(true));
            out.insert("missing".into(), json!(missing));
        }
        Value::Object(out)
    }

    fn status_json(&self) -> Value {
        let Some(status) = &self.summary.status else {
            return Value::Null;
        };
        let mut out = Map::new();
        out.insert("code".into(), json!(status.code));
        out.insert("name".into(), json!(status.name()));
        out.insert("message".into(), json!(status.message));
        if let Some(details) = &self.status_details {
            out.insert("details".into(), details.to_json());
        }
        if let Some(error) = &status.relay_error {
            out.insert("relayError".into(), json!(error));
        }
        if let Some(http) = status.http_status {
            out.insert("httpStatus".into(), json!(http));
        }
        if status.by_client {
            out.insert("byClient".into(), json!(true));
        }
        // gRPC's usual (HTTP 200, from the trailers) goes without saying.
        let native = &self.protocol_status;
        let grpc = self.summary.protocol == Protocol::Grpc;
        if let Some(http) = native.http_status.filter(|&h| !grpc || h != 200) {
            out.insert("responseHttpStatus".into(), json!(http));
        }
        if let Some(source) = native
            .source
            .as_ref()
            .filter(|&s| !grpc || *s != StatusSource::Trailers)
        {
            out.insert("source".into(), json!(source.key()));
        }
        Value::Object(out)
    }
}
