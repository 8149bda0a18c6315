//! Splits a gRPC body byte stream into length-prefixed messages.
//!
//! The forward path hands every DATA frame to a [`Splitter`] as a `Bytes`
//! (a reference-counted view, not a copy). A large message that lies inside
//! one frame is captured as a zero-copy slice of it; messages that span
//! frames are copied together once; small messages are copied, because a
//! slice keeps its whole read buffer alive, and a 100-byte message must not
//! hold kilobytes the capture budget never sees. The splitter never holds more than `max_keep`
//! bytes of a single message: beyond that it keeps counting but stops
//! keeping, so a hostile length prefix cannot make the relay allocate. And
//! what all splitters together hold of messages still incomplete counts
//! against one [`PartialBudget`]: past it, a message's capture is cut short
//! (forwarding never is).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Buf, Bytes, BytesMut};

/// Bytes held, across every call, of messages not yet complete.
#[derive(Debug, Clone)]
pub struct PartialBudget(Arc<BudgetInner>);

#[derive(Debug)]
struct BudgetInner {
    used: AtomicU64,
    max: u64,
}

impl PartialBudget {
    pub fn new(max: u64) -> Self {
        PartialBudget(Arc::new(BudgetInner {
            used: AtomicU64::new(0),
            max,
        }))
    }

    pub fn max(&self) -> u64 {
        self.0.max
    }

    /// Bytes held now.
    pub fn used(&self) -> u64 {
        self.0.used.load(Ordering::Relaxed)
    }

    pub(crate) fn try_reserve(&self, n: u64) -> bool {
        self.0
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|total| *total <= self.0.max)
            })
            .is_ok()
    }

    pub(crate) fn release(&self, n: u64) {
        if n > 0 {
            self.0.used.fetch_sub(n, Ordering::AcqRel);
        }
    }
}

/// Which flag bits an envelope may carry: the 5-byte length prefix is the
/// same across the gRPC family, its first byte is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Envelope {
    /// gRPC: 0 or 1 (compressed).
    Grpc,
    /// gRPC-Web: bit 0 compressed, bit 7 a trailer frame.
    GrpcWeb,
    /// Connect streaming: bit 0 compressed, bit 1 the end-of-stream message.
    Connect,
}

impl Envelope {
    /// The flag bits this envelope allows.
    fn allowed(self) -> u8 {
        match self {
            Envelope::Grpc => 0x01,
            Envelope::GrpcWeb => 0x81,
            Envelope::Connect => 0x03,
        }
    }

    /// The bits that mark a frame that ends the stream (and is not a
    /// message): gRPC-Web's trailers, Connect's end-of-stream.
    pub fn end_bits(self) -> u8 {
        match self {
            Envelope::Grpc => 0,
            Envelope::GrpcWeb => 0x80,
            Envelope::Connect => 0x02,
        }
    }
}

/// A complete (or, at stream end, incomplete) message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcMessage {
    pub compressed: bool,
    /// The envelope's flag byte as sent (compressed, and for gRPC-Web and
    /// Connect, whether it ends the stream: [`Envelope::end_bits`]).
    pub flags: u8,
    pub declared_length: u32,
    pub payload: Bytes,
    /// `payload` is shorter than `declared_length`.
    pub truncated: bool,
    /// It was cut short because incomplete messages reached their budget.
    pub over_budget: bool,
}

#[derive(Debug)]
enum State {
    /// Collecting the 5-byte prefix.
    Prefix { buf: [u8; 5], have: usize },
    /// Collecting a message body.
    Body {
        flags: u8,
        declared: u32,
        remaining: u32,
        parts: Vec<Bytes>,
        kept: usize,
        /// Of `kept`, what is reserved from the budget.
        reserved: u64,
        /// The budget refused: nothing more of this message is kept.
        over_budget: bool,
    },
    /// The stream is not gRPC-framed; nothing more is split.
    Broken,
}

#[derive(Debug)]
pub struct Splitter {
    envelope: Envelope,
    state: State,
    max_keep: usize,
    budget: PartialBudget,
    /// Bytes seen so far, for error positions.
    offset: u64,
}

/// What went wrong with the framing, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FramingError(pub String);

impl Splitter {
    pub fn new(max_keep: usize, budget: PartialBudget) -> Self {
        Splitter::with_envelope(Envelope::Grpc, max_keep, budget)
    }

