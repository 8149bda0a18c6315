//! The web inspector's files, embedded in the binary at build time (see
//! `build.rs`), so that one `loom` binary is all a user needs.

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// An embedded file by its path in the bundle (`index.html`, `loom-web-1a2b.wasm`).
pub fn get(path: &str) -> Option<&'static [u8]> {
    ASSETS
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, bytes)| *bytes)
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
    fn content_types() {
        assert_eq!(content_type("loom-web-abc.wasm"), "application/wasm");
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("x"), "application/octet-stream");
    }
}
