//! A session back to capture records: the whole session, or one call, as a
//! valid capture file (redacted when asked), and a call's raw payloads. So
//! the session is the only store a reader needs.

use super::Session;
use crate::capture;
use crate::pb;
use crate::redact::{self, Redactor};

impl Session {
    /// The payload of message `index` of a call, exactly as captured.
    pub fn payload(&self, id: u64, index: usize) -> Option<&pb::Message> {
        self.calls[*self.index.get(&id)?].messages.get(index)
    }

    /// Every event of the session as a capture file: schemas (and schema
    /// failures) first, then gaps, then each call's events in order.
    pub fn export(&self, redactor: Option<&Redactor>) -> Vec<u8> {
        self.export_calls(redactor, |_| true)
    }

    /// One call (with every schema) as a capture file.
    pub fn export_call(&self, id: u64, redactor: Option<&Redactor>) -> Vec<u8> {
        self.export_calls(redactor, |call| call == id)
    }

    fn export_calls(&self, redactor: Option<&Redactor>, wanted: impl Fn(u64) -> bool) -> Vec<u8> {
        let mut out = capture::file_header().to_vec();
        let mut put = |event: pb::Event| redact::encode_record(&event, redactor, &mut out);
        for set in &self.descriptors {
            put(pb::Event::descriptors(set.clone()));
        }
        let everything = wanted(u64::MAX) && wanted(0);
        if everything {
            for gap in &self.gaps {
                put(pb::Event::new(0, gap.clone()));
            }
        }
        for call in self.calls.iter().filter(|c| wanted(c.summary.id)) {
            let id = call.summary.id;
            if let Some(started) = call.started_event() {
                put(pb::Event::new(id, started));
            }
            // Response headers before the first response message.
            let mut headers = call.response_headers.clone();
            for message in &call.messages {
                if message.direction() == pb::Direction::Response
                    && let Some(h) = headers.take()
                {
                    put(pb::Event::new(id, h));
                }
                // A preview never completed goes to the file as truncated.
                put(pb::Event::new(id, message.for_file().into_owned()));
            }
            if let Some(h) = headers {
                put(pb::Event::new(id, h));
            }
            if let Some(ended) = call.ended_event() {
                put(pb::Event::new(id, ended));
            }
        }
        out
    }
}
