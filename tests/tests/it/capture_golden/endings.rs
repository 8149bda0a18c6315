//! Format 1.2: `CallEnded.endings`, how each side ended a call. The fixture
//! `capture-v1.2-endings.loom` has a call for each way a call ends; it must
//! read back with those endings and the status its client saw. Files of
//! 1.0 and 1.1 (no endings) keep the statuses they always had.

use bytes::Bytes;
use loom_shared::capture;
use loom_shared::engine::{Session, ending};
use loom_shared::header::header;
use loom_shared::pb::{self, EndKind, EndSide};

use super::{
    BASIC, SCHEMAS, TRUNCATED, UPSTREAM, expected_events, file_of_version, load, read_fixture,
};

pub(super) const ENDINGS: &str = "capture-v1.2-endings.loom";

/// When the fixture's first call started (Unix nanoseconds).
const START: i64 = 1_700_000_100_000_000_000;
/// HTTP/2 CANCEL and INTERNAL_ERROR.
const CANCEL: u32 = 8;
const INTERNAL_ERROR: u32 = 2;

/// Each call of the fixture: id, what its client saw (status name, ended
/// by the client), and its endings in words.
const CALLS: [(u64, &str, bool, &[&str]); 11] = [
    (
        1,
        "CANCELLED",
        true,
        &["Ended by the client: RST_STREAM CANCEL"],
    ),
    (
        2,
        "DEADLINE_EXCEEDED",
        true,
        &["Ended by the client: deadline passed, RST_STREAM CANCEL"],
    ),
    (3, "OK", false, &["Ended by the upstream: trailers OK"]),
    (
        4,
        "NOT_FOUND",
        false,
        &["Ended by the upstream: trailers NOT_FOUND"],
    ),
    (
        5,
        "UNAVAILABLE",
        false,
        &["Ended by the upstream: RST_STREAM INTERNAL_ERROR"],
    ),
    (
        6,
        "UNAVAILABLE",
        false,
        &["Ended by the upstream: GOAWAY NO_ERROR"],
    ),
    (
        7,
        "UNAVAILABLE",
        false,
        &["Ended by the relay: refused with UNAVAILABLE"],
    ),
    (8, "NO_STATUS", false, &["Ended by the relay: shut down"]),
    (
        9,
        "CANCELLED",
        true,
        &[
            "Ended by the client: RST_STREAM CANCEL",
            "then the upstream: trailers OK",
        ],
    ),
    (
        10,
        "CANCELLED",
        true,
        &["Ended by the client: connection closed"],
    ),
    (
        11,
        "NO_STATUS",
        false,
        &["Ended by the upstream: response ended without trailers"],
    ),
];

fn started(id: u64, headers: Vec<pb::Header>) -> pb::Event {
    pb::Event::new(
        id,
        pb::CallStarted {
            client_tls: None,
            start_unix_nanos: START + id as i64 * 1_000_000_000,
            path: "/echo.Echo/Say".into(),
            authority: "localhost:7000".into(),
            headers,
            upstream: UPSTREAM.into(),
            scheme: "http".into(),
            method: "POST".into(),
            ..Default::default()
        },
    )
}

fn request(id: u64) -> pb::Event {
    let say = Bytes::from_static(b"\x0a\x05hello");
    pb::Event::new(
        id,
        pb::Message::new(pb::Direction::Request, 300_000, false, say),
    )
}

fn response_headers(id: u64) -> pb::Event {
    pb::Event::new(
        id,
        pb::ResponseHeaders {
            offset_nanos: 1_000_000,
            http_status: 200,
            headers: vec![header("content-type", "application/grpc")],
        },
    )
}

/// The upstream's trailers (`trailers_only`: its only response headers).
fn trailers(code: u32, message: &str, trailers_only: bool, offset: u64) -> pb::CallEnded {
    let mut trailers = vec![header("grpc-status", code.to_string())];
    if !message.is_empty() {
        trailers.push(header("grpc-message", message.replace(' ', "%20")));
    }
    pb::CallEnded {
        offset_nanos: offset,
        trailers,
        grpc_status: Some(code),
        grpc_message: message.into(),
        trailers_only,
        http_status: if trailers_only { 200 } else { 0 },
        ..Default::default()
    }
}

fn ending(offset: u64, side: EndSide, kind: EndKind, code: u32, detail: &str) -> pb::CallEnding {
    pb::CallEnding::new(offset, side, kind, code, detail)
}

