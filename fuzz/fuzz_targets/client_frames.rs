//! `loom_shared::h2frame::FrameScanner` on any bytes a client may send,
//! split anywhere: it never panics, and the resets it finds do not depend
//! on how the bytes were cut into reads.
//!
//! Seeds (`fuzz/corpus/client_frames`): what grpcurl (grpc-go's client)
//! sent to a grpc-go server through a tee: reflection, a unary call, a
//! server stream cancelled by its deadline (RST_STREAM CANCEL), a failing
//! call.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loom_shared::h2frame::FrameScanner;

fuzz_target!(|data: &[u8]| {
    // The first byte picks where the rest is cut in two.
    let Some((&cut, bytes)) = data.split_first() else {
        return;
    };
    let mut whole = Vec::new();
    FrameScanner::new().scan(bytes, |stream, code| whole.push((stream, code)));
    let at = usize::from(cut).min(bytes.len());
    let mut pieces = Vec::new();
    let mut scanner = FrameScanner::new();
    for piece in [&bytes[..at], &bytes[at..]] {
        scanner.scan(piece, |stream, code| pieces.push((stream, code)));
    }
    assert_eq!(whole, pieces);
});
