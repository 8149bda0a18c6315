//! Who may use the relay's UI port, as the relay and the inspector both see
//! it: why a request is refused ([`Refusal`]), how `/api/access` answers
//! ([`AccessAnswer`], JSON), and the names a hosted copy of the inspector
//! uses (the pairing-token query parameter, the marker the relay puts in
//! the page it serves itself).
//!
//! The relay decides (`loom_relay::access`); the inspector only reads the
//! answer, to tell the user why it cannot connect (a browser WebSocket
//! cannot read the body of a refused handshake, a `fetch` of
//! [`ACCESS_PATH`] can).
//!
//! What this is not: the policy itself, or any IO.

use serde_json::{Value, json};

/// The endpoint that says whether the asking page may use the relay, and
/// why not. It answers every origin, with CORS headers naming it, and
/// carries nothing but the verdict.
pub const ACCESS_PATH: &str = "/api/access";

/// The query parameter that carries the pairing token (`/ws?token=…`,
/// `/api/…?token=…`), and the key of the page fragment the relay's link
/// puts it in (`#token=…`).
pub const TOKEN_PARAM: &str = "token";

/// The `<meta name=…>` the relay adds to the inspector page it serves
/// itself. Its absence tells the inspector it is a hosted (static) copy,
/// with no relay at its own origin.
pub const RELAY_MARKER: &str = "loom-relay";

/// Why the UI port refuses a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `Host`, `Origin` or `Sec-Fetch-Site` is not ASCII text.
    NotAscii,
    /// `Host` does not name the relay (DNS rebinding).
    Host,
    /// The page's origin is neither the relay's own nor allowed.
    Origin,
    /// A request from another site (`Sec-Fetch-Site`) that is not allowed.
    Site,
    /// An API request with no sign of a same-origin page or a deliberate client.
    Unmarked,
    /// A hosted origin (`--hosted-ui`) that did not present the pairing token.
    TokenMissing,
    /// A hosted origin that presented a token that is not this run's.
    TokenWrong,
}

impl Refusal {
    /// Every refusal, for tests and tables.
    pub const ALL: [Refusal; 7] = [
        Refusal::NotAscii,
        Refusal::Host,
        Refusal::Origin,
        Refusal::Site,
        Refusal::Unmarked,
        Refusal::TokenMissing,
        Refusal::TokenWrong,
    ];

    /// Its name in `/api/access` answers.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::NotAscii => "not_ascii",
            Refusal::Host => "host",
            Refusal::Origin => "origin",
            Refusal::Site => "site",
            Refusal::Unmarked => "unmarked",
            Refusal::TokenMissing => "token_missing",
            Refusal::TokenWrong => "token_wrong",
        }
    }

    /// The refusal named `code`, if any.
    pub fn from_code(code: &str) -> Option<Refusal> {
        Refusal::ALL.into_iter().find(|r| r.code() == code)
    }
}

/// What `/api/access` says to the page that asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessAnswer {
    /// This page may use the WebSocket and the API.
    Granted,
    /// It may not: why, and the relay's own sentence about it.
    Refused {
        /// Why.
        reason: Refusal,
        /// What the relay says (it names the flag that would allow it).
        message: String,
    },
}

impl AccessAnswer {
    /// `{"access":"granted"}` or
    /// `{"access":"refused","reason":"origin","message":"…"}`.
    pub fn to_json(&self) -> String {
        let value = match self {
            AccessAnswer::Granted => json!({ "access": "granted" }),
            AccessAnswer::Refused { reason, message } => json!({
                "access": "refused",
                "reason": reason.code(),
                "message": message,
            }),
        };
        value.to_string()
    }

    /// The answer in `bytes`, or `None` when they are not one (another
    /// server, or an older relay, answered).
    pub fn from_json(bytes: &[u8]) -> Option<AccessAnswer> {
        let value: Value = serde_json::from_slice(bytes).ok()?;
        match value.get("access")?.as_str()? {
            "granted" => Some(AccessAnswer::Granted),
            "refused" => Some(AccessAnswer::Refused {
                reason: Refusal::from_code(value.get("reason")?.as_str()?)?,
                message: value
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for r in Refusal::ALL {
            assert_eq!(Refusal::from_code(r.code()), Some(r));
        }
        assert_eq!(Refusal::from_code("nope"), None);
    }

    #[test]
    fn answers_round_trip_and_strangers_are_not_answers() {
        let refused = AccessAnswer::Refused {
            reason: Refusal::TokenWrong,
            message: "not this run's token".into(),
        };
        for answer in [AccessAnswer::Granted, refused] {
            assert_eq!(
                AccessAnswer::from_json(answer.to_json().as_bytes()),
                Some(answer)
            );
        }
        for stranger in [
            &b"not found\n"[..],
            b"{}",
            b"{\"access\":\"maybe\"}",
            b"{\"access\":\"refused\",\"reason\":\"unknown\"}",
            b"<html>",
        ] {
            assert_eq!(AccessAnswer::from_json(stranger), None);
        }
    }
}
