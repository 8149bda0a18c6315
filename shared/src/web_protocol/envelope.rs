//! The envelope the whole gRPC family frames messages with: one flag byte,
//! a 4-byte big-endian length, then that many bytes of payload.
//!
//! [`Splitter`] cuts a body into [`Envelope`]s as it arrives, over any
//! chunk cuts, checking each prefix as soon as it is complete (flag bits
//! the protocol does not define, a length over the caller's limit), so
//! that garbage fails at its first five bytes rather than after buffering,
//! and failing at the first byte after an envelope that must be the last
//! (gRPC-Web's trailers, Connect's end of stream). Errors come in the order
//! of the bytes that cause them, so a body gives the same envelopes and
//! the same error however it is cut. [`encode`] writes one.
//!
//! What it is not: it gives flags no meaning. [`super::grpc_web`] (0x80:
//! trailers) and [`super::connect`] (0x02: end of stream) do, on top of
//! it; 0x01 (compressed) means the same in every protocol of the family.

/// The length of an envelope's prefix.
pub const PREFIX_LEN: usize = 5;

/// The flag bit of a compressed payload, in every protocol of the family.
pub const COMPRESSED_FLAG: u8 = 0x01;

/// One envelope: its flag byte and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The flag byte, as sent.
    pub flags: u8,
    /// The payload, as sent (compressed when `flags` says so).
    pub payload: Vec<u8>,
    /// Where its prefix starts in the body, in bytes.
    pub offset: u64,
}

/// Why an envelope stream is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// A length over the caller's limit.
    #[error("the envelope at offset {offset} declares {declared} bytes, over the limit of {limit}")]
    TooLarge {
        /// Where the envelope starts.
        offset: u64,
        /// The length it declares.
        declared: u32,
        /// The limit.
        limit: u32,
    },
    /// Flag bits the protocol does not define.
    #[error(
        "the envelope at offset {offset} has flags {flags:#04x}, which this protocol does not define"
    )]
    UnknownFlags {
        /// Where the envelope starts.
        offset: u64,
        /// The flag byte.
        flags: u8,
    },
    /// Bytes after an envelope that must be the last.
    #[error("bytes follow the last envelope, at offset {offset}")]
    AfterEnd {
        /// The offset of the first of them.
        offset: u64,
    },
    /// The body ended inside an envelope (prefix included).
    #[error("the body ends inside the envelope at offset {offset}, after {have} of its bytes")]
    Truncated {
        /// Where the envelope starts.
        offset: u64,
        /// Its bytes that arrived, prefix included.
        have: u64,
    },
}

/// What a protocol allows of an envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// The flag bits it defines; any other bit set is an error.
    pub known_flags: u8,
    /// The longest payload accepted, in bytes.
    pub max_payload: u32,
    /// Flag bits that make an envelope the last (0: none does).
    pub end_flags: u8,
}

/// The envelope under way.
#[derive(Debug)]
enum Under {
    /// Reading its prefix: this many bytes of it so far.
    Prefix(usize),
    /// Reading its payload.
    Payload {
        flags: u8,
        want: usize,
        payload: Vec<u8>,
    },
    /// The last envelope has been read: nothing may follow.
    Done,
}

/// An incremental splitter of one body into envelopes.
#[derive(Debug)]
pub struct Splitter {
    rules: Rules,
    prefix: [u8; PREFIX_LEN],
    under: Under,
    /// Bytes taken so far.
    offset: u64,
    /// Where the envelope under way starts.
    start: u64,
    /// The error it stopped at, returned again by every later call.
    failed: Option<EnvelopeError>,
}

impl Splitter {
    /// A splitter that holds envelopes to `rules`.
    pub fn new(rules: Rules) -> Self {
        Splitter {
            rules,
            prefix: [0; PREFIX_LEN],
            under: Under::Prefix(0),
            offset: 0,
            start: 0,
            failed: None,
        }
    }

