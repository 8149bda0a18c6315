//! gRPC-Web bodies as frames: the envelopes of gRPC (flag 0x01:
//! compressed), and one more kind, the trailer frame (flag 0x80) a response
//! body ends with, which carries the status as HTTP/1 header lines.
//!
//! - [`Splitter`]: a body (binary, or text: base64 decoded first) to
//!   [`Frame`]s over any chunk cuts, with the spec's rules checked as the
//!   bytes arrive: no flag bits but 0x01 and 0x80, no envelope over the
//!   caller's limit, nothing after the trailer frame, a trailer block of
//!   `name: value` lines. A compressed trailer frame (0x81, which the spec
//!   allows) is decompressed with the encoding the caller names.
//! - [`trailers`]: reading and writing the trailer block.
//!
//! What it is not: it does not decompress messages (they are handed on as
//! sent, flag and all, as the capture keeps them) nor say what the status
//! is ([`super::status`] does, from the trailers).

pub mod trailers;

pub use trailers::{TrailerError, parse_trailers, trailer_frame};

use crate::engine::compression::{DecompressError, Encoding, decompress};
use crate::pb::RpcProtocol;
use crate::web_protocol::envelope::{self, COMPRESSED_FLAG, Envelope, EnvelopeError, Rules};
use crate::web_protocol::text::{TextDecoder, TextError, Whitespace};

/// The flag bit of a trailer frame.
pub const TRAILER_FLAG: u8 = 0x80;

/// One frame of a gRPC-Web body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A message.
    Message {
        /// Its compressed flag (0x01) is set: the payload is compressed
        /// with the direction's `grpc-encoding`.
        compressed: bool,
        /// The payload, as sent.
        payload: Vec<u8>,
    },
    /// The trailer frame's fields, names lowercased, in order.
    Trailers(Vec<(String, String)>),
}

/// How a body is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyForm {
    /// `application/grpc-web`: the frames as they are.
    Binary,
    /// `application/grpc-web-text`: base64 of them (whitespace rejected).
    Text,
    /// Text, passing over whitespace ([`Whitespace::Skip`]).
    TextSkippingWhitespace,
}

impl BodyForm {
    /// The form of a gRPC-Web protocol's bodies (`None` for the others).
    pub fn of(protocol: RpcProtocol) -> Option<BodyForm> {
        match protocol {
            RpcProtocol::GrpcWeb => Some(BodyForm::Binary),
            RpcProtocol::GrpcWebText => Some(BodyForm::Text),
            _ => None,
        }
    }
}

/// Why a gRPC-Web body does not split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A text body's base64 does not decode.
    #[error("gRPC-Web text: {0}")]
    Text(#[from] TextError),
    /// An envelope breaks the rules (flags, length, a cut body).
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// Bytes after the trailer frame, which must be the last.
    #[error("bytes follow the trailer frame, at offset {offset}")]
    AfterTrailers {
        /// The offset of the first of them (in decoded bytes, for text).
        offset: u64,
    },
    /// The trailer block is not `name: value` lines.
    #[error("the trailer frame at offset {offset}: {error}")]
    Trailers {
        /// Where the frame starts.
        offset: u64,
        /// What is wrong with it.
        error: TrailerError,
    },
    /// A compressed trailer frame that does not decompress.
    #[error("the compressed trailer frame at offset {offset}: {error}")]
    Decompress {
        /// Where the frame starts.
        offset: u64,
        /// Why it does not decompress.
        error: DecompressError,
    },
}

/// The base64 layer of a text body.
#[derive(Debug)]
struct Text {
    decoder: TextDecoder,
    /// Decoded bytes, reused from chunk to chunk.
    scratch: Vec<u8>,
}

/// An incremental splitter of one gRPC-Web body into [`Frame`]s.
#[derive(Debug)]
pub struct Splitter {
    text: Option<Text>,
    envelopes: envelope::Splitter,
    /// Envelopes of the chunk at hand, reused from chunk to chunk.
    scratch: Vec<Envelope>,
    encoding: Encoding,
    max_payload: u32,
    /// The error it stopped at, returned again by every later call.
    failed: Option<FrameError>,
}

