//! TLS on both ends of a test, in Rust: [`TlsBackend`] serves the probe
//! backend ([`crate::backend`]) over TLS on 127.0.0.1:0, and the client
//! helpers ([`tls_connect`], [`tls_channel`]) reach any TLS server with a
//! rustls configuration (normally [`crate::pki::TestPki::client_config`]).
//!
//! The backend is tonic's server on `serve_with_incoming`, fed connections
//! that tokio-rustls has already accepted: whatever the rustls
//! [`ServerConfig`] says holds (its certificate, ALPN, client certificates:
//! [`crate::pki::TestPki::server_config`] makes one). It records every
//! handshake ([`Handshakes`]: SNI, ALPN, TLS version, the client's
//! certificates), and the failed ones with rustls' error, so a test can ask
//! what the relay sent upstream. Each call's request carries its
//! connection's [`TlsConnInfo`] as an extension.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::StreamExt as _;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ProtocolVersion, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tonic::transport::server::Connected;
use tonic::transport::{Channel, Endpoint};

use crate::backend::{Observed, probe_service};

/// How long a client may take over its handshake before the backend gives
/// up on it (recorded as failed).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// One completed handshake, as the server saw it.
#[derive(Debug, Clone)]
pub struct Handshake {
    /// The client's SNI.
    pub sni: Option<String>,
    /// The protocol ALPN settled on (`h2`), if any.
    pub alpn: Option<Vec<u8>>,
    pub version: Option<ProtocolVersion>,
    /// The client's certificate chain (empty without one).
    pub client_certs: Vec<CertificateDer<'static>>,
}

/// Every handshake a [`TlsBackend`] finished or failed, in order.
#[derive(Default)]
pub struct Handshakes {
    done: Mutex<Vec<Handshake>>,
    failed: Mutex<Vec<String>>,
    changed: Notify,
}

impl Handshakes {
    /// The completed handshakes so far.
    pub fn done(&self) -> Vec<Handshake> {
        self.done.lock().expect("handshakes lock").clone()
    }

    /// The failed handshakes so far, as rustls' errors (or a timeout).
    pub fn failed(&self) -> Vec<String> {
        self.failed.lock().expect("handshakes lock").clone()
    }

    /// Waits until `done` and `failed` together hold at least `n`; false
    /// after `limit`.
    pub async fn wait(&self, n: usize, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.changed.notified();
            if self.done().len() + self.failed().len() >= n {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.done().len() + self.failed().len() >= n;
            }
        }
    }

    fn push_done(&self, handshake: Handshake) {
        self.done.lock().expect("handshakes lock").push(handshake);
        self.changed.notify_waiters();
    }

    fn push_failed(&self, error: String) {
        self.failed.lock().expect("handshakes lock").push(error);
        self.changed.notify_waiters();
    }
}

/// A call's connection, in its request's extensions
/// (`request.extensions().get::<TlsConnInfo>()`).
#[derive(Debug, Clone)]
pub struct TlsConnInfo {
    pub remote: SocketAddr,
    pub handshake: Handshake,
}

/// An accepted TLS connection, as tonic's server takes it.
struct TlsConn {
    stream: tokio_rustls::server::TlsStream<TcpStream>,
    info: TlsConnInfo,
}

impl Connected for TlsConn {
    type ConnectInfo = TlsConnInfo;

    fn connect_info(&self) -> TlsConnInfo {
        self.info.clone()
    }
}

