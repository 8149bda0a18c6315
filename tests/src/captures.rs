//! Capture files the tests write: unary Probe calls with the test schema,
//! as many as a test asks for (three for a quick look, 20,000 for a big
//! capture). One home, so that the browser and layout tests open the same
//! kind of file.
//!
//! Not here: questions asked of captured events ([`crate::events`]) and the
//! golden fixtures (`tests/fixtures`, checked by `capture_golden`).

use bytes::Bytes;
use loom_shared::capture;
use loom_shared::header::header;
use loom_shared::pb::{self, Direction};
use prost::Message as _;

use crate::probe::{ProbeReply, ProbeRequest};
use crate::reflection::{PROBE_SERVICE, TEST_FDS};

/// The start time of the first call of [`probe_capture`] (Unix ns).
pub const START_NANOS: i64 = 1_760_000_000_000_000_000;

/// The test schema as a `Descriptors` event (from a descriptor set file).
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

/// The four events of a successful unary Probe call.
pub fn unary_call(id: u64, start: i64, text: &str) -> [pb::Event; 4] {
    let request = ProbeRequest {
        text: text.into(),
        ..Default::default()
    };
    let reply = ProbeReply {
        text: format!("echo: {text}"),
        index: id as u32,
        ..Default::default()
    };
    [
        pb::Event::new(
            id,
            pb::CallStarted {
                start_unix_nanos: start,
                path: format!("/{PROBE_SERVICE}/Unary"),
                authority: "127.0.0.1:9999".into(),
                headers: vec![
                    header("content-type", "application/grpc"),
                    header("te", "trailers"),
                    header("x-test", "browser"),
                ],
                upstream: "http://127.0.0.1:50051".into(),
                scheme: "http".into(),
                method: "POST".into(),
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
                trailers: vec![header("grpc-status", "0")],
                grpc_status: Some(0),
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
