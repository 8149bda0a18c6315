//! The call list: virtualized (only the rows in view are in the DOM, so
//! 100,000 calls scroll smoothly), following the tail unless the user has
//! scrolled away, durations of open calls ticking; a status line shows a
//! long search's progress. When the calls went to several upstreams, each
//! row's method begins with its upstream's label (the whole name in its
//! tooltip); with one, nothing says it. Likewise its protocol, when the
//! calls spoke several (gRPC, gRPC-Web, Connect).

use leptos::html::Div;
use leptos::prelude::*;
use loom_shared::engine::CallSummary;

use crate::format;
use crate::rows::{duration_text, kind_text, method_parts, status_cell, status_hint, status_title};
use crate::state::{AppState, use_state};
use crate::viewport::Viewport;
use crate::{protocols, upstreams};

/// Whether a row shows a label (its call's upstream, its protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Label {
    Shown,
    Hidden,
}

impl Label {
    fn when(shown: bool) -> Label {
        if shown { Label::Shown } else { Label::Hidden }
    }
}

/// Which labels the rows show.
#[derive(Debug, Clone, Copy)]
struct Labels {
    upstream: Label,
    protocol: Label,
}

const ROW: f64 = 28.0;

/// What both the list and the keyboard handler need.
#[derive(Clone, Copy)]
pub struct ListHandle {
    /// Ids of the calls that pass the filters, in start order.
    pub visible: Memo<Vec<u64>>,
    pub scroller: NodeRef<Div>,
    pub viewport: RwSignal<Viewport>,
}

/// Create the list's shared parts; call once, before rendering the list.
pub fn provide_list(state: AppState) -> ListHandle {
    let visible = Memo::new(move |_| {
        state.version.track();
        let filter = state.filter.get();
        let hits = state.hits.get();
        state.session.with_value(|s| {
            s.calls()
                .filter(|c| filter.matches(c) && hits.as_ref().is_none_or(|h| h.contains(&c.id)))
                .map(|c| c.id)
                .collect::<Vec<u64>>()
        })
    });
    let handle = ListHandle {
        visible,
        scroller: NodeRef::new(),
        viewport: RwSignal::new(Viewport {
            scroll_top: 0.0,
            height: 600.0,
            row_height: ROW,
        }),
    };
    provide_context(handle);
    handle
}

/// Move the selection `delta` rows through the visible calls. (Called from
/// event listeners, where there is no reactive owner to take context from,
/// hence the explicit handle.)
pub fn step(state: AppState, list: ListHandle, delta: i64) {
    let ids = list.visible.get_untracked();
    if ids.is_empty() {
        return;
    }
    let current = state
        .selected
        .get_untracked()
        .and_then(|id| ids.iter().position(|x| *x == id));
    let next = match current {
        Some(i) => (i as i64 + delta).clamp(0, ids.len() as i64 - 1) as usize,
        None if delta > 0 => 0,
        None => ids.len() - 1,
    };
    state.selected.set(Some(ids[next]));
    state.follow.set(false);
    if let (Some(top), Some(el)) = (
        list.viewport.get_untracked().reveal(next),
        list.scroller.get_untracked(),
    ) {
        el.set_scroll_top(top as i32);
    }
}

