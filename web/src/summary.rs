//! Per-method summary, shown when no call is selected: calls, error rate,
//! latency p50/p90/p99 and a small latency histogram, a row per upstream
//! and method (with an upstream column when the calls went to several),
//! then each service's schema (grouped by upstream, when several). The
//! table fits its pane: numbers never wrap, the method name ellipsises
//! (full name in the tooltip), and narrow panes drop p90, then the chart,
//! then p99 (container queries in `style.css`).

use leptos::prelude::*;

use crate::format;
use crate::rows;
use crate::schemas::{self, SchemaGroup};
use crate::state::{Source, use_state};
use crate::stats::{self, MethodStats};
use crate::upstreams;

/// Whether a table shows the upstream of its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UpstreamColumn {
    Shown,
    Hidden,
}

#[component]
pub fn Summary() -> impl IntoView {
    let state = use_state();
    let rows = Memo::new(move |_| {
        state.version.track();
        state.session.with_value(|s| stats::by_method(s.calls()))
    });
    let schema_groups = move || {
        state.version.track();
        let live = matches!(state.source.get(), Source::Live(_));
        let now = state.now_ms.get();
        state.session.with_value(|s| schemas::groups(s, live, now))
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
                let column = if rows.iter().any(|r| r.upstream != rows[0].upstream) {
                    UpstreamColumn::Shown
                } else {
                    UpstreamColumn::Hidden
                };
                view! {
                    <table class="methods" data-test="methods">
                        <tr>
                            {(column == UpstreamColumn::Shown).then(|| view! { <th data-col="upstream">"upstream"</th> })}
                            <th data-col="method">"method"</th>
                            <th data-col="calls">"calls"</th>
                            <th data-col="errors">"errors"</th>
                            <th data-col="p50">"p50"</th>
                            <th data-col="p90">"p90"</th>
                            <th data-col="p99">"p99"</th>
                            <th data-col="latency">"latency"</th>
                        </tr>
                        {rows.into_iter().map(|r| row(r, column)).collect_view()}
                    </table>
                }
                .into_any()
            }}
            {move || {
                let groups = schema_groups();
                (!groups.is_empty()).then(|| view! {
                    <h3>"Schemas"</h3>
                    <table class="schemas" data-test="schemas">
                        {groups.into_iter().map(schema_group).collect_view()}
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

/// One upstream's schema rows, under its name when there are several.
fn schema_group(group: SchemaGroup) -> impl IntoView {
    let upstream = group.upstream.clone().unwrap_or_default();
    let head = group.upstream.map(|u| {
        view! {
            <tr class="schema-upstream" data-test="schema-upstream" data-upstream=u.clone()>
                <th colspan="3" title=upstreams::full_name(&u).to_owned()>{upstreams::full_name(&u).to_owned()}</th>
            </tr>
        }
    });
    let rows = group
        .rows
        .into_iter()
        .map(|r| {
            let service = r.service.clone();
            view! {
                <tr class=format!("schema-{}", r.state) data-service=service data-upstream=upstream.clone()>
                    <td>{r.service}</td>
                    <td class="schema-state">{r.state}</td>
                    <td>{r.text}</td>
                </tr>
            }
        })
        .collect_view();
    view! { {head} {rows} }
}

fn row(s: MethodStats, column: UpstreamColumn) -> impl IntoView {
    let p = |q: f64| {
        s.percentile(q)
            .map(format::duration)
            .unwrap_or_else(|| "—".into())
    };
    let errors = format!("{:.1}%", s.error_rate() * 100.0);
    let failing = s.errors > 0;
    // As in the call list: `Inventory/GetItem`, the full name in the tooltip.
    let (service, method) = rows::split_method(&s.method);
    let upstream = (column == UpstreamColumn::Shown).then(|| {
        view! {
            <td data-col="upstream" title=upstreams::full_name(&s.upstream).to_owned()>
                {upstreams::label(&s.upstream)}
            </td>
        }
    });
    view! {
        <tr data-test="method-row" data-upstream=s.upstream.clone() data-method=s.method.clone()>
            {upstream}
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
