//! Capture files in the browser: open (picker, drop, `?capture=URL`), save,
//! download one call, and add schemas (`.protoset`, `.proto`) to captures
//! that lack them. Large files are read in chunks with progress, yielding to
//! the browser between chunks, so the tab never freezes.

use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;
use leptos::task::spawn_local;
use loom_shared::capture::StreamDecoder;
use loom_shared::pb;
use loom_shared::redact::Redactor;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::state::{AppState, Conn, Level, Source};

const CHUNK: f64 = 4.0 * 1024.0 * 1024.0;
/// While a file loads, the views first catch up after this long, then after
/// twice as long each time (and at the end): each catch-up redoes the list
/// and the Methods summary over every call loaded so far, so catching up at
/// a fixed rate would cost more, the bigger the file, than reading it.
const REFRESH_MS: f64 = 1000.0;

/// Tells the views about loaded calls: after [`REFRESH_MS`], then at
/// doubling intervals.
struct Refresh {
    at: f64,
    interval: f64,
    pending: bool,
}

impl Refresh {
    fn new() -> Self {
        Refresh {
            at: crate::dom::now_ms(),
            interval: REFRESH_MS,
            pending: false,
        }
    }

    fn changed(&mut self, state: AppState, changed: bool) {
        self.pending |= changed;
        let now = crate::dom::now_ms();
        if self.pending && now - self.at >= self.interval {
            self.flush(state);
            self.at = now;
            self.interval *= 2.0;
        }
    }

    fn flush(&mut self, state: AppState) {
        if std::mem::take(&mut self.pending) {
            state.touch();
        }
    }
}

/// Stop the live feed: the calls now come from a file.
fn take_over(state: AppState, name: &str) {
    state.generation.update(|g| *g += 1);
    state.conn.set(Conn::Idle);
    state.source.set(Source::File(name.to_owned()));
    state.reset(false);
    state.notice.set(None);
}

/// Open a capture file chosen by the user or dropped on the page.
pub fn open_file(state: AppState, file: web_sys::File) {
    let name = file.name();
    take_over(state, &name);
    spawn_local(async move {
        let total = file.size();
        let mut decoder = StreamDecoder::new();
        let mut refresh = Refresh::new();
        let mut offset = 0.0;
        state.progress.set(Some((0.0, total)));
        while offset < total {
            let end = (offset + CHUNK).min(total);
            let chunk = match file.slice_with_f64_and_f64(offset, end) {
                Ok(blob) => read_blob(&blob).await,
                Err(_) => None,
            };
            let Some(chunk) = chunk else {
                state.notify(
                    Level::Error,
                    format!("{name}: the browser could not read the file"),
                );
                break;
            };
            if !push(state, &mut decoder, &chunk, &name, &mut refresh) {
                break;
            }
            offset = end;
            state.progress.set(Some((offset, total)));
            // Let the page breathe between chunks.
            TimeoutFuture::new(0).await;
        }
        refresh.flush(state);
        finish(state, decoder, &name);
    });
}

/// Open a capture file from a URL (`?capture=…`).
pub fn open_url(state: AppState, url: String) {
    take_over(state, &url);
    spawn_local(async move {
        let response = match gloo_net::http::Request::get(&url).send().await {
            Ok(r) if r.ok() => r,
            Ok(r) => {
                state.notify(
                    Level::Error,
                    format!("{url}: HTTP {} {}", r.status(), r.status_text()),
                );
                return;
            }
            Err(e) => {
                state.notify(Level::Error, format!("cannot fetch {url}: {e}"));
                return;
            }
        };
        let bytes = match response.binary().await {
            Ok(b) => b,
            Err(e) => {
                state.notify(Level::Error, format!("cannot read {url}: {e}"));
                return;
            }
        };
        let mut decoder = StreamDecoder::new();
        let mut refresh = Refresh::new();
        let total = bytes.len() as f64;
        for (i, chunk) in bytes.chunks(CHUNK as usize).enumerate() {
            if !push(state, &mut decoder, chunk, &url, &mut refresh) {
                break;
            }
            state
                .progress
                .set(Some((((i + 1) as f64 * CHUNK).min(total), total)));
            TimeoutFuture::new(0).await;
        }
        refresh.flush(state);
        finish(state, decoder, &url);
    });
}

