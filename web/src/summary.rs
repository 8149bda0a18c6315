//! Per-method summary, shown when no call is selected: calls, error rate,
//! latency p50/p90/p99 and a small latency histogram. The table fits its
//! pane: numbers never wrap, the method name ellipsises (full name in the
//! tooltip), and narrow panes drop p90, then the chart, then p99
//! (container queries in `style.css`).

use leptos::prelude::*;

use crate::format;
use crate::rows;
use crate::schemas;
use crate::state::{Source, use_state};
use crate::stats::{self, MethodStats};

#[component]
pub fn Summary() -> impl IntoView {
    let state = use_state();
    let rows = Memo::new(move |_| {
        state.version.track();
        state.session.with_value(|s| stats::by_method(s.calls()))
    });
    let schema_rows = move || {
        state.version.track();
        let live = matches!(state.source.get(), Source::Live(_));
        let now = state.now_ms.get();
        state.session.with_value(|s| schemas::rows(s, live, now))
    };
    let schema_problems = move || {
        state.version.track();
        state.session.with_value(|s| {
            s.schema()
                .problems()
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
        })
    };
    view! {
        <div class="summary" data-test="summary">
            <h2>"Methods"</h2>
            <p class="tag">"Select a call to see it in full. ↑/↓ move through calls, / searches, Esc clears."</p>
            {move || {
                let rows = rows.get();
                if rows.is_empty() {
                    return view! { <p class="empty">"No calls yet."</p> }.into_any();
                }
                view! {
                    <table class="methods">
                        <tr>
                            <th data-col="method">"method"</th>
                            <th data-col="calls">"calls"</th>
                            <th data-col="errors">"errors"</th>
                            <th data-col="p50">"p50"</th>
                            <th data-col="p90">"p90"</th>
                            <th data-col="p99">"p99"</th>
                            <th data-col="latency">"latency"</th>
                        </tr>
                        {rows.into_iter().map(row).collect_view()}
                    </table>
                }
                .into_any()
            }}
            {move || {
                let rows = schema_rows();
                (!rows.is_empty()).then(|| view! {
                    <h3>"Schemas"</h3>
                    <table class="schemas" data-test="schemas">
                        {rows.into_iter().map(|r| {
                            let service = r.service.clone();
                            view! {
                            <tr class=format!("schema-{}", r.state) data-service=service>
                                <td>{r.service}</td>
                                <td class="schema-state">{r.state}</td>
                                <td>{r.text}</td>
                            </tr>
                        }}).collect_view()}
                    </table>
                })
            }}
            {move || {
                let problems = schema_problems();
                (!problems.is_empty()).then(|| view! {
                    <ul>{problems.into_iter().map(|n| view! { <li class="note">{n}</li> }).collect_view()}</ul>
                })
            }}
        </div>
    }
}

fn row(s: MethodStats) -> impl IntoView {
    let p = |q: f64| {
        s.percentile(q)
            .map(format::duration)
            .unwrap_or_else(|| "—".into())
    };
    let errors = format!("{:.1}%", s.error_rate() * 100.0);
    let failing = s.errors > 0;
    // As in the call list: `Inventory/GetItem`, the full name in the tooltip.
    let (service, method) = rows::split_method(&s.method);
    view! {
        <tr>
            <td data-col="method" title=s.method.clone()>
                <span class="svc">{service}</span>
                {method}
            </td>
            <td data-col="calls">{s.calls.to_string()}</td>
            <td data-col="errors" class:status-err=failing>{errors}</td>
            <td data-col="p50">{p(50.0)}</td>
            <td data-col="p90">{p(90.0)}</td>
            <td data-col="p99">{p(99.0)}</td>
            <td data-col="latency">{histogram(&s.latencies)}</td>
        </tr>
    }
}

/// A small SVG bar chart of the latency distribution (log-scale bins).
fn histogram(latencies: &[u64]) -> impl IntoView + use<> {
    let bins = stats::histogram(latencies);
    let max = bins.iter().map(|(_, n)| *n).max().unwrap_or(1).max(1) as f64;
    let width = 120.0;
    let height = 24.0;
    let bar = if bins.is_empty() {
        width
    } else {
        width / bins.len() as f64
    };
    let title = bins
        .iter()
        .map(|(bound, n)| format!("≤ {}: {n}", format::duration(*bound)))
        .collect::<Vec<_>>()
        .join("\n");
    view! {
        <svg
            class="hist"
            width=width
            height=height
            viewBox=format!("0 0 {width} {height}")
            preserveAspectRatio="none"
        >
            <title>{title}</title>
            {bins
                .iter()
                .enumerate()
                .map(|(i, (_, n))| {
                    let h = (*n as f64 / max * height).max(if *n > 0 { 1.0 } else { 0.0 });
                    view! { <rect x=i as f64 * bar y=height - h width=(bar - 1.0).max(1.0) height=h></rect> }
                })
                .collect_view()}
        </svg>
    }
}
