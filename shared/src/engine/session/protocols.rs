//! How many of a session's calls spoke each protocol of the gRPC family,
//! kept as calls start and are removed, so that a view offering a filter by
//! protocol (or labelling calls when there are several) never walks the
//! calls.

use crate::engine::protocol::Protocol;

/// Calls per protocol, indexed as [`Protocol::ALL`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Protocols {
    calls: [usize; Protocol::ALL.len()],
}

impl Protocols {
    fn slot(&mut self, protocol: Protocol) -> Option<&mut usize> {
        let i = Protocol::ALL.iter().position(|p| *p == protocol)?;
        self.calls.get_mut(i)
    }

    /// A call whose start arrived.
    pub(crate) fn add(&mut self, protocol: Protocol) {
        if let Some(n) = self.slot(protocol) {
            *n += 1;
        }
    }

    /// A started call was removed.
    pub(crate) fn remove(&mut self, protocol: Protocol) {
        if let Some(n) = self.slot(protocol) {
            *n = n.saturating_sub(1);
        }
    }

    /// Every protocol with calls now, in [`Protocol::ALL`]'s order.
    pub(crate) fn calls(&self) -> Vec<(Protocol, usize)> {
        Protocol::ALL
            .into_iter()
            .zip(self.calls)
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}
