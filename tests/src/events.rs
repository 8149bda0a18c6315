//! Questions tests ask of a list of captured events: which calls, their
//! ends and messages, gaps, schemas. One home, so no test file writes its
//! own.

use loom_shared::pb::{self, GapKind, event::Kind};

/// The ids of calls whose `:path` ends with `method`, in start order.
pub fn calls_of(events: &[pb::Event], method: &str) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            Some(pb::event::Kind::CallStarted(s)) if s.path.ends_with(method) => Some(e.call_id),
            _ => None,
        })
        .collect()
}

/// The end of a call, if it ended.
pub fn ended(events: &[pb::Event], call_id: u64) -> Option<&pb::CallEnded> {
    events.iter().find_map(|e| match &e.kind {
        Some(pb::event::Kind::CallEnded(end)) if e.call_id == call_id => Some(end),
        _ => None,
    })
}

/// The messages of a call in one direction.
pub fn messages(events: &[pb::Event], call_id: u64, direction: pb::Direction) -> Vec<&pb::Message> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            Some(pb::event::Kind::Message(m))
                if e.call_id == call_id && m.direction == direction as i32 =>
            {
                Some(m)
            }
            _ => None,
        })
        .collect()
}

/// Ids of the calls that started, in order.
pub fn started_ids(events: &[pb::Event]) -> Vec<u64> {
    events
        .iter()
        .filter(|e| matches!(e.kind, Some(Kind::CallStarted(_))))
        .map(|e| e.call_id)
        .collect()
}

/// Ids of the calls that ended, in order.
pub fn ended_ids(events: &[pb::Event]) -> Vec<u64> {
    events
        .iter()
        .filter(|e| matches!(e.kind, Some(Kind::CallEnded(_))))
        .map(|e| e.call_id)
        .collect()
}

/// The `:path` of every call that started, in order.
pub fn started_paths(events: &[pb::Event]) -> Vec<&str> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            Some(Kind::CallStarted(s)) => Some(s.path.as_str()),
            _ => None,
        })
        .collect()
}

/// The gaps of one kind.
pub fn gaps(events: &[pb::Event], kind: GapKind) -> Vec<&pb::CaptureGap> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            Some(Kind::Gap(g)) if g.kind == kind as i32 => Some(g),
            _ => None,
        })
        .collect()
}

pub fn has_gap(events: &[pb::Event], kind: GapKind) -> bool {
    !gaps(events, kind).is_empty()
}

/// Every `Descriptors` event (schemas and failure notices).
pub fn descriptors(events: &[pb::Event]) -> Vec<&pb::Descriptors> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            Some(Kind::Descriptors(d)) => Some(d),
            _ => None,
        })
        .collect()
}

/// `Descriptors` events that name `service`.
pub fn descriptors_for<'a>(events: &'a [pb::Event], service: &str) -> Vec<&'a pb::Descriptors> {
    descriptors(events)
        .into_iter()
        .filter(|d| d.services.iter().any(|s| s == service))
        .collect()
}

/// The first schema (not a failure notice) that describes `service`.
pub fn schema_for<'a>(events: &'a [pb::Event], service: &str) -> Option<&'a pb::Descriptors> {
    descriptors_for(events, service)
        .into_iter()
        .find(|d| !d.is_failure())
}

/// The calls whose `:path` ends with `method` that have ended, in start
/// order, with their ends.
pub fn ended_calls<'a>(events: &'a [pb::Event], method: &str) -> Vec<(u64, &'a pb::CallEnded)> {
    calls_of(events, method)
        .into_iter()
        .filter_map(|id| ended(events, id).map(|end| (id, end)))
        .collect()
}

/// A call's `endings` in words, for failure messages:
/// `CLIENT RESET 8 @12.5ms, UPSTREAM TRAILERS 0 @12.9ms`.
pub fn describe_endings(end: &pb::CallEnded) -> String {
    if end.endings.is_empty() {
        return "(no endings)".to_owned();
    }
    end.endings
        .iter()
        .map(|e| {
            let side = e.side().as_str_name().trim_start_matches("END_SIDE_");
            let kind = e.kind().as_str_name().trim_start_matches("END_KIND_");
            let detail = if e.detail.is_empty() {
                String::new()
            } else {
                format!(" ({})", e.detail)
            };
            format!(
                "{side} {kind} {} @{:.1}ms{detail}",
                e.code,
                e.offset_nanos as f64 / 1e6
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks what ended a call (format 1.2's `CallEnded.endings`): there is at
/// least one ending, they are in offset order, and the first is `side` with
/// one of `kinds` and, when given, `code`. The error says what there was.
pub fn check_first_ending(
    end: &pb::CallEnded,
    side: pb::EndSide,
    kinds: &[pb::EndKind],
    code: Option<u32>,
) -> Result<(), String> {
    let what = || {
        format!(
            "endings [{}], grpc_status {:?}, relay_error {:?}",
            describe_endings(end),
            end.grpc_status,
            end.relay_error
        )
    };
    let Some(first) = end.endings.first() else {
        return Err(format!("no endings: {}", what()));
    };
    if !end
        .endings
        .windows(2)
        .all(|w| w[0].offset_nanos <= w[1].offset_nanos)
    {
        return Err(format!("endings out of order: {}", what()));
    }
    let wanted_kinds: Vec<&str> = kinds.iter().map(|k| k.as_str_name()).collect();
    if first.side() != side
        || !kinds.contains(&first.kind())
        || code.is_some_and(|c| c != first.code)
    {
        return Err(format!(
            "the first ending is not {} {} {}: {}",
            side.as_str_name(),
            wanted_kinds.join("|"),
            code.map_or("(any code)".to_owned(), |c| c.to_string()),
            what()
        ));
    }
    Ok(())
}
