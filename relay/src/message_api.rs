//! `GET /api/message?call=ID&index=N`: one whole stored message, for a live
//! consumer that got only its preview (messages larger than
//! `--live-preview-bytes` reach WebSocket clients cut; see
//! `docs/capture-format.md`). The body is the payload exactly as captured
//! (still compressed if the message was); `X-Loom-Declared-Length` and
//! `X-Loom-Truncated` say whether the capture itself kept it whole. Behind
//! the same access checks as every UI route. Not a way to read the capture
//! in bulk: that is `/api/capture`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

use crate::capture::store::MessageLookup;
use crate::ui::UiState;

/// The handler.
pub async fn get(
    State(state): State<Arc<UiState>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let number = |name: &str| query.get(name).and_then(|v| v.parse::<u64>().ok());
    let (Some(call), Some(index)) = (number("call"), number("index")) else {
        return (
            StatusCode::BAD_REQUEST,
            "loom: /api/message needs ?call=CALL_ID&index=N (numbers)\n",
        )
            .into_response();
    };
    let index = usize::try_from(index).unwrap_or(usize::MAX);
    match state.hub.message(call, index) {
        Ok(message) => {
            let mut res = message.payload.into_response();
            let h = res.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            h.insert("x-loom-declared-length", message.declared_length.into());
            h.insert(
                "x-loom-truncated",
                HeaderValue::from_static(if message.truncated { "1" } else { "0" }),
            );
            res
        }
        Err(why) => {
            let status = match why {
                MessageLookup::Evicted => StatusCode::GONE,
                MessageLookup::NoSuchCall | MessageLookup::NoSuchMessage => StatusCode::NOT_FOUND,
            };
            (
                status,
                format!("loom: call {call}, message {index}: {why}\n"),
            )
                .into_response()
        }
    }
}
