//! How a call ended, as each side saw it (format 1.2's
//! `CallEnded.endings`), in words: HTTP/2 error code names, who did what
//! ("RST_STREAM CANCEL", "trailers OK"), and the JSON `loom decode` prints.
//!
//! The status a call's client saw, which follows from the first ending, is
//! [`pb::CallEnded::client_status`].

use serde_json::{Map, Value, json};

use super::status::describe_code;
use crate::pb::{self, EndKind, EndSide};

/// The HTTP/2 error code names (RFC 9113, section 7), indexed by code.
pub const H2_ERROR_NAMES: [&str; 14] = [
    "NO_ERROR",
    "PROTOCOL_ERROR",
    "INTERNAL_ERROR",
    "FLOW_CONTROL_ERROR",
    "SETTINGS_TIMEOUT",
    "STREAM_CLOSED",
    "FRAME_SIZE_ERROR",
    "REFUSED_STREAM",
    "CANCEL",
    "COMPRESSION_ERROR",
    "CONNECT_ERROR",
    "ENHANCE_YOUR_CALM",
    "INADEQUATE_SECURITY",
    "HTTP_1_1_REQUIRED",
];

/// The HTTP/2 error code CANCEL: what a client's RST_STREAM sends when it
/// cancels a call.
pub const H2_CANCEL: u32 = 8;

/// The name of an HTTP/2 error code (`CANCEL`), if it is a defined one.
pub fn h2_error_name(code: u32) -> Option<&'static str> {
    H2_ERROR_NAMES.get(usize::try_from(code).ok()?).copied()
}

/// An HTTP/2 error code's name, or its number in hex (`0x2a`) when it has
/// none.
pub fn describe_h2_error(code: u32) -> String {
    h2_error_name(code).map_or_else(|| format!("0x{code:x}"), str::to_owned)
}

/// `the client`, `the upstream`, `the relay` (`an unknown side` for a side
/// this build does not know).
pub fn side_noun(side: EndSide) -> &'static str {
    match side {
        EndSide::Client => "the client",
        EndSide::Upstream => "the upstream",
        EndSide::Relay => "the relay",
        EndSide::Unspecified => "an unknown side",
    }
}

/// The ending's code by name: a gRPC status for trailers and refusals, an
/// HTTP/2 error code for resets, deadlines and GOAWAYs; `None` for kinds
/// without a code.
pub fn code_text(ending: &pb::CallEnding) -> Option<String> {
    match ending.kind() {
        EndKind::Trailers | EndKind::Refused => Some(describe_code(ending.code)),
        EndKind::Reset | EndKind::Deadline | EndKind::Goaway => {
            Some(describe_h2_error(ending.code))
        }
        EndKind::Disconnect | EndKind::Shutdown | EndKind::NoTrailers | EndKind::Unspecified => {
            None
        }
    }
}

/// What the side did, in words: `trailers OK`, `RST_STREAM CANCEL`,
/// `deadline passed, RST_STREAM CANCEL`, `GOAWAY NO_ERROR`, `connection
/// closed`, `refused with UNAVAILABLE`, `shut down`, `response ended without
/// trailers`.
pub fn what(ending: &pb::CallEnding) -> String {
    let code = || code_text(ending).unwrap_or_default();
    match ending.kind() {
        EndKind::Trailers => format!("trailers {}", code()),
        EndKind::Reset => format!("RST_STREAM {}", code()),
        EndKind::Deadline => format!("deadline passed, RST_STREAM {}", code()),
        EndKind::Goaway => format!("GOAWAY {}", code()),
        EndKind::Disconnect => "connection closed".to_owned(),
        EndKind::Refused => format!("refused with {}", code()),
        EndKind::Shutdown => "shut down".to_owned(),
        EndKind::NoTrailers => "response ended without trailers".to_owned(),
        EndKind::Unspecified => match ending.kind {
            0 => "ended".to_owned(),
            other => format!("ended (kind {other})"),
        },
    }
}

