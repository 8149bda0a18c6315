//! Properties of the incremental parsers: valid bodies split the same
//! however they are cut into chunks (and gRPC-Web text however the server
//! flushed its base64), and arbitrary bytes never panic anything here.

use base64::Engine as _;
use proptest::collection::vec;
use proptest::prelude::*;

use super::connect::{self, EndStream, StreamFrame};
use super::envelope;
use super::grpc_web::{self, BodyForm, Frame};
use super::text::{TextDecoder, Whitespace};

const LIMIT: u32 = 1 << 16;

/// `bytes` cut at `cuts` (any values: reduced modulo the length, sorted).
fn chunks<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    at.sort_unstable();
    let mut out = Vec::new();
    let mut from = 0;
    for cut in at.into_iter().chain([bytes.len()]) {
        out.push(&bytes[from..cut]);
        from = cut;
    }
    out
}

fn web_frames() -> impl Strategy<Value = Vec<Frame>> {
    let message =
        (any::<bool>(), vec(any::<u8>(), 0..40)).prop_map(|(compressed, payload)| Frame::Message {
            compressed,
            payload,
        });
    let field = ("[a-z][a-z0-9-]{0,10}", "[ -~]{0,20}")
        .prop_map(|(n, v): (String, String)| (n, v.trim().to_owned()));
    (vec(message, 0..6), proptest::option::of(vec(field, 0..4))).prop_map(
        |(mut frames, trailers)| {
            frames.extend(trailers.map(Frame::Trailers));
            frames
        },
    )
}

fn encode_web(frames: &[Frame]) -> Vec<u8> {
    let mut body = Vec::new();
    for frame in frames {
        match frame {
            Frame::Message {
                compressed,
                payload,
            } => envelope::encode(u8::from(*compressed), payload, &mut body).unwrap(),
            Frame::Trailers(fields) => {
                let fields: Vec<(&str, &str)> = fields
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                body.extend(grpc_web::trailer_frame(&fields));
            }
        }
    }
    body
}

fn split_web(form: BodyForm, pieces: &[&[u8]]) -> Result<Vec<Frame>, grpc_web::FrameError> {
    let mut s = grpc_web::Splitter::new(form, LIMIT);
    let mut out = Vec::new();
    for piece in pieces {
        s.push(piece, &mut out)?;
    }
    s.finish()?;
    Ok(out)
}

fn connect_frames() -> impl Strategy<Value = Vec<StreamFrame>> {
    let message = (any::<bool>(), vec(any::<u8>(), 0..40)).prop_map(|(compressed, payload)| {
        StreamFrame::Message {
            compressed,
            payload,
        }
    });
    let code = prop::sample::select(vec!["", "canceled", "internal", "teapot"]);
    let error = (code, "[ -~]{0,20}", vec(any::<u8>(), 0..8)).prop_map(|(code, message, value)| {
        connect::ConnectError {
            code: code.to_owned(),
            message,
            details: vec![connect::Detail {
                type_name: "google.rpc.ErrorInfo".into(),
                value,
                debug: None,
            }],
        }
    });
    let metadata = vec(("[a-z][a-z0-9-]{0,8}", "[ -~]{0,12}"), 0..4);
    let end = (proptest::option::of(error), metadata).prop_map(|(error, metadata)| {
        // One JSON key per name: repeats of a name come out together.
        let mut merged: Vec<(String, String)> = Vec::new();
        for (name, value) in metadata {
            let at = merged.iter().rposition(|(n, _)| *n == name);
            match at {
                Some(i) => merged.insert(i + 1, (name, value)),
                None => merged.push((name, value)),
            }
        }
        EndStream {
            error,
            metadata: merged,
        }
    });
    (vec(message, 0..6), proptest::option::of(end)).prop_map(|(mut frames, end)| {
        frames.extend(end.map(StreamFrame::End));
        frames
    })
}

