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