    /// Takes the next bytes of the body and appends every envelope they
    /// complete to `out`; the rest waits for the next call. After an
    /// error, every call returns it again and takes nothing.
    pub fn push(&mut self, mut data: &[u8], out: &mut Vec<Envelope>) -> Result<(), EnvelopeError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        while !data.is_empty() {
            match &mut self.under {
                Under::Done => {
                    let e = EnvelopeError::AfterEnd {
                        offset: self.offset,
                    };
                    self.failed = Some(e.clone());
                    return Err(e);
                }
                Under::Prefix(have) => {
                    let take = (PREFIX_LEN - *have).min(data.len());
                    self.prefix[*have..*have + take].copy_from_slice(&data[..take]);
                    *have += take;
                    self.offset += take as u64;
                    data = &data[take..];
                    if *have == PREFIX_LEN {
                        self.prefix_done(data.len(), out)?;
                    }
                }
                Under::Payload {
                    flags,
                    want,
                    payload,
                } => {
                    let take = (*want - payload.len()).min(data.len());
                    payload.extend_from_slice(&data[..take]);
                    self.offset += take as u64;
                    data = &data[take..];
                    if payload.len() == *want {
                        let flags = *flags;
                        let payload = std::mem::take(payload);
                        self.complete(flags, payload, out);
                    }
                }
            }
        }
        Ok(())
    }

    /// A whole prefix: check it, and start its payload (`available`: the
    /// bytes at hand past it, to size the payload's buffer).
    fn prefix_done(
        &mut self,
        available: usize,
        out: &mut Vec<Envelope>,
    ) -> Result<(), EnvelopeError> {
        let [flags, a, b, c, d] = self.prefix;
        let declared = u32::from_be_bytes([a, b, c, d]);
        let error = if flags & !self.rules.known_flags != 0 {
            Some(EnvelopeError::UnknownFlags {
                offset: self.start,
                flags,
            })
        } else if declared > self.rules.max_payload {
            Some(EnvelopeError::TooLarge {
                offset: self.start,
                declared,
                limit: self.rules.max_payload,
            })
        } else {
            None
        };
        if let Some(e) = error {
            self.failed = Some(e.clone());
            return Err(e);
        }
        // A u32 fits a usize on every target this builds for (32 and 64 bits).
        let want = usize::try_from(declared).unwrap_or(usize::MAX);
        if want == 0 {
            self.complete(flags, Vec::new(), out);
        } else {
            // Room for what is at hand, not what is declared: a peer that
            // declares the limit and sends a byte holds a byte.
            self.under = Under::Payload {
                flags,
                want,
                payload: Vec::with_capacity(want.min(available)),
            };
        }
        Ok(())
    }

    /// An envelope is whole: hand it on, and start the next (or end).
    fn complete(&mut self, flags: u8, payload: Vec<u8>, out: &mut Vec<Envelope>) {
        out.push(Envelope {
            flags,
            payload,
            offset: self.start,
        });
        self.start = self.offset;
        self.under = match flags & self.rules.end_flags {
            0 => Under::Prefix(0),
            _ => Under::Done,
        };
    }

    /// Bytes held of an envelope not yet complete, prefix included.
    pub fn pending(&self) -> usize {
        match &self.under {
            Under::Prefix(have) => *have,
            Under::Payload { payload, .. } => PREFIX_LEN + payload.len(),
            Under::Done => 0,
        }
    }

    /// The last envelope (one with an end flag) has been read.
    pub fn ended(&self) -> bool {
        matches!(self.under, Under::Done)
    }

    /// Bytes taken so far (the offset of the next byte).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The body is over: an error if it ended inside an envelope (or if
    /// the splitter had already failed).
    pub fn finish(&self) -> Result<(), EnvelopeError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.pending() {
            0 => Ok(()),
            have => Err(EnvelopeError::Truncated {
                offset: self.start,
                have: have as u64,
            }),
        }
    }
}

/// A payload too long for an envelope (over 4 GiB).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a payload of {0} bytes does not fit an envelope")]
pub struct PayloadTooLong(pub usize);

