//! Capture files the tests write, one home for the browser, layout and
//! search tests and the search benchmark: a few unary Probe calls with given
//! texts ([`probe_capture`]), or synthetic ones as many as needed
//! ([`synthetic`], written record by record: a million calls never sit in
//! memory as events).
//!
//! Call `i` (ids from 1) of [`synthetic`]:
//! - sends `ProbeRequest { text: "request {i}" }` and gets
//!   `ProbeReply { text: "reply {i}", index: i }`;
//! - carries the request header `x-request-id: req-{i:08}`;
//! - every [`FAILING_EVERY`]th call fails with NOT_FOUND and the status
//!   message `item {i} is out of stock`; the others end OK.
//!
//! What is unique to one call is thus findable in a decoded payload field,
//! a header value and a status message: what the search tests and the
//! search benchmark look for.
//!
//! [`upstreams_capture`] holds calls to three upstreams, two of which serve
//! the Probe service in different versions (see [`UPSTREAMS`]);
//! [`protocols_capture`] calls of every protocol of the gRPC family (see
//! [`PROTOCOL_CALLS`]).

use bytes::Bytes;
use loom_shared::capture;
use loom_shared::header::header;
use loom_shared::pb::{self, Direction, event::Kind};
use prost::Message as _;
use prost_types::FileDescriptorSet;

use crate::probe::{ProbeReply, ProbeRequest};
use crate::reflection::{PROBE_SERVICE, TEST_FDS};

mod protocols;
pub use protocols::{
    NOT_FOUND_MESSAGE, PROTOCOL_CALLS, PROTOCOLS_UPSTREAM, ProtocolCall, protocols_capture,
};

/// When the first synthetic call started (Unix nanoseconds).
pub const START_NANOS: i64 = 1_760_000_000_000_000_000;

/// Every this many calls, one fails (NOT_FOUND, with a status message).
pub const FAILING_EVERY: u64 = 10;

/// The test schema as a `Descriptors` event.
pub fn probe_descriptors() -> pb::Event {
    pb::Event::descriptors(pb::Descriptors::schema(
        Bytes::from_static(TEST_FDS),
        vec![PROBE_SERVICE.into()],
        pb::SchemaOrigin::DescriptorSet,
        "test.protoset",
        "",
        Vec::new(),
    ))
}

/// The four events of synthetic call `id`.
pub fn synthetic_call(id: u64) -> [pb::Event; 4] {
    let (code, message) = if id.is_multiple_of(FAILING_EVERY) {
        (5, format!("item {id} is out of stock"))
    } else {
        (0, String::new())
    };
    probe_unary(
        id,
        START_NANOS + id as i64 * 1_000_000,
        (format!("request {id}"), format!("reply {id}")),
        vec![header("x-request-id", format!("req-{id:08}"))],
        (code, message),
    )
}

/// A capture file of `calls` synthetic calls (ids 1 to `calls`), with the
/// schema first.
pub fn synthetic(calls: u64) -> Vec<u8> {
    let mut out = capture::file_header().to_vec();
    capture::encode_record(&probe_descriptors(), &mut out);
    for id in 1..=calls {
        for event in synthetic_call(id) {
            capture::encode_record(&event, &mut out);
        }
    }
    out
}

/// The four events of a successful unary Probe call.
pub fn unary_call(id: u64, start: i64, text: &str) -> [pb::Event; 4] {
    probe_unary(
        id,
        start,
        (text.to_owned(), format!("echo: {text}")),
        vec![header("te", "trailers"), header("x-test", "browser")],
        (0, String::new()),
    )
}

/// The four events of unary Probe call `id`: its request and reply texts,
/// request headers besides the content type, and status code and message.
fn probe_unary(
    id: u64,
    start: i64,
    (request_text, reply_text): (String, String),
    headers: Vec<pb::Header>,
    (code, message): (u32, String),
) -> [pb::Event; 4] {
    let request = ProbeRequest {
        text: request_text,
        ..Default::default()
    };
    let reply = ProbeReply {
        text: reply_text,
        index: id as u32,
        ..Default::default()
    };
    let mut all_headers = vec![header("content-type", "application/grpc")];
    all_headers.extend(headers);
    [
        pb::Event::new(
            id,
            pb::CallStarted {
                client_tls: None,
                start_unix_nanos: start,
                path: format!("/{PROBE_SERVICE}/Unary"),
                authority: "127.0.0.1:9999".into(),
                headers: all_headers,
                upstream: "http://127.0.0.1:50051".into(),
                scheme: "http".into(),
                method: "POST".into(),
                ..Default::default()
            },
        ),
        pb::Event::new(
            id,
            pb::Message::new(Direction::Request, 20_000, false, request.encode_to_vec()),
        ),
        pb::Event::new(
            id,
            pb::Message::new(Direction::Response, 350_000, false, reply.encode_to_vec()),
        ),
        pb::Event::new(
            id,
            pb::CallEnded {
                offset_nanos: 400_000,
                trailers: vec![header("grpc-status", code.to_string())],
                grpc_status: Some(code),
                grpc_message: message,
                ..Default::default()
            },
        ),
    ]
}

/// A capture of `texts.len()` unary Probe calls (ids from 1, a millisecond
/// apart), with the schema.
pub fn probe_capture(texts: impl IntoIterator<Item = String>) -> Vec<u8> {
    let mut events = vec![probe_descriptors()];
    for (i, text) in texts.into_iter().enumerate() {
        let id = i as u64 + 1;
        events.extend(unary_call(id, START_NANOS + i as i64 * 1_000_000, &text));
    }
    capture::encode_file(&events)
}

