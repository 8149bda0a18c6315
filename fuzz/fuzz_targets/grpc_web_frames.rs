//! `loom_shared::web_protocol::grpc_web::Splitter` on any bytes a gRPC-Web
//! peer may send, binary or text, split anywhere: it never panics, and
//! the frames and the error it gives do not depend on how the bytes were
//! cut into reads.
//!
//! Seeds (`fuzz/corpus/grpc_web_frames`): bodies written to
//! `PROTOCOL-WEB.md` — a response of messages and a trailer frame, a
//! trailers-only body, a request, and a text response flushed frame by
//! frame (padding mid-body). The first byte of each is the fuzzer's own.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loom_shared::web_protocol::grpc_web::{BodyForm, Splitter};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the form (low 2 bits) and where the rest is cut.
    let Some((&control, bytes)) = data.split_first() else {
        return;
    };
    let form = match control & 3 {
        0 | 1 => BodyForm::Binary,
        2 => BodyForm::Text,
        _ => BodyForm::TextSkippingWhitespace,
    };
    let run = |pieces: &[&[u8]]| {
        let mut s = Splitter::new(form, 1 << 16);
        let mut out = Vec::new();
        let result = pieces
            .iter()
            .try_for_each(|p| s.push(p, &mut out))
            .and(s.finish());
        (out, result)
    };
    let at = usize::from(control >> 2).min(bytes.len());
    assert_eq!(run(&[bytes]), run(&[&bytes[..at], &bytes[at..]]));
});
