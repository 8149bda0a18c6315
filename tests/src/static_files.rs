//! A tiny static file server on `127.0.0.1:0`, for the inspector as a plain
//! hosted copy (no relay behind it): `dist/` served as files, with the
//! content types browsers insist on (`.wasm` must be `application/wasm`),
//! at `/` or under a base path (as on a static host or CDN), counting the
//! requests for each path (so a test can say a page never asked for `/ws`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, Uri, header};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub struct StaticFiles {
    pub addr: SocketAddr,
    site: Arc<Site>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

/// What the server serves, and what it was asked for.
struct Site {
    root: PathBuf,
    /// `/` or `/some/path/`.
    base: String,
    requests: Mutex<HashMap<String, usize>>,
}

impl StaticFiles {
    /// Serve the files under `dir` at `/` (a directory serves its `index.html`).
    pub async fn serve(dir: impl Into<PathBuf>) -> StaticFiles {
        StaticFiles::serve_at(dir, "/").await
    }

    /// Serve the files under `dir` at the base path `base` (`/tools/loom/`);
    /// everything outside it is 404.
    pub async fn serve_at(dir: impl Into<PathBuf>, base: &str) -> StaticFiles {
        let dir: PathBuf = dir.into();
        assert!(dir.is_dir(), "{} is not a directory", dir.display());
        let base = format!("/{}/", base.trim_matches('/')).replace("//", "/");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the static file server");
        let addr = listener.local_addr().expect("static file server address");
        let site = Arc::new(Site {
            root: dir,
            base,
            requests: Mutex::new(HashMap::new()),
        });
        let app = Router::new().fallback(file).with_state(site.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        StaticFiles {
            addr,
            site,
            stop: Some(stop),
            task,
        }
    }

    /// How many requests asked for `path` (the query left out).
    pub fn requests(&self, path: &str) -> usize {
        self.site
            .requests
            .lock()
            .map(|r| r.get(path).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// `http://127.0.0.1:port/` plus `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{}", self.addr, path.trim_start_matches('/'))
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for StaticFiles {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The file for `uri`'s path under the base path, or 404. No `..`, no
/// hidden files.
async fn file(State(site): State<Arc<Site>>, uri: Uri) -> Response {
    if let Ok(mut requests) = site.requests.lock() {
        *requests.entry(uri.path().to_owned()).or_default() += 1;
    }
    let Some(rel) = uri.path().strip_prefix(site.base.as_str()) else {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    };
    if rel
        .split('/')
        .any(|part| part.starts_with('.') || part.contains('\\'))
    {
        return StatusCode::NOT_FOUND.into_response();
    }
    let mut path = site.root.join(rel);
    if path.is_dir() {
        path = path.join("index.html");
    }
    match tokio::fs::read(&path).await {
        Ok(bytes) => {
            let mut res = bytes.into_response();
            let h = res.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(content_type(&path)),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Err(_) => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}

/// The relay's own table, so that both ways of serving the bundle agree.
fn content_type(path: &Path) -> &'static str {
    loom_relay::assets::content_type(&path.to_string_lossy())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_files_with_their_content_types() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("index.html"), "<!doctype html>").expect("write");
        std::fs::write(dir.path().join("app_bg.wasm"), b"\0asm").expect("write");
        let server = StaticFiles::serve(dir.path()).await;
        let client: hyper_util::client::legacy::Client<_, http_body_util::Empty<bytes::Bytes>> =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(hyper_util::client::legacy::connect::HttpConnector::new());
        for (path, status, ty) in [
            ("/", 200, Some("text/html; charset=utf-8")),
            ("/app_bg.wasm", 200, Some("application/wasm")),
            ("/missing.js", 404, None),
            ("/../Cargo.toml", 404, None),
            ("/ws", 404, None),
        ] {
            let res = client
                .get(server.url(path).parse().expect("uri"))
                .await
                .expect("response");
            assert_eq!(res.status().as_u16(), status, "{path}");
            if let Some(ty) = ty {
                assert_eq!(res.headers()[header::CONTENT_TYPE], ty, "{path}");
            }
        }
        assert_eq!(server.requests("/ws"), 1);
        assert_eq!(server.requests("/"), 1);
        server.stop().await;

        // Under a base path, only that path is served.
        let server = StaticFiles::serve_at(dir.path(), "tools/loom").await;
        for (path, status) in [
            ("/tools/loom/", 200),
            ("/tools/loom/app_bg.wasm", 200),
            ("/", 404),
        ] {
            let res = client
                .get(server.url(path).parse().expect("uri"))
                .await
                .expect("response");
            assert_eq!(res.status().as_u16(), status, "{path}");
        }
        server.stop().await;
    }
}
