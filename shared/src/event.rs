//! Constructors and accessors on the generated [`pb`] types: the one place
//! an event is built, for the relay, the browser and the tests alike.

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
            preview: false,
        }
    }

    /// For a live consumer: the message cut to its first `limit` bytes and
    /// marked as a preview, or `None` when it is no longer than that (send it
    /// whole). The cut shares the payload's bytes.
    pub fn preview(&self, limit: usize) -> Option<Self> {
        (self.payload.len() > limit).then(|| Self {
            payload: self.payload.slice(..limit),
            preview: true,
            ..self.clone()
        })
    }

    /// What a file holds of a message a consumer got as a preview and never
    /// completed: its bytes so far, marked truncated (a file never carries
    /// previews). Any other message is returned as it is.
    pub fn for_file(&self) -> std::borrow::Cow<'_, Self> {
        if self.preview {
            std::borrow::Cow::Owned(Self {
                preview: false,
                truncated: true,
                ..self.clone()
            })
        } else {
            std::borrow::Cow::Borrowed(self)
        }
    }
}

impl pb::CallEnded {
    /// A call the relay ended itself, not the upstream's trailers:
    /// `grpc_status` and `grpc_message` are what the client was told, if
    /// anything; `relay_error` says what happened.
    pub fn by_relay(
        offset_nanos: u64,
        grpc_status: Option<u32>,
        grpc_message: impl Into<String>,
        relay_error: impl Into<String>,
        trailers_only: bool,
    ) -> Self {
        Self {
            offset_nanos,
            grpc_status,
            grpc_message: grpc_message.into(),
            trailers_only,
            relay_error: relay_error.into(),
            ..Default::default()
        }
    }
}

impl pb::Descriptors {
    /// A schema: `set` (an encoded `FileDescriptorSet`) describing
    /// `services`, from `origin`. `location` names the file for local
    /// origins; `upstream` the server for reflection.
    pub fn schema(
        set: impl Into<Bytes>,
        services: Vec<String>,
        origin: pb::SchemaOrigin,
        location: impl Into<String>,
        upstream: impl Into<String>,
        warnings: Vec<String>,
    ) -> Self {
        let location = location.into();
        Self {
            file_descriptor_set: set.into(),
            services,
            upstream: upstream.into(),
            source: origin.legacy_source(&location),
            warnings,
            origin: origin.into(),
            location,
            failure: None,
        }
    }

    /// No schema for `services` from `origin`, and why. `retry_unix_nanos`
    /// is when the relay asks again (0: it will not).
    pub fn failure(
        services: Vec<String>,
        origin: pb::SchemaOrigin,
        upstream: impl Into<String>,
        reason: impl Into<String>,
        retry_unix_nanos: i64,
    ) -> Self {
        let reason = reason.into();
        Self {
            file_descriptor_set: Bytes::new(),
            services,
            upstream: upstream.into(),
            source: origin.legacy_source(""),
            // Readers of format 1.0 find the reason here.
            warnings: vec![reason.clone()],
            origin: origin.into(),
            location: String::new(),
            failure: Some(pb::SchemaFailure {
                reason,
                retry_unix_nanos,
            }),
        }
    }

    /// This set says there is no schema (format 1.1: `failure`; 1.0: an
    /// empty set).
    pub fn is_failure(&self) -> bool {
        self.failure.is_some() || self.file_descriptor_set.is_empty()
    }

    /// Where it came from: `origin`, or for format 1.0 parsed from
    /// `source`, with the location the string carried.
    pub fn origin_and_location(&self) -> (pb::SchemaOrigin, String) {
        match self.origin() {
            pb::SchemaOrigin::Unspecified => pb::SchemaOrigin::from_legacy(&self.source),
            origin => (origin, self.location.clone()),
        }
    }
}

impl pb::SchemaOrigin {
    /// The format 1.0 `source` string for this origin.
    pub fn legacy_source(self, location: &str) -> String {
        match self {
            pb::SchemaOrigin::Unspecified => String::new(),
            pb::SchemaOrigin::ReflectionV1 => "reflection/v1".into(),
            pb::SchemaOrigin::ReflectionV1alpha => "reflection/v1alpha".into(),
            pb::SchemaOrigin::Reflection => "reflection".into(),
            pb::SchemaOrigin::DescriptorSet => format!("descriptor-set:{location}"),
            pb::SchemaOrigin::Proto => format!("proto:{location}"),
            pb::SchemaOrigin::UserFile => format!("file:{location}"),
        }
    }

    /// Parses a format 1.0 `source` string; `Unspecified` when it is none
    /// of the known forms.
    pub fn from_legacy(source: &str) -> (Self, String) {
        let prefixed = [
            ("descriptor-set:", pb::SchemaOrigin::DescriptorSet),
            ("proto:", pb::SchemaOrigin::Proto),
            ("file:", pb::SchemaOrigin::UserFile),
        ];
        for (prefix, origin) in prefixed {
            if let Some(location) = source.strip_prefix(prefix) {
                return (origin, location.to_owned());
            }
        }
        let origin = match source {
            "reflection/v1" => pb::SchemaOrigin::ReflectionV1,
            "reflection/v1alpha" => pb::SchemaOrigin::ReflectionV1alpha,
            "reflection" => pb::SchemaOrigin::Reflection,
            _ => pb::SchemaOrigin::Unspecified,
        };
        (origin, String::new())
    }

    /// Reflection of either version (or before a version answered).
    pub fn is_reflection(self) -> bool {
        matches!(
            self,
            pb::SchemaOrigin::ReflectionV1
                | pb::SchemaOrigin::ReflectionV1alpha
                | pb::SchemaOrigin::Reflection
        )
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

    #[test]
    fn schema_origins_round_trip_through_the_legacy_strings() {
        use pb::SchemaOrigin as O;
        for (origin, location) in [
            (O::ReflectionV1, ""),
            (O::ReflectionV1alpha, ""),
            (O::Reflection, ""),
            (O::DescriptorSet, "/tmp/a b.pb"),
            (O::Proto, "api/x.proto"),
            (O::UserFile, "x.protoset"),
        ] {
            let legacy = origin.legacy_source(location);
            assert_eq!(O::from_legacy(&legacy), (origin, location.to_owned()));
        }
        assert_eq!(
            O::from_legacy("something else"),
            (O::Unspecified, String::new())
        );
        let set =
            pb::Descriptors::schema(vec![1u8], vec!["a.S".into()], O::Proto, "api/", "", vec![]);
        assert_eq!(set.source, "proto:api/");
        assert_eq!(set.origin_and_location(), (O::Proto, "api/".to_owned()));
        assert!(!set.is_failure());
        // A 1.0 event: only the string.
        let old = pb::Descriptors {
            source: "descriptor-set:x.pb".into(),
            file_descriptor_set: vec![1u8].into(),
            ..Default::default()
        };
        assert_eq!(
            old.origin_and_location(),
            (O::DescriptorSet, "x.pb".to_owned())
        );
        let failed =
            pb::Descriptors::failure(vec!["a.S".into()], O::Reflection, "http://u:1", "down", 7);
        assert!(failed.is_failure());
        assert_eq!(failed.warnings, ["down"]);
        assert_eq!(failed.failure.as_ref().unwrap().retry_unix_nanos, 7);
        assert!(O::ReflectionV1.is_reflection() && !O::Proto.is_reflection());
    }
}
