//! One client connection's task: the only owner of that connection, its
//! calls and its upstream connections.
//!
//! [`serve`] reads the first bytes. A proxy client's `CONNECT` goes to
//! [`crate::forward::tunnel`], which serves what comes through the tunnel
//! here again ([`serve_via`], every call to the tunnel's target). A TLS
//! ClientHello (0x16) goes through the listen port's TLS
//! ([`crate::tls::server`]) and is read again inside it; a cleartext client
//! of a TLS-only port is refused. Then the HTTP/2 preface means gRPC over
//! HTTP/2; anything else goes, bytes put back, to the HTTP/1.1 way in
//! ([`crate::forward::protocol::Http1`]). For HTTP/2, one poll drives, in
//! turn, the client's connection (new streams, and the bytes calls wrote),
//! the [`Pool`] of upstream connections, and every call still running (a
//! [`FuturesUnordered`] polls only the calls that were woken). So a call's
//! bytes cross no task and no thread between the client and the upstream.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;

use crate::forward::Forwarder;
use crate::forward::authority::RepairAuthority;
use crate::forward::call::{self, ClientSide, Retry};
use crate::forward::keepalive::KeepAlive;
use crate::forward::late_reset::LateResets;
use crate::forward::protocol::{self, PREFACE};
use crate::forward::route::Target;
use crate::forward::upstream::{BoxIo, CONNECTION_WINDOW, Pool, STREAM_WINDOW};
use crate::shutdown::Shutdown;
use crate::tls::server::Alpn;
use loom_shared::h2frame::FrameScanner;
use loom_shared::pb;

/// The most request metadata the relay takes from a client.
const MAX_CLIENT_HEADER_LIST: u32 = 1 << 20;
/// The most streams a client may have open at once.
const MAX_CLIENT_STREAMS: u32 = 1000;

/// Serve one client connection to its end (or until `stop`, then
/// gracefully: no new calls, the running ones finish).
pub async fn serve(fwd: Arc<Forwarder>, io: BoxIo, peer: Peer, stop: Shutdown) {
    serve_via(fwd, io, stop, Via::Listen(peer)).await;
}

/// Who connected, for logs (and what their `:authority` may be).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    Tcp(std::net::SocketAddr),
    /// A local process, over a Unix domain socket.
    Local,
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Tcp(addr) => write!(f, "{addr}"),
            Peer::Local => f.write_str("local"),
        }
    }
}

/// How a connection reached the relay, which decides where its calls go.
#[derive(Debug, Clone)]
pub enum Via {
    /// The listen port: calls go where the relay's [`crate::forward::route`]
    /// says; a proxy client's `CONNECT` opens a tunnel.
    Listen(Peer),
    /// A proxy client's tunnel to `host:port`: every call goes there
    /// (`https://` when the client speaks TLS inside, `http://` if not).
    Tunnel(http::uri::Authority),
}

