//! The protocols of the gRPC family a session's calls spoke (format 1.4),
//! as the views show them: a short label for a call's row (the whole name
//! in its tooltip) when the session holds more than one, the protocol
//! filter's choices with their call counts, and a call's protocol, codec
//! and HTTP version, and its status in the protocol's own form, in words
//! for its detail. Pure view-model logic, tested natively.

use loom_shared::engine::{CallDetail, Protocol, Session};

/// A row's label for `protocol`: `gRPC`, `gRPC-Web`, `gRPC-Web text`,
/// `Connect`, `Connect stream`, `Connect GET`.
pub fn label(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Grpc => "gRPC",
        Protocol::GrpcWeb => "gRPC-Web",
        Protocol::GrpcWebText => "gRPC-Web text",
        Protocol::ConnectUnary => "Connect",
        Protocol::ConnectStream => "Connect stream",
        Protocol::ConnectGet => "Connect GET",
    }
}

/// Whether the session's calls spoke more than one protocol: rows show
/// their protocol, and the filter is offered, only then.
pub fn several(session: &Session) -> bool {
    session.protocols().len() > 1
}

/// One choice of the protocol filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// The filter's value: [`Protocol::key`].
    pub value: &'static str,
    /// `Connect unary (12)`.
    pub text: String,
}

/// The protocol filter's choices: every protocol with calls, in
/// [`Protocol::ALL`]'s order, with how many; plus `selected` when it has
/// none now (so that a filter from a link still shows as chosen).
pub fn choices(session: &Session, selected: Option<Protocol>) -> Vec<Choice> {
    let counts = session.protocols();
    Protocol::ALL
        .into_iter()
        .filter_map(|p| {
            let calls = counts.iter().find(|(q, _)| *q == p).map(|(_, n)| *n);
            let calls = calls.or((selected == Some(p)).then_some(0))?;
            Some(Choice {
                value: p.key(),
                text: format!("{} ({calls})", p.name()),
            })
        })
        .collect()
}

/// How the call came: `Connect unary · JSON · HTTP/1.1` (the codec as its
/// content type named it, `proto` when it is protobuf's binary encoding).
pub fn spoken(detail: &CallDetail) -> String {
    let mut parts = vec![
        detail.summary.protocol.name().to_owned(),
        codec_text(detail.codec.name()),
    ];
    if !detail.http_version.is_empty() {
        parts.push(detail.http_version.clone());
    }
    parts.join(" · ")
}

/// `JSON` for `json`; other codecs by their name.
fn codec_text(name: &str) -> String {
    if name == "json" {
        "JSON".to_owned()
    } else {
        name.to_owned()
    }
}

