//! The Loom relay: a gRPC debugging relay that forwards HTTP/2 gRPC untouched
//! while capturing every call for the browser inspector.
//!
//! # Layout
//! - [`config`]: the validated [`Config`] that `main.rs` builds from flags.
//! - [`proxy`]: the forward path: accepts client connections, relays each call
//!   to the upstream ([`upstream`]), with a capture [`tap`] on both bodies.
//! - [`framing`]: splits body bytes into gRPC messages; [`call`]: one call's
//!   capture state; [`status`]: the gRPC statuses the relay itself sends.
//! - [`reflection`]: schemas from the upstream's server reflection, fetched
//!   in the background with single-flight caching; [`schema`]: schemas from
//!   local files. Both become descriptor events.
//! - [`demo`]: the built-in demo backend and traffic generator (`loom demo`).
//! - [`hub`]: where the forward path hands off events without ever blocking;
//!   its consumers are the [`store`] (bounded, in memory), the [`recorder`]
//!   (`--record`) and WebSocket clients of the [`ui`] server, guarded by
//!   [`access`].
//!
//! # What it is not
//! The relay never decodes payloads: it ships raw messages and descriptor
//! sets, and the browser (or `loom decode`) decodes them with `loom-shared`.
//! Capture never alters or slows traffic: a consumer that falls behind loses
//! events and is told how many.

pub mod access;
pub mod assets;
pub mod call;
pub mod config;
pub mod decode;
pub mod demo;
pub mod framing;
pub mod header_limit;
pub mod hub;
pub mod message_api;
pub mod proxy;
pub mod recorder;
pub mod reflection;
pub mod schema;
pub mod shutdown;
pub mod status;
pub mod store;
pub mod tap;
pub mod ui;
pub mod upstream;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use loom_shared::redact::Redactor;
use tokio::net::TcpListener;

pub use config::{Config, ConfigError, HostedUi, Origin, PairingToken, Upstream};
pub use recorder::RecordError;

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error(transparent)]
    Schema(#[from] schema::SchemaError),
    #[error(transparent)]
    Reflection(#[from] reflection::ReflectionSetupError),
    #[error("cannot read the address of a listener: {0}")]
    Listener(std::io::Error),
    #[error("cannot start the demo backend on a loopback port: {0}")]
    DemoBackend(std::io::Error),
    #[error("the relay's {task} task failed: {why}")]
    Task { task: &'static str, why: String },
}

/// What a panic said.
fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "it panicked".to_owned())
}

/// Waits for a task; a panic (or cancellation) is reported once and
/// returned, never swallowed.
async fn joined(task: &'static str, handle: tokio::task::JoinHandle<()>) -> Result<(), RelayError> {
    handle.await.map_err(|e| {
        let why = if e.is_panic() {
            panic_message(&e.into_panic())
        } else {
            "it was cancelled".to_owned()
        };
        tracing::error!("the relay's {task} task failed: {why}");
        RelayError::Task { task, why }
    })
}