/// [`serve`], for a connection that came `via`.
pub async fn serve_via(fwd: Arc<Forwarder>, io: BoxIo, stop: Shutdown, via: Via) {
    let deadline = tokio::time::Instant::now() + fwd.first_request_timeout;
    let Some((first, io)) = sniff(&fwd, io, deadline).await else {
        return;
    };
    if matches!(via, Via::Listen(_)) && first.starts_with(CONNECT) {
        let io: BoxIo = Box::new(Rewind::plain(first, io));
        let Some(tunnel) = crate::forward::tunnel::open(&fwd, io, deadline).await else {
            return;
        };
        let span = tracing::info_span!("tunnel", to = %tunnel.target);
        // Boxed: the tunnel is served by this function again.
        let inside = Box::pin(serve_via(fwd, tunnel.io, stop, Via::Tunnel(tunnel.target)));
        tracing::Instrument::instrument(inside, span).await;
        return;
    }
    // A Unix socket's clients may name its path as the authority.
    let authority = match via {
        Via::Listen(Peer::Local) => Authority::Repair,
        _ => Authority::AsSent,
    };
    let fixed = |tls: bool| match &via {
        Via::Listen(_) => None,
        Via::Tunnel(authority) => {
            let upstream = crate::config::Upstream::net(authority, tls).ok()?;
            Some(Arc::new(Target::new(upstream)))
        }
    };
    if first.first() == Some(&TLS_HANDSHAKE) {
        let Some(tls) = fwd.tls.clone() else {
            tracing::warn!(
                "a client started TLS, but this relay serves cleartext only (give it a local CA \
                 folder or --listen-cert)"
            );
            return;
        };
        let io: BoxIo = Box::new(Rewind::plain(first, io));
        let accepted = match tokio::time::timeout_at(deadline, tls.accept(io)).await {
            Ok(Ok(accepted)) => accepted,
            Ok(Err(e)) => {
                tracing::info!("TLS handshake with a client failed: {e}");
                return;
            }
            Err(_) => {
                tracing::debug!("no TLS handshake within {:?}", fwd.first_request_timeout);
                return;
            }
        };
        let Some((first, io)) = sniff(&fwd, accepted.io, deadline).await else {
            return;
        };
        let is_h2 = first.starts_with(PREFACE);
        if is_h2 && accepted.alpn != Alpn::H2 {
            let text = "loom: HTTP/2 over TLS needs ALPN h2, and this client did not ask for it \
                        (RFC 9113 section 3.2)";
            protocol::refuse_h2(
                Box::new(Rewind::plain(first, io)),
                protocol::INADEQUATE_SECURITY,
                text,
            )
            .await;
            return;
        }
        let client = Client {
            tls: Some(accepted.session),
            target: fixed(true),
            authority,
        };
        dispatch(fwd, io, first, client, stop, deadline).await;
        return;
    }
    if fwd.tls.as_ref().is_some_and(|tls| tls.tls_only()) {
        let text = "loom: this port takes TLS only (--listen-tls-only); connect with TLS";
        let io: BoxIo = Box::new(Rewind::plain(first.clone(), io));
        if first.starts_with(PREFACE) {
            protocol::refuse_h2(io, protocol::INADEQUATE_SECURITY, text).await;
        } else {
            protocol::refuse_http1(io, http::StatusCode::BAD_REQUEST, text).await;
        }
        return;
    }
    let client = Client {
        tls: None,
        target: fixed(false),
        authority,
    };
    dispatch(fwd, io, first, client, stop, deadline).await;
}

/// What the relay knows of a client connection once it is past TLS.
struct Client {
    /// Its TLS session, if it is TLS.
    tls: Option<Arc<pb::TlsSession>>,
    /// The one target of its calls (a tunnel's), or `None`: routed.
    target: Option<Arc<Target>>,
    authority: Authority,
}

/// What becomes of the `:authority` a client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Authority {
    AsSent,
    /// One `h2` refuses becomes `localhost` ([`RepairAuthority`]).
    Repair,
}

/// How a proxy client's request starts.
const CONNECT: &[u8] = b"CONNECT ";

/// The first byte of a TLS handshake record (a ClientHello).
const TLS_HANDSHAKE: u8 = 0x16;

