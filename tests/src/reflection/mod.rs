//! A backend with a hand-written gRPC Server Reflection service, for testing
//! how the relay learns schemas.
//!
//! [`ReflectingBackend`] serves the Probe and Catalog test services on
//! `127.0.0.1:0` and, depending on [`ReflectionMode`], reflection v1,
//! v1alpha, both, neither, or a reflection service that always fails. It can
//! withhold files, answer slowly, or answer `file_containing_symbol` with only
//! the requested file (as many real servers do), and it counts and records
//! every exchange so tests can assert exactly what the relay asked for.
//! Waiting is done on [`Stats::wait_until`], never by sleeping.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use prost::Message as _;
use prost_types::{DescriptorProto, FileDescriptorProto, FileDescriptorSet};
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::{KeyAndValueRef, MetadataMap};
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status, Streaming};
use tonic_reflection::pb::{v1, v1alpha};

mod server;

use server::{Reflector, Schema, V1AlphaReflection, V1Reflection};

use crate::probe::catalog_server::{Catalog, CatalogServer};
use crate::probe::probe_server::{Probe, ProbeServer};
use crate::probe::{Item, ItemKey, LookupReply, LookupRequest, Money, ProbeReply, ProbeRequest};

/// Every test proto and its imports (well-known types included), encoded as
/// a `google.protobuf.FileDescriptorSet`, as written by
/// `protoc --include_imports --descriptor_set_out`.
pub const TEST_FDS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/test.fds"));

pub const CATALOG_SERVICE: &str = "loom.test.v1.Catalog";
pub const PROBE_SERVICE: &str = "loom.test.v1.Probe";
pub const CATALOG_FILE: &str = "loom/test/v1/catalog.proto";
pub const COMMON_FILE: &str = "loom/test/v1/common.proto";
pub const MONEY_FILE: &str = "loom/test/v1/money.proto";
pub const PROBE_FILE: &str = "loom/test/v1/probe.proto";
pub const TIMESTAMP_FILE: &str = "google/protobuf/timestamp.proto";

/// gRPC status code NOT_FOUND, as sent in an `ErrorResponse`.
const NOT_FOUND: i32 = 5;
/// gRPC status code UNIMPLEMENTED, as sent in an `ErrorResponse`.
const UNIMPLEMENTED: i32 = 12;

/// [`TEST_FDS`], decoded.
pub fn test_fds() -> FileDescriptorSet {
    FileDescriptorSet::decode(TEST_FDS).expect("TEST_FDS is a FileDescriptorSet")
}

/// [`TEST_FDS`] restricted to `files` (by name), encoded.
pub fn test_fds_subset(files: &[&str]) -> Vec<u8> {
    let mut set = test_fds();
    set.file.retain(|f| files.contains(&f.name()));
    assert_eq!(set.file.len(), files.len(), "every file is in TEST_FDS");
    set.encode_to_vec()
}

/// Which reflection services the backend registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReflectionMode {
    V1Only,
    V1AlphaOnly,
    Both,
    /// No reflection service at all: tonic answers UNIMPLEMENTED.
    None,
    /// Both versions registered, but every exchange fails: the first request
    /// is read (and recorded), then the stream ends with UNAVAILABLE.
    Failing,
    /// Both versions registered; v1 reads the first request and then
    /// neither answers nor refuses (a hung service), v1alpha works.
    V1Hangs,
    /// tonic-reflection's own v1 service over [`TEST_FDS`], as real tonic
    /// servers run it. Only [`Stats::requests_to`] counts its exchanges;
    /// `omit_files`, `delay` and `only_requested_file` do not apply.
    TonicV1,
    /// tonic-reflection's own v1alpha service (as [`ReflectionMode::TonicV1`]).
    TonicV1Alpha,
    /// tonic-reflection's own v1 and v1alpha services.
    TonicBoth,
}

