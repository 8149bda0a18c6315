//! How a call ended, as each side saw it (capture format 1.2), in the
//! lines the detail view shows: `Ended by the client: RST_STREAM CANCEL at
//! 12.30 ms`, then `then the upstream: trailers OK at 12.90 ms`. The words
//! are the engine's (`loom_shared::engine::ending`, which `loom decode`
//! prints too); this adds the times. Native and tested natively.

use loom_shared::engine::ending;
use loom_shared::pb;

use crate::format;

/// One line per ending, in order; the first says what ended the call. A
/// detail the relay gave follows after a dash. Empty for captures older
/// than 1.2.
pub fn lines(endings: &[pb::CallEnding]) -> Vec<String> {
    endings
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let mut line = format!(
                "{} at {}",
                ending::sentence(e, i == 0),
                format::duration(e.offset_nanos)
            );
            if !e.detail.is_empty() {
                line.push_str(" — ");
                line.push_str(&e.detail);
            }
            line
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pb::{EndKind, EndSide};

    #[test]
    fn a_cancel_crossed_by_trailers() {
        let endings = [
            pb::CallEnding::new(12_300_000, EndSide::Client, EndKind::Reset, 8, ""),
            pb::CallEnding::new(12_900_000, EndSide::Upstream, EndKind::Trailers, 0, ""),
        ];
        assert_eq!(
            lines(&endings),
            [
                "Ended by the client: RST_STREAM CANCEL at 12.30 ms",
                "then the upstream: trailers OK at 12.90 ms",
            ]
        );
    }

    #[test]
    fn every_way_a_call_ends() {
        let one = |side, kind, code, detail: &str| {
            lines(&[pb::CallEnding::new(5_000, side, kind, code, detail)]).join("\n")
        };
        assert_eq!(
            one(EndSide::Client, EndKind::Deadline, 8, ""),
            "Ended by the client: deadline passed, RST_STREAM CANCEL at 5.0 µs"
        );
        assert_eq!(
            one(EndSide::Upstream, EndKind::Trailers, 5, ""),
            "Ended by the upstream: trailers NOT_FOUND at 5.0 µs"
        );
        assert_eq!(
            one(EndSide::Upstream, EndKind::Reset, 2, ""),
            "Ended by the upstream: RST_STREAM INTERNAL_ERROR at 5.0 µs"
        );
        assert_eq!(
            one(EndSide::Upstream, EndKind::Goaway, 11, ""),
            "Ended by the upstream: GOAWAY ENHANCE_YOUR_CALM at 5.0 µs"
        );
        assert_eq!(
            one(EndSide::Relay, EndKind::Refused, 14, "upstream unreachable"),
            "Ended by the relay: refused with UNAVAILABLE at 5.0 µs — upstream unreachable"
        );
        assert_eq!(
            one(EndSide::Relay, EndKind::Shutdown, 0, ""),
            "Ended by the relay: shut down at 5.0 µs"
        );
        assert_eq!(
            one(EndSide::Client, EndKind::Disconnect, 0, "connection reset"),
            "Ended by the client: connection closed at 5.0 µs — connection reset"
        );
        assert_eq!(
            one(EndSide::Upstream, EndKind::NoTrailers, 0, ""),
            "Ended by the upstream: response ended without trailers at 5.0 µs"
        );
        assert!(lines(&[]).is_empty());
    }
}
