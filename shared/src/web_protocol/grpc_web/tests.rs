use std::io::Write as _;

use base64::Engine as _;

use super::*;

const LIMIT: u32 = 1 << 20;

fn message(flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    envelope::encode(flags, payload, &mut out).unwrap();
    out
}

fn response() -> Vec<Vec<u8>> {
    vec![
        message(0, b"\x0a\x03one"),
        message(0, b""),
        message(1, b"gzipped?"),
        trailer_frame(&[("grpc-status", "0"), ("X-Trace", "abc")]),
    ]
}

fn want() -> Vec<Frame> {
    vec![
        Frame::Message {
            compressed: false,
            payload: b"\x0a\x03one".to_vec(),
        },
        Frame::Message {
            compressed: false,
            payload: Vec::new(),
        },
        Frame::Message {
            compressed: true,
            payload: b"gzipped?".to_vec(),
        },
        Frame::Trailers(vec![
            ("grpc-status".into(), "0".into()),
            ("x-trace".into(), "abc".into()),
        ]),
    ]
}

fn split(form: BodyForm, chunks: &[&[u8]]) -> Result<Vec<Frame>, FrameError> {
    let mut s = Splitter::new(form, LIMIT);
    let mut out = Vec::new();
    for chunk in chunks {
        s.push(chunk, &mut out)?;
    }
    s.finish()?;
    Ok(out)
}

#[test]
fn a_binary_body_splits_the_same_over_every_pair_of_cuts() {
    let body = response().concat();
    for a in 0..=body.len() {
        for b in a..=body.len() {
            let got = split(BodyForm::Binary, &[&body[..a], &body[a..b], &body[b..]]);
            assert_eq!(got, Ok(want()), "cuts {a} {b}");
        }
    }
}

#[test]
fn a_text_body_flushed_frame_by_frame_splits_over_every_cut() {
    // Each frame is base64 of its own, padding and all, as servers flush.
    let text: String = response()
        .iter()
        .map(|f| base64::engine::general_purpose::STANDARD.encode(f))
        .collect();
    assert!(text.trim_end_matches('=').contains('='), "{text}");
    let text = text.as_bytes();
    for cut in 0..=text.len() {
        let got = split(BodyForm::Text, &[&text[..cut], &text[cut..]]);
        assert_eq!(got, Ok(want()), "cut {cut}");
    }
    let spaced: Vec<u8> = text
        .chunks(7)
        .flat_map(|c| c.iter().copied().chain(*b"\r\n"))
        .collect();
    assert!(matches!(
        split(BodyForm::Text, &[&spaced]),
        Err(FrameError::Text(TextError::NotBase64 { byte: b'\r', .. }))
    ));
    assert_eq!(
        split(BodyForm::TextSkippingWhitespace, &[&spaced]),
        Ok(want())
    );
}

#[test]
fn nothing_may_follow_the_trailer_frame() {
    let trailers = trailer_frame(&[("grpc-status", "0")]);
    let mut body = [message(0, b"a"), trailers.clone(), message(0, b"b")].concat();
    let err = split(BodyForm::Binary, &[&body]).unwrap_err();
    assert_eq!(
        err,
        FrameError::AfterTrailers {
            offset: 6 + trailers.len() as u64
        }
    );
    // A partial envelope after it fails as soon as it arrives.
    body.truncate(6 + trailers.len() + 2);
    let mut s = Splitter::new(BodyForm::Binary, LIMIT);
    let mut out = Vec::new();
    assert_eq!(
        s.push(&body, &mut out),
        Err(FrameError::AfterTrailers {
            offset: 6 + trailers.len() as u64
        })
    );
    assert_eq!(out.len(), 2, "the frames before the error are kept");
    assert!(s.saw_trailers());
    assert_eq!(s.push(b"", &mut out), Err(err_after(6 + trailers.len())));
    assert_eq!(s.finish(), Err(err_after(6 + trailers.len())));
}

fn err_after(offset: usize) -> FrameError {
    FrameError::AfterTrailers {
        offset: offset as u64,
    }
}

#[test]
fn bad_flags_sizes_trailers_and_cut_bodies_are_errors() {
    assert_eq!(
        split(BodyForm::Binary, &[&message(0x02, b"x")]),
        Err(FrameError::Envelope(EnvelopeError::UnknownFlags {
            offset: 0,
            flags: 2
        }))
    );
    let mut s = Splitter::new(BodyForm::Binary, 4);
    assert_eq!(
        s.push(&message(0, b"12345"), &mut Vec::new()),
        Err(FrameError::Envelope(EnvelopeError::TooLarge {
            offset: 0,
            declared: 5,
            limit: 4
        }))
    );
    assert_eq!(
        split(BodyForm::Binary, &[&message(0x80, b"grpc-status 0")]),
        Err(FrameError::Trailers {
            offset: 0,
            error: TrailerError::NotAField { line: 1 }
        })
    );
    let body = message(0, b"hello");
    assert_eq!(
        split(BodyForm::Binary, &[&body[..7]]),
        Err(FrameError::Envelope(EnvelopeError::Truncated {
            offset: 0,
            have: 7
        }))
    );
    assert_eq!(
        split(BodyForm::Text, &[b"AAAAAA"]),
        Err(FrameError::Text(TextError::Unfinished { have: 2 }))
    );
    // An HTML error page is not a gRPC-Web body: its first byte is '<'.
    assert!(matches!(
        split(
            BodyForm::Binary,
            &[b"<html><body>502 Bad Gateway</body></html>"]
        ),
        Err(FrameError::Envelope(EnvelopeError::UnknownFlags {
            flags: b'<',
            ..
        }))
    ));
}

#[test]
fn a_compressed_trailer_frame_decompresses_with_the_named_encoding() {
    let block = b"grpc-status: 14\r\ngrpc-message: down\r\n";
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(block).unwrap();
    let body = [message(0, b"a"), message(0x81, &gz.finish().unwrap())].concat();
    assert!(matches!(
        split(BodyForm::Binary, &[&body]),
        Err(FrameError::Decompress {
            offset: 6,
            error: DecompressError::NoEncoding
        })
    ));
    let mut s = Splitter::new(BodyForm::Binary, LIMIT).with_encoding(Encoding::Gzip);
    let mut out = Vec::new();
    s.push(&body, &mut out).unwrap();
    assert_eq!(
        out[1],
        Frame::Trailers(vec![
            ("grpc-status".into(), "14".into()),
            ("grpc-message".into(), "down".into())
        ])
    );
}

#[test]
fn body_forms_follow_the_protocol() {
    assert_eq!(BodyForm::of(RpcProtocol::GrpcWeb), Some(BodyForm::Binary));
    assert_eq!(BodyForm::of(RpcProtocol::GrpcWebText), Some(BodyForm::Text));
    assert_eq!(BodyForm::of(RpcProtocol::Grpc), None);
    assert_eq!(BodyForm::of(RpcProtocol::ConnectStream), None);
}
