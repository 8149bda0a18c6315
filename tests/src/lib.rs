//! Test helpers for Loom's integration and browser tests.
//!
//! Everything runs for real on `127.0.0.1:0`: a tonic [`backend`] whose
//! behaviour each request controls, the relay itself started in-process
//! ([`relay::TestRelay`]), a raw HTTP/2 client that sees exact bytes
//! ([`raw`]) and one on the `h2` crate that chooses every frame
//! ([`h2_client`]: resets, half-closes, slow readers), a WebSocket
//! consumer of the live event stream ([`ws`]), gRPC servers and clients
//! that are not tonic, as child processes ([`peer`]: grpc-go, grpc-js,
//! grpcio; with TLS: [`peer_tls`]), the Connect, gRPC and gRPC-Web peers
//! (connect-node server and client, connect-web in a page, `buf curl`:
//! [`connect`]), capture files of any size for the
//! tests ([`captures`]), and for TLS a test PKI ([`pki`]) and the probe
//! backend over TLS with rustls clients for it ([`tls_backend`]).
//! Readiness is awaited, never slept for.

pub mod backend;
pub mod browser;
pub mod captures;
pub mod connect;
pub mod containerd;
pub mod decoded;
pub mod endings;
pub mod events;
pub mod h2_client;
pub mod inspector;
pub mod layout;
pub mod peer;
pub mod peer_tls;
pub mod pki;
pub mod process;
pub mod raw;
pub mod reflection;
pub mod relay;
pub mod runs;
pub mod scripted;
pub mod static_files;
pub mod tls_backend;
pub mod ws;

/// The probe test service.
pub mod probe {
    tonic::include_proto!("loom.test.v1");
}

pub use relay::TestRelay;

use std::net::SocketAddr;

use probe::probe_client::ProbeClient;
use tonic::codec::CompressionEncoding;
use tonic::transport::Channel;

/// A tonic channel to `addr`, connected.
pub async fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect")
}

/// A Probe request with just `text` set.
pub fn req(text: &str) -> probe::ProbeRequest {
    probe::ProbeRequest {
        text: text.into(),
        ..Default::default()
    }
}

/// A Probe client with 64 MiB message limits, gzip both ways when `gzip`.
pub async fn probe_client(addr: SocketAddr, gzip: bool) -> ProbeClient<Channel> {
    let client = ProbeClient::new(channel(addr).await)
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20);
    if gzip {
        client
            .send_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Gzip)
    } else {
        client
    }
}

/// The workspace's target directory (where screenshots go).
pub fn target_dir() -> std::path::PathBuf {
    // Tests run in the package's directory; cargo resolves a relative
    // CARGO_TARGET_DIR from the workspace root.
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    match std::env::var_os("CARGO_TARGET_DIR").map(std::path::PathBuf::from) {
        Some(dir) if dir.is_absolute() => dir,
        Some(dir) => workspace.join(dir),
        None => workspace.join("target"),
    }
}

/// Log to the test output when `RUST_LOG` is set; harmless to call often.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// A loopback port that refuses connections for as long as it lives: bound
/// but never listening. (A port bound and let go can come back from the OS
/// as a server the test starts next, and the "dead" address then answers.)
pub struct RefusingPort {
    _socket: tokio::net::TcpSocket,
    addr: SocketAddr,
}

impl RefusingPort {
    /// Bind one on `127.0.0.1:0`.
    pub fn bind() -> RefusingPort {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("bind a refusing port");
        let addr = socket.local_addr().expect("local_addr");
        RefusingPort {
            _socket: socket,
            addr,
        }
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}
