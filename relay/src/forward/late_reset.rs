//! A client's reset that arrives after its stream closed.
//!
//! Some clients cancel by ending their request and then resetting the
//! stream (Node's `Http2Stream.close()` sends an empty DATA frame with
//! END_STREAM, then RST_STREAM(CANCEL) a few milliseconds later). An
//! upstream that answers the half-close fast has its trailers forwarded in
//! that gap, which closes the stream; `h2` then drops the client's reset
//! without a word, and the call would read as OK although the client
//! cancelled it. HTTP/2 forbids a peer to reset a stream it has seen close,
//! so such a reset means the client cancelled before the trailers reached
//! it.
//!
//! So the relay reads the client's frame headers as they arrive
//! ([`FrameScanner`], which only looks: every byte still goes to `h2`), and a
//! call whose client ended its request late waits a short while after its
//! trailers ([`LINGER`]) for a reset of its stream ([`LateResets`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// How long a call waits after its trailers for the client's late reset.
pub const LINGER: Duration = Duration::from_millis(100);

const PREFACE_LEN: usize = 24;
const FRAME_HEADER_LEN: usize = 9;
const RST_STREAM: u8 = 0x3;

/// Resets seen for streams whose calls are waiting for one.
#[derive(Debug, Clone, Default)]
pub struct LateResets(Arc<Mutex<State>>);

#[derive(Debug, Default)]
struct State {
    /// Stream id to the waiting call's waker.
    waiting: HashMap<u32, Option<Waker>>,
    /// Stream id to the reset's HTTP/2 error code.
    seen: HashMap<u32, u32>,
}

impl LateResets {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Plain maps, consistent between statements.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The call on `stream` starts waiting for a late reset.
    pub fn watch(&self, stream: u32) {
        self.lock().waiting.insert(stream, None);
    }

    /// The reset's error code once it came; `Pending` until then.
    pub fn poll(&self, stream: u32, cx: &mut Context<'_>) -> Poll<u32> {
        let mut state = self.lock();
        if let Some(code) = state.seen.remove(&stream) {
            state.waiting.remove(&stream);
            return Poll::Ready(code);
        }
        state.waiting.insert(stream, Some(cx.waker().clone()));
        Poll::Pending
    }

    /// The call on `stream` stops waiting.
    pub fn forget(&self, stream: u32) {
        let mut state = self.lock();
        state.waiting.remove(&stream);
        state.seen.remove(&stream);
    }

    /// The client reset `stream` with `code`.
    fn note(&self, stream: u32, code: u32) {
        let mut state = self.lock();
        if let Some(waker) = state.waiting.get_mut(&stream) {
            let waker = waker.take();
            state.seen.insert(stream, code);
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }

    /// Whether any call is waiting (the scanner's work is skipped if not).
    fn anyone_waiting(&self) -> bool {
        !self.lock().waiting.is_empty()
    }
}

/// Reads HTTP/2 frame headers from the client's bytes and notes each
/// RST_STREAM in a [`LateResets`]. It never fails: bytes it cannot make
/// sense of are `h2`'s to refuse.
#[derive(Debug)]
pub struct FrameScanner {
    resets: LateResets,
    /// Preface bytes still to skip.
    preface: usize,
    header: [u8; FRAME_HEADER_LEN],
    have: usize,
    /// Payload bytes of the current frame still to pass over.
    skip: usize,
    /// The current frame is a RST_STREAM: its stream and code so far.
    reset: Option<(u32, [u8; 4], usize)>,
}

impl FrameScanner {
    pub fn new(resets: LateResets) -> Self {
        FrameScanner {
            resets,
            preface: PREFACE_LEN,
            header: [0; FRAME_HEADER_LEN],
            have: 0,
            skip: 0,
            reset: None,
        }
    }

    /// Bytes read from the client, in order.
    pub fn scan(&mut self, mut bytes: &[u8]) {
        let skip = self.preface.min(bytes.len());
        self.preface -= skip;
        bytes = &bytes[skip..];
        while !bytes.is_empty() {
            if let Some((stream, code, got)) = &mut self.reset {
                let take = (4 - *got).min(bytes.len());
                code[*got..*got + take].copy_from_slice(&bytes[..take]);
                *got += take;
                bytes = &bytes[take..];
                self.skip -= take;
                if *got == 4 {
                    let (stream, code) = (*stream, u32::from_be_bytes(*code));
                    self.reset = None;
                    if self.resets.anyone_waiting() {
                        self.resets.note(stream, code);
                    }
                }
                continue;
            }
            if self.skip > 0 {
                let take = self.skip.min(bytes.len());
                self.skip -= take;
                bytes = &bytes[take..];
                continue;
            }
            let take = (FRAME_HEADER_LEN - self.have).min(bytes.len());
            self.header[self.have..self.have + take].copy_from_slice(&bytes[..take]);
            self.have += take;
            bytes = &bytes[take..];
            if self.have < FRAME_HEADER_LEN {
                continue;
            }
            self.have = 0;
            let h = self.header;
            let length = usize::from(h[0]) << 16 | usize::from(h[1]) << 8 | usize::from(h[2]);
            let stream = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff;
            self.skip = length;
            if h[3] == RST_STREAM && length == 4 {
                self.reset = Some((stream, [0; 4], 0));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        let len = payload.len() as u32;
        v.extend_from_slice(&len.to_be_bytes()[1..]);
        v.push(kind);
        v.push(0);
        v.extend_from_slice(&stream.to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn finds_resets_across_any_split() {
        let mut bytes = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        bytes.extend(frame(0x4, 0, &[0; 6]));
        bytes.extend(frame(0x0, 1, &[1, 2, 3, 4, 5]));
        bytes.extend(frame(RST_STREAM, 1, &8u32.to_be_bytes()));
        bytes.extend(frame(RST_STREAM, 3, &2u32.to_be_bytes()));
        for cut in 1..bytes.len() {
            let resets = LateResets::default();
            resets.watch(1);
            let mut scanner = FrameScanner::new(resets.clone());
            for piece in bytes.chunks(cut) {
                scanner.scan(piece);
            }
            let waker = futures_util::task::noop_waker();
            let mut cx = Context::from_waker(&waker);
            assert_eq!(resets.poll(1, &mut cx), Poll::Ready(8), "pieces of {cut}");
            // Nobody waited for stream 3.
            assert_eq!(resets.poll(3, &mut cx), Poll::Pending);
        }
    }

    #[test]
    fn garbage_is_passed_over() {
        let resets = LateResets::default();
        resets.watch(1);
        let mut scanner = FrameScanner::new(resets);
        scanner.scan(&[0xff; 10_000]);
        scanner.scan(&[]);
    }
}
