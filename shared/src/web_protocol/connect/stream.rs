//! Connect streaming bodies (`application/connect+…`) as frames: envelopes
//! whose flag 0x01 means compressed and 0x02 end of stream. A response
//! body ends with one end-of-stream envelope, its payload the JSON
//! [`EndStream`] (compressed like a message when 0x01 is set too, as
//! connect-go sends it when it is long).
//!
//! [`Splitter`] cuts a body into [`StreamFrame`]s over any chunk cuts,
//! checking the rules as bytes arrive: no other flag bits, no envelope over
//! the caller's limit, nothing after the end-of-stream, an end-of-stream
//! that is the JSON it must be.
//!
//! What it is not: it does not decompress messages (handed on as sent) nor
//! judge whether a body needed an end-of-stream (a request has none):
//! [`Splitter::saw_end`] says whether there was one.

use crate::engine::compression::{DecompressError, Encoding, decompress};
use crate::web_protocol::envelope::{self, COMPRESSED_FLAG, Envelope, EnvelopeError, Rules};

use super::END_STREAM_FLAG;
use super::error::{ConnectFormError, EndStream};

/// One frame of a Connect streaming body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamFrame {
    /// A message.
    Message {
        /// Its compressed flag (0x01) is set: the payload is compressed
        /// with the direction's `connect-content-encoding`.
        compressed: bool,
        /// The payload, as sent.
        payload: Vec<u8>,
    },
    /// The end-of-stream message.
    End(EndStream),
}

/// Why a Connect streaming body does not split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// An envelope breaks the rules (flags, length, a cut body).
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// Bytes after the end-of-stream message, which must be the last.
    #[error("bytes follow the end-of-stream message, at offset {offset}")]
    AfterEnd {
        /// The offset of the first of them.
        offset: u64,
    },
    /// The end-of-stream message is not the JSON it must be.
    #[error("the end-of-stream message at offset {offset}: {error}")]
    EndStream {
        /// Where its envelope starts.
        offset: u64,
        /// What is wrong with it.
        error: ConnectFormError,
    },
    /// A compressed end-of-stream message that does not decompress.
    #[error("the compressed end-of-stream message at offset {offset}: {error}")]
    Decompress {
        /// Where its envelope starts.
        offset: u64,
        /// Why it does not decompress.
        error: DecompressError,
    },
}

/// An incremental splitter of one Connect streaming body.
#[derive(Debug)]
pub struct Splitter {
    envelopes: envelope::Splitter,
    /// Envelopes of the chunk at hand, reused from chunk to chunk.
    scratch: Vec<Envelope>,
    encoding: Encoding,
    max_payload: u32,
    /// The error it stopped at, returned again by every later call.
    failed: Option<StreamError>,
}

impl Splitter {
    /// A splitter whose envelopes may hold at most `max_payload` bytes. A
    /// compressed end-of-stream is an error unless
    /// [`Splitter::with_encoding`] names its encoding.
    pub fn new(max_payload: u32) -> Self {
        Splitter {
            envelopes: envelope::Splitter::new(Rules {
                known_flags: COMPRESSED_FLAG | END_STREAM_FLAG,
                max_payload,
                end_flags: END_STREAM_FLAG,
            }),
            scratch: Vec::new(),
            encoding: Encoding::Identity,
            max_payload,
            failed: None,
        }
    }

    /// Decompresses a compressed end-of-stream message with `encoding`
    /// (the response's `connect-content-encoding`), to at most the
    /// envelope limit.
    pub fn with_encoding(mut self, encoding: Encoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// Takes the next bytes of the body and appends every frame they
    /// complete to `out`. On an error, `out` holds the frames before it,
    /// and every later call returns the error again.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<StreamFrame>) -> Result<(), StreamError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = self.split(chunk, out);
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }

    fn split(&mut self, chunk: &[u8], out: &mut Vec<StreamFrame>) -> Result<(), StreamError> {
        let split = self.envelopes.push(chunk, &mut self.scratch);
        let mut envelopes = std::mem::take(&mut self.scratch);
        // A bad frame comes before a bad envelope after it.
        let framed = envelopes.drain(..).try_for_each(|e| self.frame(e, out));
        self.scratch = envelopes;
        framed?;
        split.map_err(|e| match e {
            EnvelopeError::AfterEnd { offset } => StreamError::AfterEnd { offset },
            e => StreamError::Envelope(e),
        })
    }

