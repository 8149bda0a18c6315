//! A call's replay command in its detail: grpcurl for gRPC, curl for
//! Connect unary, `buf curl` for gRPC-Web and Connect streaming (the
//! engine's `Session::replay_to` picks), straight to the call's upstream or
//! through the relay the client dialed, saying which; and the button that
//! copies it.

use leptos::prelude::*;
use loom_shared::engine::{ReplayCommand, ReplayError, ReplayTo};

use crate::state::{AppState, Source};

/// Where a replayed call goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Straight to the call's upstream.
    Upstream,
    /// Through the relay, which routes it as it routed the call: at the
    /// address the live relay gave, else at the one the call's client
    /// dialed (its `:authority`).
    Relay,
}

/// Call `id`'s replay command, sent `via` there.
pub fn command(state: AppState, id: u64, via: Via) -> Result<ReplayCommand, ReplayError> {
    let live = matches!(state.source.get_untracked(), Source::Live(_));
    let relay = live.then(|| state.relay_addr.get_untracked()).flatten();
    state.session.with_value(|s| {
        let to = match via {
            Via::Upstream => ReplayTo::Upstream,
            Via::Relay => ReplayTo::Relay(relay.unwrap_or_else(|| {
                s.call(id)
                    .map(|c| c.authority.to_string())
                    .unwrap_or_default()
            })),
        };
        s.replay_to(id, &to)
    })
}

/// The action button: *Copy as grpcurl* (or curl, buf curl), or why there
/// is no command.
pub fn copy_button(state: AppState, id: u64, via: RwSignal<Via>) -> impl IntoView + use<> {
    let program = state
        .session
        .with_value(|s| s.call(id).map(|c| c.protocol))
        .map(loom_shared::engine::Program::for_protocol)
        .unwrap_or(loom_shared::engine::Program::Grpcurl)
        .name();
    match command(state, id, Via::Upstream) {
        Ok(_) => {
            let copy = move |_| {
                if let Ok(cmd) = command(state, id, via.get_untracked()) {
                    crate::dom::copy(&cmd.to_shell());
                }
            };
            view! {
                <button data-test="copy-grpcurl" data-program=program on:click=copy>
                    {format!("Copy as {program}")}
                </button>
            }
            .into_any()
        }
        Err(e) => view! {
            <span class="tag" title=e.to_string()>{format!("no {program}: {e}")}</span>
        }
        .into_any(),
    }
}

/// The replay command, where it goes in words, and a choice between the
/// upstream and the relay (when the call's client named the relay it
/// dialed, its `authority`).
pub fn block(
    state: AppState,
    id: u64,
    via: RwSignal<Via>,
    authority: &str,
) -> Option<impl IntoView + use<>> {
    let program = command(state, id, Via::Upstream).ok()?.program.name();
    let relay = !authority.is_empty();
    let choice = move |to: Via, text: &'static str, test: &'static str| {
        view! {
            <button class:on=move || via.get() == to data-test=test on:click=move |_| via.set(to)>
                {text}
            </button>
        }
    };
    Some(view! {
        <h3>{format!("Replay with {program}")}</h3>
        {relay.then(|| view! {
            <div class="tabs" role="group" aria-label="Replay to">
                {choice(Via::Upstream, "to the upstream", "replay-upstream")}
                {choice(Via::Relay, "through the relay", "replay-relay")}
            </div>
        })}
        {move || {
            state.relay_addr.track();
            command(state, id, via.get()).ok()
        }.map(|cmd| view! {
            <p class="tag" data-test="grpcurl-target">{format!("Replays {}.", cmd.target.describe())}</p>
            <pre class="code" data-test="grpcurl-text" data-program=cmd.program.name()>{cmd.to_shell()}</pre>
        })}
    })
}
