//! How an HTTP/2 error or reset reads as one side's end of a call: who did
//! it (the client, the upstream, the relay's own `h2`), and what kind of end
//! it was (a reset, a deadline, a GOAWAY, a lost connection). The call
//! ([`crate::forward::call`]) notes what these say, in the order it sees it.

use h2::Reason;
use loom_shared::pb::{EndKind, EndSide};

use crate::capture::call::Ending;

/// The client's reset, as seen by `poll_reset` (an error: its connection).
pub fn client_reset(reset: Result<Reason, h2::Error>, deadline_passed: bool) -> Ending {
    match reset {
        Ok(reason) => reset_ending(EndSide::Client, reason, deadline_passed),
        Err(e) => client_error(&e, deadline_passed),
    }
}

/// What a client-side stream error says about how the client ended.
pub fn client_error(e: &h2::Error, deadline_passed: bool) -> Ending {
    match e.reason() {
        Some(reason) if e.is_reset() && e.is_remote() => {
            reset_ending(EndSide::Client, reason, deadline_passed)
        }
        Some(reason) if e.is_go_away() && e.is_remote() => Ending::new(
            EndSide::Client,
            EndKind::Goaway,
            u32::from(reason),
            format!("the client's connection went away (GOAWAY {reason:?})"),
        ),
        Some(reason) if e.is_reset() => Ending::new(
            EndSide::Relay,
            EndKind::Reset,
            u32::from(reason),
            format!("the relay reset the client's stream ({reason:?})"),
        ),
        _ => Ending::new(
            EndSide::Client,
            EndKind::Disconnect,
            0,
            format!("the client's connection failed: {e}"),
        ),
    }
}

pub fn reset_ending(side: EndSide, reason: Reason, deadline_passed: bool) -> Ending {
    let who = match side {
        EndSide::Client => "the client",
        _ => "the upstream",
    };
    if deadline_passed && side == EndSide::Client {
        return Ending::new(
            side,
            EndKind::Deadline,
            u32::from(reason),
            format!("the client reset the stream ({reason:?}) once its deadline had passed"),
        );
    }
    Ending::new(
        side,
        EndKind::Reset,
        u32::from(reason),
        format!("{who} reset the stream ({reason:?})"),
    )
}

/// What an upstream-side error says about how the upstream ended.
pub fn upstream_ending(e: &h2::Error) -> Ending {
    match e.reason() {
        Some(reason) if e.is_reset() && e.is_remote() => {
            reset_ending(EndSide::Upstream, reason, false)
        }
        Some(reason) if e.is_go_away() => Ending::new(
            EndSide::Upstream,
            EndKind::Goaway,
            u32::from(reason),
            format!("its connection went away (GOAWAY {reason:?})"),
        ),
        _ => Ending::new(
            EndSide::Upstream,
            EndKind::Disconnect,
            0,
            crate::forward::upstream::describe(e),
        ),
    }
}
