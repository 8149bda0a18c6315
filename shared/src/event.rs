//! Convenience constructors and accessors on the generated [`pb`] types.

use bytes::Bytes;

use crate::pb::{self, event::Kind};

impl pb::Event {
    /// An event of `call_id`; `kind` is any of the oneof's message types.
    pub fn new(call_id: u64, kind: impl Into<Kind>) -> Self {
        Self {
            call_id,
            kind: Some(kind.into()),
        }
    }

    /// A descriptors event (call id 0: it belongs to no call).
    pub fn descriptors(descriptors: pb::Descriptors) -> Self {
        Self::new(0, descriptors)
    }

    /// A gap event (call id 0): `dropped_events` events were not captured.
    pub fn gap(
        kind: pb::GapKind,
        dropped_events: u64,
        reason: impl Into<String>,
        call_ids: Vec<u64>,
    ) -> Self {
        Self::new(
            0,
            pb::CaptureGap {
                dropped_events,
                reason: reason.into(),
                kind: kind.into(),
                call_ids,
            },
        )
    }

    /// The oneof case as named in the proto (`call_started`, `gap`, …), or
    /// `unknown` when it is unset or a case this build does not know.
    pub fn kind_name(&self) -> &'static str {
        self.kind.as_ref().map_or("unknown", Kind::name)
    }

    /// Nanoseconds since the call's start, for the kinds that carry it.
    pub fn offset_nanos(&self) -> Option<u64> {
        match self.kind.as_ref()? {
            Kind::ResponseHeaders(r) => Some(r.offset_nanos),
            Kind::Message(m) => Some(m.offset_nanos),
            Kind::CallEnded(e) => Some(e.offset_nanos),
            Kind::CallStarted(_) | Kind::Descriptors(_) | Kind::Gap(_) => None,
        }
    }
}

impl Kind {
    /// The oneof field name in the proto.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::CallStarted(_) => "call_started",
            Kind::ResponseHeaders(_) => "response_headers",
            Kind::Message(_) => "message",
            Kind::CallEnded(_) => "call_ended",
            Kind::Descriptors(_) => "descriptors",
            Kind::Gap(_) => "gap",
        }
    }
}

impl pb::Message {
    /// A complete (not truncated) message: `declared_length` is the payload's
    /// length.
    pub fn new(
        direction: pb::Direction,
        offset_nanos: u64,
        compressed: bool,
        payload: impl Into<Bytes>,
    ) -> Self {
        let payload = payload.into();
        Self {
            direction: direction.into(),
            offset_nanos,
            compressed,
            declared_length: u32::try_from(payload.len()).unwrap_or(u32::MAX),
            payload,
            truncated: false,
        }
    }
}

macro_rules! into_kind {
    ($($ty:ident => $variant:ident),* $(,)?) => {$(
        impl From<pb::$ty> for Kind {
            fn from(value: pb::$ty) -> Self {
                Kind::$variant(value)
            }
        }
    )*};
}

into_kind! {
    CallStarted => CallStarted,
    ResponseHeaders => ResponseHeaders,
    Message => Message,
    CallEnded => CallEnded,
    Descriptors => Descriptors,
    CaptureGap => Gap,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors() {
        let gap = pb::Event::gap(pb::GapKind::Lagged, 3, "slow", vec![9]);
        assert_eq!(gap.call_id, 0);
        assert_eq!(gap.kind_name(), "gap");
        let Some(Kind::Gap(g)) = gap.kind else {
            panic!("not a gap");
        };
        assert_eq!(g.kind(), pb::GapKind::Lagged);
        assert_eq!((g.dropped_events, g.reason.as_str()), (3, "slow"));
        assert_eq!(g.call_ids, [9]);

        let m = pb::Message::new(pb::Direction::Response, 5, true, vec![1, 2, 3]);
        assert_eq!(m.direction(), pb::Direction::Response);
        assert_eq!(m.declared_length, 3);
        assert!(!m.truncated);
        let e = pb::Event::new(4, m);
        assert_eq!(e.kind_name(), "message");
        assert_eq!(e.offset_nanos(), Some(5));

        let d = pb::Event::descriptors(pb::Descriptors::default());
        assert_eq!(
            (d.call_id, d.kind_name(), d.offset_nanos()),
            (0, "descriptors", None)
        );
        let empty = pb::Event::default();
        assert_eq!((empty.kind_name(), empty.offset_nanos()), ("unknown", None));
    }
}
