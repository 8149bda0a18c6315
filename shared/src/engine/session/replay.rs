//! "Copy as grpcurl" for a call of the session: its requests decoded for
//! replay, with the schema of its own upstream, and the command built by
//! [`crate::engine::grpcurl`].

use super::Session;
use crate::engine::body::Body;
use crate::engine::grpcurl::{GrpcurlCommand, GrpcurlError, ReplayTo, grpcurl_command};
use crate::engine::json::JsonOptions;
use crate::engine::message::MessageView;
use crate::pb;

impl Session {
    /// A grpcurl command replaying the call's request(s), straight to its
    /// upstream.
    pub fn grpcurl(&self, id: u64) -> Result<GrpcurlCommand, GrpcurlError> {
        self.grpcurl_to(id, &ReplayTo::Upstream)
    }

    /// A grpcurl command replaying the call's request(s), sent where `to`
    /// says (the command's `target` says where it went).
    pub fn grpcurl_to(&self, id: u64, to: &ReplayTo) -> Result<GrpcurlCommand, GrpcurlError> {
        let &i = self.index.get(&id).ok_or(GrpcurlError::NoSuchCall(id))?;
        let call = &self.calls[i];
        let started = call.started_event().ok_or(GrpcurlError::NotStarted)?;
        let method = self
            .schema
            .resolve_for(&started.upstream, &started.path)
            .map_err(GrpcurlError::NoSchema)?;
        let input = method.input();
        let encoding = call.encoding(true);
        let mut requests = Vec::new();
        let requests_iter = call
            .messages
            .iter()
            .filter(|m| m.direction() != pb::Direction::Response);
        for (n, message) in requests_iter.enumerate() {
            let view = MessageView::decode(
                message,
                n,
                n,
                Ok(&input),
                &encoding,
                &JsonOptions::for_replay(),
            );
            match view.body {
                Body::Json { json, .. } => requests.push(json),
                other => {
                    return Err(GrpcurlError::Undecodable {
                        index: n,
                        reason: other.note().unwrap_or_default().to_owned(),
                    });
                }
            }
        }
        grpcurl_command(&started, &method, &requests, to)
    }
}