#[derive(Debug, Clone)]
pub struct ReflectionOptions {
    pub mode: ReflectionMode,
    /// Files answered with an `ErrorResponse` NOT_FOUND, as if the server did
    /// not have them; they are never included among another file's dependencies.
    pub omit_files: Vec<String>,
    /// Pause before each response.
    pub delay: Duration,
    /// Answer file requests with the one file only, not its dependencies.
    pub only_requested_file: bool,
}

impl Default for ReflectionOptions {
    fn default() -> Self {
        ReflectionOptions {
            mode: ReflectionMode::Both,
            omit_files: Vec::new(),
            delay: Duration::ZERO,
            only_requested_file: false,
        }
    }
}

impl ReflectionOptions {
    pub fn mode(mode: ReflectionMode) -> Self {
        ReflectionOptions {
            mode,
            ..Default::default()
        }
    }
}

/// Which reflection protocol an exchange used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V1Alpha,
}

/// One reflection stream the backend accepted.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub version: Version,
    /// When the stream arrived.
    pub opened: std::time::Instant,
    /// The request metadata (ASCII entries only), in order.
    pub metadata: Vec<(String, String)>,
    /// Each request, described as `symbol:NAME`, `file:NAME`, `list` or `other`.
    pub requests: Vec<String>,
}

impl Exchange {
    /// The symbol of the first `file_containing_symbol` request, if any.
    pub fn first_symbol(&self) -> Option<&str> {
        self.requests.iter().find_map(|r| r.strip_prefix("symbol:"))
    }
}

/// What the backend saw, for assertions.
#[derive(Default)]
pub struct Stats {
    /// Reflection streams opened, per version.
    pub v1_exchanges: AtomicU64,
    pub v1alpha_exchanges: AtomicU64,
    /// Reflection requests received, all versions.
    pub requests: AtomicU64,
    /// Reflection responses sent (counted just before each is handed to the
    /// transport, so 0 means none has left yet).
    pub responses_sent: AtomicU64,
    /// Application calls served (Probe and Catalog).
    pub calls: AtomicU64,
    /// Requests per `:path`, including paths no service serves.
    paths: Mutex<BTreeMap<String, u64>>,
    log: Mutex<Vec<Exchange>>,
    changed: Notify,
}

impl Stats {
    /// Reflection streams opened, both versions.
    pub fn exchanges(&self) -> u64 {
        self.v1_exchanges.load(Ordering::SeqCst) + self.v1alpha_exchanges.load(Ordering::SeqCst)
    }

    pub fn responses(&self) -> u64 {
        self.responses_sent.load(Ordering::SeqCst)
    }

    /// Requests that arrived for `path`, served or not (an absent service's
    /// UNIMPLEMENTED answers count too).
    pub fn requests_to(&self, path: &str) -> u64 {
        let paths = self.paths.lock().expect("stats lock");
        paths.get(path).copied().unwrap_or(0)
    }

    fn record_path(&self, path: &str) {
        *self
            .paths
            .lock()
            .expect("stats lock")
            .entry(path.to_owned())
            .or_default() += 1;
        self.changed.notify_waiters();
    }

    /// Every exchange so far, in the order they were opened.
    pub fn log(&self) -> Vec<Exchange> {
        self.log.lock().expect("stats lock").clone()
    }

    /// Exchanges whose first symbol request was for `service`.
    pub fn exchanges_for(&self, service: &str) -> usize {
        self.log()
            .iter()
            .filter(|e| e.first_symbol() == Some(service))
            .count()
    }

    /// Every request, of every exchange, in order.
    pub fn all_requests(&self) -> Vec<String> {
        self.log().into_iter().flat_map(|e| e.requests).collect()
    }

    /// A one-line summary for failure messages.
    pub fn summary(&self) -> String {
        format!(
            "v1 exchanges {}, v1alpha exchanges {}, requests {}, responses {}, calls {}; paths {:?}; \
             log {:?}",
            self.v1_exchanges.load(Ordering::SeqCst),
            self.v1alpha_exchanges.load(Ordering::SeqCst),
            self.requests.load(Ordering::SeqCst),
            self.responses_sent.load(Ordering::SeqCst),
            self.calls.load(Ordering::SeqCst),
            self.paths.lock().expect("stats lock"),
            self.log(),
        )
    }

