//! Live previews made whole: a live feed may send a large message's first
//! bytes only (`pb::Message::preview`); when the whole message is fetched
//! from the relay, [`Session::complete_message`] puts it in place and
//! forgets the decoded preview. Not the fetching itself (that is the web
//! app's, over HTTP).

use bytes::Bytes;

use super::Session;

/// Why a message could not be completed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompleteError {
    /// No such call or message in the session.
    #[error("no message {index} in call {call}")]
    NoMessage {
        /// The call asked for.
        call: u64,
        /// The message's position in it.
        index: usize,
    },
    /// The message is already whole.
    #[error("message {index} of call {call} is not a preview")]
    NotPreview {
        /// The call asked for.
        call: u64,
        /// The message's position in it.
        index: usize,
    },
    /// The bytes given do not extend the preview to its declared length.
    #[error(
        "the bytes for message {index} of call {call} do not match its preview \
         ({got} bytes, {declared} declared)"
    )]
    Mismatch {
        /// The call asked for.
        call: u64,
        /// The message's position in it.
        index: usize,
        /// Bytes given.
        got: usize,
        /// Bytes the message's prefix declared.
        declared: u32,
    },
}

impl Session {
    /// Whether message `index` of call `id` is a preview still waiting for
    /// its whole bytes.
    pub fn is_preview(&self, id: u64, index: usize) -> bool {
        self.payload(id, index).is_some_and(|m| m.preview)
    }

    /// Replaces the preview of message `index` of call `id` with the whole
    /// message, `payload`: it must start with the preview's bytes and, unless
    /// the relay truncated the message itself, be as long as its prefix
    /// declared.
    pub fn complete_message(
        &mut self,
        id: u64,
        index: usize,
        payload: Bytes,
    ) -> Result<(), CompleteError> {
        let no_message = CompleteError::NoMessage { call: id, index };
        let &i = self.index.get(&id).ok_or(no_message.clone())?;
        let call = &mut self.calls[i];
        let message = call.messages.get_mut(index).ok_or(no_message)?;
        if !message.preview {
            return Err(CompleteError::NotPreview { call: id, index });
        }
        let whole_length = if message.truncated {
            payload.len() >= message.payload.len()
        } else {
            payload.len() == message.declared_length as usize
        };
        if !whole_length || !payload.starts_with(&message.payload) {
            return Err(CompleteError::Mismatch {
                call: id,
                index,
                got: payload.len(),
                declared: message.declared_length,
            });
        }
        message.payload = payload;
        message.preview = false;
        if let Some(slot) = call.cache.as_mut().and_then(|c| c.views.get_mut(index)) {
            *slot = None;
        }
        // Searches look at the whole message from now on.
        call.search = None;
        Ok(())
    }
}
