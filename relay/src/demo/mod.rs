//! `loom demo`: the relay in front of a built-in gRPC backend, with traffic.
//!
//! - [`DemoBackend`] serves `loom.demo.v1.Inventory` (the shop inventory in
//!   `proto/loom/demo/v1/`, every call kind, deterministic content from a
//!   fixed [`catalog`]) and server reflection v1 and v1alpha.
//! - [`generate_traffic`] calls it through the relay about every second and
//!   keeps one Watch stream open.
//! - [`validate`] checks imports and updates, with `google.rpc` error details.
//! - [`run`] puts them together for the `demo` subcommand: the binary
//!   starts the backend, builds the relay's config from its address
//!   ([`upstream_of`]), prints the [`banner`], and hands over.
//!
//! Tests reuse the backend: its content, headers (`x-demo-server`,
//! `x-demo-trace-bin`, the echoed `x-request-id`), trailer
//! (`x-demo-elapsed-ms`) and errors are stable.

pub mod backend;
pub mod catalog;
pub mod service;
pub mod traffic;
pub mod validate;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::forward::upstream::{Connect, TcpConnect};
pub use backend::DemoBackend;
pub use traffic::generate_traffic;

/// The generated `loom.demo.v1` types, client and server.
pub mod pb {
    tonic::include_proto!("loom.demo.v1");
}

/// An encoded `google.protobuf.FileDescriptorSet` of the demo protos and the
/// well-known types they import.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/demo.fds"));

/// The demo service's full name.
pub const SERVICE_NAME: &str = "loom.demo.v1.Inventory";

/// How long the traffic generator may take to stop before the relay drains.
const TRAFFIC_STOP: Duration = Duration::from_secs(2);

/// The upstream address of a started backend: `https://` when it serves
/// TLS.
pub fn upstream_of(backend: &DemoBackend) -> crate::Upstream {
    let cleartext = crate::Upstream::from(backend.addr);
    match &backend.tls_ca {
        None => cleartext,
        Some(_) => format!("https://{}", backend.addr)
            .parse()
            .unwrap_or(cleartext),
    }
}

/// Run the relay (configured for `backend`, see [`upstream_of`]) with
/// traffic flowing through it, until `shutdown` completes; then stop the
/// traffic and the backend.
pub async fn run(
    config: crate::Config,
    backend: DemoBackend,
    listener: TcpListener,
    ui_listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), crate::RelayError> {
    let relay_addr = listener.local_addr().map_err(crate::RelayError::Listener)?;
    let relay = crate::Upstream::from(reachable(relay_addr));
    // A TLS backend: the traffic reaches the relay over TLS too, trusting
    // the CA that signs both hops' certificates.
    let (relay, connect): (crate::Upstream, Arc<dyn Connect>) = match &backend.tls_ca {
        None => (relay, Arc::new(TcpConnect)),
        Some(ca) => {
            let tls = crate::config::UpstreamTls {
                ca: Some(ca.clone()),
                ..Default::default()
            };
            let connect = crate::tls::client::TlsConnect::new(&tls, None)?;
            let relay = format!("https://{}", relay.authority())
                .parse()
                .unwrap_or(relay);
            (relay, Arc::new(connect))
        }
    };
    let (stop_traffic, traffic_stop) = crate::shutdown::signal();
    let mut traffic = tokio::spawn(generate_traffic(relay, connect, traffic_stop));
    let abort_traffic = traffic.abort_handle();
    let stop_on_shutdown = stop_traffic.clone();
    let shutdown = async move {
        shutdown.await;
        // Stop the generator (closing its Watch stream) before the relay
        // drains, or the relay would wait out its grace period for it.
        stop_on_shutdown.stop();
        if tokio::time::timeout(TRAFFIC_STOP, &mut traffic)
            .await
            .is_err()
        {
            traffic.abort();
        }
    };
    let result = crate::run(config, listener, ui_listener, shutdown).await;
    // `run` may return early (an error) without awaiting `shutdown`.
    stop_traffic.stop();
    abort_traffic.abort();
    backend.stop().await;
    result
}

/// The address a local client connects to for a listener bound to `addr`.
pub fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, addr.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, addr.port()).into(),
        _ => addr,
    }
}

/// What `loom demo` prints when it starts; `ca` is the CA's certificate
/// when both hops are TLS (`loom demo --tls`).
pub fn banner(
    ui: SocketAddr,
    relay: SocketAddr,
    backend: SocketAddr,
    ca: Option<&std::path::Path>,
) -> String {
    if let Some(ca) = ca {
        let ca = ca.display();
        return format!(
            "\
Loom demo is running, over TLS on both hops.

  Inspector:  http://{ui}/
  Relay:      {relay}   (TLS; point gRPC clients here, trusting the CA below)
  Backend:    {backend}   ({SERVICE_NAME}, TLS, with server reflection)
  CA:         {ca}   (Loom's local CA: `loom ca` says how to trust it)

Demo traffic flows through the relay about every second. Try your own calls:

  grpcurl -cacert {ca} {relay} list
  grpcurl -cacert {ca} -d '{{\"id\":\"sku-1\"}}' {relay} {SERVICE_NAME}/GetItem

Press Ctrl-C to stop."
        );
    }
    format!(
        "\
Loom demo is running.

  Inspector:  http://{ui}/
  Relay:      {relay}   (point gRPC clients here)
  Backend:    {backend}   ({SERVICE_NAME}, with server reflection)

Demo traffic flows through the relay about every second. Try your own calls:

  grpcurl -plaintext {relay} list
  grpcurl -plaintext -d '{{\"id\":\"sku-1\"}}' {relay} {SERVICE_NAME}/GetItem

Press Ctrl-C to stop."
    )
}
