//! Why the inspector cannot reach its relay, and what the user should do:
//! a pure function ([`diagnose`]) from what the page observed ([`Facts`]) to
//! a typed [`Reason`] and the one sentence (with its fix) the page shows.
//!
//! A browser WebSocket that fails says only "failed". The facts that tell
//! the cases apart are gathered by `probe` (wasm): the browser's
//! local-network-access permission (Permissions API, where it exists), the
//! page's own origin (secure context? which address space?), and a `fetch`
//! of the relay's `/api/access`, which answers with the relay's verdict
//! (CORS headers included) when the relay is running and reachable.
//!
//! What this is not: the view (the banner's layout is the stylesheet's),
//! or the browser calls.

use loom_shared::access::{AccessAnswer, Refusal};

use crate::relay_url::{AddressSpace, RelayUrl};

/// The browser's local-network-access permission for this page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Granted,
    /// Not decided: the browser asks when the page reaches the network.
    Prompt,
    Denied,
    /// The browser has no such permission (Firefox, Safari, older Chrome),
    /// or the query failed.
    Unavailable,
}

impl Permission {
    /// A `PermissionStatus.state`.
    pub fn from_state(state: &str) -> Permission {
        match state {
            "granted" => Permission::Granted,
            "prompt" => Permission::Prompt,
            "denied" => Permission::Denied,
            _ => Permission::Unavailable,
        }
    }
}

/// What a `fetch` of the relay's `/api/access` gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// The relay's verdict on this page.
    Answered(AccessAnswer),
    /// Something answered that is not a Loom relay's `/api/access` (another
    /// server, or a relay too old to have it).
    Stranger,
    /// Nothing could be read: no server, or the browser blocked the request
    /// (local network access, CORS), or it took too long.
    Unreachable,
}

/// What the page knows when its WebSocket failed.
#[derive(Debug, Clone)]
pub struct Facts {
    pub relay: RelayUrl,
    /// `scheme://host[:port]` of the page.
    pub page_origin: String,
    /// The page's URL without query or fragment (what `--hosted-ui` wants).
    pub page_url: String,
    pub page_space: AddressSpace,
    /// `window.isSecureContext`: HTTPS, or loopback.
    pub secure_context: bool,
    /// The relay itself serves this page (it carries the relay's marker).
    pub served_by_relay: bool,
    pub permission: Permission,
    pub probe: Probe,
}

/// Why the page cannot use the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Nothing answers at the relay's address.
    NotRunning,
    /// The relay refuses this page's origin.
    OriginRefused,
    /// A hosted page without the pairing token.
    TokenMissing,
    /// A hosted page with another run's token.
    TokenWrong,
    /// The browser denied this page local network access.
    LocalNetworkBlocked,
    /// The browser has not been allowed yet (it asks, or will).
    LocalNetworkPrompt,
    /// A plain-HTTP public page, which the browser never lets ask.
    PlainHttpPage,
    /// Something else answers at that address.
    NotARelay,
    /// The relay refused for another reason (its own words are shown).
    Refused(Refusal),
    /// The relay allows this page, yet the WebSocket failed.
    SocketFailed,
}

impl Reason {
    /// A few words for the connection indicator.
    pub fn label(self) -> &'static str {
        match self {
            Reason::NotRunning => "relay not running",
            Reason::OriginRefused => "origin refused",
            Reason::TokenMissing => "pairing token missing",
            Reason::TokenWrong => "wrong pairing token",
            Reason::LocalNetworkBlocked => "local network access blocked",
            Reason::LocalNetworkPrompt => "local network access not allowed yet",
            Reason::PlainHttpPage => "plain-HTTP page",
            Reason::NotARelay => "not a Loom relay",
            Reason::Refused(_) => "refused",
            Reason::SocketFailed => "WebSocket failed",
        }
    }
}

/// The reason, and what the page says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    pub reason: Reason,
    /// One sentence: what is wrong, then the fix.
    pub message: String,
}

/// Why the WebSocket to `facts.relay` failed.
pub fn diagnose(facts: &Facts) -> Diagnosis {
    let reason = reason(facts);
    Diagnosis {
        reason,
        message: message(reason, facts),
    }
}

