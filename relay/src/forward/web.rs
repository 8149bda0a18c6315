//! The gRPC family's protocols at the forward path's edge: what a request
//! head says a call speaks ([`spoken`]), a Connect GET's request message,
//! which is in its query ([`get_message`]), and whether a unary body is
//! compressed ([`compressed_body`]). The rules themselves are
//! `loom_shared::web_protocol`'s; this turns them into the relay's types.

use http::request::Parts;
use loom_shared::pb;
use loom_shared::web_protocol::{self, Classified};

use crate::capture::call::Call;
use crate::capture::framing::GrpcMessage;
use crate::capture::spoken::{HttpVersion, Spoken};

/// What a request speaks, if it is a call of the gRPC family.
pub fn spoken(parts: &Parts, http_version: HttpVersion) -> Option<Spoken> {
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let classified = web_protocol::classify(
        parts.method.as_str(),
        header("content-type"),
        header("connect-protocol-version"),
        parts.uri.query(),
    );
    match classified {
        Classified::Rpc {
            protocol,
            codec,
            codec_name,
        } => Some(Spoken {
            protocol,
            codec,
            codec_name,
            http_version,
        }),
        Classified::NotRpc(_) => None,
    }
}

/// A Connect GET's request message, from its query, captured as the
/// call's one request message (a query that does not parse is noted).
pub fn get_message(call: &mut Call, parts: &Parts) {
    if call.spoken().protocol != pb::RpcProtocol::ConnectGet {
        return;
    }
    match web_protocol::connect::GetRequest::parse(parts.uri.query().unwrap_or("")) {
        Ok(get) => {
            let compressed = get.compression.is_some();
            let payload = bytes::Bytes::from(get.message);
            call.message(
                pb::Direction::Request,
                GrpcMessage {
                    compressed,
                    flags: u8::from(compressed),
                    declared_length: u32::try_from(payload.len()).unwrap_or(u32::MAX),
                    truncated: false,
                    over_budget: false,
                    payload,
                },
            );
        }
        Err(e) => call.note_problem(format!("Connect GET query: {e}")),
    }
}

/// A Connect unary body is compressed (`content-encoding` names a
/// compression); envelopes say so per message instead.
pub fn compressed_body(headers: &http::HeaderMap, spoken: &Spoken) -> bool {
    spoken.envelope().is_none()
        && headers
            .get(http::header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| !v.is_empty() && !v.eq_ignore_ascii_case("identity"))
}
