//! The demo gRPC server: `loom.demo.v1.Inventory` plus server reflection v1
//! and v1alpha, with demo metadata on every Inventory response.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body::Frame;
use http_body_util::BodyExt as _;
use tokio::net::TcpListener;
use tonic::codec::CompressionEncoding;
use tonic::transport::server::TcpIncoming;

use super::FILE_DESCRIPTOR_SET;
use super::pb::inventory_server::InventoryServer;
use super::service::InventoryService;

/// The largest message the demo backend sends or accepts.
pub const MAX_MESSAGE_BYTES: usize = 16 << 20;
/// How long [`DemoBackend::stop`] lets in-flight calls finish.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// Response header on every Inventory call: `x-demo-server: loom`.
pub const SERVER_HEADER: &str = "x-demo-server";
/// Binary response header on every Inventory call: [`TRACE_PREFIX`] then a
/// big-endian call counter.
pub const TRACE_HEADER: &str = "x-demo-trace-bin";
/// The first 8 bytes of every `x-demo-trace-bin` value.
pub const TRACE_PREFIX: [u8; 8] = [b'l', b'o', b'o', b'm', 0x00, 0xff, 0x80, 0x7f];
/// Trailer on every Inventory call: whole milliseconds the call took.
pub const ELAPSED_TRAILER: &str = "x-demo-elapsed-ms";
/// Request header the backend echoes in its response headers.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// A running demo backend. Dropping it stops it abruptly; prefer [`stop`](Self::stop).
pub struct DemoBackend {
    pub addr: SocketAddr,
    /// Serving TLS, with a certificate signed by this CA (PEM file).
    pub tls_ca: Option<std::path::PathBuf>,
    stop: crate::shutdown::Stop,
    task: tokio::task::JoinHandle<()>,
}

impl DemoBackend {
    /// Serve cleartext HTTP/2 on `listener` until stopped.
    pub async fn start(listener: TcpListener) -> DemoBackend {
        Self::serve(listener, None).await
    }

    /// Serve TLS (ALPN `h2`) on `listener` with `leaf`, a certificate that
    /// `ca` (a PEM file) signed, until stopped.
    pub async fn start_tls(
        listener: TcpListener,
        leaf: Arc<rustls::sign::CertifiedKey>,
        ca: std::path::PathBuf,
    ) -> DemoBackend {
        let mut config = rustls::ServerConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()
            .map(|b| {
                b.with_no_client_auth()
                    .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(leaf)))
            })
            .expect("rustls' default protocol versions are valid with its own provider");
        config.alpn_protocols = vec![crate::tls::ALPN_H2.to_vec()];
        let mut backend = Self::serve(
            listener,
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))),
        )
        .await;
        backend.tls_ca = Some(ca);
        backend
    }

    async fn serve(listener: TcpListener, tls: Option<tokio_rustls::TlsAcceptor>) -> DemoBackend {
        // A bound listener always has a local address.
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let (stop, stopped) = crate::shutdown::signal();
        let inventory = InventoryServer::new(InventoryService::new(stopped.clone()))
            .send_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        // The descriptor set is built with the crate and a test decodes it.
        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .build_v1()
            .expect("the demo descriptor set is valid");
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .build_v1alpha()
            .expect("the demo descriptor set is valid");
        let mut shutdown = stopped;
        let task = tokio::spawn(async move {
            let router = tonic::transport::Server::builder()
                .layer(DemoMetadataLayer::default())
                .add_service(inventory)
                .add_service(reflection_v1)
                .add_service(reflection_v1alpha);
            let stopped = async move {
                shutdown.wait().await;
            };
            let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
            let served = match tls {
                None => router.serve_with_incoming_shutdown(incoming, stopped).await,
                Some(acceptor) => {
                    router
                        .serve_with_incoming_shutdown(handshakes(incoming, acceptor), stopped)
                        .await
                }
            };
            if let Err(e) = served {
                tracing::warn!("the demo backend failed: {e}");
            }
        });
        tracing::debug!("demo backend serving on {addr}");
        DemoBackend {
            addr,
            tls_ca: None,
            stop,
            task,
        }
    }

    /// Stop accepting, end open Watch streams, give other in-flight calls a
    /// moment to finish, then close every connection.
    pub async fn stop(mut self) {
        self.stop.stop();
        if tokio::time::timeout(STOP_GRACE, &mut self.task)
            .await
            .is_err()
        {
            tracing::debug!("demo backend calls still running after {STOP_GRACE:?}; aborting");
            self.task.abort();
            let _ = (&mut self.task).await;
        }
    }
}

