//! Removing secret header values from events before they are shared.
//!
//! Redaction keeps the header's name and position and marks it
//! `redacted = true` with an empty value, so a reader can tell "this call
//! carried a credential" from "this call had none".
//!
//! [`encode_record`] is the one "redact, then encode" there is: the record
//! file, downloads from the relay and the browser's save all use it. It
//! copies only events that hold a secret.

use crate::capture;
use crate::pb::{self, event::Kind};

/// Appends `event` to `out` as a capture record, with secret headers
/// redacted when `redactor` is given.
pub fn encode_record(event: &pb::Event, redactor: Option<&Redactor>, out: &mut Vec<u8>) {
    match redactor {
        Some(r) if r.touches(event) => {
            let mut event = event.clone();
            r.redact_event(&mut event);
            capture::encode_record(&event, out);
        }
        _ => capture::encode_record(event, out),
    }
}

/// Header names redacted by default (compared case-insensitively).
pub const DEFAULT_SECRET_HEADERS: &[&str] = &[
    "authorization",
    "cookie",
    "set-cookie",
    "proxy-authorization",
];

/// Decides which headers are secret and blanks them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redactor {
    /// Lower-case names, defaults first, without duplicates.
    names: Vec<String>,
}

impl Redactor {
    /// A redactor for [`DEFAULT_SECRET_HEADERS`] plus `extra` names (compared
    /// case-insensitively; surrounding whitespace and empty names are ignored).
    pub fn new(extra: impl IntoIterator<Item = impl AsRef<str>>) -> Self {
        let mut names: Vec<String> = Vec::new();
        let all = DEFAULT_SECRET_HEADERS
            .iter()
            .map(|name| name.to_string())
            .chain(
                extra
                    .into_iter()
                    .map(|name| name.as_ref().trim().to_ascii_lowercase()),
            );
        for name in all {
            if !name.is_empty() && !names.contains(&name) {
                names.push(name);
            }
        }
        Self { names }
    }

    /// The secret names, lower-case, defaults first.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    /// Whether a header called `name` is secret.
    pub fn is_secret(&self, name: &str) -> bool {
        self.names
            .iter()
            .any(|secret| secret.eq_ignore_ascii_case(name))
    }

    /// Empties the value of every secret header and marks it redacted.
    pub fn redact_headers(&self, headers: &mut [pb::Header]) {
        for header in headers.iter_mut().filter(|h| self.is_secret(&h.name)) {
            header.value.clear();
            header.redacted = true;
        }
    }

    /// Whether [`Redactor::redact_event`] would change `event`.
    pub fn touches(&self, event: &pb::Event) -> bool {
        let secret = |headers: &[pb::Header]| {
            headers
                .iter()
                .any(|h| self.is_secret(&h.name) && !(h.redacted && h.value.is_empty()))
        };
        match &event.kind {
            Some(Kind::CallStarted(started)) => secret(&started.headers),
            Some(Kind::ResponseHeaders(response)) => secret(&response.headers),
            Some(Kind::CallEnded(ended)) => secret(&ended.trailers),
            Some(Kind::Message(_) | Kind::Descriptors(_) | Kind::Gap(_)) | None => false,
        }
    }

    /// Redacts the headers an event carries: request headers of
    /// `call_started`, response headers, and the trailers of `call_ended`.
    /// Other kinds are left alone.
    pub fn redact_event(&self, event: &mut pb::Event) {
        match &mut event.kind {
            Some(Kind::CallStarted(started)) => self.redact_headers(&mut started.headers),
            Some(Kind::ResponseHeaders(response)) => self.redact_headers(&mut response.headers),
            Some(Kind::CallEnded(ended)) => self.redact_headers(&mut ended.trailers),
            Some(Kind::Message(_) | Kind::Descriptors(_) | Kind::Gap(_)) | None => {}
        }
    }
}

