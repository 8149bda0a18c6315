//! What a hosted copy of the inspector shows when it has no relay (opened
//! without `?relay=`) and no file: open a capture (the button, or drop it
//! on the page), or give the relay's address, and how to get the link that
//! pairs this page with a relay.
//!
//! What this is not: the connection (`connection`) or file loading
//! (`files`); this only starts them.

use leptos::prelude::*;

use crate::state::use_state;
use crate::{connection, dom, files};

#[component]
pub fn Welcome() -> impl IntoView {
    let state = use_state();
    let address = RwSignal::new(String::new());
    let open: NodeRef<leptos::html::Input> = NodeRef::new();
    let command = format!("loom --hosted-ui {}", dom::page_url());
    view! {
        <section class="welcome" data-test="welcome">
            <h2>"No relay connected"</h2>
            <p>
                "Open a capture file (or drop one on this page), or connect to a relay running on your machine."
            </p>
            <p>
                <input
                    type="file"
                    accept=".loom,application/vnd.loom.capture,application/octet-stream"
                    style="display:none"
                    data-test="welcome-open-file"
                    node_ref=open
                    on:change=move |e| {
                        let input: web_sys::HtmlInputElement = event_target(&e);
                        if let Some(file) = input.files().and_then(|f| f.get(0)) {
                            files::open_file(state, file);
                        }
                        input.set_value("");
                    }
                />
                <button class="primary" on:click=move |_| {
                    if let Some(i) = open.get() {
                        i.click();
                    }
                }>"Open capture…"</button>
            </p>
            <form on:submit=move |e| {
                e.prevent_default();
                connection::connect_to(state, &address.get_untracked());
            }>
                <label>
                    "Relay address "
                    <input
                        type="text"
                        placeholder="ws://127.0.0.1:9998/ws"
                        data-test="welcome-relay"
                        prop:value=move || address.get()
                        on:input=move |e| address.set(event_target_value(&e))
                    />
                </label>
                " "
                <button type="submit" data-test="welcome-connect">"Connect"</button>
            </form>
            <p>
                "To pair this page with your relay, start it with "
                <code data-test="welcome-command">{command}</code>
                " and open the link it prints."
            </p>
        </section>
    }
}