fn end_json(end: &EndStream) -> Vec<u8> {
    let mut metadata = serde_json::Map::new();
    for (name, value) in &end.metadata {
        let values = metadata
            .entry(name.clone())
            .or_insert_with(|| serde_json::json!([]));
        if let Some(list) = values.as_array_mut() {
            list.push(value.clone().into());
        }
    }
    let mut json = serde_json::json!({ "metadata": metadata });
    if let Some(e) = &end.error {
        let details: Vec<_> = e
            .details
            .iter()
            .map(|d| {
                let value = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&d.value);
                serde_json::json!({ "type": d.type_name, "value": value })
            })
            .collect();
        json["error"] =
            serde_json::json!({ "code": e.code, "message": e.message, "details": details });
    }
    json.to_string().into_bytes()
}

fn encode_connect(frames: &[StreamFrame]) -> Vec<u8> {
    let mut body = Vec::new();
    for frame in frames {
        match frame {
            StreamFrame::Message {
                compressed,
                payload,
            } => envelope::encode(u8::from(*compressed), payload, &mut body).unwrap(),
            StreamFrame::End(end) => {
                envelope::encode(connect::END_STREAM_FLAG, &end_json(end), &mut body).unwrap()
            }
        }
    }
    body
}

proptest! {
    #[test]
    fn web_binary_bodies_split_the_same_at_any_cuts(
        frames in web_frames(),
        cuts in vec(any::<usize>(), 0..8),
    ) {
        let body = encode_web(&frames);
        prop_assert_eq!(split_web(BodyForm::Binary, &chunks(&body, &cuts)), Ok(frames));
    }

    #[test]
    fn web_text_bodies_split_the_same_however_flushed_and_cut(
        frames in web_frames(),
        flushes in vec(any::<usize>(), 0..6),
        cuts in vec(any::<usize>(), 0..8),
    ) {
        let body = encode_web(&frames);
        // Each flush is base64 of its own, padded.
        let text: String = chunks(&body, &flushes)
            .into_iter()
            .map(|f| base64::engine::general_purpose::STANDARD.encode(f))
            .collect();
        let got = split_web(BodyForm::Text, &chunks(text.as_bytes(), &cuts));
        prop_assert_eq!(got, Ok(frames));
    }

    #[test]
    fn text_decodes_what_was_encoded_at_any_cuts(
        pieces in vec(vec(any::<u8>(), 0..20), 0..6),
        cuts in vec(any::<usize>(), 0..8),
    ) {
        let text: String = pieces
            .iter()
            .map(|p| base64::engine::general_purpose::URL_SAFE.encode(p))
            .collect();
        let mut d = TextDecoder::default();
        let mut out = Vec::new();
        for chunk in chunks(text.as_bytes(), &cuts) {
            d.push_into(chunk, &mut out).unwrap();
        }
        prop_assert_eq!(d.finish(), Ok(()));
        prop_assert_eq!(out, pieces.concat());
    }

    #[test]
    fn connect_bodies_split_the_same_at_any_cuts(
        frames in connect_frames(),
        cuts in vec(any::<usize>(), 0..8),
    ) {
        let body = encode_connect(&frames);
        let mut s = connect::Splitter::new(LIMIT);
        let mut out = Vec::new();
        for chunk in chunks(&body, &cuts) {
            s.push(chunk, &mut out).unwrap();
        }
        prop_assert_eq!(s.finish(), Ok(()));
        prop_assert_eq!(out, frames);
    }

    #[test]
    fn get_messages_read_back(message in vec(any::<u8>(), 0..60), padded in any::<bool>()) {
        let engine = match padded {
            true => base64::engine::general_purpose::URL_SAFE,
            false => base64::engine::general_purpose::URL_SAFE_NO_PAD,
        };
        let text = engine.encode(&message).replace('=', "%3D");
        let query = format!("connect=v1&encoding=proto&base64=1&message={text}");
        prop_assert_eq!(connect::GetRequest::parse(&query).map(|g| g.message), Ok(message));
    }

    #[test]
    fn arbitrary_bytes_give_the_same_frames_and_error_however_cut(
        bytes in vec(any::<u8>(), 0..300),
        cuts in vec(any::<usize>(), 0..4),
        limit in 0u32..64,
    ) {
        let pieces = chunks(&bytes, &cuts);
        for form in [BodyForm::Binary, BodyForm::Text, BodyForm::TextSkippingWhitespace] {
            let run = |pieces: &[&[u8]]| {
                let mut s = grpc_web::Splitter::new(form, limit);
                let mut out = Vec::new();
                let result = pieces.iter().try_for_each(|p| s.push(p, &mut out)).and(s.finish());
                (out, result)
            };
            prop_assert_eq!(run(&pieces), run(&[&bytes]));
        }
        let run = |pieces: &[&[u8]]| {
            let mut s = connect::Splitter::new(limit);
            let mut out = Vec::new();
            let result = pieces.iter().try_for_each(|p| s.push(p, &mut out)).and(s.finish());
            (out, result)
        };
        prop_assert_eq!(run(&pieces), run(&[&bytes]));
        let run = |pieces: &[&[u8]]| {
            let mut d = TextDecoder::default();
            let mut out = Vec::new();
            let result = pieces.iter().try_for_each(|p| d.push_into(p, &mut out)).and(d.finish());
            (out, result)
        };
        prop_assert_eq!(run(&pieces), run(&[&bytes]));
    }

    #[test]
    fn damaged_bodies_give_the_same_frames_and_error_however_cut(
        web in web_frames(),
        stream in connect_frames(),
        damage in vec((any::<usize>(), any::<u8>()), 1..4),
        cuts in vec(any::<usize>(), 0..4),
    ) {
        let damaged = |mut body: Vec<u8>| {
            for (at, xor) in &damage {
                let len = body.len().max(1);
                if let Some(b) = body.get_mut(at % len) {
                    *b ^= xor;
                }
            }
            body
        };
        let text = base64::engine::general_purpose::STANDARD.encode(encode_web(&web));
        let text = damaged(text.into_bytes());
        let web = damaged(encode_web(&web));
        for (form, body) in [(BodyForm::Binary, &web), (BodyForm::Text, &text)] {
            let run = |pieces: &[&[u8]]| {
                let mut s = grpc_web::Splitter::new(form, LIMIT);
                let mut out = Vec::new();
                let result = pieces.iter().try_for_each(|p| s.push(p, &mut out)).and(s.finish());
                (out, result)
            };
            prop_assert_eq!(run(&chunks(body, &cuts)), run(&[body]));
        }
        let stream = damaged(encode_connect(&stream));
        let run = |pieces: &[&[u8]]| {
            let mut s = connect::Splitter::new(LIMIT);
            let mut out = Vec::new();
            let result = pieces.iter().try_for_each(|p| s.push(p, &mut out)).and(s.finish());
            (out, result)
        };
        prop_assert_eq!(run(&chunks(&stream, &cuts)), run(&[&stream]));
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in vec(any::<u8>(), 0..300),
        cuts in vec(any::<usize>(), 0..4),
        limit in 0u32..64,
    ) {
        let pieces = chunks(&bytes, &cuts);
        for form in [BodyForm::Binary, BodyForm::Text, BodyForm::TextSkippingWhitespace] {
            let mut s = grpc_web::Splitter::new(form, limit);
            let mut out = Vec::new();
            for piece in &pieces {
                let _ = s.push(piece, &mut out);
            }
            let _ = s.finish();
        }
        let mut s = connect::Splitter::new(limit);
        let mut out = Vec::new();
        for piece in &pieces {
            let _ = s.push(piece, &mut out);
        }
        let _ = s.finish();
        let mut d = TextDecoder::new(Whitespace::Skip);
        for piece in &pieces {
            let _ = d.push(piece);
        }
        let _ = grpc_web::parse_trailers(&bytes);
        let _ = connect::ConnectError::parse(&bytes);
        let _ = EndStream::parse(&bytes);
        let text = String::from_utf8_lossy(&bytes);
        let _ = connect::GetRequest::parse(&text);
        let _ = super::classify("GET", None, None, Some(&text));
        let _ = super::classify("POST", Some(&text), Some("1"), None);
        let _ = super::Status::from_grpc_fields([("grpc-status", &*text), ("grpc-status-details-bin", &*text)]);
        let _ = super::Status::from_connect_unary(400, Some("application/json"), &bytes);
    }
}
