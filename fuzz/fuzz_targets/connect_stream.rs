//! `loom_shared::web_protocol::connect::Splitter` (Connect streaming
//! bodies: messages, then the JSON end-of-stream) on any bytes, split
//! anywhere: it never panics, and the frames and the error it gives do not
//! depend on the cuts. The JSON readers (`EndStream::parse`,
//! `ConnectError::parse`) and the status they normalize to get the raw
//! bytes too.
//!
//! Seeds (`fuzz/corpus/connect_stream`): bodies written to the Connect
//! protocol spec, as connect-go frames them — messages and an end-of-stream
//! with an error, details and metadata; a successful end; a request. The
//! first byte of each is the fuzzer's own.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loom_shared::web_protocol::Status;
use loom_shared::web_protocol::connect::{ConnectError, EndStream, Splitter};

fuzz_target!(|data: &[u8]| {
    // The first byte picks where the rest is cut.
    let Some((&cut, bytes)) = data.split_first() else {
        return;
    };
    let run = |pieces: &[&[u8]]| {
        let mut s = Splitter::new(1 << 16);
        let mut out = Vec::new();
        let result = pieces
            .iter()
            .try_for_each(|p| s.push(p, &mut out))
            .and(s.finish());
        (out, result)
    };
    let at = usize::from(cut).min(bytes.len());
    assert_eq!(run(&[bytes]), run(&[&bytes[..at], &bytes[at..]]));
    if let Ok(end) = EndStream::parse(bytes) {
        let _ = Status::from_end_stream(&end);
    }
    if let Ok(error) = ConnectError::parse(bytes) {
        let _ = Status::from_connect_error(&error, Some(400));
    }
    let _ = Status::from_connect_unary(503, Some("application/json"), bytes);
});
