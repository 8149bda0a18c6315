//! The web inspector's files, embedded in the binary at build time (see
//! `build.rs`), so that one `loom` binary is all a user needs.
//!
//! The relay's `index.html` differs from the bundle's in one line: it
//! carries `<meta name="loom-relay">` ([`RELAY_MARKER`]), which tells the
//! inspector that a relay serves it, so it connects to its own origin's
//! `/ws`. A copy published on a static host lacks it, and makes no such
//! attempt.

use std::sync::OnceLock;

use loom_shared::access::RELAY_MARKER;

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// An embedded file by its path in the bundle (`index.html`, `loom-web-1a2b.wasm`);
/// `index.html` with the relay's marker.
pub fn get(path: &str) -> Option<&'static [u8]> {
    let bytes = ASSETS
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, bytes)| *bytes)?;
    if path != "index.html" {
        return Some(bytes);
    }
    static MARKED: OnceLock<Vec<u8>> = OnceLock::new();
    Some(MARKED.get_or_init(|| with_marker(bytes)))
}

/// `html` with the relay's marker as the first element of its `<head>`.
fn with_marker(html: &[u8]) -> Vec<u8> {
    let meta = format!("<meta name=\"{RELAY_MARKER}\" content=\"same-origin\">");
    let text = String::from_utf8_lossy(html);
    // Right after `<head …>`; without one, at the end (the inspector looks
    // for the marker anywhere in the document).
    let at = ["<head>", "<head "]
        .iter()
        .filter_map(|tag| text.find(tag))
        .min()
        .and_then(|i| text[i..].find('>').map(|j| i + j + 1))
        .unwrap_or(text.len());
    let mut out = String::with_capacity(text.len() + meta.len());
    out.push_str(&text[..at]);
    out.push_str(&meta);
    out.push_str(&text[at..]);
    out.into_bytes()
}

/// Whether the inspector was built into this binary.
pub fn embedded() -> bool {
    get("index.html").is_some()
}

/// The content type for a bundle file, by extension.
pub fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relays_index_carries_the_marker() {
        let marked = String::from_utf8(with_marker(b"<html><head><title>x</title></head></html>"))
            .expect("utf-8");
        assert_eq!(
            marked,
            "<html><head><meta name=\"loom-relay\" content=\"same-origin\"><title>x</title></head></html>"
        );
        if embedded() {
            let index = String::from_utf8_lossy(get("index.html").expect("index"));
            assert!(index.contains("name=\"loom-relay\""), "{index}");
        }
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type("loom-web-abc.wasm"), "application/wasm");
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("x"), "application/octet-stream");
    }
}