    /// Wait until `done` holds, or panic (naming `what`) after `limit`.
    pub async fn wait_until(&self, limit: Duration, what: &str, done: impl Fn(&Stats) -> bool) {
        if !self.wait_within(limit, done).await {
            panic!(
                "timed out after {limit:?} waiting for {what}; {}",
                self.summary()
            );
        }
    }

    /// Wait until `done` holds; false if it still does not after `limit`.
    pub async fn wait_within(&self, limit: Duration, done: impl Fn(&Stats) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            // Created before the check, so a change in between is not missed.
            let notified = self.changed.notified();
            if done(self) {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return done(self);
            }
        }
    }

    fn bump(&self, counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    fn open_exchange(&self, version: Version, metadata: &MetadataMap) -> usize {
        let metadata = metadata
            .iter()
            .filter_map(|kv| match kv {
                KeyAndValueRef::Ascii(k, v) => {
                    Some((k.to_string(), v.to_str().unwrap_or("").to_owned()))
                }
                KeyAndValueRef::Binary(..) => None,
            })
            .collect();
        let index = {
            let mut log = self.log.lock().expect("stats lock");
            log.push(Exchange {
                version,
                opened: std::time::Instant::now(),
                metadata,
                requests: Vec::new(),
            });
            log.len() - 1
        };
        self.bump(match version {
            Version::V1 => &self.v1_exchanges,
            Version::V1Alpha => &self.v1alpha_exchanges,
        });
        index
    }

    fn record_request(&self, exchange: usize, request: &v1::ServerReflectionRequest) {
        use v1::server_reflection_request::MessageRequest;
        let described = match &request.message_request {
            Some(MessageRequest::FileContainingSymbol(s)) => format!("symbol:{s}"),
            Some(MessageRequest::FileByFilename(f)) => format!("file:{f}"),
            Some(MessageRequest::ListServices(_)) => "list".to_owned(),
            _ => "other".to_owned(),
        };
        self.log.lock().expect("stats lock")[exchange]
            .requests
            .push(described);
        self.bump(&self.requests);
    }
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// Catalog: `Lookup` answers with an item for the key; `Browse` streams
/// `count` items.
struct CatalogService {
    stats: Arc<Stats>,
}

fn item(req: &LookupRequest, index: u32) -> LookupReply {
    let sku = req.key.as_ref().map(|k| k.sku.clone()).unwrap_or_default();
    LookupReply {
        item: Some(Item {
            key: Some(ItemKey { sku: sku.clone() }),
            title: format!("item {sku} #{index}"),
            price: Some(Money {
                currency: "EUR".into(),
                units: 12,
                nanos: 500_000_000,
            }),
        }),
        as_of: Some(prost_types::Timestamp {
            seconds: 1_700_000_000,
            nanos: index as i32,
        }),
    }
}

#[tonic::async_trait]
impl Catalog for CatalogService {
    async fn lookup(
        &self,
        request: Request<LookupRequest>,
    ) -> Result<Response<LookupReply>, Status> {
        self.stats.bump(&self.stats.calls);
        Ok(Response::new(item(&request.into_inner(), 0)))
    }

    type BrowseStream = BoxStream<LookupReply>;

    async fn browse(
        &self,
        request: Request<LookupRequest>,
    ) -> Result<Response<Self::BrowseStream>, Status> {
        self.stats.bump(&self.stats.calls);
        let req = request.into_inner();
        let replies: Vec<Result<LookupReply, Status>> =
            (0..req.count).map(|i| Ok(item(&req, i))).collect();
        Ok(Response::new(
            Box::pin(futures_util::stream::iter(replies)) as BoxStream<LookupReply>
        ))
    }
}

/// Probe, minimally: `Unary` echoes; the streaming methods are not needed here.
struct MiniProbe {
    stats: Arc<Stats>,
}

#[tonic::async_trait]
impl Probe for MiniProbe {
    async fn unary(&self, request: Request<ProbeRequest>) -> Result<Response<ProbeReply>, Status> {
        self.stats.bump(&self.stats.calls);
        Ok(Response::new(ProbeReply {
            text: format!("echo: {}", request.into_inner().text),
            ..Default::default()
        }))
    }

    type ServerStreamStream = BoxStream<ProbeReply>;

    async fn server_stream(
        &self,
        _: Request<ProbeRequest>,
    ) -> Result<Response<Self::ServerStreamStream>, Status> {
        Err(Status::unimplemented("not in the reflecting backend"))
    }

    async fn client_stream(
        &self,
        _: Request<Streaming<ProbeRequest>>,
    ) -> Result<Response<ProbeReply>, Status> {
        Err(Status::unimplemented("not in the reflecting backend"))
    }

    type BidiStream = BoxStream<ProbeReply>;

    async fn bidi(
        &self,
        _: Request<Streaming<ProbeRequest>>,
    ) -> Result<Response<Self::BidiStream>, Status> {
        Err(Status::unimplemented("not in the reflecting backend"))
    }
}

pub struct ReflectingBackend {
    pub addr: SocketAddr,
    pub stats: Arc<Stats>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl ReflectingBackend {
    pub async fn start(options: ReflectionOptions) -> ReflectingBackend {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind reflecting backend");
        let addr = listener.local_addr().expect("backend addr");
        let stats = Arc::new(Stats::default());
        let mode = options.mode;
        let reflector = Reflector {
            schema: Arc::new(Schema::load()),
            options: Arc::new(options),
            stats: stats.clone(),
        };
        let v1 = matches!(
            mode,
            ReflectionMode::V1Only
                | ReflectionMode::Both
                | ReflectionMode::Failing
                | ReflectionMode::V1Hangs
        )
        .then(|| {
            v1::server_reflection_server::ServerReflectionServer::new(V1Reflection(
                reflector.clone(),
            ))
        });
        let v1alpha = matches!(
            mode,
            ReflectionMode::V1AlphaOnly
                | ReflectionMode::Both
                | ReflectionMode::Failing
                | ReflectionMode::V1Hangs
        )
        .then(|| {
            v1alpha::server_reflection_server::ServerReflectionServer::new(V1AlphaReflection(
                reflector.clone(),
            ))
        });
        let tonic = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(TEST_FDS)
        };
        let tonic_v1 =
            matches!(mode, ReflectionMode::TonicV1 | ReflectionMode::TonicBoth).then(|| {
                tonic()
                    .build_v1()
                    .expect("tonic-reflection accepts TEST_FDS")
            });
        let tonic_v1alpha = matches!(
            mode,
            ReflectionMode::TonicV1Alpha | ReflectionMode::TonicBoth
        )
        .then(|| {
            tonic()
                .build_v1alpha()
                .expect("tonic-reflection accepts TEST_FDS")
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let catalog = CatalogServer::new(CatalogService {
            stats: stats.clone(),
        });
        let probe = ProbeServer::new(MiniProbe {
            stats: stats.clone(),
        });
        let paths = stats.clone();
        let count_paths =
            tower::util::MapRequestLayer::new(move |request: http::Request<tonic::body::Body>| {
                paths.record_path(request.uri().path());
                request
            });
        let task = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                // Room for a stampede of concurrent calls on one connection.
                .max_concurrent_streams(4096)
                .layer(count_paths)
                .add_service(catalog)
                .add_service(probe)
                .add_optional_service(v1)
                .add_optional_service(v1alpha)
                .add_optional_service(tonic_v1)
                .add_optional_service(tonic_v1alpha)
                .serve_with_incoming_shutdown(
                    TcpIncoming::from(listener).with_nodelay(Some(true)),
                    async {
                        let _ = stopped.await;
                    },
                )
                .await;
        });
        ReflectingBackend {
            addr,
            stats,
            stop: Some(stop),
            task,
        }
    }

    /// `http://127.0.0.1:PORT`, as the relay names this upstream.
    pub fn upstream(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stop serving and wait until the port is closed.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for ReflectingBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}
