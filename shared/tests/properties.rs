//! Property tests: round trips, truncation, chunking, and no panics on any
//! input.
#![cfg(not(target_arch = "wasm32"))]

use bytes::Bytes;
use loom_shared::capture::{
    CaptureError, HEADER_LEN, StreamDecoder, Truncation, decode_batch, encode_batch, encode_file,
    encode_record, file_header, read_capture, read_capture_lossy,
};
use loom_shared::header::{percent_decode_grpc_message, percent_encode_grpc_message};
use loom_shared::pb::{self, event::Kind};
use loom_shared::redact::Redactor;
use proptest::collection::vec;
use proptest::prelude::*;

fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

fn headers() -> impl Strategy<Value = Vec<pb::Header>> {
    vec(
        ("[a-z-]{1,12}", bytes(20), any::<bool>()).prop_map(|(name, value, redacted)| pb::Header {
            name,
            value,
            redacted,
        }),
        0..4,
    )
}

/// Format 1.2's endings, with sides and kinds past the known ones too.
fn endings() -> impl Strategy<Value = Vec<pb::CallEnding>> {
    vec(
        (any::<u64>(), 0..5i32, 0..10i32, any::<u32>(), ".{0,10}").prop_map(
            |(offset_nanos, side, kind, code, detail)| pb::CallEnding {
                offset_nanos,
                side,
                kind,
                code,
                detail,
            },
        ),
        0..3,
    )
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        (any::<i64>(), ".{0,20}", ".{0,10}", headers(), ".{0,10}").prop_map(
            |(start, path, authority, headers, upstream)| {
                Kind::CallStarted(pb::CallStarted {
                    client_tls: None,
                    start_unix_nanos: start,
                    path,
                    authority,
                    headers,
                    upstream,
                    scheme: "http".into(),
                    method: "POST".into(),
                    ..Default::default()
                })
            }
        ),
        (any::<u64>(), any::<u32>(), headers()).prop_map(|(offset_nanos, http_status, headers)| {
            Kind::ResponseHeaders(pb::ResponseHeaders {
                offset_nanos,
                http_status,
                headers,
            })
        }),
        (
            0..3i32,
            any::<u64>(),
            any::<bool>(),
            bytes(300),
            any::<u32>(),
            any::<bool>()
        )
            .prop_map(
                |(direction, offset_nanos, compressed, payload, declared_length, truncated)| {
                    Kind::Message(pb::Message {
                        direction,
                        offset_nanos,
                        compressed,
                        payload,
                        declared_length,
                        truncated,
                        preview: false,
                    })
                }
            ),
        (
            any::<u64>(),
            headers(),
            any::<Option<u32>>(),
            ".{0,20}",
            bytes(20),
            any::<bool>(),
            vec(".{0,10}", 0..2),
            endings(),
        )
            .prop_map(
                |(
                    offset_nanos,
                    trailers,
                    grpc_status,
                    grpc_message,
                    details,
                    only,
                    errors,
                    endings,
                )| {
                    Kind::CallEnded(pb::CallEnded {
                        upstream_tls: None,
                        offset_nanos,
                        trailers,
                        grpc_status,
                        grpc_message,
                        grpc_status_details: details,
                        trailers_only: only,
                        relay_error: String::new(),
                        http_status: if only { 200 } else { 0 },
                        protocol_errors: errors,
                        endings,
                        ..Default::default()
                    })
                }
            ),
        (
            bytes(100),
            vec("[a-z.]{1,20}", 0..3),
            ".{0,10}",
            0..8i32,
            proptest::option::of((".{0,10}", any::<i64>())),
        )
            .prop_map(|(fds, services, source, origin, failure)| {
                Kind::Descriptors(pb::Descriptors {
                    file_descriptor_set: fds,
                    services,
                    upstream: String::new(),
                    source: source.clone(),
                    warnings: vec![],
                    origin,
                    location: source,
                    failure: failure.map(|(reason, retry_unix_nanos)| pb::SchemaFailure {
                        reason,
                        retry_unix_nanos,
                    }),
                })
            }),
        (any::<u64>(), ".{0,20}", 0..3i32, vec(any::<u64>(), 0..4)).prop_map(
            |(dropped_events, reason, kind, call_ids)| {
                Kind::Gap(pb::CaptureGap {
                    dropped_events,
                    reason,
                    kind,
                    call_ids,
                })
            }
        ),
    ]
}

fn event() -> impl Strategy<Value = pb::Event> {
    (any::<u64>(), proptest::option::weighted(0.95, kind()))
        .prop_map(|(call_id, kind)| pb::Event { call_id, kind })
}

/// What a reader made of some input: events, then how it ended.
type Outcome = (Vec<pb::Event>, Result<Option<Truncation>, CaptureError>);

fn lossy(bytes: &[u8]) -> Outcome {
    let (capture, error) = read_capture_lossy(bytes);
    let end = match error {
        Some(e) => Err(e),
        None => Ok(capture.truncated),
    };
    (capture.events, end)
}

