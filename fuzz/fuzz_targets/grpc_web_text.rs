//! `loom_shared::web_protocol::text::TextDecoder` (gRPC-Web text's base64,
//! padded per flush) on any bytes, split anywhere: it never panics, the
//! bytes and the error it gives do not depend on the cuts, and what it
//! decodes without error re-encodes to the input (for input in the
//! standard alphabet, padded per group, with no stray low bits).
//!
//! Seeds (`fuzz/corpus/grpc_web_text`): gRPC-Web text bodies written to
//! `PROTOCOL-WEB.md`, flushed frame by frame (padding mid-body), with and
//! without line breaks. The first byte of each is the fuzzer's own.
#![no_main]

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use loom_shared::web_protocol::text::{TextDecoder, Whitespace};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the whitespace rule (low bit) and the cut.
    let Some((&control, bytes)) = data.split_first() else {
        return;
    };
    let whitespace = match control & 1 {
        0 => Whitespace::Reject,
        _ => Whitespace::Skip,
    };
    let run = |pieces: &[&[u8]]| {
        let mut d = TextDecoder::new(whitespace);
        let mut out = Vec::new();
        let result = pieces
            .iter()
            .try_for_each(|p| d.push_into(p, &mut out))
            .and(d.finish());
        (out, result)
    };
    let at = usize::from(control >> 1).min(bytes.len());
    let whole = run(&[bytes]);
    assert_eq!(whole, run(&[&bytes[..at], &bytes[at..]]));
    // Standard-alphabet groups, each padded as base64 pads: re-encoding
    // each group's bytes gives the group back (unless it had stray bits).
    if whole.1.is_ok()
        && whitespace == Whitespace::Reject
        && !bytes.contains(&b'-')
        && !bytes.contains(&b'_')
    {
        let mut decoded = whole.0.as_slice();
        for group in bytes.chunks(4) {
            let n = 3 - group.iter().filter(|&&b| b == b'=').count();
            let (mine, rest) = decoded.split_at(n);
            decoded = rest;
            let again = base64::engine::general_purpose::STANDARD.encode(mine);
            let canonical = base64::engine::general_purpose::STANDARD
                .decode(group)
                .is_ok();
            assert!(!canonical || again.as_bytes() == group);
        }
        assert!(decoded.is_empty());
    }
});
