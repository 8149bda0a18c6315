//! Tests of the demo: the backend called directly (`calls`), its reflection,
//! the traffic generator and `demo::run` through the relay (`relayed`).

mod calls;
mod relayed;
mod watch;

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tonic::codec::CompressionEncoding;
use tonic::transport::Channel;

use super::DemoBackend;
use super::backend::MAX_MESSAGE_BYTES;
use super::pb::inventory_client::InventoryClient;

async fn start_backend() -> DemoBackend {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    DemoBackend::start(listener).await
}

async fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect")
}

async fn client(addr: SocketAddr, gzip: bool) -> InventoryClient<Channel> {
    let c = InventoryClient::new(channel(addr).await)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    if gzip {
        c.accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip)
    } else {
        c
    }
}
