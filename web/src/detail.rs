//! One call in full: overview (its protocol, codec and HTTP version),
//! timing, status and its decoded details (and the status in the
//! protocol's own form: Connect's code, the HTTP status, where it came
//! from), how each side ended it, each hop's TLS, metadata, every message
//! (decoded JSON, the JSON codec's JSON with its differences from the
//! type, or raw: hex and the schema-less view), and the actions: copy as
//! grpcurl, curl or `buf curl` (see [`crate::replay`]), download the call.

use leptos::prelude::*;
use loom_shared::engine::{
    Body, CallDetail, CallSummary, HeaderValue, HeaderView, MessageView, WireLimits, decode_wire,
};
use loom_shared::pb;

use crate::json_view::JsonView;
use crate::replay::Via;
use crate::rows::{duration_text, status_cell, status_title};
use crate::state::{AppState, Source, use_state};
use crate::tls::{CertificateView, HopView};
use crate::{files, format, protocols, replay, schemas};

#[component]
pub fn Detail(id: u64) -> impl IntoView {
    let state = use_state();
    // Bumped when a previewed message has been fetched whole.
    let completed = RwSignal::new(0u32);
    // Previews being fetched, so that each is asked for once.
    let asked = StoredValue::new(std::collections::HashSet::<usize>::new());
    // Where "copy as grpcurl" sends the call, kept while the call changes.
    let via = RwSignal::new(Via::Upstream);
    // Re-render only when this call (or the view options) changed.
    let summary = Memo::new(move |_| {
        state.version.track();
        state.session.with_value(|s| s.call(id).cloned())
    });
    move || {
        state.hide_defaults.track();
        // Reading the memo (not just `track`ing it) subscribes to its changes.
        summary.with(|_| ());
        completed.track();
        match state.session.try_update_value(|s| s.detail(id)).flatten() {
            Some(detail) => {
                for m in detail.messages.iter().filter(|m| m.preview) {
                    let index = m.index;
                    if asked.try_update_value(|a| a.insert(index)).unwrap_or(false) {
                        crate::preview::complete(state, id, index, move || {
                            completed.update(|n| *n += 1);
                        });
                    }
                }
                render(state, detail, via).into_any()
            }
            None => {
                view! { <div class="empty">"This call is no longer in the list."</div> }.into_any()
            }
        }
    }
}

fn render(state: AppState, d: CallDetail, via: RwSignal<Via>) -> impl IntoView {
    let id = d.summary.id;
    let json_line = serde_json::to_string_pretty(&d.to_json()).unwrap_or_default();
    let (status, status_class) = status_cell(&d.summary);
    let hops = crate::tls::hops(&d, state.now_ms.get_untracked());
    let schema_line = match (&d.method, &d.summary.method) {
        (Ok(m), _) if m.source.is_none() => "bundled with Loom".to_owned(),
        (_, Some(path)) => {
            let live = matches!(state.source.get_untracked(), Source::Live(_));
            let schema = state
                .session
                .with_value(|s| s.schema().state_for(&d.summary.upstream, &path.service));
            let (word, text) = schemas::describe(&schema, live, state.now_ms.get_untracked());
            format!("{word}: {text}")
        }
        (Ok(_), None) => "loaded".to_owned(),
        (Err(why), None) => format!("none: {why}"),
    };
    view! {
        <div data-test="detail">
            <h2 data-test="detail-method">{d.summary.method_name().to_owned()}</h2>
            <div class="actions">
                {replay::copy_button(state, id, via)}
                <button data-test="download-call" on:click=move |_| files::save_call(state, id)>"Download call"</button>
                <button on:click=move |_| crate::dom::copy(&json_line)>"Copy call as JSON"</button>
            </div>
            <Overview d=d.clone() status=status status_class=status_class schema=schema_line/>
            {d.status_details.clone().map(|body| view! { <h3>"Status details"</h3> <BodyView body=body/> })}
            {(!d.protocol_errors.is_empty()).then(|| {
                let errors = d.protocol_errors.clone();
                view! {
                    <h3>"Protocol errors"</h3>
                    <ul>{errors.into_iter().map(|e| view! { <li class="note">{e}</li> }).collect_view()}</ul>
                }
            })}
            <h3>"Connections"</h3>
            <Connections hops=hops/>
            {replay::block(state, id, via, &d.summary.authority)}
            <h3>"Request metadata"</h3>
            <Headers headers=d.request_headers.clone()/>
            <h3>"Response headers"</h3>
            <Headers headers=d.response_headers.clone()/>
            <h3>"Trailers"</h3>
            <Headers headers=d.trailers.clone()/>
            <h3>{format!("Messages ({} / {})", d.summary.requests.messages, d.summary.responses.messages)}</h3>
            <div data-test="messages">
                {d.messages.iter().map(|m| message(state, id, m)).collect_view()}
            </div>
        </div>
    }
}

