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
//! (`loom_shared::h2frame::FrameScanner`, which only looks: every byte
//! still goes to `h2`) and notes each reset here ([`LateResets::note`]); a
//! call whose client ended its request late waits a short while after its
//! trailers ([`LINGER`]) for a reset of its stream.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// How long a call waits after its trailers for the client's late reset.
pub const LINGER: Duration = Duration::from_millis(100);

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

    /// The client reset `stream` with `code`: kept only if a call waits.
    pub fn note(&self, stream: u32, code: u32) {
        let mut state = self.lock();
        if let Some(waker) = state.waiting.get_mut(&stream) {
            let waker = waker.take();
            state.seen.insert(stream, code);
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reset_reaches_only_a_call_that_waits() {
        let resets = LateResets::default();
        resets.watch(1);
        resets.note(1, 8);
        resets.note(3, 2);
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert_eq!(resets.poll(1, &mut cx), Poll::Ready(8));
        assert_eq!(resets.poll(3, &mut cx), Poll::Pending);
        resets.forget(3);
    }
}