impl Default for Redactor {
    /// Redacts [`DEFAULT_SECRET_HEADERS`] only.
    fn default() -> Self {
        Self::new(std::iter::empty::<&str>())
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::header::header;

    fn headers() -> Vec<pb::Header> {
        vec![
            header("authorization", "Bearer s3cret"),
            header("Cookie", "id=1"),
            header("x-api-key", "k"),
            header("x-trace", "t"),
            header("X-Session-Bin", Bytes::from_static(&[1, 2])),
        ]
    }

    #[test]
    fn defaults() {
        let r = Redactor::default();
        for name in DEFAULT_SECRET_HEADERS {
            assert!(r.is_secret(name));
            assert!(r.is_secret(&name.to_uppercase()));
        }
        assert!(!r.is_secret("x-api-key"));
        assert!(!r.is_secret("authorization-extra"));
        assert_eq!(r.names().count(), DEFAULT_SECRET_HEADERS.len());
    }

    #[test]
    fn extra_names() {
        let r = Redactor::new(["X-API-Key", " x-session-bin ", "", "AUTHORIZATION"]);
        assert!(r.is_secret("x-api-key"));
        assert!(r.is_secret("X-Session-Bin"));
        assert!(!r.is_secret(""));
        assert_eq!(
            r.names().collect::<Vec<_>>(),
            [
                "authorization",
                "cookie",
                "set-cookie",
                "proxy-authorization",
                "x-api-key",
                "x-session-bin"
            ]
        );
        let owned = Redactor::new(vec![String::from("x-api-key")]);
        assert!(owned.is_secret("X-Api-Key"));
    }

    #[test]
    fn redacts_headers_in_place() {
        let r = Redactor::new(["x-api-key"]);
        let mut hs = headers();
        r.redact_headers(&mut hs);
        let summary: Vec<_> = hs
            .iter()
            .map(|h| (h.name.as_str(), h.value.len(), h.redacted))
            .collect();
        assert_eq!(
            summary,
            [
                ("authorization", 0, true),
                ("Cookie", 0, true),
                ("x-api-key", 0, true),
                ("x-trace", 1, false),
                ("X-Session-Bin", 2, false),
            ]
        );
        // Idempotent.
        let before = hs.clone();
        r.redact_headers(&mut hs);
        assert_eq!(hs, before);
    }

    #[test]
    fn redacts_events() {
        let r = Redactor::default();
        let mut events = crate::capture::samples::every_kind();
        // Put a secret everywhere headers can be.
        for event in &mut events {
            match &mut event.kind {
                Some(Kind::CallStarted(s)) => s.headers.push(header("cookie", "a")),
                Some(Kind::ResponseHeaders(h)) => h.headers.push(header("set-cookie", "b")),
                Some(Kind::CallEnded(e)) => e.trailers.push(header("authorization", "c")),
                _ => {}
            }
        }
        let untouched = events.clone();
        for event in &mut events {
            r.redact_event(event);
        }
        for (event, before) in events.iter().zip(&untouched) {
            let headers = match &event.kind {
                Some(Kind::CallStarted(s)) => &s.headers,
                Some(Kind::ResponseHeaders(h)) => &h.headers,
                Some(Kind::CallEnded(e)) => &e.trailers,
                _ => {
                    assert_eq!(event, before);
                    continue;
                }
            };
            for h in headers {
                assert_eq!(h.redacted, r.is_secret(&h.name), "{}", h.name);
                if h.redacted {
                    assert!(h.value.is_empty());
                } else {
                    assert!(!h.value.is_empty());
                }
            }
            assert!(headers.iter().any(|h| h.redacted));
        }
    }

    #[test]
    fn the_redacting_encoder_copies_only_events_with_secrets() {
        let r = Redactor::default();
        let secret = pb::Event::new(
            1,
            pb::CallStarted {
                headers: vec![header("authorization", "Bearer x"), header("x-a", "1")],
                ..Default::default()
            },
        );
        let plain = pb::Event::new(
            1,
            pb::CallStarted {
                headers: vec![header("x-a", "1")],
                ..Default::default()
            },
        );
        assert!(r.touches(&secret));
        assert!(!r.touches(&plain));
        let mut redacted = secret.clone();
        r.redact_event(&mut redacted);
        assert!(!r.touches(&redacted), "redacting twice changes nothing");

        let record = |event: &pb::Event, redactor: Option<&Redactor>| {
            let mut out = Vec::new();
            encode_record(event, redactor, &mut out);
            out
        };
        let decoded = crate::capture::decode_batch(&record(&secret, Some(&r))).unwrap();
        assert_eq!(decoded, [redacted]);
        assert_eq!(
            crate::capture::decode_batch(&record(&secret, None)).unwrap(),
            std::slice::from_ref(&secret)
        );
        assert_eq!(record(&plain, Some(&r)), record(&plain, None));
    }
}
