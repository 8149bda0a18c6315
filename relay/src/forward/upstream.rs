//! The upstream side: how a connection to a target is opened ([`Connect`]:
//! plain TCP, or TLS by `crate::tls`) and the pool of HTTP/2 connections a client
//! connection's owner keeps, keyed by target ([`Pool`]).
//!
//! A pool belongs to one client connection's task, and that task drives
//! the pool's upstream connections in the same poll as the client's: a
//! call never crosses to another task on its way up or down. A target gets
//! as many connections as its calls in flight need (a new one when every
//! open one has as many streams as the upstream allows). A connection
//! that fails, or that refuses new streams after a GOAWAY, is forgotten and
//! the next call opens another, so a restarted upstream is picked up at
//! once.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use h2::client::SendRequest;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::oneshot;

use crate::config::{Pins, Upstream};
use crate::forward::keepalive::KeepAlive;
use loom_shared::pb;

/// Flow-control window of a whole HTTP/2 connection (either side of the relay).
pub const CONNECTION_WINDOW: u32 = 16 << 20;
/// Flow-control window of one stream: a slow reader holds back only this much.
pub const STREAM_WINDOW: u32 = 2 << 20;
/// The most response metadata the relay takes from an upstream.
const MAX_UPSTREAM_HEADER_LIST: u32 = 16 << 20;
/// How long opening a connection to an upstream may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A connected byte stream, whatever carries it (TCP, TLS, a tunnel).
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// A byte stream behind a box: what the forward path works on.
pub type BoxIo = Box<dyn Io>;

/// A future that opens a byte stream to a target.
pub type Connecting = Pin<Box<dyn Future<Output = io::Result<Connected>> + Send>>;

/// A byte stream to a target, and what TLS carries it (if any).
pub struct Connected {
    pub io: BoxIo,
    pub tls: Option<Arc<pb::TlsSession>>,
}

impl Connected {
    /// A stream with no TLS of its own.
    pub fn plain(io: BoxIo) -> Self {
        Connected { io, tls: None }
    }
}

/// How the relay reaches a target: the seam where TLS
/// ([`crate::tls::client::TlsConnect`]) and tunnels plug in.
pub trait Connect: Send + Sync + 'static {
    fn connect(&self, target: &Upstream) -> Connecting;
}

/// Plain TCP (with `TCP_NODELAY`), or the target's Unix socket; names
/// looked up by the system.
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpConnect;

impl Connect for TcpConnect {
    fn connect(&self, target: &Upstream) -> Connecting {
        let dialing = dial(target, &Pins::default());
        Box::pin(async move { Ok(Connected::plain(dialing.await?)) })
    }
}

/// Opens a byte stream to `target`: its Unix socket, or TCP to the address
/// `pins` give its `host:port` (`--resolve`), else to the name as the
/// system resolves it.
pub fn dial(
    target: &Upstream,
    pins: &Pins,
) -> Pin<Box<dyn Future<Output = io::Result<BoxIo>> + Send>> {
    if let Some(path) = target.unix_path() {
        let path = path.to_owned();
        return Box::pin(async move {
            let stream = tokio::net::UnixStream::connect(&path).await.map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("unix socket connect error ({}): {e}", path.display()),
                )
            })?;
            Ok(Box::new(stream) as BoxIo)
        });
    }
    let pinned = target
        .port()
        .and_then(|port| pins.lookup(target.host(), port));
    let authority = target.authority().to_string();
    Box::pin(async move {
        let connected = match pinned {
            Some(addr) => tokio::net::TcpStream::connect(addr).await,
            None => tokio::net::TcpStream::connect(authority.as_str()).await,
        };
        let stream = connected.map_err(|e| {
            let via = pinned
                .map(|a| format!(" (--resolve: {a})"))
                .unwrap_or_default();
            io::Error::new(e.kind(), format!("tcp connect error{via}: {e}"))
        })?;
        stream.set_nodelay(true)?;
        Ok(Box::new(stream) as BoxIo)
    })
}