#[component]
pub fn CallList() -> impl IntoView {
    let state = use_state();
    let list = expect_context::<ListHandle>();
    let measure = move || {
        if let Some(el) = list.scroller.get_untracked() {
            list.viewport.set(Viewport {
                scroll_top: f64::from(el.scroll_top()),
                height: f64::from(el.client_height()) - ROW,
                row_height: ROW,
            });
        }
    };
    Effect::new(move |_| {
        if list.scroller.get().is_some() {
            measure();
        }
    });
    let resize = window_event_listener(leptos::ev::resize, move |_| measure());
    on_cleanup(move || resize.remove());

    // Follow the tail: new calls scroll into view while the user is at the bottom.
    Effect::new(move |_| {
        let rows = list.visible.with(Vec::len);
        if state.follow.get_untracked()
            && let Some(el) = list.scroller.get_untracked()
        {
            let bottom = (rows as f64 * ROW + ROW - f64::from(el.client_height())).max(0.0);
            el.set_scroll_top(bottom as i32);
        }
    });

    let rows = move || {
        let ids = list.visible.get();
        let vp = list.viewport.get();
        let (start, end) = vp.window(ids.len());
        state.version.track();
        let now = state.now_ms.get();
        let selected = state.selected.get();
        state.session.with_value(|s| {
            let labels = Labels {
                upstream: Label::when(upstreams::several(s)),
                protocol: Label::when(protocols::several(s)),
            };
            (start..end)
                .filter_map(|i| {
                    s.call(ids[i])
                        .map(|c| row(state, i, c, now, selected == Some(c.id), labels))
                })
                .collect_view()
        })
    };

    view! {
        <div
            class="list"
            node_ref=list.scroller
            on:scroll=move |_| {
                measure();
                let rows = list.visible.with_untracked(Vec::len);
                state.follow.set(list.viewport.get_untracked().at_bottom(rows));
            }
        >
            <div class="list-head">
                <span class="num">"#"</span>
                <span>"method"</span>
                <span>"kind"</span>
                <span>"status"</span>
                <span class="num">"duration"</span>
                <span class="num" title="messages: requests / responses">"msgs"</span>
                <span class="num">"bytes"</span>
                <span>"started"</span>
            </div>
            <div
                class="list-body"
                data-test="call-list"
                style:position="relative"
                style:height=move || format!("{}px", list.visible.with(Vec::len) as f64 * ROW)
            >
                {rows}
            </div>
            // The list's status line, pinned to the pane's bottom edge.
            {move || state.searching.get().map(|(done, total)| view! {
                <div
                    class="list-status"
                    role="status"
                    data-test="search-progress"
                    style:position="sticky"
                    style:bottom="0"
                    style:background="var(--panel)"
                >
                    {crate::search::progress_text(done, total)}
                </div>
            })}
            {move || {
                (list.visible.with(Vec::is_empty)).then(|| {
                    view! {
                        <div class="empty">
                            <div class="drop-hint">
                                {move || if state.version.get() == 0 || state.session.with_value(|s| s.is_empty()) {
                                    "No calls yet. Point a gRPC client at the relay, or drop a capture file here."
                                } else {
                                    "No calls match the filters."
                                }}
                            </div>
                        </div>
                    }
                })
            }}
        </div>
    }
}

fn row(
    state: AppState,
    index: usize,
    call: &CallSummary,
    now_ms: f64,
    selected: bool,
    labels: Labels,
) -> impl IntoView + use<> {
    let id = call.id;
    let (status, status_class) = status_cell(call);
    // A call the client ended says so in its tooltip (and is underlined).
    let status_title = status_title(call);
    let by_client = status_hint(call).is_some();
    // `Inventory/GetItem`, the package only in the tooltip: the method is
    // what tells calls apart.
    let (service, method) = method_parts(call);
    let upstream = (labels.upstream == Label::Shown).then(|| {
        view! {
            <span class="up" data-test="upstream" title=upstreams::full_name(&call.upstream).to_owned()>
                {upstreams::label(&call.upstream)}
            </span>
        }
    });
    let protocol = (labels.protocol == Label::Shown).then(|| {
        view! {
            <span class="proto" data-test="protocol" data-protocol=call.protocol.key() title=call.protocol.name()>
                {protocols::label(call.protocol)}
            </span>
        }
    });
    let with_up = upstream.is_some() || protocol.is_some();
    let kind = kind_text(call);
    let msgs = format!("{} / {}", call.requests.messages, call.responses.messages);
    let bytes = format::bytes(call.requests.wire_bytes + call.responses.wire_bytes);
    let started = call
        .timing
        .start_unix_nanos
        .map(format::clock)
        .unwrap_or_default();
    view! {
        <div
            class="row"
            class:selected=selected
            data-test="call-row"
            data-call=id.to_string()
            style:top=format!("{}px", index as f64 * ROW)
            on:click=move |_| {
                state.selected.set(Some(id));
                state.follow.set(false);
            }
        >
            <span class="num">{id.to_string()}</span>
            <span class="method" class:with-up=with_up title=call.method_name().to_owned()>
                {protocol}
                {upstream}
                <span class="name">
                    <span class="svc">{service}</span>
                    <span>{method}</span>
                </span>
            </span>
            <span title=if call.kind_inferred { "inferred from message counts" } else { "" }>{kind}</span>
            <span class=status_class class:by-client=by_client data-test="status" title=status_title>{status}</span>
            <span class="num">{duration_text(call, now_ms)}</span>
            <span class="num">{msgs}</span>
            <span class="num">{bytes}</span>
            <span class="mono">{started}</span>
        </div>
    }
}