/// Streams `bytes` in chunks of the given sizes (cycled), keeping every event
/// the decoder hands out even when a later push fails.
fn streamed(bytes: &[u8], sizes: &[usize]) -> Outcome {
    let mut decoder = StreamDecoder::new();
    let mut events = Vec::new();
    let mut rest = bytes;
    let mut sizes = sizes.iter().cycle();
    while !rest.is_empty() {
        let size = sizes.next().copied().unwrap_or(1).clamp(1, rest.len());
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        match decoder.push(chunk) {
            Ok(new) => events.extend(new),
            Err(e) => return (events, Err(e)),
        }
    }
    (events, decoder.finish())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn file_and_batch_round_trip(events in vec(event(), 0..8)) {
        let capture = read_capture(&encode_file(&events)).unwrap();
        prop_assert_eq!(&capture.events, &events);
        prop_assert_eq!(capture.truncated, None);
        prop_assert_eq!(decode_batch(&encode_batch(&events)).unwrap(), events);
    }

    #[test]
    fn any_cut_yields_the_complete_prefix(events in vec(event(), 1..6), cut in any::<prop::sample::Index>()) {
        let file = encode_file(&events);
        let cut = HEADER_LEN + cut.index(file.len() - HEADER_LEN + 1);
        let capture = read_capture(&file[..cut]).unwrap();
        let mut end = HEADER_LEN;
        let mut complete = 0;
        for e in &events {
            let mut record = Vec::new();
            encode_record(e, &mut record);
            if end + record.len() > cut {
                break;
            }
            end += record.len();
            complete += 1;
        }
        prop_assert_eq!(&capture.events[..], &events[..complete]);
        if cut == end {
            prop_assert_eq!(capture.truncated, None);
        } else {
            let t = capture.truncated.unwrap();
            prop_assert_eq!(t.offset, end as u64);
            prop_assert_eq!(t.complete_records, complete as u64);
        }
    }

    #[test]
    fn chunking_does_not_matter(
        events in vec(event(), 0..6),
        cut in any::<prop::sample::Index>(),
        sizes in vec(1usize..40, 1..5),
    ) {
        let file = encode_file(&events);
        let file = &file[..cut.index(file.len() + 1)];
        prop_assert_eq!(streamed(file, &sizes), lossy(file));
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in vec(any::<u8>(), 0..200), sizes in vec(1usize..20, 1..4)) {
        let _ = read_capture(&data);
        let _ = decode_batch(&data);
        prop_assert_eq!(streamed(&data, &sizes), lossy(&data));
        // The same bytes after a valid header reach the record parser.
        let mut file = file_header().to_vec();
        file.extend_from_slice(&data);
        let outcome = lossy(&file);
        prop_assert_eq!(&outcome, &streamed(&file, &sizes));
        if let (events, Ok(_)) = &outcome {
            prop_assert_eq!(read_capture(&file).map(|c| c.events), Ok(events.clone()));
        }
    }

    #[test]
    fn corrupted_files_never_panic(
        events in vec(event(), 1..5),
        flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut file = encode_file(&events);
        for (at, byte) in flips {
            let i = HEADER_LEN + at.index(file.len() - HEADER_LEN);
            file[i] = byte;
        }
        prop_assert_eq!(streamed(&file, &[5]), lossy(&file));
        let _ = decode_batch(&file[HEADER_LEN..]);
    }

    #[test]
    fn redaction_blanks_exactly_the_secrets(mut event in event(), extra in vec("[a-z-]{1,8}", 0..3)) {
        let redactor = Redactor::new(&extra);
        let before = event.clone();
        redactor.redact_event(&mut event);
        let pairs: Vec<(&pb::Header, &pb::Header)> = match (&before.kind, &event.kind) {
            (Some(Kind::CallStarted(a)), Some(Kind::CallStarted(b))) => a.headers.iter().zip(&b.headers).collect(),
            (Some(Kind::ResponseHeaders(a)), Some(Kind::ResponseHeaders(b))) => a.headers.iter().zip(&b.headers).collect(),
            (Some(Kind::CallEnded(a)), Some(Kind::CallEnded(b))) => a.trailers.iter().zip(&b.trailers).collect(),
            _ => {
                prop_assert_eq!(&event, &before);
                vec![]
            }
        };
        for (a, b) in pairs {
            prop_assert_eq!(&a.name, &b.name);
            if redactor.is_secret(&a.name) {
                prop_assert!(b.redacted && b.value.is_empty());
            } else {
                prop_assert_eq!(a, b);
            }
        }
    }

    #[test]
    fn percent_coding(s in ".{0,40}", raw in "[%0-9a-fA-FgG ]{0,20}") {
        prop_assert_eq!(percent_decode_grpc_message(&percent_encode_grpc_message(&s)), s);
        let _ = percent_decode_grpc_message(&raw);
    }
}
