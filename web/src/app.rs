//! The page: top bar (source, connection, files), filters, the call list and
//! the selected call's detail, and a status bar.

use leptos::ev;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::detail::Detail;
use crate::filter::Filter;
use crate::filter_bar::Filters;
use crate::list::CallList;
use crate::relay_url;
use crate::state::{AppState, Conn, Level, Source, use_state};
use crate::summary::Summary;
use crate::welcome::Welcome;
use crate::{connection, dom, files, search};

#[component]
pub fn App() -> impl IntoView {
    let pairs = dom::query_pairs();
    let filter = Filter::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let state = AppState::new(filter);
    provide_context(state);
    let list = crate::list::provide_list(state);

    // Where the calls come from: ?capture=URL, ?relay=ws://…, or the relay
    // that serves this page. A hosted copy without ?relay= has none: it
    // shows the welcome (open a file, or give the relay's address).
    let param = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    state
        .token
        .set_value(relay_url::token_from_fragment(&dom::fragment()));
    let own_relay = || dom::served_by_relay().then(dom::same_origin_ws).flatten();
    if let Some(url) = param("capture") {
        files::open_url(state, url);
    } else if let Some(text) = param("relay").or_else(own_relay) {
        connection::connect_to(state, &text);
    }

    // Keep the filter (and the source) in the URL, so a view can be shared.
    Effect::new(move |_| {
        let mut pairs: Vec<(String, String)> = state
            .filter
            .get()
            .to_pairs()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        if let Some(relay) = dom::query_pairs().into_iter().find(|(k, _)| k == "relay") {
            pairs.push(relay);
        }
        if let Source::File(name) = state.source.get()
            && name.contains("://")
        {
            pairs.push(("capture".into(), name));
        }
        dom::replace_query(&pairs);
    });

    let tick = set_interval_with_handle(
        move || state.now_ms.set(dom::now_ms()),
        std::time::Duration::from_secs(1),
    );
    on_cleanup(move || {
        if let Ok(t) = tick {
            t.clear();
        }
    });

    let dragging = RwSignal::new(false);
    let search: NodeRef<leptos::html::Input> = NodeRef::new();
    let keys = window_event_listener(ev::keydown, move |e: web_sys::KeyboardEvent| {
        on_key(state, list, &e, search)
    });
    on_cleanup(move || keys.remove());

    view! {
        <div
            class="app"
            class:dragging=move || dragging.get()
            on:dragover=move |e: ev::DragEvent| {
                e.prevent_default();
                dragging.set(true);
            }
            on:dragleave=move |_| dragging.set(false)
            on:drop=move |e: ev::DragEvent| {
                e.prevent_default();
                dragging.set(false);
                if let Some(file) = e.data_transfer().and_then(|d| d.files()).and_then(|f| f.get(0)) {
                    files::open_file(state, file);
                }
            }
        >
            <TopBar/>
            <Filters search=search/>
            <Notice/>
            <div class="main">
                <CallList/>
                <div class="detail">
                    {move || match (state.selected.get(), state.source.get()) {
                        (Some(id), _) => view! { <Detail id=id/> }.into_any(),
                        (None, Source::Empty) => view! { <Welcome/> }.into_any(),
                        (None, _) => view! { <Summary/> }.into_any(),
                    }}
                </div>
            </div>
            <StatusBar/>
        </div>
    }
}

fn on_key(
    state: AppState,
    list: crate::list::ListHandle,
    e: &web_sys::KeyboardEvent,
    search: NodeRef<leptos::html::Input>,
) {
    let typing = e
        .target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok())
        .is_some_and(|el| matches!(el.tag_name().as_str(), "INPUT" | "SELECT" | "TEXTAREA"));
    match e.key().as_str() {
        "/" if !typing => {
            e.prevent_default();
            if let Some(input) = search.get() {
                let _ = input.focus();
            }
        }
        "Escape" => {
            state.filter.update(|f| f.text.clear());
            search::run::clear(state);
            if let Some(input) = search.get() {
                input.set_value("");
                let _ = input.blur();
            }
        }
        "ArrowDown" | "ArrowUp" if !typing => {
            e.prevent_default();
            crate::list::step(state, list, if e.key() == "ArrowDown" { 1 } else { -1 });
        }
        _ => {}
    }
}

