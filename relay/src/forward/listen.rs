//! Accepting client connections: any source of connected byte streams (the
//! [`Listener`] seam: TCP here, a Unix domain socket in
//! [`crate::forward::unix`]), one task per connection on one of the forward
//! path's [`Workers`], and a graceful stop. (TLS and proxy tunnels are
//! found inside a connection, by `connection`.)

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tracing::Instrument;

use crate::forward::Forwarder;
use crate::forward::connection;
pub use crate::forward::connection::Peer;
use crate::forward::upstream::BoxIo;
use crate::forward::workers::Workers;
use crate::shutdown::Shutdown;

/// A future that yields the next connection.
pub type Accepting<'a> = Pin<Box<dyn Future<Output = io::Result<(BoxIo, Peer)>> + Send + 'a>>;

/// Where client connections come from.
pub trait Listener: Send + 'static {
    /// The next connected byte stream, and its peer's address.
    fn accept(&mut self) -> Accepting<'_>;

    /// Where it listens, for people (`127.0.0.1:9999`, a socket path).
    fn local_name(&self) -> io::Result<String>;
}

impl Listener for tokio::net::TcpListener {
    fn local_name(&self) -> io::Result<String> {
        Ok(self.local_addr()?.to_string())
    }

    fn accept(&mut self) -> Accepting<'_> {
        Box::pin(async move {
            let (stream, peer) = tokio::net::TcpListener::accept(self).await?;
            // Small gRPC messages go out at once, not after Nagle's delay.
            stream.set_nodelay(true)?;
            // Off this runtime's reactor: the worker that serves the
            // connection registers it with its own, so that its readiness
            // never wakes another thread.
            let stream = stream.into_std()?;
            Ok((
                Box::new(Unregistered::new(stream)) as BoxIo,
                Peer::Tcp(peer),
            ))
        })
    }
}

/// A std stream that can join a tokio reactor.
pub(crate) trait Register: Send + Unpin + 'static {
    type Tokio: AsyncRead + AsyncWrite + Send + Unpin + 'static;
    fn register(self) -> io::Result<Self::Tokio>;
}

impl Register for std::net::TcpStream {
    type Tokio = tokio::net::TcpStream;
    fn register(self) -> io::Result<Self::Tokio> {
        tokio::net::TcpStream::from_std(self)
    }
}

impl Register for std::os::unix::net::UnixStream {
    type Tokio = tokio::net::UnixStream;
    fn register(self) -> io::Result<Self::Tokio> {
        tokio::net::UnixStream::from_std(self)
    }
}

/// A stream registered with the reactor of whichever runtime first polls
/// it.
pub(crate) enum Unregistered<S: Register> {
    Std(Option<S>),
    Tokio(S::Tokio),
}

impl<S: Register> Unregistered<S> {
    pub(crate) fn new(stream: S) -> Self {
        Unregistered::Std(Some(stream))
    }

    fn stream(&mut self) -> io::Result<Pin<&mut S::Tokio>> {
        if let Unregistered::Std(std) = self {
            let Some(std) = std.take() else {
                return Err(io::Error::other("the stream failed to register"));
            };
            *self = Unregistered::Tokio(std.register()?);
        }
        match self {
            Unregistered::Tokio(stream) => Ok(Pin::new(stream)),
            Unregistered::Std(_) => Err(io::Error::other("the stream failed to register")),
        }
    }
}

impl<S: Register> AsyncRead for Unregistered<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.stream() {
            Ok(stream) => stream.poll_read(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl<S: Register> AsyncWrite for Unregistered<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.stream() {
            Ok(stream) => stream.poll_write(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.stream() {
            Ok(stream) => stream.poll_write_vectored(cx, bufs),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.stream() {
            Ok(stream) => stream.poll_flush(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.stream() {
            Ok(stream) => stream.poll_shutdown(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

/// Accept connections until `stop` fires, then let in-flight calls finish
/// for up to `grace`; calls still running then are cut (and end in the
/// capture as cut by the shutdown).
pub async fn serve(
    mut listener: impl Listener,
    fwd: Arc<Forwarder>,
    mut workers: Workers,
    stop: Shutdown,
    grace: Duration,
) {
    let mut connections = tokio::task::JoinSet::new();
    let mut waiting = stop.clone();
    loop {
        tokio::select! {
            Some(joined) = connections.join_next(), if !connections.is_empty() => report(joined),
            accepted = listener.accept() => {
                let (io, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let span = tracing::info_span!("conn", %peer);
                // The one hand-off between threads: the connection, its
                // calls and its upstreams stay on this worker.
                connections.spawn_on(
                    connection::serve(fwd.clone(), io, peer, stop.clone()).instrument(span),
                    workers.pick(),
                );
            }
            () = waiting.wait() => break,
        }
    }
    drop(listener);
    let open = connections.len();
    if open > 0 {
        tracing::info!("waiting up to {grace:?} for {open} client connections to finish");
    }
    let drained = tokio::time::timeout(grace, async {
        while let Some(joined) = connections.join_next().await {
            report(joined);
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            "grace period over; cutting {} remaining client connections",
            connections.len()
        );
        fwd.stopping.set();
        connections.abort_all();
        while let Some(joined) = connections.join_next().await {
            if let Err(e) = joined
                && e.is_panic()
            {
                report(Err(e));
            }
        }
    }
}

/// A connection task that panicked is reported, never swallowed.
fn report(joined: Result<(), tokio::task::JoinError>) {
    if let Err(e) = joined
        && e.is_panic()
    {
        tracing::error!("a client connection's task panicked: {e}");
    }
}