    fn frame(&self, envelope: Envelope, out: &mut Vec<StreamFrame>) -> Result<(), StreamError> {
        let offset = envelope.offset;
        let compressed = envelope.flags & COMPRESSED_FLAG != 0;
        if envelope.flags & END_STREAM_FLAG == 0 {
            out.push(StreamFrame::Message {
                compressed,
                payload: envelope.payload,
            });
            return Ok(());
        }
        let json = if compressed {
            let limit = usize::try_from(self.max_payload).unwrap_or(usize::MAX);
            decompress(&self.encoding, &envelope.payload, limit)
                .map_err(|error| StreamError::Decompress { offset, error })?
                .to_vec()
        } else {
            envelope.payload
        };
        let end =
            EndStream::parse(&json).map_err(|error| StreamError::EndStream { offset, error })?;
        out.push(StreamFrame::End(end));
        Ok(())
    }

    /// The end-of-stream message has been read.
    pub fn saw_end(&self) -> bool {
        self.envelopes.ended()
    }

    /// The body is over: an error if it ended inside an envelope, or if the
    /// splitter had already failed. A body with no end-of-stream message
    /// is not an error here: see [`Splitter::saw_end`].
    pub fn finish(&self) -> Result<(), StreamError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        self.envelopes.finish()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn envelope(flags: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        envelope::encode(flags, payload, &mut out).unwrap();
        out
    }

    fn split(chunks: &[&[u8]]) -> Result<Vec<StreamFrame>, StreamError> {
        let mut s = Splitter::new(1 << 20);
        let mut out = Vec::new();
        for chunk in chunks {
            s.push(chunk, &mut out)?;
        }
        s.finish()?;
        Ok(out)
    }

    #[test]
    fn a_stream_splits_the_same_over_every_cut() {
        let end = br#"{"error":{"code":"aborted","message":"try again"},"metadata":{"a":["1"]}}"#;
        let body = [
            envelope(0, b"\x08\x01"),
            envelope(1, b"zz"),
            envelope(2, end),
        ]
        .concat();
        let want = vec![
            StreamFrame::Message {
                compressed: false,
                payload: vec![8, 1],
            },
            StreamFrame::Message {
                compressed: true,
                payload: b"zz".to_vec(),
            },
            StreamFrame::End(EndStream::parse(end).unwrap()),
        ];
        for cut in 0..=body.len() {
            assert_eq!(
                split(&[&body[..cut], &body[cut..]]),
                Ok(want.clone()),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn rules_are_checked_as_bytes_arrive() {
        assert_eq!(
            split(&[&envelope(0x80, b"x")]),
            Err(StreamError::Envelope(EnvelopeError::UnknownFlags {
                offset: 0,
                flags: 0x80
            }))
        );
        let body = [envelope(2, b"{}"), envelope(0, b"")].concat();
        assert_eq!(split(&[&body]), Err(StreamError::AfterEnd { offset: 7 }));
        let mut s = Splitter::new(64);
        let mut out = Vec::new();
        assert_eq!(
            s.push(&body[..8], &mut out),
            Err(StreamError::AfterEnd { offset: 7 })
        );
        assert!(s.saw_end() && out.len() == 1);
        assert!(matches!(
            split(&[&envelope(2, b"<html>")]),
            Err(StreamError::EndStream {
                offset: 0,
                error: ConnectFormError::NotJson(_)
            })
        ));
        assert!(matches!(
            split(&[&envelope(2, br#"{"metadata":[]}"#)]),
            Err(StreamError::EndStream {
                error: ConnectFormError::Shape(_),
                ..
            })
        ));
        assert_eq!(
            Splitter::new(3).push(&envelope(0, b"1234"), &mut Vec::new()),
            Err(StreamError::Envelope(EnvelopeError::TooLarge {
                offset: 0,
                declared: 4,
                limit: 3
            }))
        );
        assert_eq!(
            split(&[&envelope(0, b"1234")[..6]]),
            Err(StreamError::Envelope(EnvelopeError::Truncated {
                offset: 0,
                have: 6
            }))
        );
    }

    #[test]
    fn a_compressed_end_of_stream_decompresses() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(br#"{"metadata":{"k":["v"]}}"#).unwrap();
        let body = envelope(3, &gz.finish().unwrap());
        assert!(matches!(
            split(&[&body]),
            Err(StreamError::Decompress {
                error: DecompressError::NoEncoding,
                ..
            })
        ));
        let mut s = Splitter::new(1 << 20).with_encoding(Encoding::Gzip);
        let mut out = Vec::new();
        s.push(&body, &mut out).unwrap();
        assert_eq!(
            out,
            [StreamFrame::End(EndStream {
                error: None,
                metadata: vec![("k".into(), "v".into())]
            })]
        );
    }
}
