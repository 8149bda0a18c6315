//! The capture tap: a body wrapper on the forward path.
//!
//! [`TapBody`] passes every frame through unchanged and, on the side, hands a
//! reference-counted copy of each DATA frame to the call's [`Splitter`], which
//! emits one capture event per gRPC message. Trailers end the call. An
//! upstream failure on the response side becomes UNAVAILABLE trailers for the
//! client instead of a bare stream reset.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use loom_shared::pb;

use crate::call::Call;
use crate::framing::{PartialBudget, Splitter};
use crate::status;

pub struct TapBody<B> {
    inner: B,
    direction: pb::Direction,
    call: Arc<Call>,
    splitter: Splitter,
    done: bool,
}

impl<B> TapBody<B> {
    pub fn new(
        inner: B,
        direction: pb::Direction,
        call: Arc<Call>,
        max_keep: usize,
        budget: PartialBudget,
    ) -> Self {
        TapBody {
            inner,
            direction,
            call,
            splitter: Splitter::new(max_keep, budget),
            done: false,
        }
    }

    fn side(&self) -> &'static str {
        match self.direction {
            pb::Direction::Response => "response",
            _ => "request",
        }
    }

    fn tap(&mut self, data: &Bytes) {
        let mut frames = Vec::new();
        let result = self.splitter.push(data.clone(), &mut frames);
        for frame in frames {
            if frame.over_budget {
                self.call.note_problem(format!(
                    "{} message of {} bytes captured only in part: the messages the relay held \
                     incomplete reached their budget (--max-partial-bytes); it was forwarded whole",
                    self.side(),
                    frame.declared_length
                ));
            }
            self.call.message(self.direction, frame);
        }
        if let Err(e) = result {
            self.call
                .note_problem(format!("{} stream {}", self.side(), e.0));
        }
    }

    /// The body is over: report a partial message, and end a response that
    /// had no trailers.
    fn at_end(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        self.finish_split();
        if self.direction == pb::Direction::Response && !self.call.is_ended() {
            self.call.end_with_trailers(&HeaderMap::new(), None);
        }
    }

    fn finish_split(&mut self) {
        match self.splitter.finish() {
            Ok(None) => {}
            Ok(Some(partial)) => {
                self.call.note_problem(format!(
                    "{} stream ended inside a message ({} of {} bytes)",
                    self.side(),
                    partial.payload.len(),
                    partial.declared_length
                ));
                self.call.message(self.direction, partial);
            }
            Err(e) => self.call.note_problem(format!("{} {}", self.side(), e.0)),
        }
    }
}

/// Why the client's request stream failed, in words: the HTTP/2 reset
/// code it sent (CANCEL, most often), or the error.
fn client_failure(error: &(dyn std::error::Error + 'static)) -> String {
    let mut source = Some(error);
    while let Some(e) = source {
        if let Some(h2) = e.downcast_ref::<h2::Error>()
            && let Some(reason) = h2.reason()
        {
            return if h2.is_remote() {
                format!("the client reset the stream ({reason:?})")
            } else {
                format!("the relay reset the client's stream ({reason:?})")
            };
        }
        source = e.source();
    }
    format!("the client's request stream failed: {error}")
}

impl<B> Body for TapBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::error::Error + 'static,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        let polled = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        let is_response = this.direction == pb::Direction::Response;
        match polled {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    this.tap(data);
                } else if let Some(trailers) = frame.trailers_ref() {
                    this.finish_split();
                    if is_response {
                        this.call.end_with_trailers(trailers, None);
                    }
                }
                // hyper stops polling once a body says it has ended, so the
                // end is handled here rather than on a final `None`.
                if this.inner.is_end_stream() {
                    this.at_end();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(e)) if !is_response => {
                this.done = true;
                this.call.note_client_gone(client_failure(&e));
                Poll::Ready(Some(Err(e)))
            }
            Some(Err(e)) => {
                this.done = true;
                match this.call.fail_upstream(&e.to_string(), true) {
                    // The client is gone: pass the error on.
                    None => Poll::Ready(Some(Err(e))),
                    Some(answer) => Poll::Ready(Some(Ok(Frame::trailers(status::trailers(
                        answer.code,
                        &answer.message,
                    ))))),
                }
            }
            None => {
                this.at_end();
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