impl Drop for DemoBackend {
    fn drop(&mut self) {
        self.stop.stop();
        self.task.abort();
    }
}

/// The TLS streams of `incoming`'s connections, each handshake on a task of
/// its own (one slow client holds up no other); failed ones are logged.
fn handshakes(
    mut incoming: TcpIncoming,
    acceptor: tokio_rustls::TlsAcceptor,
) -> impl futures_util::Stream<
    Item = std::io::Result<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>,
> {
    use futures_util::StreamExt as _;
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        while let Some(accepted) = incoming.next().await {
            let Ok(tcp) = accepted else { continue };
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                match acceptor.accept(tcp).await {
                    Ok(tls) => {
                        let _ = tx.send(Ok(tls)).await;
                    }
                    Err(e) => tracing::debug!("demo backend: TLS handshake failed: {e}"),
                }
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

/// Adds the demo headers and trailer to Inventory responses (reflection is
/// left as it is).
#[derive(Clone, Default)]
struct DemoMetadataLayer {
    calls: Arc<AtomicU64>,
}

impl<S> tower::Layer<S> for DemoMetadataLayer {
    type Service = DemoMetadata<S>;

    fn layer(&self, inner: S) -> DemoMetadata<S> {
        DemoMetadata {
            inner,
            calls: self.calls.clone(),
        }
    }
}

#[derive(Clone)]
struct DemoMetadata<S> {
    inner: S,
    calls: Arc<AtomicU64>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, ReqBody, ResBody> tower::Service<Request<ReqBody>> for DemoMetadata<S>
where
    S: tower::Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<tonic::codegen::StdError>,
{
    type Response = Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let started = Instant::now();
        let demo = req.uri().path().starts_with("/loom.demo.v1.Inventory/");
        let request_id = req.headers().get(REQUEST_ID_HEADER).cloned();
        let call = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        let response = self.inner.call(req);
        Box::pin(async move {
            let response = response.await?;
            if !demo {
                return Ok(response.map(tonic::body::Body::new));
            }
            let (mut parts, body) = response.into_parts();
            let h = &mut parts.headers;
            h.insert(SERVER_HEADER, HeaderValue::from_static("loom"));
            let mut trace = TRACE_PREFIX.to_vec();
            trace.extend_from_slice(&call.to_be_bytes());
            if let Ok(v) = HeaderValue::from_str(&STANDARD_NO_PAD.encode(trace)) {
                h.insert(TRACE_HEADER, v);
            }
            if let Some(id) = request_id {
                h.insert(REQUEST_ID_HEADER, id);
            }
            if h.contains_key("grpc-status") {
                // Trailers-only: these headers are the trailers.
                add_elapsed(h, started);
                return Ok(Response::from_parts(parts, tonic::body::Body::new(body)));
            }
            let body = body.map_frame(move |frame: Frame<Bytes>| match frame.into_trailers() {
                Ok(mut trailers) => {
                    add_elapsed(&mut trailers, started);
                    Frame::trailers(trailers)
                }
                Err(frame) => frame,
            });
            Ok(Response::from_parts(parts, tonic::body::Body::new(body)))
        })
    }
}

fn add_elapsed(headers: &mut HeaderMap, started: Instant) {
    headers.insert(
        ELAPSED_TRAILER,
        HeaderValue::from(started.elapsed().as_millis() as u64),
    );
}
