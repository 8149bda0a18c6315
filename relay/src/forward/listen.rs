//! Accepting client connections: any source of connected byte streams (the
//! [`Listener`] seam: TCP now; TLS and HTTP CONNECT tunnels next), one task
//! per connection, and a graceful stop.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument;

use crate::forward::Forwarder;
use crate::forward::connection;
use crate::forward::upstream::BoxIo;
use crate::shutdown::Shutdown;

/// A future that yields the next connection.
pub type Accepting<'a> = Pin<Box<dyn Future<Output = io::Result<(BoxIo, SocketAddr)>> + Send + 'a>>;

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
            Ok((Box::new(stream) as BoxIo, peer))
        })
    }
}

/// Accept connections until `stop` fires, then let in-flight calls finish
/// for up to `grace`; calls still running then are cut (and end in the
/// capture as cut by the shutdown).
pub async fn serve(
    mut listener: impl Listener,
    fwd: Arc<Forwarder>,
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
                connections.spawn(
                    connection::serve(fwd.clone(), io, stop.clone()).instrument(span),
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
