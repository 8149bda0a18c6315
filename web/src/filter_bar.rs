//! The filter bar under the toolbar: method, status, kind, the upstream
//! (only when the calls went to several, or a link chose one), the
//! protocol (likewise: only when the calls spoke several), the payload
//! search, and whether default values show. What is picked lives in
//! [`crate::filter::Filter`], and so in the URL.

use leptos::prelude::*;

use loom_shared::engine::Protocol;

use crate::filter::{StatusFilter, kind_key, parse_kind};
use crate::state::use_state;
use crate::{protocols, search, upstreams};

#[component]
pub fn Filters(search: NodeRef<leptos::html::Input>) -> impl IntoView {
    let state = use_state();
    // A search from the URL runs once the calls are there, and again as they
    // change — at most once a second, so live traffic cannot make every
    // batch pay for a search through every call.
    let searched = StoredValue::new((u64::MAX, 0.0_f64));
    Effect::new(move |_| {
        let version = state.version.get();
        let now = state.now_ms.get();
        let (last_version, last_at) = searched.get_value();
        if state.filter.with_untracked(|f| f.text.is_empty())
            || version == last_version
            || now - last_at < 1000.0 && last_version != u64::MAX
        {
            return;
        }
        searched.set_value((version, now));
        search::run::refresh(state);
    });
    view! {
        <div class="filters">
            <input
                type="search"
                placeholder="method"
                aria-label="Filter by method"
                prop:value=move || state.filter.with(|f| f.method.clone())
                on:input=move |e| state.filter.update(|f| f.method = event_target_value(&e))
            />
            <select
                aria-label="Status"
                on:change=move |e| state.filter.update(|f| f.status = StatusFilter::parse(&event_target_value(&e)))
                prop:value=move || state.filter.with(|f| f.status.key())
            >
                <option value="all">"all statuses"</option>
                <option value="errors">"errors"</option>
                <option value="pending">"pending"</option>
                {(0u32..=16)
                    .map(|c| {
                        let name = loom_shared::engine::code_name(c).unwrap_or("?");
                        view! { <option value=c.to_string()>{name}</option> }
                    })
                    .collect_view()}
            </select>
            <select
                aria-label="Kind"
                on:change=move |e| state.filter.update(|f| f.kind = parse_kind(&event_target_value(&e)))
                prop:value=move || state.filter.with(|f| f.kind.map(kind_key).unwrap_or("").to_owned())
            >
                <option value="">"all kinds"</option>
                <option value="unary">"unary"</option>
                <option value="server">"server streaming"</option>
                <option value="client">"client streaming"</option>
                <option value="bidi">"bidi streaming"</option>
            </select>
            <UpstreamPicker/>
            <ProtocolPicker/>
            <input
                type="search"
                placeholder="search payloads and metadata ( / )"
                aria-label="Search"
                data-test="search"
                node_ref=search
                data-searches=move || state.searches_run.get().to_string()
                prop:value=move || state.filter.with_untracked(|f| f.text.clone())
                on:input=move |e| search::run::typed(state, event_target_value(&e))
                on:change=move |e| search::run::entered(state, event_target_value(&e))
            />
            <label>
                <input
                    type="checkbox"
                    prop:checked=move || state.hide_defaults.get()
                    on:change=move |e| {
                        state.hide_defaults.set(event_target_checked(&e));
                        state.apply_options();
                    }
                />
                " hide default values"
            </label>
        </div>
    }
}

/// The upstream filter: every upstream with calls, with how many. Shown
/// only when there is a choice (or a link chose one), so that a session of
/// one upstream has no clutter.
#[component]
fn UpstreamPicker() -> impl IntoView {
    let state = use_state();
    let choices = Memo::new(move |_| {
        state.version.track();
        let selected = state.filter.with(|f| f.upstream.clone());
        let several = state.session.with_value(upstreams::several);
        (several || selected.is_some()).then(|| {
            state
                .session
                .with_value(|s| upstreams::choices(s, selected.as_deref()))
        })
    });
    move || {
        choices.get().map(|choices| {
            view! {
                <select
                    aria-label="Upstream"
                    data-test="upstream-filter"
                    title="Only the calls to one upstream"
                    on:change=move |e| {
                        let value = event_target_value(&e);
                        state.filter.update(|f| {
                            f.upstream = (value != ALL).then_some(value);
                        });
                    }
                    prop:value=move || state.filter.with(|f| f.upstream.clone().unwrap_or_else(|| ALL.to_owned()))
                >
                    <option value=ALL>"all upstreams"</option>
                    {choices
                        .into_iter()
                        .map(|c| {
                            let value = c.value.clone();
                            let chosen = move || state.filter.with(|f| f.upstream.as_deref() == Some(value.as_str()));
                            view! { <option value=c.value prop:selected=chosen>{c.text}</option> }
                        })
                        .collect_view()}
                </select>
            }
        })
    }
}

/// The picker's value for every upstream (no upstream is named so: a name
/// has a scheme or a `:port`).
const ALL: &str = "*";

/// The protocol filter: every protocol of the gRPC family with calls, with
/// how many. Shown only when the calls spoke several (or a link chose one).
#[component]
fn ProtocolPicker() -> impl IntoView {
    let state = use_state();
    let choices = Memo::new(move |_| {
        state.version.track();
        let selected = state.filter.with(|f| f.protocol);
        let several = state.session.with_value(protocols::several);
        (several || selected.is_some()).then(|| {
            state
                .session
                .with_value(|s| protocols::choices(s, selected))
        })
    });
    move || {
        choices.get().map(|choices| {
            view! {
                <select
                    aria-label="Protocol"
                    data-test="protocol-filter"
                    title="Only the calls of one protocol"
                    on:change=move |e| {
                        let value = event_target_value(&e);
                        state.filter.update(|f| f.protocol = Protocol::parse(&value));
                    }
                    prop:value=move || state.filter.with(|f| f.protocol.map_or(ALL, Protocol::key).to_owned())
                >
                    <option value=ALL>"all protocols"</option>
                    {choices
                        .into_iter()
                        .map(|c| {
                            let value = c.value;
                            let chosen = move || state.filter.with(|f| f.protocol.map(Protocol::key) == Some(value));
                            view! { <option value=c.value prop:selected=chosen>{c.text}</option> }
                        })
                        .collect_view()}
                </select>
            }
        })
    }
}