/// The upstreams of [`upstreams_capture`]: the Probe backend (reflection
/// of the test schema), another Probe backend over TLS whose schema names
/// the request's and reply's `text` fields `label` and `answer` instead
/// (reflection too), and a Unix socket whose reflection failed.
pub const UPSTREAMS: [&str; 3] = [
    "http://127.0.0.1:50051",
    "https://api.example:443",
    "unix:/run/loom/version.sock",
];

/// The service called on the Unix socket, which has no schema.
pub const VERSION_SERVICE: &str = "containerd.services.version.v1.Version";

/// Calls to the three [`UPSTREAMS`], with each one's schema events: calls 1
/// and 3 (`alpha one`, `alpha two`) to the first, 2 and 4 (`beta one`,
/// `beta two`) to the second, and 5 (`Version/Version`) to the third.
/// The first two decode the same bytes differently: `{"text": …}` and
/// `{"label": …}`.
pub fn upstreams_capture() -> Vec<u8> {
    let [a, b, c] = UPSTREAMS;
    let reflected = |set: Bytes, upstream: &str| {
        pb::Event::descriptors(pb::Descriptors::schema(
            set,
            vec![PROBE_SERVICE.into()],
            pb::SchemaOrigin::ReflectionV1,
            "",
            upstream,
            Vec::new(),
        ))
    };
    let mut events = vec![
        reflected(Bytes::from_static(TEST_FDS), a),
        reflected(renamed_probe_schema(), b),
        pb::Event::descriptors(pb::Descriptors::failure(
            vec![VERSION_SERVICE.into()],
            pb::SchemaOrigin::Reflection,
            c,
            "the upstream serves no reflection (UNIMPLEMENTED)",
            0,
        )),
    ];
    for (id, upstream, text) in [
        (1, a, "alpha one"),
        (2, b, "beta one"),
        (3, a, "alpha two"),
        (4, b, "beta two"),
    ] {
        let mut call = unary_call(id, START_NANOS + id as i64 * 1_000_000, text);
        if let Some(Kind::CallStarted(started)) = &mut call[0].kind {
            started.upstream = upstream.into();
            if upstream == b {
                started.authority = "api.example:443".into();
            }
        }
        events.extend(call);
    }
    events.extend([
        pb::Event::new(
            5,
            pb::CallStarted {
                start_unix_nanos: START_NANOS + 5_000_000,
                path: format!("/{VERSION_SERVICE}/Version"),
                authority: "127.0.0.1:9999".into(),
                headers: vec![header("content-type", "application/grpc")],
                upstream: c.into(),
                scheme: "http".into(),
                method: "POST".into(),
                ..Default::default()
            },
        ),
        pb::Event::new(
            5,
            pb::Message::new(Direction::Request, 10_000, false, Vec::new()),
        ),
        pb::Event::new(
            5,
            pb::Message::new(
                Direction::Response,
                90_000,
                false,
                b"\x0a\x061.7.20".to_vec(),
            ),
        ),
        pb::Event::new(
            5,
            pb::CallEnded {
                offset_nanos: 100_000,
                trailers: vec![header("grpc-status", "0")],
                grpc_status: Some(0),
                ..Default::default()
            },
        ),
    ]);
    capture::encode_file(&events)
}

/// The test schema with `ProbeRequest.text` named `label` and
/// `ProbeReply.text` named `answer`: the same file, as another version of
/// the service would have it.
fn renamed_probe_schema() -> Bytes {
    let mut set = FileDescriptorSet::decode(TEST_FDS).expect("the test schema decodes");
    for message in set.file.iter_mut().flat_map(|f| f.message_type.iter_mut()) {
        let new_name = match message.name() {
            "ProbeRequest" => "label",
            "ProbeReply" => "answer",
            _ => continue,
        };
        for field in message.field.iter_mut().filter(|f| f.name() == "text") {
            field.name = Some(new_name.into());
            field.json_name = Some(new_name.into());
        }
    }
    set.encode_to_vec().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_synthetic_capture_reads_back() {
        let capture = capture::read_capture(&synthetic(20)).expect("a valid capture");
        assert_eq!(capture.events.len(), 1 + 20 * 4);
        let mut session = loom_shared::engine::Session::from_events(capture.events);
        assert_eq!(session.len(), 20);
        assert_eq!(session.counts().failed, 2);
        assert_eq!(session.search("\"request 7\""), [7]);
        assert_eq!(session.search("req-00000013"), [13]);
        assert_eq!(session.search("item 20 is out"), [20]);
    }

    #[test]
    fn each_upstream_of_the_upstreams_capture_decodes_with_its_own_schema() {
        let capture = capture::read_capture(&upstreams_capture()).expect("a valid capture");
        let mut session = loom_shared::engine::Session::from_events(capture.events);
        let request = |session: &mut loom_shared::engine::Session, id| {
            session.detail(id).expect("the call").messages[0]
                .body
                .to_json()["json"]
                .clone()
        };
        assert_eq!(request(&mut session, 1)["text"], "alpha one");
        assert_eq!(request(&mut session, 2)["label"], "beta one");
        assert_eq!(session.upstreams().len(), 3);
        assert!(session.schema().problems().is_empty());
    }
}
