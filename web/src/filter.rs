//! The call-list filter: what the user typed and picked, kept in the URL so
//! a view can be shared. Pure logic, tested natively.

use loom_shared::engine::{CallKind, CallSummary, Protocol};

/// Which statuses to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusFilter {
    #[default]
    All,
    /// Ended with anything but OK (including no status at all).
    Errors,
    /// Still open.
    Pending,
    /// Exactly this gRPC code.
    Code(u32),
}

impl StatusFilter {
    pub fn parse(text: &str) -> StatusFilter {
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "all" => StatusFilter::All,
            "errors" | "error" => StatusFilter::Errors,
            "pending" | "open" => StatusFilter::Pending,
            other => loom_shared::engine::status::parse_code(other)
                .map_or(StatusFilter::All, StatusFilter::Code),
        }
    }

    /// The form used in URLs and the status picker.
    pub fn key(self) -> String {
        match self {
            StatusFilter::All => "all".into(),
            StatusFilter::Errors => "errors".into(),
            StatusFilter::Pending => "pending".into(),
            StatusFilter::Code(c) => c.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filter {
    /// Case-insensitive substring of `package.Service/Method`.
    pub method: String,
    pub status: StatusFilter,
    pub kind: Option<CallKind>,
    /// Only calls to this upstream: its whole name as captured
    /// (`https://api.example:443`, `unix:/run/x.sock`, empty for calls
    /// whose start named none), or its short label (`api.example:443`,
    /// see [`crate::upstreams::label`]).
    pub upstream: Option<String>,
    /// Only calls of this protocol (`protocol=` in the URL:
    /// [`Protocol::key`], or its name).
    pub protocol: Option<Protocol>,
    /// Free text searched through decoded payloads and metadata.
    pub text: String,
}

pub fn kind_key(kind: CallKind) -> &'static str {
    match kind {
        CallKind::Unary => "unary",
        CallKind::ServerStreaming => "server",
        CallKind::ClientStreaming => "client",
        CallKind::Bidi => "bidi",
    }
}

pub fn parse_kind(text: &str) -> Option<CallKind> {
    match text {
        "unary" => Some(CallKind::Unary),
        "server" => Some(CallKind::ServerStreaming),
        "client" => Some(CallKind::ClientStreaming),
        "bidi" => Some(CallKind::Bidi),
        _ => None,
    }
}

impl Filter {
    /// From `(name, value)` pairs of a URL query.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Filter {
        let mut f = Filter::default();
        for (k, v) in pairs {
            match k {
                "method" => f.method = v.to_owned(),
                "status" => f.status = StatusFilter::parse(v),
                "kind" => f.kind = parse_kind(v),
                "upstream" => f.upstream = Some(v.to_owned()),
                "protocol" => f.protocol = Protocol::parse(v),
                "q" => f.text = v.to_owned(),
                _ => {}
            }
        }
        f
    }

    /// The non-default parts as `(name, value)` pairs for a URL query.
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if !self.method.is_empty() {
            out.push(("method", self.method.clone()));
        }
        if self.status != StatusFilter::All {
            out.push(("status", self.status.key()));
        }
        if let Some(kind) = self.kind {
            out.push(("kind", kind_key(kind).to_owned()));
        }
        if let Some(upstream) = &self.upstream {
            out.push(("upstream", upstream.clone()));
        }
        if let Some(protocol) = self.protocol {
            out.push(("protocol", protocol.key().to_owned()));
        }
        if !self.text.is_empty() {
            out.push(("q", self.text.clone()));
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }

    /// Everything but the free-text search, which needs decoding.
    pub fn matches(&self, call: &CallSummary) -> bool {
        if !self.method.is_empty() {
            let name = call.method_name().to_ascii_lowercase();
            if !name.contains(&self.method.to_ascii_lowercase()) {
                return false;
            }
        }
        if self.kind.is_some_and(|kind| call.kind != kind) {
            return false;
        }
        if self
            .protocol
            .is_some_and(|protocol| call.protocol != protocol)
        {
            return false;
        }
        if let Some(upstream) = &self.upstream
            && *upstream != *call.upstream
            && *upstream != crate::upstreams::label(&call.upstream)
        {
            return false;
        }
        match (self.status, &call.status) {
            (StatusFilter::All, _) => true,
            (StatusFilter::Pending, status) => status.is_none(),
            (StatusFilter::Errors, Some(status)) => !status.is_ok(),
            (StatusFilter::Errors, None) => false,
            (StatusFilter::Code(code), Some(status)) => status.code == Some(code),
            (StatusFilter::Code(_), None) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use loom_shared::engine::Session;
    use loom_shared::pb::{self, event::Kind};

    fn session() -> Session {
        let mut events = Vec::new();
        for (id, path, status) in [
            (1, "/shop.Inventory/GetItem", Some(0)),
            (2, "/shop.Inventory/UpdateItem", Some(3)),
            (3, "/shop.Inventory/ListItems", None),
            (4, "/other.Svc/Get", Some(0)),
        ] {
            events.push(pb::Event {
                call_id: id,
                kind: Some(Kind::CallStarted(pb::CallStarted {
                    path: path.into(),
                    ..Default::default()
                })),
            });
            if let Some(code) = status {
                events.push(pb::Event {
                    call_id: id,
                    kind: Some(Kind::CallEnded(pb::CallEnded {
                        grpc_status: Some(code),
                        ..Default::default()
                    })),
                });
            }
        }
        Session::from_events(events)
    }

    fn ids(f: &Filter) -> Vec<u64> {
        session()
            .calls()
            .filter(|c| f.matches(c))
            .map(|c| c.id)
            .collect()
    }

    #[test]
    fn filters_by_method_status_and_kind() {
        assert_eq!(ids(&Filter::default()), vec![1, 2, 3, 4]);
        let by_method = Filter {
            method: "inventory/get".into(),
            ..Default::default()
        };
        assert_eq!(ids(&by_method), vec![1]);
        let errors = Filter {
            status: StatusFilter::Errors,
            ..Default::default()
        };
        assert_eq!(ids(&errors), vec![2]);
        let pending = Filter {
            status: StatusFilter::Pending,
            ..Default::default()
        };
        assert_eq!(ids(&pending), vec![3]);
        let code = Filter {
            status: StatusFilter::parse("INVALID_ARGUMENT"),
            ..Default::default()
        };
        assert_eq!(ids(&code), vec![2]);
        let unary = Filter {
            kind: Some(CallKind::Unary),
            ..Default::default()
        };
        assert_eq!(
            ids(&unary).len(),
            4,
            "kinds inferred from counts are unary here"
        );
    }

    #[test]
    fn filters_by_upstream_whole_or_by_label() {
        let call = |id: u64, upstream: &str| {
            pb::Event::new(
                id,
                pb::CallStarted {
                    path: "/a.Svc/Get".into(),
                    upstream: upstream.into(),
                    ..Default::default()
                },
            )
        };
        let s = Session::from_events([
            call(1, "http://127.0.0.1:50051"),
            call(2, "https://api.example:443"),
            call(3, "unix:/run/containerd/containerd.sock"),
            call(4, "https://api.example:443"),
            pb::Event::new(5, pb::CallEnded::default()),
        ]);
        let ids = |upstream: &str| -> Vec<u64> {
            let f = Filter {
                upstream: Some(upstream.into()),
                ..Default::default()
            };
            s.calls().filter(|c| f.matches(c)).map(|c| c.id).collect()
        };
        assert_eq!(ids("https://api.example:443"), [2, 4]);
        assert_eq!(ids("api.example:443"), [2, 4]);
        assert_eq!(ids("unix:/run/containerd/containerd.sock"), [3]);
        assert_eq!(ids("containerd.sock"), [3]);
        assert_eq!(ids(""), [5], "the calls whose start is missing");
        assert_eq!(ids("http://elsewhere:1"), Vec::<u64>::new());
    }

    #[test]
    fn filters_by_protocol_from_its_key_or_name() {
        let call = |id: u64, protocol: pb::RpcProtocol| {
            pb::Event::new(
                id,
                pb::CallStarted {
                    path: "/a.Svc/Get".into(),
                    protocol: protocol.into(),
                    ..Default::default()
                },
            )
        };
        let s = Session::from_events([
            call(1, pb::RpcProtocol::Unspecified),
            call(2, pb::RpcProtocol::ConnectUnary),
            call(3, pb::RpcProtocol::GrpcWeb),
            call(4, pb::RpcProtocol::ConnectUnary),
        ]);
        let ids = |query: &str| -> Vec<u64> {
            let f = Filter::from_pairs([("protocol", query)]);
            s.calls().filter(|c| f.matches(c)).map(|c| c.id).collect()
        };
        assert_eq!(ids("connect-unary"), [2, 4]);
        assert_eq!(ids("Connect unary"), [2, 4]);
        assert_eq!(ids("grpc"), [1], "an older file's call is gRPC");
        assert_eq!(ids("grpc-web"), [3]);
        assert_eq!(
            ids("nonsense"),
            [1, 2, 3, 4],
            "an unknown protocol filters nothing"
        );
        let f = Filter::from_pairs([("protocol", "GRPC-WEB-TEXT")]);
        assert_eq!(f.to_pairs(), [("protocol", "grpc-web-text".to_owned())]);
    }

    #[test]
    fn a_client_cancel_is_an_error_of_code_cancelled() {
        use pb::{EndKind, EndSide};
        // The upstream's OK crossed the client's cancel (format 1.2).
        let cancelled = pb::CallEnded {
            grpc_status: Some(0),
            ..Default::default()
        }
        .with_endings(vec![
            pb::CallEnding::new(1, EndSide::Client, EndKind::Reset, 8, ""),
            pb::CallEnding::new(2, EndSide::Upstream, EndKind::Trailers, 0, ""),
        ]);
        let s = Session::from_events([pb::Event::new(1, cancelled)]);
        let call = s.call(1).unwrap();
        let with = |status| Filter {
            status,
            ..Default::default()
        };
        assert!(with(StatusFilter::Errors).matches(call));
        assert!(with(StatusFilter::parse("cancelled")).matches(call));
        assert!(with(StatusFilter::Code(1)).matches(call));
        assert!(!with(StatusFilter::Code(0)).matches(call));
        assert!(!with(StatusFilter::Pending).matches(call));
    }

    #[test]
    fn round_trips_through_url_pairs() {
        let f = Filter {
            method: "Get".into(),
            status: StatusFilter::Code(5),
            kind: Some(CallKind::Bidi),
            upstream: Some("unix:/run/x.sock".into()),
            protocol: Some(Protocol::ConnectStream),
            text: "sku-1 & more".into(),
        };
        let pairs = f.to_pairs();
        let back = Filter::from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())));
        assert_eq!(back, f);
        assert!(Filter::default().to_pairs().is_empty());
        assert_eq!(StatusFilter::parse("errors"), StatusFilter::Errors);
        assert_eq!(StatusFilter::parse("nonsense"), StatusFilter::All);
    }
}