impl Splitter {
    /// A splitter of a body written in `form`, whose envelopes may hold at
    /// most `max_payload` bytes. A compressed trailer frame is an error
    /// unless [`Splitter::with_encoding`] names its encoding.
    pub fn new(form: BodyForm, max_payload: u32) -> Self {
        let text = |whitespace| {
            Some(Text {
                decoder: TextDecoder::new(whitespace),
                scratch: Vec::new(),
            })
        };
        Splitter {
            text: match form {
                BodyForm::Binary => None,
                BodyForm::Text => text(Whitespace::Reject),
                BodyForm::TextSkippingWhitespace => text(Whitespace::Skip),
            },
            envelopes: envelope::Splitter::new(Rules {
                known_flags: COMPRESSED_FLAG | TRAILER_FLAG,
                max_payload,
                end_flags: TRAILER_FLAG,
            }),
            scratch: Vec::new(),
            encoding: Encoding::Identity,
            max_payload,
            failed: None,
        }
    }

    /// Decompresses a compressed trailer frame with `encoding` (the
    /// response's `grpc-encoding`), to at most the envelope limit.
    pub fn with_encoding(mut self, encoding: Encoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// Takes the next bytes of the body and appends every frame they
    /// complete to `out`. On an error, `out` holds the frames before it,
    /// and every later call returns the error again.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<Frame>) -> Result<(), FrameError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = self.split(chunk, out);
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }

    /// Errors in the order of the bytes that cause them: a bad frame, then
    /// a bad envelope after it, then a bad base64 character after the
    /// bytes it left decoded (which still count).
    fn split(&mut self, chunk: &[u8], out: &mut Vec<Frame>) -> Result<(), FrameError> {
        let (decoded, split) = match &mut self.text {
            Some(text) => {
                text.scratch.clear();
                let decoded = text.decoder.push_into(chunk, &mut text.scratch);
                (
                    decoded,
                    self.envelopes.push(&text.scratch, &mut self.scratch),
                )
            }
            None => (Ok(()), self.envelopes.push(chunk, &mut self.scratch)),
        };
        let mut envelopes = std::mem::take(&mut self.scratch);
        let framed = envelopes.drain(..).try_for_each(|e| self.frame(e, out));
        self.scratch = envelopes;
        framed?;
        split.map_err(|e| match e {
            EnvelopeError::AfterEnd { offset } => FrameError::AfterTrailers { offset },
            e => FrameError::Envelope(e),
        })?;
        decoded?;
        Ok(())
    }

    fn frame(&self, envelope: Envelope, out: &mut Vec<Frame>) -> Result<(), FrameError> {
        let offset = envelope.offset;
        let compressed = envelope.flags & COMPRESSED_FLAG != 0;
        if envelope.flags & TRAILER_FLAG == 0 {
            out.push(Frame::Message {
                compressed,
                payload: envelope.payload,
            });
            return Ok(());
        }
        let block = if compressed {
            let limit = usize::try_from(self.max_payload).unwrap_or(usize::MAX);
            decompress(&self.encoding, &envelope.payload, limit)
                .map_err(|error| FrameError::Decompress { offset, error })?
                .to_vec()
        } else {
            envelope.payload
        };
        let fields =
            parse_trailers(&block).map_err(|error| FrameError::Trailers { offset, error })?;
        out.push(Frame::Trailers(fields));
        Ok(())
    }

    /// The trailer frame has been read.
    pub fn saw_trailers(&self) -> bool {
        self.envelopes.ended()
    }

    /// The body is over: an error if it ended inside a frame (or inside a
    /// base64 group), or if the splitter had already failed. A body with
    /// no trailer frame is not an error here (a request has none, and a
    /// response may have sent its status in headers): see
    /// [`Splitter::saw_trailers`].
    pub fn finish(&self) -> Result<(), FrameError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if let Some(text) = &self.text {
            text.decoder.finish()?;
        }
        self.envelopes.finish()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