#[component]
fn Overview(
    d: CallDetail,
    status: String,
    status_class: &'static str,
    schema: String,
) -> impl IntoView {
    let s: &CallSummary = &d.summary;
    let t = s.timing;
    let opt = |v: Option<u64>| v.map(format::duration).unwrap_or_else(|| "—".into());
    let st = s.status.clone();
    let title = status_title(s);
    let endings = crate::endings::lines(&d.endings);
    let now = use_state().now_ms;
    let summary = s.clone();
    let spoken = protocols::spoken(&d);
    let native = protocols::native_status(&d);
    view! {
        <div class="kv" data-test="overview">
            <span>"status"</span>
            <span>
                <span class=status_class data-test="detail-status" title=title>{status}</span>
                {st.as_ref().and_then(|x| x.code).map(|c| format!(" ({c})"))}
                {st.as_ref().filter(|x| !x.message.is_empty()).map(|x| view! { " — " <span data-test="grpc-message">{x.message.clone()}</span> })}
                {native.map(|text| view! { <div class="tag" data-test="native-status" title="the status in the protocol's own form">{text}</div> })}
            </span>
            {st.as_ref().and_then(|x| x.relay_error.clone()).map(|e| view! { <span>"relay"</span> <span class="status-err">{e}</span> })}
            {(!endings.is_empty()).then(|| view! {
                <span>"ended"</span>
                <span data-test="endings">
                    {endings.into_iter().map(|line| view! { <div data-test="ending">{line}</div> }).collect_view()}
                </span>
            })}
            <span>"protocol"</span>
            <span data-test="protocol-detail">{spoken}</span>
            <span>"kind"</span>
            <span>{s.kind.name()}{s.kind_inferred.then_some(" (inferred from message counts)")}</span>
            <span>"authority"</span>
            <span>{s.authority.to_string()}</span>
            <span>"upstream"</span>
            <span>{s.upstream.to_string()}</span>
            <span>"schema"</span>
            <span>{schema}</span>
            <span>"started"</span>
            <span class="mono">{t.start_unix_nanos.map(loom_shared::engine::rfc3339).unwrap_or_default()}</span>
            <span>"to headers"</span>
            <span>{opt(t.response_headers)}</span>
            <span>"to first message"</span>
            <span>{opt(t.first_message())}</span>
            <span>"to last message"</span>
            <span>{opt(t.last_message())}</span>
            <span>"total"</span>
            <span>{move || duration_text(&summary, now.get())}</span>
            <span>"encoding"</span>
            <span>{format!("request {} · response {}", d.request_encoding, d.response_encoding)}</span>
            {s.incomplete.then(|| view! { <span>"capture"</span> <span class="note">"incomplete: some events of this call were not captured"</span> })}
        </div>
    }
}

/// Each hop (format 1.3): cleartext, or what TLS negotiated and the
/// certificates presented, their validity as of the call.
#[component]
fn Connections(hops: [HopView; 2]) -> impl IntoView {
    hops.into_iter()
        .map(|hop| {
            let class = if hop.secure { "hop-tls" } else { "hop-plain" };
            view! {
                <div class="hop" data-test=hop.test_id>
                    <div class="hop-head">
                        <span class="hop-name">{hop.name}</span>
                        <span class=class>{hop.summary}</span>
                    </div>
                    {hop.certificates.into_iter().map(certificate).collect_view()}
                </div>
            }
        })
        .collect_view()
}

fn certificate(c: CertificateView) -> impl IntoView {
    view! {
        <div class="hop-cert">
            <div class="hop-role">{c.role}</div>
            <div class="kv">
                <span>"subject"</span>
                <span>{c.subject}</span>
                <span>"issuer"</span>
                <span>{c.issuer}</span>
                <span>"names"</span>
                <span>{c.names}</span>
                <span>"valid from"</span>
                <span class="mono">{c.not_before}</span>
                <span>"valid until"</span>
                <span>
                    <span class="mono">{c.not_after}</span>
                    " — "
                    <span class=c.validity.state.class() data-test="cert-validity">{c.validity.text}</span>
                </span>
                <span>"SHA-256"</span>
                <span class="mono">{c.sha256}</span>
            </div>
        </div>
    }
}