/// One ending as a sentence, `first` being what ended the call: `Ended by
/// the client: RST_STREAM CANCEL`, then `then the upstream: trailers OK`.
pub fn sentence(ending: &pb::CallEnding, first: bool) -> String {
    let lead = if first { "Ended by" } else { "then" };
    format!("{lead} {}: {}", side_noun(ending.side()), what(ending))
}

/// One ending as JSON: `side` (`client`, `upstream`, `relay`), `kind`
/// (`TRAILERS`, `RESET`, `DEADLINE`, `GOAWAY`, `DISCONNECT`, `REFUSED`,
/// `SHUTDOWN`, `NO_TRAILERS`; the number when unknown), `code`, `codeName`
/// (when the kind has a code), `offsetNanos`, `text` ([`what`]) and
/// `detail` (when there is one).
pub fn to_json(ending: &pb::CallEnding) -> Value {
    let mut out = Map::new();
    let side = match ending.side() {
        EndSide::Client => json!("client"),
        EndSide::Upstream => json!("upstream"),
        EndSide::Relay => json!("relay"),
        EndSide::Unspecified => json!(ending.side),
    };
    out.insert("side".into(), side);
    let kind = match ending.kind() {
        EndKind::Unspecified => json!(ending.kind),
        known => json!(
            known
                .as_str_name()
                .strip_prefix("END_KIND_")
                .unwrap_or(known.as_str_name())
        ),
    };
    out.insert("kind".into(), kind);
    out.insert("code".into(), json!(ending.code));
    if let Some(name) = code_text(ending) {
        out.insert("codeName".into(), json!(name));
    }
    out.insert("offsetNanos".into(), json!(ending.offset_nanos));
    out.insert("text".into(), json!(what(ending)));
    if !ending.detail.is_empty() {
        out.insert("detail".into(), json!(ending.detail));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ending(side: EndSide, kind: EndKind, code: u32) -> pb::CallEnding {
        pb::CallEnding::new(1_000, side, kind, code, "")
    }

    #[test]
    fn h2_error_names() {
        assert_eq!(h2_error_name(0), Some("NO_ERROR"));
        assert_eq!(h2_error_name(H2_CANCEL), Some("CANCEL"));
        assert_eq!(h2_error_name(7), Some("REFUSED_STREAM"));
        assert_eq!(h2_error_name(13), Some("HTTP_1_1_REQUIRED"));
        assert_eq!(h2_error_name(14), None);
        assert_eq!(describe_h2_error(0xb), "ENHANCE_YOUR_CALM");
        assert_eq!(describe_h2_error(42), "0x2a");
        assert_eq!(describe_h2_error(u32::MAX), "0xffffffff");
    }

    #[test]
    fn every_kind_in_words() {
        use EndKind as K;
        use EndSide as S;
        let cases = [
            (S::Client, K::Reset, H2_CANCEL, "RST_STREAM CANCEL"),
            (S::Client, K::Reset, 2, "RST_STREAM INTERNAL_ERROR"),
            (
                S::Client,
                K::Deadline,
                H2_CANCEL,
                "deadline passed, RST_STREAM CANCEL",
            ),
            (S::Upstream, K::Trailers, 0, "trailers OK"),
            (S::Upstream, K::Trailers, 5, "trailers NOT_FOUND"),
            (S::Upstream, K::Trailers, 99, "trailers CODE_99"),
            (S::Upstream, K::Reset, 7, "RST_STREAM REFUSED_STREAM"),
            (S::Upstream, K::Goaway, 0, "GOAWAY NO_ERROR"),
            (S::Client, K::Goaway, 0x1f, "GOAWAY 0x1f"),
            (S::Upstream, K::Disconnect, 0, "connection closed"),
            (S::Relay, K::Refused, 14, "refused with UNAVAILABLE"),
            (S::Relay, K::Shutdown, 0, "shut down"),
            (
                S::Upstream,
                K::NoTrailers,
                0,
                "response ended without trailers",
            ),
            (S::Upstream, K::Unspecified, 0, "ended"),
        ];
        for (side, kind, code, text) in cases {
            assert_eq!(what(&ending(side, kind, code)), text, "{side:?} {kind:?}");
        }
        // A kind from a newer writer: its number, not a panic.
        let newer = pb::CallEnding {
            kind: 42,
            side: 9,
            ..Default::default()
        };
        assert_eq!(what(&newer), "ended (kind 42)");
        assert_eq!(
            sentence(&newer, true),
            "Ended by an unknown side: ended (kind 42)"
        );
        assert_eq!(code_text(&newer), None);
    }

    #[test]
    fn sentences_name_the_side() {
        let cancel = ending(EndSide::Client, EndKind::Reset, H2_CANCEL);
        let trailers = ending(EndSide::Upstream, EndKind::Trailers, 0);
        let refused = ending(EndSide::Relay, EndKind::Refused, 14);
        assert_eq!(
            sentence(&cancel, true),
            "Ended by the client: RST_STREAM CANCEL"
        );
        assert_eq!(sentence(&trailers, false), "then the upstream: trailers OK");
        assert_eq!(
            sentence(&refused, true),
            "Ended by the relay: refused with UNAVAILABLE"
        );
    }

    #[test]
    fn json_of_an_ending() {
        let cancel = pb::CallEnding::new(
            12_300_000,
            EndSide::Client,
            EndKind::Reset,
            H2_CANCEL,
            "stream reset by the client",
        );
        assert_eq!(
            to_json(&cancel),
            json!({
                "side": "client", "kind": "RESET", "code": 8, "codeName": "CANCEL",
                "offsetNanos": 12_300_000, "text": "RST_STREAM CANCEL",
                "detail": "stream reset by the client",
            })
        );
        let shutdown = ending(EndSide::Relay, EndKind::Shutdown, 0);
        assert_eq!(
            to_json(&shutdown),
            json!({"side": "relay", "kind": "SHUTDOWN", "code": 0,
                   "offsetNanos": 1_000, "text": "shut down"})
        );
        let unknown = pb::CallEnding {
            side: 7,
            kind: 30,
            ..Default::default()
        };
        assert_eq!(to_json(&unknown)["side"], json!(7));
        assert_eq!(to_json(&unknown)["kind"], json!(30));
    }

    /// A client's cancel, through a session: the call list, its counts, its
    /// detail and `loom decode`'s JSON, and the search index all see it.
    #[test]
    fn a_session_reads_a_client_cancel_as_cancelled() {
        use crate::engine::Session;
        let start = pb::CallStarted {
            path: "/shop.Inventory/Get".into(),
            ..Default::default()
        };
        // The upstream's OK crossed the client's cancel.
        let end = pb::CallEnded {
            offset_nanos: 12_900_000,
            grpc_status: Some(0),
            ..Default::default()
        }
        .with_endings(vec![
            pb::CallEnding::new(12_300_000, EndSide::Client, EndKind::Reset, H2_CANCEL, ""),
            pb::CallEnding::new(12_900_000, EndSide::Upstream, EndKind::Trailers, 0, ""),
        ]);
        let mut s = Session::from_events([pb::Event::new(1, start), pb::Event::new(1, end)]);
        let status = s.call(1).and_then(|c| c.status.clone());
        let status = status.as_ref();
        assert_eq!(status.and_then(|s| s.code), Some(1));
        assert_eq!(status.map(|s| s.name()).as_deref(), Some("CANCELLED"));
        assert!(status.is_some_and(|s| s.by_client && !s.is_ok()));
        assert_eq!(s.counts().failed, 1);

        let detail = s.detail(1);
        let json = detail.as_ref().map(|d| d.to_json()).unwrap_or_default();
        assert_eq!(detail.map(|d| d.endings.len()), Some(2));
        assert_eq!(
            json["status"],
            json!({"code": 1, "name": "CANCELLED", "message": "", "byClient": true})
        );
        assert_eq!(json["endings"][0]["text"], json!("RST_STREAM CANCEL"));
        assert_eq!(json["endings"][1]["text"], json!("trailers OK"));

        assert_eq!(s.search("cancelled"), [1]);
        assert_eq!(s.search("rst_stream"), [1]);
    }
}