/// The events of the 1.2 fixture: one call per way a call ends.
pub(super) fn endings_events() -> Vec<pb::Event> {
    use EndKind as K;
    use EndSide::{Client, Relay, Upstream};
    let failed = |what: &str| format!("loom: upstream {UPSTREAM} failed during the call: {what}");
    let mut events = Vec::new();
    let mut call = |id: u64, mut before: Vec<pb::Event>, end: pb::CallEnded| {
        let mut headers = vec![header("x-request-id", format!("req-{id}"))];
        if id == 2 {
            headers.push(header("grpc-timeout", "50m"));
        }
        events.push(started(id, headers));
        events.append(&mut before);
        events.push(pb::Event::new(id, end));
    };
    // 1: the client cancelled; nobody was told anything.
    call(
        1,
        vec![request(1)],
        pb::CallEnded::by_relay(
            12_400_000,
            None,
            "",
            "client reset the stream (CANCEL)",
            false,
        )
        .with_endings(vec![ending(12_300_000, Client, K::Reset, CANCEL, "")]),
    );
    // 2: the client's deadline (`grpc-timeout: 50m`) passed.
    call(
        2,
        vec![request(2)],
        pb::CallEnded::by_relay(50_200_000, None, "", "client deadline passed", false)
            .with_endings(vec![ending(50_100_000, Client, K::Deadline, CANCEL, "")]),
    );
    // 3 and 4: the upstream's trailers, OK and an error.
    call(
        3,
        vec![request(3), response_headers(3)],
        trailers(0, "", false, 2_000_000).with_endings(vec![ending(
            2_000_000,
            Upstream,
            K::Trailers,
            0,
            "",
        )]),
    );
    call(
        4,
        vec![request(4)],
        trailers(5, "no such echo", true, 900_000).with_endings(vec![ending(
            900_000,
            Upstream,
            K::Trailers,
            5,
            "",
        )]),
    );
    // 5 and 6: the upstream reset the stream, or went away; the relay told
    // the client UNAVAILABLE.
    let reset = failed("stream reset: INTERNAL_ERROR");
    call(
        5,
        vec![request(5), response_headers(5)],
        pb::CallEnded::by_relay(3_100_000, Some(14), reset.as_str(), reset.as_str(), false)
            .with_endings(vec![ending(
                3_000_000,
                Upstream,
                K::Reset,
                INTERNAL_ERROR,
                "stream reset: INTERNAL_ERROR",
            )]),
    );
    let goaway = failed("GOAWAY NO_ERROR");
    call(
        6,
        vec![request(6), response_headers(6)],
        pb::CallEnded::by_relay(4_100_000, Some(14), goaway.as_str(), goaway.as_str(), false)
            .with_endings(vec![ending(
                4_000_000,
                Upstream,
                K::Goaway,
                0,
                "GOAWAY NO_ERROR",
            )]),
    );
    // 7: the relay refused the call (the upstream was unreachable).
    let unreachable = format!("loom: upstream {UPSTREAM} is unavailable: connection refused");
    call(
        7,
        vec![],
        pb::CallEnded::by_relay(
            200_000,
            Some(14),
            unreachable.as_str(),
            unreachable.as_str(),
            true,
        )
        .with_endings(vec![ending(200_000, Relay, K::Refused, 14, &unreachable)]),
    );
    // 8: the relay shut down with the call running.
    call(
        8,
        vec![request(8), response_headers(8)],
        pb::CallEnded::by_relay(7_000_000, None, "", "the relay shut down", false)
            .with_endings(vec![ending(7_000_000, Relay, K::Shutdown, 0, "")]),
    );
    // 9: the client cancelled, and the upstream's OK crossed the cancel.
    call(
        9,
        vec![request(9), response_headers(9)],
        trailers(0, "", false, 12_900_000).with_endings(vec![
            ending(12_300_000, Client, K::Reset, CANCEL, ""),
            ending(12_900_000, Upstream, K::Trailers, 0, ""),
        ]),
    );
    // 10: the client's connection closed mid-call.
    call(
        10,
        vec![request(10)],
        pb::CallEnded::by_relay(5_000_000, None, "", "client connection closed", false)
            .with_endings(vec![ending(
                5_000_000,
                Client,
                K::Disconnect,
                0,
                "connection reset by peer",
            )]),
    );
    // 11: the upstream ended its response without trailers.
    call(
        11,
        vec![request(11), response_headers(11)],
        pb::CallEnded::by_relay(6_000_000, None, "", "upstream sent no trailers", false)
            .with_endings(vec![ending(6_000_000, Upstream, K::NoTrailers, 0, "")]),
    );
    events
}