fn reason(facts: &Facts) -> Reason {
    match &facts.probe {
        Probe::Answered(AccessAnswer::Granted) => Reason::SocketFailed,
        Probe::Answered(AccessAnswer::Refused { reason, .. }) => match reason {
            Refusal::Origin => Reason::OriginRefused,
            Refusal::TokenMissing => Reason::TokenMissing,
            Refusal::TokenWrong => Reason::TokenWrong,
            other => Reason::Refused(*other),
        },
        Probe::Stranger => Reason::NotARelay,
        Probe::Unreachable => {
            let relay_space = AddressSpace::of(facts.relay.hostname());
            let gated = facts.page_space.needs_permission_for(relay_space);
            let enforced = facts.permission != Permission::Unavailable;
            if enforced && gated && !facts.secure_context {
                Reason::PlainHttpPage
            } else if facts.permission == Permission::Denied {
                // Whatever the page's host looks like: the browser may
                // class it otherwise (and does, behind a proxy or in tests).
                Reason::LocalNetworkBlocked
            } else if facts.permission == Permission::Prompt && gated {
                Reason::LocalNetworkPrompt
            } else {
                Reason::NotRunning
            }
        }
    }
}

fn message(reason: Reason, facts: &Facts) -> String {
    let ws = facts.relay.ws();
    let origin = &facts.page_origin;
    let page = &facts.page_url;
    match reason {
        Reason::NotRunning if facts.served_by_relay => {
            format!("The relay at {ws} is not running: start loom again; this page reconnects by itself.")
        }
        Reason::NotRunning => format!(
            "The relay at {ws} is not running: start `loom --hosted-ui {page}` and open the link it prints."
        ),
        Reason::OriginRefused => format!(
            "The relay at {ws} refuses this page's origin {origin}: start loom with --hosted-ui {page} (or --allow-origin {origin})."
        ),
        Reason::TokenMissing => "The relay wants its pairing token, which this page lacks: open the link loom printed (it ends in #token=…).".to_owned(),
        Reason::TokenWrong => "This page's pairing token is not the running relay's (it changes each run): open the link loom printed when it started.".to_owned(),
        Reason::LocalNetworkBlocked => format!(
            "The browser blocks this page from your local network: allow \"Local network access\" in the site settings for {origin}, then reload."
        ),
        Reason::LocalNetworkPrompt => format!(
            "This page needs the browser's permission to reach {ws}: accept the local network access prompt (or allow it in the site settings for {origin}), and check that loom is running."
        ),
        Reason::PlainHttpPage => "A plain-HTTP page cannot ask the browser for local network access: open the HTTPS copy of the inspector.".to_owned(),
        Reason::NotARelay => format!(
            "Something answers at {ws}, but it is not a Loom relay: check the address (loom's --ui port, 9998 by default)."
        ),
        Reason::Refused(_) => match &facts.probe {
            Probe::Answered(AccessAnswer::Refused { message, .. }) => {
                format!("The relay at {ws} refuses this page: {message}.")
            }
            _ => format!("The relay at {ws} refuses this page."),
        },
        Reason::SocketFailed => format!(
            "The relay at {ws} allows this page, but its WebSocket failed: retrying."
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hosted page on a public HTTPS origin, relay on loopback, relay down.
    fn hosted() -> Facts {
        Facts {
            relay: RelayUrl::parse("ws://127.0.0.1:9998/ws").expect("relay"),
            page_origin: "https://loom.example".into(),
            page_url: "https://loom.example/inspector/".into(),
            page_space: AddressSpace::Public,
            secure_context: true,
            served_by_relay: false,
            permission: Permission::Granted,
            probe: Probe::Unreachable,
        }
    }

    fn refused(reason: Refusal) -> Probe {
        Probe::Answered(AccessAnswer::Refused {
            reason,
            message: "the relay's words".into(),
        })
    }

    fn reason_with(change: impl FnOnce(&mut Facts)) -> Diagnosis {
        let mut facts = hosted();
        change(&mut facts);
        diagnose(&facts)
    }

    #[test]
    fn the_relays_answer_decides_when_there_is_one() {
        let d = reason_with(|f| f.probe = refused(Refusal::Origin));
        assert_eq!(d.reason, Reason::OriginRefused);
        assert!(
            d.message.contains("--allow-origin https://loom.example"),
            "{}",
            d.message
        );
        assert!(
            d.message
                .contains("--hosted-ui https://loom.example/inspector/")
        );
        let d = reason_with(|f| f.probe = refused(Refusal::TokenMissing));
        assert_eq!(d.reason, Reason::TokenMissing);
        assert!(d.message.contains("open the link"), "{}", d.message);
        let d = reason_with(|f| f.probe = refused(Refusal::TokenWrong));
        assert_eq!(d.reason, Reason::TokenWrong);
        let d = reason_with(|f| f.probe = refused(Refusal::Host));
        assert_eq!(d.reason, Reason::Refused(Refusal::Host));
        assert!(d.message.contains("the relay's words"));
        let d = reason_with(|f| f.probe = Probe::Answered(AccessAnswer::Granted));
        assert_eq!(d.reason, Reason::SocketFailed);
        let d = reason_with(|f| f.probe = Probe::Stranger);
        assert_eq!(d.reason, Reason::NotARelay);
        // Even with the permission denied: the relay answered, so it was not.
        let d = reason_with(|f| {
            f.permission = Permission::Denied;
            f.probe = refused(Refusal::Origin);
        });
        assert_eq!(d.reason, Reason::OriginRefused);
    }

    #[test]
    fn unreachable_relays_are_told_apart_by_the_permission_and_the_page() {
        assert_eq!(reason_with(|_| {}).reason, Reason::NotRunning);
        let d = reason_with(|f| f.permission = Permission::Denied);
        assert_eq!(d.reason, Reason::LocalNetworkBlocked);
        assert!(
            d.message.contains("site settings for https://loom.example"),
            "{}",
            d.message
        );
        assert!(!d.message.contains("--allow-origin"));
        let d = reason_with(|f| f.permission = Permission::Prompt);
        assert_eq!(d.reason, Reason::LocalNetworkPrompt);
        // A plain-HTTP public page can never ask.
        for permission in [Permission::Prompt, Permission::Denied, Permission::Granted] {
            let d = reason_with(|f| {
                f.secure_context = false;
                f.page_origin = "http://loom.example".into();
                f.permission = permission;
            });
            assert_eq!(d.reason, Reason::PlainHttpPage, "{permission:?}");
            assert!(d.message.contains("HTTPS copy"));
        }
        // A browser without Local Network Access: nothing blocks, so nothing runs.
        let d = reason_with(|f| {
            f.secure_context = false;
            f.permission = Permission::Unavailable;
        });
        assert_eq!(d.reason, Reason::NotRunning);
        // A page whose host looks loopback, yet the browser denied it
        // (classed public by the browser): the permission wins.
        let d = reason_with(|f| {
            f.page_space = AddressSpace::Loopback;
            f.permission = Permission::Denied;
        });
        assert_eq!(d.reason, Reason::LocalNetworkBlocked);
        // A loopback page is never asked: "prompt" there means nothing.
        let d = reason_with(|f| {
            f.page_space = AddressSpace::Loopback;
            f.permission = Permission::Prompt;
        });
        assert_eq!(d.reason, Reason::NotRunning);
    }

    #[test]
    fn the_fix_for_a_stopped_relay_depends_on_who_serves_the_page() {
        let d = reason_with(|_| {});
        assert!(d.message.contains("not running"), "{}", d.message);
        assert!(
            d.message
                .contains("loom --hosted-ui https://loom.example/inspector/")
        );
        let d = reason_with(|f| {
            f.served_by_relay = true;
            f.page_space = AddressSpace::Loopback;
        });
        assert!(d.message.contains("not running"), "{}", d.message);
        assert!(!d.message.contains("--hosted-ui"));
    }

    #[test]
    fn every_message_is_one_sentence_with_its_fix() {
        let probes = [
            Probe::Unreachable,
            Probe::Stranger,
            Probe::Answered(AccessAnswer::Granted),
            refused(Refusal::Origin),
            refused(Refusal::TokenMissing),
            refused(Refusal::Site),
        ];
        for probe in probes {
            for permission in [
                Permission::Prompt,
                Permission::Denied,
                Permission::Unavailable,
            ] {
                let d = reason_with(|f| {
                    f.probe = probe.clone();
                    f.permission = permission;
                });
                assert!(d.message.contains(':'), "{}", d.message);
                assert!(d.message.ends_with('.'), "{}", d.message);
                assert!(d.message.len() < 220, "short: {}", d.message);
                assert!(!d.reason.label().is_empty());
            }
        }
    }

    #[test]
    fn permission_states() {
        assert_eq!(Permission::from_state("granted"), Permission::Granted);
        assert_eq!(Permission::from_state("prompt"), Permission::Prompt);
        assert_eq!(Permission::from_state("denied"), Permission::Denied);
        assert_eq!(Permission::from_state("?"), Permission::Unavailable);
    }
}