/// A [`Connect`] for one target as a tower connector, for clients the
/// relay runs itself (reflection's tonic channel): they reach the upstream
/// exactly as calls do, TLS included.
#[derive(Clone)]
pub struct ConnectService {
    pub connect: Arc<dyn Connect>,
    pub target: Upstream,
}

impl tower::Service<http::Uri> for ConnectService {
    type Response = hyper_util::rt::TokioIo<BoxIo>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: http::Uri) -> Self::Future {
        let connecting = self.connect.connect(&self.target);
        Box::pin(async move { Ok(hyper_util::rt::TokioIo::new(connecting.await?.io)) })
    }
}

/// Why no connection could be had, in words (shared by every call that
/// waited for it).
pub type ConnectFailure = Arc<str>;

/// An upstream connection a call may open a stream on.
pub struct Lease {
    pub send: SendRequest<Bytes>,
    /// Which connection, to forget it if it refuses the stream.
    pub conn: u64,
    /// Its TLS session, if it has one.
    pub tls: Option<Arc<pb::TlsSession>>,
    _slot: StreamSlot,
}

/// Counts a stream against its connection while held.
struct StreamSlot(Arc<AtomicUsize>);

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What a call gets from [`Pool::checkout`].
pub enum Checkout {
    Ready(Lease),
    /// A connection is being opened; the lease follows.
    Wait(oneshot::Receiver<Result<Lease, ConnectFailure>>),
}

impl Checkout {
    /// The lease, once there is one.
    pub async fn lease(self) -> Result<Lease, ConnectFailure> {
        match self {
            Checkout::Ready(lease) => Ok(lease),
            Checkout::Wait(rx) => rx
                .await
                .unwrap_or_else(|_| Err("the relay closed the connection to the upstream".into())),
        }
    }
}

struct Conn {
    id: u64,
    send: SendRequest<Bytes>,
    streams: Arc<AtomicUsize>,
    tls: Option<Arc<pb::TlsSession>>,
}

impl Conn {
    fn lease(&self) -> Lease {
        self.streams.fetch_add(1, Ordering::Relaxed);
        Lease {
            send: self.send.clone(),
            conn: self.id,
            tls: self.tls.clone(),
            _slot: StreamSlot(self.streams.clone()),
        }
    }

    fn has_room(&self) -> bool {
        self.streams.load(Ordering::Relaxed) < self.send.current_max_send_streams().max(1)
    }
}

#[derive(Default)]
struct Slot {
    conns: Vec<Conn>,
    connecting: bool,
    waiters: Vec<oneshot::Sender<Result<Lease, ConnectFailure>>>,
}

enum Event {
    Connected {
        target: Upstream,
        id: u64,
        result: Result<Opened, String>,
    },
    Closed {
        target: Upstream,
        id: u64,
    },
}

type Driver = Pin<Box<dyn Future<Output = ()> + Send>>;

/// An upstream connection, open: where streams are opened, what runs it,
/// and its TLS session.
struct Opened {
    send: SendRequest<Bytes>,
    driver: Driver,
    tls: Option<Arc<pb::TlsSession>>,
}

/// One connection owner's upstream connections, by target.
pub struct Pool {
    connector: Arc<dyn Connect>,
    slots: HashMap<Upstream, Slot>,
    tasks: FuturesUnordered<Pin<Box<dyn Future<Output = Event> + Send>>>,
    next_id: u64,
}

impl Pool {
    pub fn new(connector: Arc<dyn Connect>) -> Self {
        Pool {
            connector,
            slots: HashMap::new(),
            tasks: FuturesUnordered::new(),
            next_id: 0,
        }
    }

    /// A stream's worth of `target`: on an open connection with room, or
    /// on one being opened.
    pub fn checkout(&mut self, target: &Upstream) -> Checkout {
        let slot = self.slots.entry(target.clone()).or_default();
        if let Some(conn) = slot.conns.iter().find(|c| c.has_room()) {
            return Checkout::Ready(conn.lease());
        }
        let (tx, rx) = oneshot::channel();
        slot.waiters.push(tx);
        if !slot.connecting {
            slot.connecting = true;
            self.next_id += 1;
            let id = self.next_id;
            let connecting = self.connector.connect(target);
            let target = target.clone();
            self.tasks.push(Box::pin(async move {
                let result = open(connecting).await;
                Event::Connected { target, id, result }
            }));
        }
        Checkout::Wait(rx)
    }

