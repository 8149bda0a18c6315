//! The capture tap: what the forward path hands each DATA frame to, on the
//! side, as it forwards it.
//!
//! A [`Tap`] watches one direction of one call. It gives a
//! reference-counted view of each frame (not a copy) to the call's
//! [`Splitter`], which cuts it into messages by the envelope of the call's
//! protocol, and each message becomes one capture event; gRPC-Web's trailer
//! frame and Connect's end-of-stream envelope end the body instead
//! ([`BodyEnd`]). A Connect unary body is one message, with no envelope
//! ([`WholeBody`]); a gRPC-Web text body is base64, decoded before it is
//! split. The tap never changes or holds back what is forwarded: it only
//! looks.

use bytes::Bytes;
use loom_shared::pb;
use loom_shared::web_protocol::text::TextDecoder;

use crate::capture::call::Call;
use crate::capture::framing::{GrpcMessage, PartialBudget, Splitter};
use crate::capture::spoken::{BodyEnd, Spoken};
use crate::capture::whole::WholeBody;

/// How a direction's bytes become messages.
enum Cut {
    /// Enveloped messages (gRPC, gRPC-Web, Connect streaming); gRPC-Web
    /// text first goes through its base64 decoder.
    Envelopes {
        splitter: Splitter,
        text: Option<TextDecoder>,
        end_bits: u8,
    },
    /// One message, the whole body (Connect unary).
    Whole(WholeBody),
}

pub struct Tap {
    direction: pb::Direction,
    cut: Cut,
    /// The call's codec sends compressed bodies (Connect unary:
    /// `content-encoding`), for a whole body's message.
    compressed: bool,
    /// Messages completed by the frame at hand (kept to reuse its room).
    out: Vec<GrpcMessage>,
    done: bool,
}

impl Tap {
    /// A tap for gRPC.
    pub fn new(direction: pb::Direction, max_keep: usize, budget: PartialBudget) -> Self {
        Tap::spoken(&Spoken::grpc(), direction, max_keep, budget)
    }

    /// A tap for one direction of a call that speaks `spoken`.
    pub fn spoken(
        spoken: &Spoken,
        direction: pb::Direction,
        max_keep: usize,
        budget: PartialBudget,
    ) -> Self {
        let cut = match spoken.envelope() {
            Some(envelope) => Cut::Envelopes {
                splitter: Splitter::with_envelope(envelope, max_keep, budget),
                text: spoken.is_text().then(TextDecoder::default),
                end_bits: envelope.end_bits(),
            },
            None => Cut::Whole(WholeBody::new(max_keep, budget)),
        };
        Tap {
            direction,
            cut,
            compressed: false,
            out: Vec::new(),
            done: false,
        }
    }

    /// A whole body's message is compressed (Connect unary's
    /// `content-encoding` named a compression).
    pub fn set_compressed(&mut self) {
        self.compressed = true;
    }

    /// One DATA frame's bytes, as forwarded.
    pub fn data(&mut self, call: &mut Call, data: &Bytes) {
        if self.done || data.is_empty() {
            return;
        }
        let (splitter, text, end_bits) = match &mut self.cut {
            Cut::Whole(body) => {
                body.push(data);
                return;
            }
            Cut::Envelopes {
                splitter,
                text,
                end_bits,
            } => (splitter, text, *end_bits),
        };
        let result = match text {
            Some(decoder) => match decoder.push(data) {
                Ok(decoded) => splitter.push(Bytes::from(decoded), &mut self.out),
                Err(e) => {
                    self.done = true;
                    call.note_problem(format!(
                        "{} body is not valid gRPC-Web text: {e}",
                        side(self.direction)
                    ));
                    return;
                }
            },
            None => splitter.push(data.clone(), &mut self.out),
        };
        for frame in self.out.drain(..) {
            if end_bits != 0 && frame.flags & end_bits != 0 {
                let end = if end_bits == 0x80 {
                    BodyEnd::WebTrailers(frame.payload)
                } else {
                    BodyEnd::ConnectEndStream(frame.payload)
                };
                call.body_end(self.direction, end);
                continue;
            }
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
        let splitter = match &mut self.cut {
            Cut::Whole(body) => {
                let message = body.finish(self.compressed);
                if self.direction == pb::Direction::Response && !call.response_ok() {
                    call.body_end(self.direction, BodyEnd::ConnectError(message.payload));
                } else {
                    call.message(self.direction, message);
                }
                return;
            }
            Cut::Envelopes { splitter, .. } => splitter,
        };
        match splitter.finish() {
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
