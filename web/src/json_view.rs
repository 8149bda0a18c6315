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
            <div class="json" data-test="json">{render(&value, 0)}</div>
        </div>
    }
}

fn render(value: &Value, depth: usize) -> AnyView {
    match value {
        Value::Null => view! { <span class="l">"null"</span> }.into_any(),
        Value::Bool(b) => view! { <span class="l">{b.to_string()}</span> }.into_any(),
        Value::Number(n) => view! { <span class="n">{n.to_string()}</span> }.into_any(),
        Value::String(s) => view! { <span class="s">{quoted(s)}</span> }.into_any(),
        Value::Array(items) if items.is_empty() => view! { <span>"[]"</span> }.into_any(),
        Value::Object(map) if map.is_empty() => view! { <span>"{}"</span> }.into_any(),
        _ if depth >= MAX_DEPTH => view! { <span>{value.to_string()}</span> }.into_any(),
        Value::Array(items) => {
            let more = items.len().saturating_sub(MAX_ITEMS);
            let children = items
                .iter()
                .take(MAX_ITEMS)
                .map(|v| view! { <span class="i">{render(v, depth + 1)}","</span> })
                .collect_view();
            collapsible("[", "]", format!("{} items", items.len()), children, more).into_any()
        }
        Value::Object(map) => {
            let more = map.len().saturating_sub(MAX_ITEMS);
            let children = map
                .iter()
                .take(MAX_ITEMS)
                .map(|(k, v)| {
                    view! {
                        <span class="i">
                            <span class="k">{quoted(k)}</span>": "{render(v, depth + 1)}","
                        </span>
                    }
                })
                .collect_view();
            collapsible("{", "}", format!("{} fields", map.len()), children, more).into_any()
        }
    }
}

fn collapsible(
    open: &'static str,
    close: &'static str,
    title: String,
    children: impl IntoView,
    more: usize,
) -> impl IntoView {
    view! {
        <details open=true>
            <summary title=title>{open}</summary>
            {children}
            {(more > 0).then(|| view! { <span class="i tag">{format!("… {more} more (copy to see all)")}</span> })}
            {close}
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