    /// The connection `conn` of `target` refused a new stream: no more
    /// calls go to it (its streams in flight finish on it).
    pub fn forget(&mut self, target: &Upstream, conn: u64) {
        if let Some(slot) = self.slots.get_mut(target) {
            slot.conns.retain(|c| c.id != conn);
        }
    }

    /// Drives the connections (their I/O, keepalive, opening); never
    /// returns `Ready`.
    pub fn poll(&mut self, cx: &mut Context<'_>) {
        while let Poll::Ready(Some(event)) = self.tasks.poll_next_unpin(cx) {
            match event {
                Event::Connected { target, id, result } => self.connected(target, id, result),
                Event::Closed { target, id } => self.forget(&target, id),
            }
        }
    }

    fn connected(&mut self, target: Upstream, id: u64, result: Result<Opened, String>) {
        let slot = self.slots.entry(target.clone()).or_default();
        slot.connecting = false;
        let waiters = std::mem::take(&mut slot.waiters);
        match result {
            Ok(Opened { send, driver, tls }) => {
                let conn = Conn {
                    id,
                    send,
                    streams: Arc::new(AtomicUsize::new(0)),
                    tls,
                };
                for waiter in waiters {
                    // A waiter that went away drops its lease at once.
                    let _ = waiter.send(Ok(conn.lease()));
                }
                slot.conns.push(conn);
                self.tasks.push(Box::pin(async move {
                    driver.await;
                    Event::Closed { target, id }
                }));
            }
            Err(why) => {
                let why: ConnectFailure = why.into();
                for waiter in waiters {
                    let _ = waiter.send(Err(why.clone()));
                }
            }
        }
    }
}

/// Opens a connection and its HTTP/2 session; the driver runs it (with
/// keepalive pings) until it closes.
async fn open(connecting: Connecting) -> Result<Opened, String> {
    let Connected { io, tls } = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
        .await
        .map_err(|_| format!("no connection within {CONNECT_TIMEOUT:?}"))?
        .map_err(|e| e.to_string())?;
    let (send, mut conn) = h2::client::Builder::new()
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_header_list_size(MAX_UPSTREAM_HEADER_LIST)
        .max_concurrent_reset_streams(1024)
        .handshake::<_, Bytes>(io)
        .await
        .map_err(|e| format!("HTTP/2 handshake failed: {}", describe(&e)))?;
    let mut keepalive = conn.ping_pong().map(KeepAlive::new);
    let driver: Driver = Box::pin(async move {
        let result = std::future::poll_fn(|cx| {
            if let Some(k) = keepalive.as_mut()
                && k.poll_dead(cx).is_ready()
            {
                return Poll::Ready(Err(None));
            }
            Pin::new(&mut conn).poll(cx).map_err(Some)
        })
        .await;
        match result {
            Ok(()) => tracing::debug!("upstream connection closed"),
            Err(Some(e)) => tracing::debug!("upstream connection failed: {}", describe(&e)),
            Err(None) => {
                tracing::debug!("upstream connection dropped: no answer to keepalive pings")
            }
        }
    });
    Ok(Opened { send, driver, tls })
}

/// An error and its causes on one line: "tcp connect error: Connection
/// refused (os error 111)".
/// A TLS failure among the causes is put in words a person can act on
/// ([`crate::tls::explain::explain`]).
pub fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = Some(error);
    while let Some(e) = cause {
        // An I/O error's own `source` skips the error it wraps: look inside.
        let inner = e
            .downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        if let Some(tls) = e.downcast_ref::<rustls::Error>().or(inner) {
            return crate::tls::explain::explain(tls);
        }
        cause = e.source();
    }
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let piece = cause.to_string();
        if !text.contains(&piece) {
            text.push_str(": ");
            text.push_str(&piece);
        }
        source = cause.source();
    }
    text
}