    /// A splitter of `envelope`'s framing.
    pub fn with_envelope(envelope: Envelope, max_keep: usize, budget: PartialBudget) -> Self {
        Splitter {
            envelope,
            state: State::Prefix {
                buf: [0; 5],
                have: 0,
            },
            max_keep,
            budget,
            offset: 0,
        }
    }

    /// Feed one DATA frame; `out` receives every message it completes.
    pub fn push(
        &mut self,
        mut data: Bytes,
        out: &mut Vec<GrpcMessage>,
    ) -> Result<(), FramingError> {
        loop {
            match &mut self.state {
                State::Broken => return Ok(()),
                State::Prefix { buf, have } => {
                    if data.is_empty() {
                        return Ok(());
                    }
                    let take = (5 - *have).min(data.len());
                    buf[*have..*have + take].copy_from_slice(&data[..take]);
                    *have += take;
                    data.advance(take);
                    self.offset += take as u64;
                    if *have < 5 {
                        return Ok(());
                    }
                    let flag = buf[0];
                    let declared = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]);
                    if flag & !self.envelope.allowed() != 0 {
                        let at = self.offset - 5;
                        self.state = State::Broken;
                        return Err(FramingError(match self.envelope {
                            Envelope::Grpc => format!(
                                "not gRPC-framed: compressed-flag byte is {flag:#04x} (must be 0 or 1) at byte {at}"
                            ),
                            Envelope::GrpcWeb => format!(
                                "not gRPC-Web-framed: flag byte is {flag:#04x} (only bits 0x80 and 0x01 may be set) at byte {at}"
                            ),
                            Envelope::Connect => format!(
                                "not Connect-framed: flag byte is {flag:#04x} (only bits 0x02 and 0x01 may be set) at byte {at}"
                            ),
                        }));
                    }
                    self.state = State::Body {
                        flags: flag,
                        declared,
                        remaining: declared,
                        parts: Vec::new(),
                        kept: 0,
                        reserved: 0,
                        over_budget: false,
                    };
                }
                State::Body {
                    flags,
                    declared,
                    remaining,
                    parts,
                    kept,
                    reserved,
                    over_budget,
                } => {
                    if *remaining > 0 {
                        if data.is_empty() {
                            return Ok(());
                        }
                        let take = (*remaining as usize).min(data.len());
                        let chunk = data.split_to(take);
                        self.offset += take as u64;
                        *remaining -= take as u32;
                        let room = self.max_keep.saturating_sub(*kept);
                        if room > 0 && !*over_budget {
                            let keep = chunk.slice(..room.min(chunk.len()));
                            *kept += keep.len();
                            parts.push(keep);
                        }
                        if *remaining > 0 {
                            // Still incomplete: what is held now counts.
                            let unreserved = *kept as u64 - *reserved;
                            if self.budget.try_reserve(unreserved) {
                                *reserved += unreserved;
                            } else if !*over_budget {
                                *over_budget = true;
                                let keep = (*reserved).min(*kept as u64) as usize;
                                truncate_parts(parts, keep);
                                *kept = keep;
                            }
                            return Ok(());
                        }
                    }
                    self.budget.release(std::mem::take(reserved));
                    let payload = join(std::mem::take(parts));
                    out.push(GrpcMessage {
                        compressed: *flags & 1 == 1,
                        flags: *flags,
                        declared_length: *declared,
                        truncated: payload.len() < *declared as usize,
                        over_budget: *over_budget,
                        payload,
                    });
                    self.state = State::Prefix {
                        buf: [0; 5],
                        have: 0,
                    };
                }
            }
        }
    }

    /// The stream ended: report an incomplete message, if any.
    pub fn finish(&mut self) -> Result<Option<GrpcMessage>, FramingError> {
        let state = std::mem::replace(&mut self.state, State::Broken);
        match state {
            State::Prefix { have: 0, .. } | State::Broken => Ok(None),
            State::Prefix { have, .. } => Err(FramingError(format!(
                "stream ended inside a message prefix ({have} of 5 bytes)"
            ))),
            State::Body {
                flags,
                declared,
                parts,
                reserved,
                over_budget,
                ..
            } => {
                self.budget.release(reserved);
                let payload = join(parts);
                Ok(Some(GrpcMessage {
                    compressed: flags & 1 == 1,
                    flags,
                    declared_length: declared,
                    payload,
                    truncated: true,
                    over_budget,
                }))
            }
        }
    }
}

impl Drop for Splitter {
    fn drop(&mut self) {
        if let State::Body { reserved, .. } = &mut self.state {
            self.budget.release(std::mem::take(reserved));
        }
    }
}

