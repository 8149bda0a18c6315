//! Gathers the facts `diagnosis` decides on when a WebSocket to the relay
//! failed: the browser's local-network-access permission (Permissions API;
//! a browser without it, or a query that throws, counts as "unavailable"),
//! the page's own origin, and a `fetch` of the relay's `/api/access`.
//!
//! Chromium 156 has three permission names: `loopback-network` (what a
//! public or private page needs to reach 127.0.0.1 or localhost, and what
//! its prompt grants), `local-network` (private addresses), and the older
//! `local-network-access` (Chrome 142 to 14x, which knew only that one).
//! The first the browser knows, for the relay's address space, is asked.
//!
//! What this is not: the decision (native, in `diagnosis`).

use futures_util::future::{Either, select};
use gloo_timers::future::TimeoutFuture;
use js_sys::{Function, Object, Promise, Reflect};
use loom_shared::access::AccessAnswer;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::diagnosis::{self, Diagnosis, Facts, Permission, Probe};
use crate::dom;
use crate::relay_url::{AddressSpace, RelayUrl};

/// How long the probe may take; a pending permission prompt can hold a
/// request that long.
const PROBE_MS: u32 = 4_000;

/// Why the WebSocket to `relay` failed, as well as the page can tell.
pub async fn diagnose(relay: &RelayUrl, token: Option<&str>) -> Diagnosis {
    let relay_space = AddressSpace::of(relay.hostname());
    let permission = permission(relay_space).await;
    let probe = probe(relay, token).await;
    let facts = Facts {
        relay: relay.clone(),
        page_origin: dom::origin(),
        page_url: dom::page_url(),
        page_space: AddressSpace::of(&dom::hostname()),
        secure_context: dom::window().is_some_and(|w| w.is_secure_context()),
        served_by_relay: dom::served_by_relay(),
        permission,
        probe,
    };
    diagnosis::diagnose(&facts)
}

/// The permission names that govern reaching `space`, newest first.
fn permission_names(space: AddressSpace) -> &'static [&'static str] {
    match space {
        AddressSpace::Loopback => &["loopback-network", "local-network-access"],
        AddressSpace::Private => &["local-network", "local-network-access"],
        AddressSpace::Public => &[],
    }
}

async fn permission(space: AddressSpace) -> Permission {
    for name in permission_names(space) {
        if let Some(state) = query_permission(name).await {
            return Permission::from_state(&state);
        }
    }
    Permission::Unavailable
}

/// `navigator.permissions.query({name})`'s state, or `None` when the
/// browser has no Permissions API or no such permission (it throws).
async fn query_permission(name: &str) -> Option<String> {
    let navigator = dom::window()?.navigator();
    let permissions = Reflect::get(&navigator, &"permissions".into()).ok()?;
    if permissions.is_undefined() || permissions.is_null() {
        return None;
    }
    let query: Function = Reflect::get(&permissions, &"query".into())
        .ok()?
        .dyn_into()
        .ok()?;
    let descriptor = Object::new();
    Reflect::set(&descriptor, &"name".into(), &name.into()).ok()?;
    let promise: Promise = query
        .call1(&permissions, &descriptor)
        .ok()?
        .dyn_into()
        .ok()?;
    let status = JsFuture::from(promise).await.ok()?;
    Reflect::get(&status, &"state".into()).ok()?.as_string()
}

/// `GET /api/access` on the relay, bounded by [`PROBE_MS`].
async fn probe(relay: &RelayUrl, token: Option<&str>) -> Probe {
    let url = relay.access(token);
    let fetch = Box::pin(async move {
        let response = match gloo_net::http::Request::get(&url).send().await {
            Ok(r) => r,
            Err(_) => return Probe::Unreachable,
        };
        match response.binary().await {
            Ok(bytes) => match AccessAnswer::from_json(&bytes) {
                Some(answer) => Probe::Answered(answer),
                None => Probe::Stranger,
            },
            Err(_) => Probe::Stranger,
        }
    });
    match select(fetch, TimeoutFuture::new(PROBE_MS)).await {
        Either::Left((probe, _)) => probe,
        Either::Right(_) => Probe::Unreachable,
    }
}
