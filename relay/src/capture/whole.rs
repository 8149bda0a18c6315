//! A body that is one message, with no envelope: Connect's unary requests
//! and responses (and a unary error's JSON). It is kept as it passes, by
//! reference to the forwarded frames, within the capture's limit on one
//! message and the budget of what incomplete messages may hold, and
//! given whole when the body ends.

use bytes::Bytes;

use crate::capture::framing::{GrpcMessage, PartialBudget, join};

/// One unframed body, as it arrives.
#[derive(Debug)]
pub struct WholeBody {
    parts: Vec<Bytes>,
    kept: usize,
    total: u64,
    reserved: u64,
    over_budget: bool,
    max_keep: usize,
    budget: PartialBudget,
}

impl WholeBody {
    pub fn new(max_keep: usize, budget: PartialBudget) -> Self {
        WholeBody {
            parts: Vec::new(),
            kept: 0,
            total: 0,
            reserved: 0,
            over_budget: false,
            max_keep,
            budget,
        }
    }

    /// A frame of the body, as forwarded.
    pub fn push(&mut self, data: &Bytes) {
        self.total += data.len() as u64;
        let room = self.max_keep.saturating_sub(self.kept);
        if room == 0 || self.over_budget || data.is_empty() {
            return;
        }
        let keep = data.slice(..room.min(data.len()));
        if self.budget.try_reserve(keep.len() as u64) {
            self.reserved += keep.len() as u64;
            self.kept += keep.len();
            self.parts.push(keep);
        } else {
            self.over_budget = true;
        }
    }

    /// Bytes seen so far.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// No byte seen yet.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The body ended: it, whole (or as much as was kept), as one message.
    pub fn finish(&mut self, compressed: bool) -> GrpcMessage {
        self.budget.release(std::mem::take(&mut self.reserved));
        let payload = join(std::mem::take(&mut self.parts));
        let declared_length = u32::try_from(self.total).unwrap_or(u32::MAX);
        GrpcMessage {
            compressed,
            flags: u8::from(compressed),
            truncated: (payload.len() as u64) < self.total,
            declared_length,
            over_budget: self.over_budget,
            payload,
        }
    }
}

impl Drop for WholeBody {
    fn drop(&mut self) {
        self.budget.release(std::mem::take(&mut self.reserved));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_whole_within_the_limit_and_the_budget() {
        let budget = PartialBudget::new(1 << 20);
        let mut body = WholeBody::new(8, budget.clone());
        body.push(&Bytes::from_static(b"hello, "));
        body.push(&Bytes::from_static(b"world"));
        assert_eq!(budget.used(), 8);
        let m = body.finish(false);
        assert_eq!(
            (&m.payload[..], m.declared_length, m.truncated),
            (&b"hello, w"[..], 12, true)
        );
        assert_eq!(budget.used(), 0);

        let tight = PartialBudget::new(4);
        let mut body = WholeBody::new(100, tight.clone());
        body.push(&Bytes::from_static(b"123"));
        body.push(&Bytes::from_static(b"456"));
        drop(body);
        assert_eq!(tight.used(), 0, "released when dropped");
        let mut empty = WholeBody::new(8, budget);
        let m = empty.finish(false);
        assert!(m.payload.is_empty() && !m.truncated && m.declared_length == 0);
    }
}
