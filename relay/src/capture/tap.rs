//! The capture tap: what the forward path hands each DATA frame to, on the
//! side, as it forwards it.
//!
//! A [`Tap`] watches one direction of one call. It gives a
//! reference-counted view of each frame (not a copy) to the call's
//! [`Splitter`], which cuts it into gRPC messages, and each message becomes
//! one capture event. The tap never changes or holds back what is
//! forwarded: it only looks.

use bytes::Bytes;
use loom_shared::pb;

use crate::capture::call::Call;
use crate::capture::framing::{GrpcMessage, PartialBudget, Splitter};

pub struct Tap {
    direction: pb::Direction,
    splitter: Splitter,
    /// Messages completed by the frame at hand (kept to reuse its room).
    out: Vec<GrpcMessage>,
    done: bool,
}

impl Tap {
    pub fn new(direction: pb::Direction, max_keep: usize, budget: PartialBudget) -> Self {
        Tap {
            direction,
            splitter: Splitter::new(max_keep, budget),
            out: Vec::new(),
            done: false,
        }
    }

    /// One DATA frame's bytes, as forwarded.
    pub fn data(&mut self, call: &mut Call, data: &Bytes) {
        if self.done || data.is_empty() {
            return;
        }
        let result = self.splitter.push(data.clone(), &mut self.out);
        for frame in self.out.drain(..) {
            if frame.over_budget {
                call.note_problem(format!(
                    "{} message of {} bytes captured only in part: the messages the relay held \
                     incomplete reached their budget (--max-partial-bytes); it was forwarded whole",
                    side(self.direction),
                    frame.declared_length
                ));
            }
            call.message(self.direction, frame);
        }
        if let Err(e) = result {
            call.note_problem(format!("{} stream {}", side(self.direction), e.0));
        }
    }

    /// The direction is over (its end of stream, or trailers): a message
    /// left incomplete is captured as such.
    pub fn finish(&mut self, call: &mut Call) {
        if self.done {
            return;
        }
        self.done = true;
        match self.splitter.finish() {
            Ok(None) => {}
            Ok(Some(partial)) => {
                call.note_problem(format!(
                    "{} stream ended inside a message ({} of {} bytes)",
                    side(self.direction),
                    partial.payload.len(),
                    partial.declared_length
                ));
                call.message(self.direction, partial);
            }
            Err(e) => call.note_problem(format!("{} {}", side(self.direction), e.0)),
        }
    }
}

fn side(direction: pb::Direction) -> &'static str {
    match direction {
        pb::Direction::Response => "response",
        _ => "request",
    }
}