/// The status in the protocol's own form, in words, when the protocol has
/// one beside the gRPC code: `Connect not_found · HTTP 404 · from the HTTP
/// status`. `None` for a gRPC call whose status came from its trailers,
/// and for calls of files older than 1.4.
pub fn native_status(detail: &CallDetail) -> Option<String> {
    let native = &detail.protocol_status;
    let mut parts = Vec::new();
    if let Some(code) = &native.connect_code {
        parts.push(format!("Connect {code}"));
    }
    let protocol = detail.summary.protocol;
    if let Some(http) = native.http_status
        && (protocol != Protocol::Grpc || http != 200)
    {
        parts.push(format!("HTTP {http}"));
    }
    if let Some(source) = &native.source
        && (protocol != Protocol::Grpc || !parts.is_empty())
    {
        parts.push(format!("from {}", source.describe()));
    }
    (!parts.is_empty()).then(|| parts.join(" · "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use loom_shared::pb;

    fn call(id: u64, protocol: pb::RpcProtocol, codec: pb::Codec, http: &str) -> pb::Event {
        pb::Event::new(
            id,
            pb::CallStarted {
                path: "/a.Svc/Get".into(),
                protocol: protocol.into(),
                codec: codec.into(),
                http_version: http.into(),
                ..Default::default()
            },
        )
    }

    fn ended(id: u64, code: u32, connect: &str, http: u32, source: &str) -> pb::Event {
        pb::Event::new(
            id,
            pb::CallEnded {
                grpc_status: Some(code),
                connect_code: connect.into(),
                response_http_status: http,
                status_source: source.into(),
                ..Default::default()
            },
        )
    }

    #[test]
    fn labels_and_choices_count_calls_per_protocol() {
        use pb::{Codec as C, RpcProtocol as P};
        let one = Session::from_events([
            call(1, P::Unspecified, C::Unspecified, ""),
            call(2, P::Grpc, C::Proto, "HTTP/2"),
        ]);
        assert!(!several(&one), "gRPC of an older file is gRPC");
        let s = Session::from_events([
            call(1, P::Grpc, C::Proto, "HTTP/2"),
            call(2, P::ConnectUnary, C::Json, "HTTP/1.1"),
            call(3, P::GrpcWebText, C::Proto, "HTTP/1.1"),
            call(4, P::ConnectUnary, C::Proto, "HTTP/2"),
        ]);
        assert!(several(&s));
        let texts = |selected| {
            choices(&s, selected)
                .into_iter()
                .map(|c| (c.value, c.text))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            texts(None),
            [
                ("grpc", "gRPC (1)".to_owned()),
                ("grpc-web-text", "gRPC-Web text (1)".to_owned()),
                ("connect-unary", "Connect unary (2)".to_owned()),
            ]
        );
        assert_eq!(
            texts(Some(Protocol::ConnectGet)).last(),
            Some(&("connect-get", "Connect GET (0)".to_owned()))
        );
        let labels: Vec<&str> = Protocol::ALL.into_iter().map(label).collect();
        assert_eq!(
            labels,
            [
                "gRPC",
                "gRPC-Web",
                "gRPC-Web text",
                "Connect",
                "Connect stream",
                "Connect GET"
            ]
        );
    }

    #[test]
    fn a_calls_protocol_and_status_in_words() {
        use pb::{Codec as C, RpcProtocol as P};
        let mut s = Session::from_events([
            call(1, P::ConnectUnary, C::Json, "HTTP/1.1"),
            ended(1, 5, "not_found", 404, "http-status"),
            call(2, P::Grpc, C::Proto, "HTTP/2"),
            ended(2, 0, "", 200, "trailers"),
            call(3, P::GrpcWeb, C::Proto, "HTTP/1.1"),
            ended(3, 5, "", 200, "body-trailers"),
            call(4, P::Unspecified, C::Unspecified, ""),
            pb::Event::new(4, pb::CallEnded::default()),
            call(5, P::ConnectUnary, C::Other, "HTTP/2"),
            call(6, P::Grpc, C::Proto, "HTTP/2"),
            ended(6, 14, "", 503, "http-status"),
        ]);
        let mut detail = |id| s.detail(id).unwrap();
        let d = detail(1);
        assert_eq!(spoken(&d), "Connect unary · JSON · HTTP/1.1");
        assert_eq!(
            native_status(&d).as_deref(),
            Some("Connect not_found · HTTP 404 · from the HTTP status")
        );
        let d = detail(2);
        assert_eq!(spoken(&d), "gRPC · proto · HTTP/2");
        assert_eq!(
            native_status(&d),
            None,
            "gRPC's usual status says nothing more"
        );
        assert_eq!(
            native_status(&detail(3)).as_deref(),
            Some("HTTP 200 · from gRPC-Web's trailer frame")
        );
        let d = detail(4);
        assert_eq!(spoken(&d), "gRPC · proto · HTTP/2", "an older file's call");
        assert_eq!(native_status(&d), None);
        assert_eq!(spoken(&detail(5)), "Connect unary · other · HTTP/2");
        assert_eq!(
            native_status(&detail(6)).as_deref(),
            Some("HTTP 503 · from the HTTP status")
        );
    }
}