/// Appends one envelope, `flags` and `payload`, to `out`.
pub fn encode(flags: u8, payload: &[u8], out: &mut Vec<u8>) -> Result<(), PayloadTooLong> {
    let len = u32::try_from(payload.len()).map_err(|_| PayloadTooLong(payload.len()))?;
    out.reserve(PREFIX_LEN + payload.len());
    out.push(flags);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: Rules = Rules {
        known_flags: 0x81,
        max_payload: 16,
        end_flags: 0x80,
    };

    fn body(parts: &[(u8, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (flags, payload) in parts {
            encode(*flags, payload, &mut out).unwrap();
        }
        out
    }

    fn split_at(bytes: &[u8], cuts: &[usize]) -> Result<Vec<Envelope>, EnvelopeError> {
        let mut s = Splitter::new(RULES);
        let mut out = Vec::new();
        let mut from = 0;
        for &cut in cuts.iter().chain([&bytes.len()]) {
            s.push(&bytes[from..cut], &mut out)?;
            from = cut;
        }
        s.finish()?;
        Ok(out)
    }

    #[test]
    fn envelopes_split_over_every_cut() {
        let bytes = body(&[(0, b"hello"), (1, b""), (0x80, b"grpc-status: 0")]);
        let whole = split_at(&bytes, &[]).unwrap();
        assert_eq!(whole.len(), 3);
        assert_eq!(
            (whole[0].flags, whole[0].payload.as_slice(), whole[0].offset),
            (0, &b"hello"[..], 0)
        );
        assert_eq!((whole[1].flags, whole[1].offset), (1, 10));
        assert_eq!((whole[2].flags, whole[2].offset), (0x80, 15));
        for a in 0..=bytes.len() {
            for b in a..=bytes.len() {
                assert_eq!(split_at(&bytes, &[a, b]).unwrap(), whole, "cuts {a} {b}");
            }
        }
    }

    #[test]
    fn a_bad_prefix_fails_at_once_and_stays_failed() {
        let mut s = Splitter::new(RULES);
        let mut out = Vec::new();
        let err = s.push(&[0x02, 0, 0, 0, 1], &mut out).unwrap_err();
        assert_eq!(
            err,
            EnvelopeError::UnknownFlags {
                offset: 0,
                flags: 2
            }
        );
        assert_eq!(s.push(&body(&[(0, b"x")]), &mut out), Err(err.clone()));
        assert_eq!(s.finish(), Err(err));
        assert!(out.is_empty());

        let mut s = Splitter::new(RULES);
        s.push(&body(&[(0, b"ok")]), &mut out).unwrap();
        let err = s.push(&[0, 0, 0, 0, 17], &mut out).unwrap_err();
        assert_eq!(
            err,
            EnvelopeError::TooLarge {
                offset: 7,
                declared: 17,
                limit: 16
            }
        );
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn nothing_follows_the_last_envelope() {
        let mut bytes = body(&[(0, b"a"), (0x80, b""), (0, b"b")]);
        assert_eq!(
            split_at(&bytes, &[]),
            Err(EnvelopeError::AfterEnd { offset: 11 })
        );
        // However it is cut, and even before a prefix would be whole.
        bytes[11] = 0xff;
        for cut in 0..bytes.len() {
            assert_eq!(
                split_at(&bytes, &[cut]),
                Err(EnvelopeError::AfterEnd { offset: 11 }),
                "cut {cut}"
            );
        }
        let mut s = Splitter::new(RULES);
        let mut out = Vec::new();
        s.push(&bytes[..11], &mut out).unwrap();
        assert!(s.ended() && s.pending() == 0 && s.finish().is_ok());
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn a_body_cut_inside_an_envelope_is_truncated() {
        let bytes = body(&[(0, b"ok"), (0, b"hello")]);
        for cut in 8..bytes.len() {
            let mut s = Splitter::new(RULES);
            let mut out = Vec::new();
            s.push(&bytes[..cut], &mut out).unwrap();
            assert_eq!(s.pending(), cut - 7);
            assert_eq!(
                s.finish(),
                Err(EnvelopeError::Truncated {
                    offset: 7,
                    have: (cut - 7) as u64
                })
            );
        }
        assert_eq!(Splitter::new(RULES).finish(), Ok(()));
    }

    #[test]
    fn the_payload_buffer_is_sized_by_what_arrived() {
        let mut s = Splitter::new(Rules {
            known_flags: 0,
            max_payload: u32::MAX,
            end_flags: 0,
        });
        let mut out = Vec::new();
        s.push(&[0, 0xff, 0xff, 0xff, 0xff, 1], &mut out).unwrap();
        match &s.under {
            Under::Payload { payload, .. } => assert!(payload.capacity() < 64),
            Under::Prefix(_) | Under::Done => panic!("expected a payload under way"),
        }
        assert_eq!(s.offset(), 6);
    }
}
