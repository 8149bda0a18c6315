//! "Copy as command" for a call of the session: grpcurl for gRPC, curl for
//! Connect unary (POST and GET), `buf curl` for gRPC-Web and Connect
//! streaming ([`Program::for_protocol`]). Requests are written as the
//! command takes them: JSON for grpcurl and `buf curl` (a JSON-codec
//! message as sent, a proto one decoded with its own upstream's schema),
//! the bare body for curl (as sent, decompressed: no schema needed). The
//! commands are built by [`crate::engine::grpcurl`] and
//! [`crate::engine::curl`].

use bytes::Bytes;
use serde_json::Value;

use super::{CallContext, Session};
use crate::engine::body::Body;
use crate::engine::call::CallRecord;
use crate::engine::curl::{CallShape, buf_curl_command, curl_command};
use crate::engine::grpcurl::grpcurl_command;
use crate::engine::json::JsonOptions;
use crate::engine::message::plain_payload;
use crate::engine::protocol::{Codec, Protocol};
use crate::engine::replay::{Program, ReplayCommand, ReplayError, ReplayMethod, ReplayTo};
use crate::engine::schema::ResolvedMethod;
use crate::pb;

impl Session {
    /// A command replaying the call's request(s), straight to its upstream,
    /// in the call's own protocol.
    pub fn replay(&self, id: u64) -> Result<ReplayCommand, ReplayError> {
        self.replay_to(id, &ReplayTo::Upstream)
    }

    /// A command replaying the call's request(s) in its own protocol (see
    /// [`Program::for_protocol`]), sent where `to` says (the command's
    /// `target` says where it went).
    pub fn replay_to(&self, id: u64, to: &ReplayTo) -> Result<ReplayCommand, ReplayError> {
        let &i = self.index.get(&id).ok_or(ReplayError::NoSuchCall(id))?;
        let call = &self.calls[i];
        let started = call.started_event().ok_or(ReplayError::NotStarted)?;
        let protocol = call.summary.protocol;
        let resolved = self.schema.resolve_for(&started.upstream, &started.path);
        let context = CallContext::new(call, &self.schema, &self.options);
        let program = Program::for_protocol(protocol);
        if program == Program::Curl {
            let shape = shape(call, resolved.as_ref().ok());
            let body = request_body(call)?;
            return curl_command(&started, &shape, &body, to);
        }
        let requests = json_requests(call, &context, resolved.as_ref())?;
        let shape = shape(call, resolved.as_ref().ok());
        match program {
            Program::Grpcurl => grpcurl_command(&started, shape.method, &requests, to),
            Program::BufCurl | Program::Curl => buf_curl_command(&started, &shape, &requests, to),
        }
    }

    /// A grpcurl command replaying a gRPC call's request(s), straight to its
    /// upstream; [`ReplayError::NotGrpc`] for the other protocols (see
    /// [`Session::replay`]).
    pub fn grpcurl(&self, id: u64) -> Result<ReplayCommand, ReplayError> {
        self.grpcurl_to(id, &ReplayTo::Upstream)
    }

    /// [`Session::grpcurl`], sent where `to` says.
    pub fn grpcurl_to(&self, id: u64, to: &ReplayTo) -> Result<ReplayCommand, ReplayError> {
        match self.call(id).map(|c| c.protocol) {
            Some(Protocol::Grpc) | None => self.replay_to(id, to),
            Some(other) => Err(ReplayError::NotGrpc(other)),
        }
    }
}

/// The call as a command needs it: protocol, codec, HTTP version, and its
/// method (from the schema when it knows it, else from the path, its kind
/// guessed from the capture's message counts).
fn shape(call: &CallRecord, method: Option<&ResolvedMethod>) -> CallShape {
    let summary = &call.summary;
    let method = method.map_or_else(
        || ReplayMethod {
            full_name: summary.method.as_ref().map_or_else(
                || summary.path.trim_start_matches('/').to_owned(),
                |m| m.full_name(),
            ),
            kind: summary.kind,
            local_schema: None,
        },
        ReplayMethod::from,
    );
    CallShape {
        protocol: summary.protocol,
        codec: call.codec(),
        http_version: call
            .started
            .as_ref()
            .map(|s| s.http_version().to_owned())
            .unwrap_or_default(),
        method,
    }
}

/// The request messages, in order.
fn requests(call: &CallRecord) -> impl Iterator<Item = &pb::Message> {
    call.messages
        .iter()
        .filter(|m| m.direction() != pb::Direction::Response)
}

/// A Connect unary call's one request body, decompressed, whole.
fn request_body(call: &CallRecord) -> Result<Bytes, ReplayError> {
    let message = requests(call).next().ok_or(ReplayError::NoRequest)?;
    let undecodable = |reason: String| ReplayError::Undecodable { index: 0, reason };
    if message.truncated || message.preview {
        return Err(undecodable(format!(
            "the capture kept only {} of {} bytes",
            message.payload.len(),
            message.declared_length
        )));
    }
    plain_payload(message, &call.encoding(pb::Direction::Request)).map_err(undecodable)
}

/// Each request message as JSON: as sent for the JSON codec, decoded with
/// the schema (without defaults or annotations) for proto.
fn json_requests(
    call: &CallRecord,
    context: &CallContext,
    method: Result<&ResolvedMethod, &String>,
) -> Result<Vec<Value>, ReplayError> {
    let codec = call.codec();
    match codec {
        Codec::Other(_) => return Err(ReplayError::Codec(codec.name().to_owned())),
        Codec::Proto => {
            method.map_err(|why| ReplayError::NoSchema(why.clone()))?;
        }
        Codec::Json => {}
    }
    let options = JsonOptions::for_replay();
    let mut out = Vec::new();
    for (n, message) in requests(call).enumerate() {
        let view = context.decode_with(message, n, n, &options);
        match view.body {
            Body::Json { json, .. } => out.push(json),
            Body::JsonText { json, .. } => out.push(json),
            other => {
                return Err(ReplayError::Undecodable {
                    index: n,
                    reason: other.note().unwrap_or_default().to_owned(),
                });
            }
        }
    }
    Ok(out)
}
