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

    /// The same end with `endings` (format 1.2): how each side ended the
    /// call, in the order the relay saw it, what ended it first.
    pub fn with_endings(self, endings: Vec<pb::CallEnding>) -> Self {
        Self { endings, ..self }
    }

    /// What ended the call (the first of `endings`); `None` in files older
    /// than 1.2.
    pub fn ended_by(&self) -> Option<&pb::CallEnding> {
        self.endings.first()
    }

    /// The gRPC status the call's client saw: the one place every reader
    /// takes a call's status from.
    ///
    /// When the client ended the call ([`ended_by_client`]), that is
    /// DEADLINE_EXCEEDED for its deadline and CANCELLED for anything else it
    /// did (a reset, a GOAWAY, closing its connection), whatever the
    /// upstream said after. Otherwise it is `grpc_status` (the upstream's
    /// trailers, or what the relay told the client), `None` when there was
    /// none. Files older than 1.2 have no endings: always `grpc_status`.
    ///
    /// [`ended_by_client`]: Self::ended_by_client
    pub fn client_status(&self) -> Option<u32> {
        self.client_gave_up().or(self.grpc_status)
    }

    /// The client ended the call: its reset, deadline, GOAWAY or
    /// disconnect came first (format 1.2).
    pub fn ended_by_client(&self) -> bool {
        self.client_gave_up().is_some()
    }

    /// The status a client that gave up on the call sees, if it did.
    fn client_gave_up(&self) -> Option<u32> {
        /// gRPC's CANCELLED.
        const CANCELLED: u32 = 1;
        /// gRPC's DEADLINE_EXCEEDED.
        const DEADLINE_EXCEEDED: u32 = 4;
        let first = self.ended_by()?;
        if first.side() != pb::EndSide::Client {
            return None;
        }
        match first.kind() {
            pb::EndKind::Deadline => Some(DEADLINE_EXCEEDED),
            pb::EndKind::Reset | pb::EndKind::Goaway | pb::EndKind::Disconnect => Some(CANCELLED),
            pb::EndKind::Unspecified
            | pb::EndKind::Trailers
            | pb::EndKind::Refused
            | pb::EndKind::Shutdown
            | pb::EndKind::NoTrailers => None,
        }
    }
}

impl pb::CallEnding {
    /// One side's end of a call, `offset_nanos` after its start. `code` is a
    /// gRPC status for `Trailers` and `Refused`, an HTTP/2 error code for
    /// `Reset`, `Deadline` and `Goaway`, 0 otherwise; `detail` says what
    /// happened, in words (may be empty).
    pub fn new(
        offset_nanos: u64,
        side: pb::EndSide,
        kind: pb::EndKind,
        code: u32,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            offset_nanos,
            side: side.into(),
            kind: kind.into(),
            code,
            detail: detail.into(),
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
mod tests;