/// Keeps only the first `keep` bytes of `parts`.
fn truncate_parts(parts: &mut Vec<Bytes>, keep: usize) {
    let mut left = keep;
    parts.retain_mut(|p| {
        if left == 0 {
            return false;
        }
        if p.len() > left {
            p.truncate(left);
        }
        left -= p.len();
        true
    });
}

/// Messages smaller than this are copied out of the frame they arrived in.
const COPY_BELOW: usize = 64 << 10;

pub(crate) fn join(mut parts: Vec<Bytes>) -> Bytes {
    match parts.len() {
        0 => Bytes::new(),
        1 => {
            let part = parts.pop().unwrap_or_default();
            if part.len() < COPY_BELOW {
                Bytes::copy_from_slice(&part)
            } else {
                part
            }
        }
        _ => {
            let mut buf = BytesMut::with_capacity(parts.iter().map(Bytes::len).sum());
            for p in parts {
                buf.extend_from_slice(&p);
            }
            buf.freeze()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(compressed: bool, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![u8::from(compressed)];
        v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    fn unlimited() -> PartialBudget {
        PartialBudget::new(u64::MAX)
    }

    fn split_all(chunks: &[&[u8]], max_keep: usize) -> Vec<GrpcMessage> {
        let mut s = Splitter::new(max_keep, unlimited());
        let mut out = Vec::new();
        for c in chunks {
            s.push(Bytes::copy_from_slice(c), &mut out).unwrap();
        }
        assert_eq!(s.finish().unwrap(), None);
        out
    }

    #[test]
    fn several_messages_in_one_frame() {
        let mut data = frame(false, b"hello");
        data.extend(frame(true, b""));
        data.extend(frame(false, b"world!"));
        let out = split_all(&[&data], usize::MAX);
        let payloads: Vec<&[u8]> = out.iter().map(|f| &f.payload[..]).collect();
        assert_eq!(payloads, vec![&b"hello"[..], b"", b"world!"]);
        assert!(out[1].compressed && !out[0].compressed);
    }

    #[test]
    fn one_message_across_every_split_point() {
        let payload: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let data = frame(false, &payload);
        for cut in 0..data.len() {
            let out = split_all(&[&data[..cut], &data[cut..]], usize::MAX);
            assert_eq!(out.len(), 1, "cut at {cut}");
            assert_eq!(&out[0].payload[..], &payload[..]);
        }
        // And byte by byte.
        let chunks: Vec<&[u8]> = data.chunks(1).collect();
        assert_eq!(split_all(&chunks, usize::MAX)[0].payload.len(), 1000);
    }

    #[test]
    fn large_single_frame_messages_are_zero_copy_and_small_ones_copied() {
        let big = vec![1u8; COPY_BELOW];
        let data = Bytes::from(frame(false, &big));
        let mut s = Splitter::new(usize::MAX, unlimited());
        let mut out = Vec::new();
        s.push(data.clone(), &mut out).unwrap();
        assert_eq!(out[0].payload.as_ptr(), data[5..].as_ptr());
        // A small one does not pin the frame's buffer.
        let data = Bytes::from(frame(false, b"abcdef"));
        s.push(data.clone(), &mut out).unwrap();
        assert_eq!(&out[1].payload[..], b"abcdef");
        assert_ne!(out[1].payload.as_ptr(), data[5..].as_ptr());
    }

    #[test]
    fn keeps_at_most_max_keep_bytes() {
        let data = frame(false, &[1u8; 100]);
        let out = split_all(&[&data[..50], &data[50..]], 10);
        assert_eq!(out[0].payload.len(), 10);
        assert_eq!(out[0].declared_length, 100);
        assert!(out[0].truncated);
    }

    #[test]
    fn huge_declared_length_allocates_nothing_up_front() {
        let mut s = Splitter::new(1024, unlimited());
        let mut out = Vec::new();
        s.push(
            Bytes::from_static(&[0, 0xff, 0xff, 0xff, 0xff, 1, 2, 3]),
            &mut out,
        )
        .unwrap();
        assert!(out.is_empty());
        let tail = s.finish().unwrap().unwrap();
        assert!(tail.truncated);
        assert_eq!(&tail.payload[..], &[1, 2, 3]);
    }

    #[test]
    fn bad_flag_byte_is_reported_once() {
        let mut s = Splitter::new(1024, unlimited());
        let mut out = Vec::new();
        let err = s
            .push(Bytes::from_static(b"GET / HTTP/1.1\r\n"), &mut out)
            .unwrap_err();
        assert!(err.0.contains("0x47"), "{}", err.0);
        assert!(s.push(Bytes::from_static(b"more"), &mut out).is_ok());
        assert_eq!(s.finish().unwrap(), None);
    }

    #[test]
    fn incomplete_messages_share_one_budget() {
        let budget = PartialBudget::new(100);
        let data = frame(false, &[9u8; 300]);
        let mut a = Splitter::new(usize::MAX, budget.clone());
        let mut b = Splitter::new(usize::MAX, budget.clone());
        let mut out = Vec::new();
        // a holds 60 of its message, b wants 60 more: over the budget of 100.
        a.push(Bytes::copy_from_slice(&data[..65]), &mut out)
            .unwrap();
        assert_eq!(budget.used(), 60);
        b.push(Bytes::copy_from_slice(&data[..65]), &mut out)
            .unwrap();
        assert_eq!(budget.used(), 60, "b is cut off: it holds nothing counted");
        b.push(Bytes::copy_from_slice(&data[65..]), &mut out)
            .unwrap();
        let cut = out.pop().unwrap();
        assert!(cut.over_budget && cut.truncated);
        assert!(cut.payload.is_empty(), "{}", cut.payload.len());
        assert_eq!(cut.declared_length, 300);
        a.push(Bytes::copy_from_slice(&data[65..]), &mut out)
            .unwrap();
        let whole = out.pop().unwrap();
        assert!(!whole.over_budget && !whole.truncated);
        assert_eq!(whole.payload.len(), 300);
        assert_eq!(budget.used(), 0, "released when complete");
        // A splitter dropped mid-message gives its share back.
        a.push(Bytes::copy_from_slice(&data[..50]), &mut out)
            .unwrap();
        assert_eq!(budget.used(), 45);
        drop(a);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn stream_ending_inside_a_prefix_is_an_error() {
        let mut s = Splitter::new(1024, unlimited());
        s.push(Bytes::from_static(&[0, 0]), &mut Vec::new())
            .unwrap();
        assert!(s.finish().is_err());
    }

    mod properties {
        use super::*;
        use proptest::collection::vec;
        use proptest::prelude::*;

        proptest! {
            // A bounded fuzz corpus, run by every `cargo test`.
            #![proptest_config(ProptestConfig::with_cases(2000))]

            /// Any messages, cut into any frames: exactly those messages,
            /// and the budget is back to zero.
            #[test]
            fn any_framing_yields_the_messages(
                messages in vec((any::<bool>(), vec(any::<u8>(), 0..300)), 0..8),
                cuts in vec(1usize..200, 1..20),
                budget in 0u64..2000,
            ) {
                let mut wire = Vec::new();
                for (compressed, payload) in &messages {
                    wire.extend(frame(*compressed, payload));
                }
                let budget = PartialBudget::new(budget);
                let mut s = Splitter::new(usize::MAX, budget.clone());
                let mut out = Vec::new();
                let mut rest = &wire[..];
                for &cut in cuts.iter().cycle() {
                    if rest.is_empty() {
                        break;
                    }
                    let (chunk, tail) = rest.split_at(cut.min(rest.len()));
                    rest = tail;
                    s.push(Bytes::copy_from_slice(chunk), &mut out).unwrap();
                }
                prop_assert_eq!(s.finish().unwrap(), None);
                prop_assert_eq!(out.len(), messages.len());
                for (got, (compressed, payload)) in out.iter().zip(&messages) {
                    prop_assert_eq!(got.compressed, *compressed);
                    prop_assert_eq!(got.declared_length as usize, payload.len());
                    if got.over_budget {
                        prop_assert!(payload.starts_with(&got.payload));
                    } else {
                        prop_assert_eq!(&got.payload[..], &payload[..]);
                    }
                }
                prop_assert_eq!(budget.used(), 0);
            }

            /// Arbitrary bytes never panic, and never keep more than asked.
            #[test]
            fn arbitrary_bytes_are_split_safely(
                chunks in vec(vec(any::<u8>(), 0..64), 0..32),
                max_keep in 0usize..100,
            ) {
                let budget = PartialBudget::new(1000);
                let mut s = Splitter::new(max_keep, budget.clone());
                let mut out = Vec::new();
                for chunk in chunks {
                    let _ = s.push(Bytes::from(chunk), &mut out);
                }
                let _ = s.finish();
                drop(s);
                prop_assert!(out.iter().all(|m| m.payload.len() <= max_keep));
                prop_assert_eq!(budget.used(), 0);
            }
        }
    }
}