impl AsyncRead for TlsConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The probe backend over TLS (see the module's header); stops on drop.
pub struct TlsBackend {
    pub addr: SocketAddr,
    pub observed: Arc<Observed>,
    pub handshakes: Arc<Handshakes>,
    stop: Option<oneshot::Sender<()>>,
    serve: JoinHandle<()>,
    accept: JoinHandle<()>,
}

impl TlsBackend {
    /// Serves on 127.0.0.1:0 with `config`.
    pub async fn start(config: Arc<ServerConfig>) -> TlsBackend {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the TLS backend");
        Self::start_on(listener, config).await
    }

    /// Serves on `listener` (to restart on the same port) with `config`.
    pub async fn start_on(listener: TcpListener, config: Arc<ServerConfig>) -> TlsBackend {
        let addr = listener.local_addr().expect("TLS backend addr");
        let observed = Arc::new(Observed::default());
        let handshakes = Arc::new(Handshakes::default());
        let (conns, incoming) = mpsc::channel::<TlsConn>(16);
        let accept = tokio::spawn(accept_loop(
            listener,
            TlsAcceptor::from(config),
            conns,
            handshakes.clone(),
        ));
        let incoming =
            tokio_stream::wrappers::ReceiverStream::new(incoming).map(Ok::<_, io::Error>);
        let service = probe_service(observed.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let serve = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = stopped.await;
                })
                .await;
        });
        TlsBackend {
            addr,
            observed,
            handshakes,
            stop: Some(stop),
            serve,
            accept,
        }
    }

    /// Stops serving and waits until the port is closed.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.accept.abort();
        self.serve.abort();
        let _ = (&mut self.accept).await;
        let _ = (&mut self.serve).await;
    }
}

impl Drop for TlsBackend {
    fn drop(&mut self) {
        self.accept.abort();
        self.serve.abort();
    }
}

/// Accepts TCP connections and hands each to tonic once its handshake is
/// done; handshakes run side by side, so a slow one holds up no other.
async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    conns: mpsc::Sender<TlsConn>,
    handshakes: Arc<Handshakes>,
) {
    let mut pending = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((tcp, remote)) = accepted else { continue };
                let _ = tcp.set_nodelay(true);
                let acceptor = acceptor.clone();
                let conns = conns.clone();
                let handshakes = handshakes.clone();
                pending.spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            let handshake = handshake_of(stream.get_ref().1);
                            handshakes.push_done(handshake.clone());
                            let info = TlsConnInfo { remote, handshake };
                            let _ = conns.send(TlsConn { stream, info }).await;
                        }
                        Ok(Err(e)) => handshakes.push_failed(e.to_string()),
                        Err(_) => handshakes.push_failed("the handshake timed out".into()),
                    }
                });
            }
            Some(_) = pending.join_next(), if !pending.is_empty() => {}
        }
    }
}

fn handshake_of(session: &rustls::ServerConnection) -> Handshake {
    Handshake {
        sni: session.server_name().map(str::to_owned),
        alpn: session.alpn_protocol().map(<[u8]>::to_vec),
        version: session.protocol_version(),
        client_certs: session
            .peer_certificates()
            .map(|certs| certs.iter().map(|c| c.clone().into_owned()).collect())
            .unwrap_or_default(),
    }
}

/// A TLS connection to `addr`, with SNI and certificate check for
/// `server_name` (a DNS name or an IP address).
pub async fn tls_connect(
    addr: SocketAddr,
    server_name: &str,
    config: Arc<ClientConfig>,
) -> io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let name = ServerName::try_from(server_name.to_owned())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    TlsConnector::from(config).connect(name, tcp).await
}

/// rustls' own error inside an error of [`tls_connect`] (a failed
/// handshake), if it is one.
pub fn rustls_error(error: &io::Error) -> Option<&rustls::Error> {
    error.get_ref()?.downcast_ref::<rustls::Error>()
}

/// A tonic channel to `addr` over TLS with `config`, for
/// `https://<server_name>:<port>` (the `:authority` and SNI are
/// `server_name`), connected.
pub async fn tls_channel(
    addr: SocketAddr,
    server_name: &str,
    config: Arc<ClientConfig>,
) -> Result<Channel, tonic::transport::Error> {
    let name = server_name.to_owned();
    let uri = format!("https://{server_name}:{}", addr.port());
    Endpoint::from_shared(uri)?
        .connect_with_connector(tower::service_fn(move |_: http::Uri| {
            let config = config.clone();
            let name = name.clone();
            async move { tls_connect(addr, &name, config).await.map(TokioIo::new) }
        }))
        .await
}