/// Run the relay on the given listeners until `shutdown` completes, then stop
/// accepting, give in-flight calls `config.shutdown_grace` to finish, and
/// flush the record file.
pub async fn run(
    config: Config,
    listener: TcpListener,
    ui_listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RelayError> {
    config.validate()?;
    let relay_addr = listener.local_addr().map_err(RelayError::Listener)?;
    let ui_addr = ui_listener.local_addr().map_err(RelayError::Listener)?;
    let redactor = (!config.keep_secrets).then(|| Redactor::new(&config.redact_headers));

    let local = schema::load(
        &config.descriptor_sets,
        &config.protos,
        &config.proto_includes,
    )?;
    let mut local_services = HashMap::new();
    for set in &local {
        for service in &set.services {
            tracing::info!("schema for {service}: from {}", set.location);
            local_services.insert(
                service.clone(),
                reflection::SchemaState::Loaded {
                    origin: set.origin(),
                    location: set.location.clone(),
                    at: std::time::SystemTime::now(),
                    warnings: 0,
                },
            );
        }
    }
    let hub = hub::Hub::new(&hub::HubConfig {
        store_bytes: config.max_capture_bytes,
        schema_bytes: config.max_schema_bytes,
        live_bytes: config.live_buffer_bytes,
        record_bytes: config.record.as_ref().map(|_| config.record_buffer_bytes),
    });
    let reflector = Arc::new(reflection::Reflector::new(
        &config,
        hub.clone(),
        local_services,
    )?);
    let recorder = match &config.record {
        Some(path) => {
            let recorder = recorder::Recorder::create(path, redactor.clone())?;
            let hub = hub.clone();
            let path = recorder.path().to_owned();
            let thread = std::thread::Builder::new()
                .name("loom-recorder".into())
                .spawn(move || recorder.run(&hub))
                .map_err(|cause| RecordError::Create {
                    path: path.clone(),
                    cause,
                })?;
            Some((path, thread))
        }
        None => None,
    };

    let (stop_serving, serving) = crate::shutdown::signal();
    for set in local {
        hub.emit(loom_shared::pb::Event::descriptors(set));
    }

    let ui_url = format!("http://{ui_addr}/");
    let partial = framing::PartialBudget::new(config.max_partial_bytes);
    let proxy = Arc::new(proxy::Proxy::new(
        hub.clone(),
        reflector.clone(),
        config.upstream.clone(),
        config.max_message_bytes,
        partial.clone(),
        ui_url.clone(),
    ));
    // What request metadata the upstream accepts: read now, then now and then.
    let limits = {
        let limit = proxy.header_limit.clone();
        let authority = config.upstream.authority().to_string();
        limit.refresh(&authority).await;
        let mut stop = serving.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(header_limit::REPROBE_EVERY) => limit.refresh(&authority).await,
                    () = stop.wait() => break,
                }
            }
        })
    };
    let proxy_task = tokio::spawn(proxy::serve(
        listener,
        proxy,
        serving.clone(),
        config.shutdown_grace,
        config.first_request_timeout,
    ));

    let ui_state = Arc::new(ui::UiState {
        hub: hub.clone(),
        redactor,
        upstream: config.upstream.to_string(),
        relay_addr,
        started: Instant::now(),
        stop: serving.clone(),
        ws_clients: AtomicU64::new(0),
        reflector,
        partial,
        downloads: Arc::new(tokio::sync::Semaphore::new(ui::MAX_DOWNLOADS)),
        live_preview_bytes: config.live_preview_bytes,
    });
    let mut access = access::Access::new(ui_addr, config.allow_origins.clone());
    if let Some(token) = &config.pairing_token {
        let hosted = config.hosted_ui.iter().map(|h| h.origin().clone());
        access = access.with_hosted(hosted.collect(), token.clone());
    }
    let access = Arc::new(access);
    let ui_task = tokio::spawn(ui::serve(
        ui_listener,
        ui::router(ui_state, access),
        serving,
    ));

    tracing::info!(
        "relaying gRPC from {relay_addr} to {}; inspector at {ui_url}",
        config.upstream
    );
    for hosted in &config.hosted_ui {
        tracing::info!("hosted inspector allowed, with this run's pairing token: {hosted}");
    }
    shutdown.await;
    tracing::info!("shutting down: no new connections; finishing in-flight calls");
    stop_serving.stop();
    let served = [
        joined("forwarding", proxy_task).await,
        joined("header-limit", limits).await,
        joined("UI", ui_task).await,
    ];
    hub.close_recording();
    let recorded = match recorder {
        Some((path, thread)) => finish_recording(path, thread).await,
        None => Ok(()),
    };
    tracing::info!("stopped");
    recorded?;
    served.into_iter().collect()
}

/// Waits for the recorder thread to write what is queued and stop.
async fn finish_recording(
    path: std::path::PathBuf,
    thread: std::thread::JoinHandle<Result<u64, RecordError>>,
) -> Result<(), RecordError> {
    let joined = tokio::task::spawn_blocking(move || thread.join()).await;
    match joined {
        Ok(Ok(Ok(_written))) => Ok(()),
        Ok(Ok(Err(e))) => Err(e),
        Ok(Err(panic)) => {
            let why = panic_message(&panic);
            let error = RecordError::Crashed { path, why };
            tracing::error!("{error}");
            Err(error)
        }
        Err(e) => Err(RecordError::Crashed {
            path,
            why: e.to_string(),
        }),
    }
}