#[component]
fn Headers(headers: Vec<HeaderView>) -> impl IntoView {
    if headers.is_empty() {
        return view! { <div class="tag">"none"</div> }.into_any();
    }
    view! {
        <table class="headers">
            {headers
                .into_iter()
                .map(|h| {
                    let value = match &h.value {
                        HeaderValue::Redacted => view! { <span class="redacted">"(redacted)"</span> }.into_any(),
                        HeaderValue::Binary(_) => view! { <span>{h.display_value()}<span class="tag">"base64"</span></span> }.into_any(),
                        HeaderValue::Text(t) => view! { <span>{t.clone()}</span> }.into_any(),
                    };
                    view! {
                        <tr>
                            <td>{h.name.clone()}</td>
                            <td>{value}{h.decoded.clone().map(|b| view! { <BodyView body=b/> })}</td>
                        </tr>
                    }
                })
                .collect_view()}
        </table>
    }
    .into_any()
}

#[component]
fn BodyView(body: Body) -> impl IntoView {
    match body {
        Body::Json { json, .. } => view! { <JsonView value=json/> }.into_any(),
        Body::Schemaless { reason, wire } => view! {
            <div class="note" data-test="note">{reason}</div>
            <JsonView value=wire.to_json_object()/>
        }
        .into_any(),
        Body::Raw { reason, bytes } => view! {
            <div class="note" data-test="note">{reason}</div>
            <pre class="code">{format::hex_dump(&bytes, 4096)}</pre>
        }
        .into_any(),
        Body::JsonText { json, note, problems, .. } => view! {
            {note.map(|note| view! { <div class="note" data-test="note">{note}</div> })}
            {(!problems.is_empty()).then(|| view! {
                <ul class="json-problems" data-test="json-problems">
                    {problems.into_iter().map(|p| view! { <li data-test="json-problem">{p}</li> }).collect_view()}
                </ul>
            })}
            <JsonView value=json/>
        }
        .into_any(),
        Body::Text { reason, text } => view! {
            <div class="note" data-test="note">{reason}</div>
            <pre class="code" data-test="text">{format::text_excerpt(&text, 64 * 1024)}</pre>
        }
        .into_any(),
    }
}

fn message(state: AppState, id: u64, m: &MessageView) -> impl IntoView + use<> {
    let raw_tab = RwSignal::new(false);
    let request = m.direction != pb::Direction::Response;
    let index = m.index;
    let body = m.body.clone();
    let size = match m.size {
        Some(size) if m.compressed => format!(
            "{} on the wire, {} decompressed",
            format::bytes(m.wire_size as u64),
            format::bytes(size as u64)
        ),
        _ => format::bytes(m.wire_size as u64),
    };
    view! {
        <div class="msg" data-test="message">
            <div class="msg-head">
                <span class=if request { "dir-req" } else { "dir-res" }>
                    {if request { "→ request" } else { "← response" }}
                    {format!(" #{}", m.ordinal + 1)}
                </span>
                <span>{format!("+{}", format::duration(m.offset_nanos))}</span>
                <span>{size}</span>
                {m.encoding.as_ref().filter(|_| m.compressed).map(|e| view! { <span class="tag">{e.to_string()}</span> })}
                {m.truncated.then(|| view! { <span class="tag">{format!("truncated: {} bytes declared", m.declared_length)}</span> })}
                {m.preview.then(|| view! { <span class="tag" data-test="preview">{format!("preview of {}; loading the whole message", format::bytes(u64::from(m.declared_length)))}</span> })}
                <span class="spacer"></span>
                <span class="tabs">
                    <button class:on=move || !raw_tab.get() on:click=move |_| raw_tab.set(false)>"decoded"</button>
                    <button class:on=move || raw_tab.get() on:click=move |_| raw_tab.set(true)>"raw"</button>
                </span>
            </div>
            <div class="msg-body">
                {move || if raw_tab.get() { raw(state, id, index).into_any() } else { view! { <BodyView body=body.clone()/> }.into_any() }}
            </div>
        </div>
    }
}

/// The `index`th message's captured bytes, as hex and schema-less.
fn raw(state: AppState, id: u64, index: usize) -> impl IntoView {
    let payload = state
        .session
        .with_value(|s| s.payload(id, index).map(|m| m.payload.clone()));
    match payload {
        None => {
            view! { <div class="note">"The bytes of this message are not in the capture."</div> }
                .into_any()
        }
        Some(bytes) => {
            let wire = decode_wire(&bytes, &WireLimits::default());
            view! {
                <pre class="code" data-test="hex">{format::hex_dump(&bytes, 64 * 1024)}</pre>
                <h3>"Schema-less (as captured; compressed payloads are shown compressed)"</h3>
                <JsonView value=wire.to_json_object()/>
            }
            .into_any()
        }
    }
}