/// Feed one chunk; false when the file turned out to be unreadable.
fn push(
    state: AppState,
    decoder: &mut StreamDecoder,
    chunk: &[u8],
    name: &str,
    refresh: &mut Refresh,
) -> bool {
    match decoder.push(chunk) {
        Ok(events) => {
            refresh.changed(state, state.ingest_quietly(events));
            true
        }
        Err(e) => {
            state.notify(
                Level::Error,
                format!("{name}: {e}. Showing everything before the damage."),
            );
            false
        }
    }
}

fn finish(state: AppState, decoder: StreamDecoder, name: &str) {
    state.progress.set(None);
    match decoder.finish() {
        Ok(None) => {}
        Ok(Some(cut)) => state.notify(
            Level::Warn,
            format!("{name}: {cut}. Showing everything before the cut."),
        ),
        Err(e) => state.notify(Level::Error, format!("{name}: {e}")),
    }
}

async fn read_blob(blob: &web_sys::Blob) -> Option<Vec<u8>> {
    let buffer = JsFuture::from(blob.array_buffer()).await.ok()?;
    Some(js_sys::Uint8Array::new(&buffer).to_vec())
}

/// The redactor the save options ask for.
fn redactor(state: AppState) -> Option<Redactor> {
    state.redact_on_save.get_untracked().then(Redactor::default)
}

fn stamp() -> String {
    let ms = crate::dom::now_ms() as i64;
    crate::format::clock(ms * 1_000_000).replace([':', '.'], "")
}

/// Save everything as a capture file.
pub fn save_all(state: AppState) {
    let redactor = redactor(state);
    let bytes = state.session.with_value(|s| s.export(redactor.as_ref()));
    crate::dom::download(
        &format!("loom-{}.loom", stamp()),
        &bytes,
        "application/vnd.loom.capture",
    );
}

/// Save one call (with every schema) as a capture file.
pub fn save_call(state: AppState, id: u64) {
    let redactor = redactor(state);
    let bytes = state
        .session
        .with_value(|s| s.export_call(id, redactor.as_ref()));
    crate::dom::download(
        &format!("loom-call-{id}.loom"),
        &bytes,
        "application/vnd.loom.capture",
    );
}

/// Add schemas from `.protoset` / descriptor-set files, or `.proto` sources.
pub fn add_schemas(state: AppState, files: web_sys::FileList) {
    let files: Vec<web_sys::File> = (0..files.length()).filter_map(|i| files.get(i)).collect();
    spawn_local(async move {
        let mut sources = Vec::new();
        for file in files {
            let name = file.name();
            let blob: &web_sys::Blob = file.unchecked_ref();
            let Some(bytes) = read_blob(blob).await else {
                state.notify(
                    Level::Error,
                    format!("{name}: the browser could not read the file"),
                );
                return;
            };
            if name.ends_with(".proto") {
                sources.push((name, bytes));
            } else {
                add_set(state, &name, bytes);
            }
        }
        if !sources.is_empty() {
            match crate::protos::compile(&sources) {
                Ok(set) => {
                    let names: Vec<&str> = sources.iter().map(|(n, _)| n.as_str()).collect();
                    add_set(state, &names.join(", "), set);
                }
                Err(e) => state.notify(Level::Error, e),
            }
        }
    });
}

fn add_set(state: AppState, name: &str, bytes: Vec<u8>) {
    use prost::Message as _;
    if let Err(e) = prost_types::FileDescriptorSet::decode(bytes.as_slice()) {
        state.notify(
            Level::Error,
            format!(
                "{name}: not a descriptor set (protoc --include_imports --descriptor_set_out): {e}"
            ),
        );
        return;
    }
    let services = prost_types::FileDescriptorSet::decode(bytes.as_slice())
        .map(|set| loom_shared::descriptor::services(&set.file))
        .unwrap_or_default();
    let event = pb::Event::descriptors(pb::Descriptors::schema(
        bytes,
        services,
        pb::SchemaOrigin::UserFile,
        name,
        "",
        Vec::new(),
    ));
    state.ingest(vec![event]);
    state.notify(
        Level::Info,
        format!("Added the schema in {name}; calls decode with it now."),
    );
}
