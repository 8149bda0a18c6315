//! The browser calls the components need, each failing softly (a missing
//! clipboard or history API must not break the inspector).

use wasm_bindgen::JsCast;

pub fn window() -> Option<web_sys::Window> {
    web_sys::window()
}

/// The page's query parameters as pairs.
pub fn query_pairs() -> Vec<(String, String)> {
    let Some(search) = window().and_then(|w| w.location().search().ok()) else {
        return Vec::new();
    };
    let Ok(params) = web_sys::UrlSearchParams::new_with_str(&search) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let entries = js_sys::try_iter(&params).ok().flatten();
    for entry in entries.into_iter().flatten().flatten() {
        let pair: js_sys::Array = entry.unchecked_into();
        if let (Some(k), Some(v)) = (pair.get(0).as_string(), pair.get(1).as_string()) {
            out.push((k, v));
        }
    }
    out
}

/// Replace the page's query (no navigation, no history entry).
pub fn replace_query(pairs: &[(String, String)]) {
    let Some(w) = window() else { return };
    let Ok(params) = web_sys::UrlSearchParams::new() else {
        return;
    };
    for (k, v) in pairs {
        params.append(k, v);
    }
    let query = String::from(params.to_string());
    let path = w.location().pathname().unwrap_or_default();
    // The fragment stays: it holds the pairing token, needed on reload.
    let hash = w.location().hash().unwrap_or_default();
    let url = if query.is_empty() {
        format!("{path}{hash}")
    } else {
        format!("{path}?{query}{hash}")
    };
    if let Ok(history) = w.history() {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
    }
}

/// `http://host:port` of this page.
pub fn origin() -> String {
    window()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_default()
}

/// The page's URL without query or fragment (`https://host/path/`).
pub fn page_url() -> String {
    let path = window()
        .and_then(|w| w.location().pathname().ok())
        .unwrap_or_default();
    format!("{}{path}", origin())
}

/// The page's host name, without port (`127.0.0.1`, `loom.example`).
pub fn hostname() -> String {
    window()
        .and_then(|w| w.location().hostname().ok())
        .unwrap_or_default()
}

/// The page's fragment (`#token=…`), or empty.
pub fn fragment() -> String {
    window()
        .and_then(|w| w.location().hash().ok())
        .unwrap_or_default()
}

/// Whether the relay serves this page: it carries the relay's
/// `<meta name="loom-relay">`, which a hosted (static) copy lacks.
pub fn served_by_relay() -> bool {
    let selector = format!("meta[name=\"{}\"]", loom_shared::access::RELAY_MARKER);
    window()
        .and_then(|w| w.document())
        .and_then(|d| d.query_selector(&selector).ok().flatten())
        .is_some()
}

/// `ws://host:port/ws` (or `wss://`) on this page's own host.
pub fn same_origin_ws() -> Option<String> {
    let location = window()?.location();
    let protocol = location.protocol().ok()?;
    let host = location.host().ok()?;
    let scheme = match protocol.as_str() {
        "https:" => "wss",
        "http:" => "ws",
        _ => return None, // file: pages have no relay
    };
    Some(format!("{scheme}://{host}/ws"))
}

/// Copy text to the clipboard.
pub fn copy(text: &str) {
    if let Some(w) = window() {
        let _ = w.navigator().clipboard().write_text(text);
    }
}

/// Offer `bytes` as a file download named `name`.
pub fn download(name: &str, bytes: &[u8], mime: &str) {
    let Some(document) = window().and_then(|w| w.document()) else {
        return;
    };
    let array = js_sys::Uint8Array::from(bytes);
    let parts = js_sys::Array::of1(&array);
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let Ok(blob) = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options) else {
        return;
    };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else {
        return;
    };
    if let Ok(a) = document.create_element("a") {
        let a: web_sys::HtmlAnchorElement = a.unchecked_into();
        a.set_href(&url);
        a.set_download(name);
        a.click();
    }
    let _ = web_sys::Url::revoke_object_url(&url);
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> f64 {
    js_sys::Date::now()
}