/// Reads a connection's first bytes: as far as they match the HTTP/2
/// preface (or a proxy client's `CONNECT `). `None` when the client sent
/// nothing in time (or left).
async fn sniff(
    fwd: &Forwarder,
    mut io: BoxIo,
    deadline: tokio::time::Instant,
) -> Option<(Bytes, BoxIo)> {
    let mut first = BytesMut::with_capacity(PREFACE.len());
    let sniffed = tokio::time::timeout_at(deadline, async {
        let undecided = |first: &BytesMut| {
            (first.len() < PREFACE.len() && PREFACE.starts_with(first))
                || (first.len() < CONNECT.len() && CONNECT.starts_with(first))
        };
        while undecided(&first) {
            if io.read_buf(&mut first).await? == 0 {
                break;
            }
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
    match sniffed {
        Ok(Ok(())) if first.is_empty() => None,
        Ok(Ok(())) => Some((first.freeze(), io)),
        Ok(Err(e)) => {
            tracing::debug!("client connection failed before its first bytes: {e}");
            None
        }
        Err(_) => {
            tracing::debug!(
                "no request within {:?}; closing the connection",
                fwd.first_request_timeout
            );
            None
        }
    }
}

/// HTTP/2 (by its preface) to the forward path, anything else to the
/// HTTP/1.1 way in.
async fn dispatch(
    fwd: Arc<Forwarder>,
    io: BoxIo,
    first: Bytes,
    client: Client,
    stop: Shutdown,
    deadline: tokio::time::Instant,
) {
    let is_h2 = first.starts_with(PREFACE);
    let late = LateResets::default();
    let (prefix, io): (Bytes, BoxIo) = if is_h2 && client.authority == Authority::Repair {
        let io = Box::new(Rewind::plain(first, io));
        (Bytes::new(), Box::new(RepairAuthority::new(io)))
    } else {
        (first, io)
    };
    let io: BoxIo = Box::new(Rewind {
        prefix,
        io,
        scanner: is_h2.then(|| (FrameScanner::new(), late.clone())),
    });
    if !is_h2 {
        let conn = crate::forward::protocol::Http1Conn {
            target: client.target,
            client_tls: client.tls,
        };
        fwd.http1.serve(io, conn).await;
        return;
    }
    serve_h2(fwd, io, late, client, stop, deadline).await;
}

async fn serve_h2(
    fwd: Arc<Forwarder>,
    io: BoxIo,
    late: LateResets,
    Client {
        tls: client_tls,
        target: fixed,
        ..
    }: Client,
    stop: Shutdown,
    deadline: tokio::time::Instant,
) {
    let handshake = h2::server::Builder::new()
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_concurrent_streams(MAX_CLIENT_STREAMS)
        .max_header_list_size(MAX_CLIENT_HEADER_LIST)
        .handshake::<_, Bytes>(io);
    let mut server = match tokio::time::timeout_at(deadline, handshake).await {
        Ok(Ok(server)) => server,
        Ok(Err(e)) => {
            tracing::debug!("HTTP/2 handshake with the client failed: {e}");
            return;
        }
        Err(_) => {
            tracing::debug!(
                "no HTTP/2 handshake within {:?}; closing",
                fwd.first_request_timeout
            );
            return;
        }
    };
    let mut keepalive = server.ping_pong().map(KeepAlive::new);
    let mut pool = Pool::new(fwd.connect.clone());
    let (retry_tx, mut retry_rx) = mpsc::unbounded_channel::<Retry>();
    let client = ClientSide {
        retry: retry_tx,
        late,
        tls: client_tls,
    };
    let mut calls = FuturesUnordered::new();
    let mut first_request = Box::pin(tokio::time::sleep_until(deadline));
    let mut asked = false;
    let mut accepting = true;
    let mut stopping = false;
    let mut stop_wait = Box::pin(async move {
        let mut stop = stop;
        stop.wait().await;
    });
    std::future::poll_fn(|cx: &mut Context<'_>| {
        if !stopping && stop_wait.as_mut().poll(cx).is_ready() {
            stopping = true;
            server.graceful_shutdown();
        }
        if !asked && first_request.as_mut().poll(cx).is_ready() {
            tracing::debug!(
                "no request within {:?}; closing the connection",
                fwd.first_request_timeout
            );
            return Poll::Ready(());
        }
        if let Some(k) = keepalive.as_mut()
            && k.poll_dead(cx).is_ready()
        {
            tracing::debug!("the client did not answer keepalive pings; closing");
            return Poll::Ready(());
        }
        for round in 0..2 {
            // The client's connection: new calls, and what calls wrote.
            while accepting {
                match server.poll_accept(cx) {
                    Poll::Ready(Some(Ok((request, respond)))) => {
                        asked = true;
                        let target = match &fixed {
                            Some(target) => target.clone(),
                            None => fwd.route.target(request.uri(), request.headers()),
                        };
                        let checkout = pool.checkout(&target.upstream);
                        calls.push(call::run(
                            fwd.clone(),
                            target,
                            request,
                            respond,
                            checkout,
                            client.clone(),
                        ));
                    }
                    Poll::Ready(Some(Err(e))) => {
                        tracing::debug!("client connection ended: {e}");
                        accepting = false;
                    }
                    Poll::Ready(None) => accepting = false,
                    Poll::Pending => break,
                }
            }
            while let Poll::Ready(Some(retry)) = retry_rx.poll_recv(cx) {
                pool.forget(&retry.target.upstream, retry.conn);
                let _ = retry.reply.send(pool.checkout(&retry.target.upstream));
            }
            // The upstream connections: responses in, requests out.
            pool.poll(cx);
            if round == 1 {
                break;
            }
            while let Poll::Ready(Some(())) = calls.poll_next_unpin(cx) {}
        }
        if !accepting && calls.is_empty() {
            return Poll::Ready(());
        }
        Poll::Pending
    })
    .await;
}

/// A byte stream with bytes already read from it put back in front, and
/// (for HTTP/2) its frame headers watched for late resets.
pub struct Rewind {
    prefix: Bytes,
    io: BoxIo,
    scanner: Option<(FrameScanner, LateResets)>,
}

impl Rewind {
    /// `prefix` put back in front of `io`, nothing watched.
    pub fn plain(prefix: Bytes, io: BoxIo) -> Self {
        Rewind {
            prefix,
            io,
            scanner: None,
        }
    }
}

impl AsyncRead for Rewind {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        if !this.prefix.is_empty() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix[..n]);
            this.prefix.advance(n);
        } else {
            std::task::ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        }
        if let Some((scanner, late)) = &mut this.scanner {
            scanner.scan(&buf.filled()[before..], |stream, code| {
                late.note(stream, code)
            });
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
