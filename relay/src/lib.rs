//! The Loom relay: a gRPC debugging relay that forwards HTTP/2 gRPC untouched
//! while capturing every call for the browser inspector.
//!
//! # Layout
//! - [`config`]: the validated [`Config`] that `main.rs` builds from flags.
//! - [`forward`]: the forward path: accepts client connections and relays
//!   each call to its upstream, one task per client connection, with a
//!   capture tap on both directions.
//! - [`capture`]: the tap's events and where they go: splitting bytes into
//!   gRPC messages, one call's events, and the hub.
//! - [`reflection`]: schemas from the upstream's server reflection, fetched
//!   in the background with single-flight caching; [`schema`]: schemas from
//!   local files. Both become descriptor events.
//! - [`tls`]: TLS to upstreams and on the listen port (the local CA, key
//!   logs, what each session was); the forward path's transports.
//! - [`demo`]: the built-in demo backend and traffic generator (`loom demo`).
//! - `capture::hub`: where the forward path hands off events without ever
//!   blocking; its consumers are the store (bounded, in memory), the
//!   recorder (`--record`) and WebSocket clients of the [`ui`] server,
//!   guarded by [`access`].
//!
//! # What it is not
//! The relay never decodes payloads: it ships raw messages and descriptor
//! sets, and the browser (or `loom decode`) decodes them with `loom-shared`.
//! Capture never alters or slows traffic: a consumer that falls behind loses
//! events and is told how many.

pub mod access;
pub mod assets;
pub mod capture;
pub mod config;
pub mod decode;
pub mod demo;
pub mod forward;
pub mod message_api;
pub mod reflection;
pub mod schema;
pub mod shutdown;
pub mod tls;
pub mod ui;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use loom_shared::redact::Redactor;
use tokio::net::TcpListener;

pub use capture::recorder::RecordError;
pub use config::{Config, ConfigError, HostedUi, Origin, PairingToken, Upstream};

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
    #[error("cannot start the forward path's threads: {0}")]
    Workers(std::io::Error),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
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
    run_with(
        config,
        listener,
        ui_listener,
        forward::Seams::default(),
        shutdown,
    )
    .await
}

/// [`run`], with client connections from any [`forward::listen::Listener`]
/// and the forward path's [`forward::Seams`] given.
pub async fn run_with(
    config: Config,
    listener: impl forward::listen::Listener,
    ui_listener: TcpListener,
    seams: forward::Seams,
    shutdown: impl Future<Output = ()>,
) -> Result<(), RelayError> {
    config.validate()?;
    let relay_addr = listener.local_name().map_err(RelayError::Listener)?;
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
    let key_log: Option<Arc<dyn rustls::KeyLog>> = match &config.key_log {
        Some(path) => Some(Arc::new(tls::keylog::KeyLogFile::open(path)?)),
        None => None,
    };
    let connect: Arc<dyn forward::upstream::Connect> = match seams.connect {
        Some(connect) => connect,
        None => Arc::new(
            tls::client::TlsConnect::new(&config.upstream_tls, key_log.clone())?
                .with_pins(config.resolve.clone())
                .naming(config.upstream.clone()),
        ),
    };
    let listen_tls = tls::server::ListenTlsServer::new(&config.listen_tls, key_log)?.map(Arc::new);
    let hub = capture::hub::Hub::new(&capture::hub::HubConfig {
        store_bytes: config.max_capture_bytes,
        schema_bytes: config.max_schema_bytes,
        live_bytes: config.live_buffer_bytes,
        record_bytes: config.record.as_ref().map(|_| config.record_buffer_bytes),
    });
    let reflector = Arc::new(reflection::Reflector::new(
        &config,
        hub.clone(),
        local_services,
        connect.clone(),
    )?);
    let recorder = match &config.record {
        Some(path) => {
            let recorder = capture::recorder::Recorder::create(path, redactor.clone())?;
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
    let partial = capture::framing::PartialBudget::new(config.max_partial_bytes);
    let header_limit = forward::header_limit::HeaderLimit::default();
    let route: Arc<dyn forward::route::Route> = seams.route.unwrap_or_else(|| {
        let default = forward::route::Target::with_header_limit(
            config.upstream.clone(),
            header_limit.clone(),
        );
        Arc::new(forward::route::Routes::new(default, &config.routes))
    });
    let stopping = capture::call::Stopping::default();
    let forwarder = Arc::new(forward::Forwarder {
        hub: hub.clone(),
        reflector: reflector.clone(),
        route: route.clone(),
        connect: connect.clone(),
        tls: listen_tls,
        http1: seams.http1.unwrap_or_else(|| {
            Arc::new(Arc::new(forward::http1::Http1Forward {
                hub: hub.clone(),
                reflector: reflector.clone(),
                route: route.clone(),
                connect: connect.clone(),
                max_message_bytes: config.max_message_bytes,
                partial: partial.clone(),
                stopping: stopping.clone(),
                refusal: forward::protocol::Http1Refusal::new(
                    &config.upstream.to_string(),
                    &ui_url,
                ),
            }))
        }),
        max_message_bytes: config.max_message_bytes,
        partial: partial.clone(),
        proxy: forward::tunnel::Proxy {
            allowed: config.allow_upstreams.clone(),
            pins: config.resolve.clone(),
        },
        first_request_timeout: config.first_request_timeout,
        stopping,
    });
    // What request metadata the upstream accepts: read now, then now and then.
    let limits = {
        let limit = header_limit;
        let upstream = config.upstream.clone();
        limit.refresh(&*connect, &upstream).await;
        let mut stop = serving.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(forward::header_limit::REPROBE_EVERY) => limit.refresh(&*connect, &upstream).await,
                    () = stop.wait() => break,
                }
            }
        })
    };
    let workers =
        forward::workers::Workers::start(config.forward_threads()).map_err(RelayError::Workers)?;
    let proxy_task = tokio::spawn(forward::listen::serve(
        listener,
        forwarder,
        workers,
        serving.clone(),
        config.shutdown_grace,
    ));

    let ui_state = Arc::new(ui::UiState {
        hub: hub.clone(),
        redactor,
        upstream: config.upstream.to_string(),
        relay_addr: relay_addr.clone(),
        started: Instant::now(),
        stop: serving.clone(),
        ws_clients: AtomicU64::new(0),
        reflector,
        partial,
        downloads: Arc::new(tokio::sync::Semaphore::new(ui::MAX_DOWNLOADS)),
        live_preview_bytes: config.live_preview_bytes,
        tls: tls::health(&config),
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
    for route in &config.routes {
        let matches = match &route.matches {
            config::RouteMatch::Authority(a) => format!(":authority {a}"),
            config::RouteMatch::PathPrefix(p) => format!("paths under {p}"),
        };
        tracing::info!("route: {matches} to {}", route.upstream);
    }
    tracing::info!(
        "proxy clients (CONNECT host:port) may reach: {} (--allow-upstream)",
        config.allow_upstreams.describe()
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