#[component]
fn TopBar() -> impl IntoView {
    let state = use_state();
    // The address field shows the relay the page is connected to, until
    // the user types another.
    let relay_box = RwSignal::new(String::new());
    Effect::new(move |_| {
        if let Source::Live(url) = state.source.get() {
            relay_box.set(url);
        }
    });
    let open: NodeRef<leptos::html::Input> = NodeRef::new();
    let schema: NodeRef<leptos::html::Input> = NodeRef::new();
    let conn_text = move || match (state.source.get(), state.conn.get()) {
        (Source::File(name), _) => format!("file: {name}"),
        (Source::Empty, _) => "no relay: open a capture file, or connect".to_owned(),
        (Source::Live(url), Conn::Live) => format!("live: {url}"),
        (Source::Live(url), Conn::Connecting) => format!("connecting to {url}…"),
        (Source::Live(_), Conn::Down(why, _)) => format!("disconnected: {why}"),
        (Source::Live(url), Conn::Idle) => url,
    };
    let dot = move || match (state.source.get(), state.conn.get()) {
        (Source::Live(_), Conn::Live) => "dot live",
        (Source::Live(_), Conn::Connecting) => "dot connecting",
        (Source::Live(_), Conn::Down(..)) => "dot down",
        _ => "dot",
    };
    view! {
        <header class="topbar">
            <span class="brand">"Loom"</span>
            <span class="conn" data-test="conn" title=conn_text>
                <span class=dot></span>
                <span class="conn-text">{conn_text}</span>
            </span>
            <span class="spacer"></span>
            <input
                type="text"
                placeholder="ws://127.0.0.1:9998/ws"
                aria-label="Relay address"
                data-test="relay-url"
                prop:value=move || relay_box.get()
                on:input=move |e| relay_box.set(event_target_value(&e))
            />
            <button on:click=move |_| connection::connect_to(state, &relay_box.get_untracked())>
                "Connect"
            </button>
            <button
                on:click=move |_| {
                    if state.paused.get_untracked() { state.resume() } else { state.paused.set(true) }
                }
                title="Pause or resume the live list"
            >
                {move || if state.paused.get() { "Resume" } else { "Pause" }}
            </button>
            <button on:click=move |_| state.reset(true) title="Remove every call (schemas stay)">"Clear"</button>
            <input
                type="file"
                accept=".loom,application/vnd.loom.capture,application/octet-stream"
                style="display:none"
                data-test="open-file"
                node_ref=open
                on:change=move |e| {
                    let input: web_sys::HtmlInputElement = event_target(&e);
                    if let Some(file) = input.files().and_then(|f| f.get(0)) {
                        files::open_file(state, file);
                    }
                    input.set_value("");
                }
            />
            <button on:click=move |_| {
                if let Some(i) = open.get() {
                    i.click();
                }
            }>"Open…"</button>
            <input
                type="file"
                multiple
                accept=".protoset,.pb,.bin,.proto"
                style="display:none"
                data-test="add-schema"
                node_ref=schema
                on:change=move |e| {
                    let input: web_sys::HtmlInputElement = event_target(&e);
                    if let Some(list) = input.files() {
                        files::add_schemas(state, list);
                    }
                    input.set_value("");
                }
            />
            <button
                title="Add .protoset or .proto files to decode calls without a schema"
                on:click=move |_| {
                    if let Some(i) = schema.get() {
                        i.click();
                    }
                }
            >"Add schema…"</button>
            <label title="Remove authorization, cookie and similar headers from saved files">
                <input
                    type="checkbox"
                    data-test="redact"
                    prop:checked=move || state.redact_on_save.get()
                    on:change=move |e| state.redact_on_save.set(event_target_checked(&e))
                />
                " redact"
            </label>
            <button class="primary" data-test="save" on:click=move |_| files::save_all(state)>"Save capture"</button>
        </header>
    }
}

/// The banner under the filters: one or two lines whatever its text (the
/// rest ellipsised, the whole text in its tooltip and shown on a click), so
/// that it never pushes the calls down the page.
#[component]
fn Notice() -> impl IntoView {
    let state = use_state();
    let open = RwSignal::new(false);
    move || {
        state.notice.get().map(|(level, text)| {
            let title = text.clone();
            let class = match level {
                Level::Info => "notice",
                Level::Warn => "notice warn",
                Level::Error => "notice error",
            };
            view! {
                <div class=class role="status" data-test="notice">
                    <span
                        class="notice-text"
                        class:open=move || open.get()
                        data-test="notice-text"
                        title=title
                        role="button"
                        tabindex="0"
                        aria-expanded=move || open.get().to_string()
                        on:click=move |_| open.update(|o| *o = !*o)
                        on:keydown=move |e: ev::KeyboardEvent| {
                            if matches!(e.key().as_str(), "Enter" | " ") {
                                e.prevent_default();
                                open.update(|o| *o = !*o);
                            }
                        }
                    >
                        {text}
                    </span>
                    <button on:click=move |_| {
                        open.set(false);
                        state.notice.set(None);
                    }>"dismiss"</button>
                </div>
            }
        })
    }
}

#[component]
fn StatusBar() -> impl IntoView {
    let state = use_state();
    // Computed once per change, from counts the session keeps.
    let counts = Memo::new(move |_| {
        state.version.track();
        state.session.with_value(|s| {
            let counts = s.counts();
            let gaps: u64 = s.gaps().iter().map(|g| g.dropped_events).sum();
            (counts.calls, counts.open, gaps, s.schema().problems().len())
        })
    });
    let counts = move || counts.get();
    view! {
        <footer class="statusbar">
            <span data-test="call-count">{move || format!("{} calls", counts().0)}</span>
            <span>{move || format!("{} open", counts().1)}</span>
            {move || {
                let gaps = counts().2;
                (gaps > 0).then(|| view! { <span class="status-err">{format!("{gaps} events not captured")}</span> })
            }}
            {move || {
                let problems = counts().3;
                (problems > 0).then(|| view! { <span class="status-err">{format!("{problems} schema problems")}</span> })
            }}
            {move || state.paused.get().then(|| view! { <span class="status-err">"paused"</span> })}
            {move || {
                state.progress.get().map(|(done, total)| {
                    view! {
                        <span>
                            "loading "
                            <progress max=total value=done></progress>
                            {format!(" {:.0}%", if total > 0.0 { done / total * 100.0 } else { 100.0 })}
                        </span>
                    }
                })
            }}
        </footer>
    }
}