pub(super) fn endings_bytes() -> Vec<u8> {
    file_of_version(2, &endings_events())
}

/// Every call's status name, as the call list shows it.
fn statuses(session: &Session) -> Vec<(u64, String)> {
    session
        .calls()
        .map(|c| {
            let name = c.status.as_ref().map_or("pending".into(), |s| s.name());
            (c.id, name)
        })
        .collect()
}

#[test]
fn endings_fixture_reads_back_with_its_endings() {
    let capture = read_fixture(ENDINGS, 2, &endings_events());

    let ends: Vec<(u64, &pb::CallEnded)> = capture
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            Some(pb::event::Kind::CallEnded(end)) => Some((e.call_id, end)),
            _ => None,
        })
        .collect();
    assert_eq!(ends.len(), CALLS.len());
    let mut session = Session::from_events(capture.events.clone());
    for ((id, end), (want_id, name, by_client, sentences)) in ends.into_iter().zip(CALLS) {
        assert_eq!(id, want_id);
        let words: Vec<String> = end
            .endings
            .iter()
            .enumerate()
            .map(|(i, e)| ending::sentence(e, i == 0))
            .collect();
        assert_eq!(words, sentences, "call {id}");
        assert_eq!(end.ended_by(), end.endings.first(), "call {id}");
        assert_eq!(end.ended_by_client(), by_client, "call {id}");
        let code = end.client_status();
        assert_eq!(
            code.map_or("NO_STATUS".into(), loom_shared::engine::describe_code),
            name,
            "call {id}"
        );
        // The engine agrees: the list, the counts, `loom decode`'s JSON.
        let status = session.call(id).and_then(|c| c.status.clone());
        assert_eq!(status.as_ref().map(|s| s.name()).as_deref(), Some(name));
        assert_eq!(status.as_ref().map(|s| s.by_client), Some(by_client));
        let json = session.detail(id).map(|d| d.to_json()).unwrap_or_default();
        assert_eq!(json["status"]["name"], name, "call {id}");
        assert_eq!(
            json["endings"].as_array().map(Vec::len),
            Some(sentences.len())
        );
    }
    // Every call but 3 failed, the client's included.
    assert_eq!(session.counts().failed, 10);
    // The upstream's OK that crossed call 9's cancel is still there.
    let crossed = session.detail(9).map(|d| d.to_json()).unwrap_or_default();
    assert_eq!(crossed["endings"][1]["text"], "trailers OK");
    assert_eq!(crossed["endings"][0]["codeName"], "CANCEL");
    assert_eq!(crossed["status"]["byClient"], true);
}

#[test]
fn older_fixtures_keep_their_statuses() {
    let basic = capture::read_capture(&load(BASIC)).unwrap();
    let want = [(1, "OK".to_owned()), (2, "INVALID_ARGUMENT".to_owned())];
    assert_eq!(statuses(&Session::from_events(basic.events)), want);
    // Cut off before its last event (a gap), the truncated file too.
    let truncated = capture::read_capture(&load(TRUNCATED)).unwrap();
    assert_eq!(statuses(&Session::from_events(truncated.events)), want);
    // The 1.1 fixture holds schemas only; the 1.0 calls under a 1.1 header
    // read the same.
    let schemas = capture::read_capture(&load(SCHEMAS)).unwrap();
    assert_eq!(Session::from_events(schemas.events).len(), 0);
    let as_1_1 = capture::read_capture(&file_of_version(1, &expected_events())).unwrap();
    assert_eq!(as_1_1.version, (1, 1));
    assert_eq!(statuses(&Session::from_events(as_1_1.events)), want);
    for end in basic_ends() {
        assert!(end.endings.is_empty() && end.ended_by().is_none());
        assert!(!end.ended_by_client());
        assert_eq!(end.client_status(), end.grpc_status);
    }
}

fn basic_ends() -> Vec<pb::CallEnded> {
    expected_events()
        .into_iter()
        .filter_map(|e| match e.kind {
            Some(pb::event::Kind::CallEnded(end)) => Some(end),
            _ => None,
        })
        .collect()
}
