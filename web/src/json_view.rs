//! Decoded JSON, syntax-highlighted and collapsible, built from text nodes
//! only (captured strings can never become markup). Huge values are capped
//! in the DOM; "copy" always copies the whole value.

use leptos::prelude::*;
use serde_json::Value;

/// Items shown per array or object before "… N more".
const MAX_ITEMS: usize = 200;
/// Characters of one string shown before it is cut.
const MAX_STRING: usize = 4096;
/// Nesting shown; deeper values collapse to their JSON text.
const MAX_DEPTH: usize = 24;

#[component]
pub fn JsonView(value: Value) -> impl IntoView {
    let text = serde_json::to_string_pretty(&value).unwrap_or_default();
    view! {
        <div class="json-wrap">
            <div class="actions">
                <button on:click=move |_| crate::dom::copy(&text)>"Copy JSON"</button>
            </div>
            <div class="json" data-test="json">{render(&value, 0, "")}</div>
        </div>
    }
}

/// `value`, then `after` (a separating comma or nothing): inside a collapsed
/// block the comma must follow its closing bracket, not start a new line.
fn render(value: &Value, depth: usize, after: &'static str) -> AnyView {
    match value {
        Value::Null => view! { <span class="l">"null"</span>{after} }.into_any(),
        Value::Bool(b) => view! { <span class="l">{b.to_string()}</span>{after} }.into_any(),
        Value::Number(n) => view! { <span class="n">{n.to_string()}</span>{after} }.into_any(),
        Value::String(s) => view! { <span class="s">{quoted(s)}</span>{after} }.into_any(),
        Value::Array(items) if items.is_empty() => view! { <span>"[]"</span>{after} }.into_any(),
        Value::Object(map) if map.is_empty() => view! { <span>"{}"</span>{after} }.into_any(),
        _ if depth >= MAX_DEPTH => view! { <span>{value.to_string()}</span>{after} }.into_any(),
        Value::Array(items) => {
            let shown = items.len().min(MAX_ITEMS);
            let children = items
                .iter()
                .take(MAX_ITEMS)
                .enumerate()
                .map(|(i, v)| view! { <span class="i">{render(v, depth + 1, comma(i, shown))}</span> })
                .collect_view();
            let title = format!("{} items", items.len());
            collapsible("[", "]", after, title, children, items.len() - shown).into_any()
        }
        Value::Object(map) => {
            let shown = map.len().min(MAX_ITEMS);
            let children = map
                .iter()
                .take(MAX_ITEMS)
                .enumerate()
                .map(|(i, (k, v))| {
                    view! {
                        <span class="i">
                            <span class="k">{quoted(k)}</span>": "{render(v, depth + 1, comma(i, shown))}
                        </span>
                    }
                })
                .collect_view();
            let title = format!("{} fields", map.len());
            collapsible("{", "}", after, title, children, map.len() - shown).into_any()
        }
    }
}

fn comma(index: usize, count: usize) -> &'static str {
    if index + 1 < count { "," } else { "" }
}

fn collapsible(
    open: &'static str,
    close: &'static str,
    after: &'static str,
    title: String,
    children: impl IntoView,
    more: usize,
) -> impl IntoView {
    view! {
        <details open=true>
            <summary title=title>{open}</summary>
            {children}
            {(more > 0).then(|| view! { <span class="i tag">{format!("… {more} more (copy to see all)")}</span> })}
            {close}{after}
        </details>
    }
}

fn quoted(s: &str) -> String {
    if s.chars().count() > MAX_STRING {
        let cut: String = s.chars().take(MAX_STRING).collect();
        format!(
            "{}…\" ({} chars)",
            serde_json::to_string(&cut)
                .unwrap_or_default()
                .trim_end_matches('"'),
            s.chars().count()
        )
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}
