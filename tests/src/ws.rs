//! A WebSocket consumer of the relay's live event stream.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::StreamExt;
use loom_shared::{capture, pb};
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct WsClient {
    socket: Socket,
    /// Every event received so far.
    pub events: Vec<pb::Event>,
}

impl WsClient {
    pub async fn connect(ui: SocketAddr) -> WsClient {
        Self::connect_with_origin(ui, None)
            .await
            .expect("websocket connects")
    }

    /// Connect, sending `origin` if given; the HTTP status on refusal.
    pub async fn connect_with_origin(
        ui: SocketAddr,
        origin: Option<&str>,
    ) -> Result<WsClient, http::StatusCode> {
        let mut req = format!("ws://{ui}/ws")
            .into_client_request()
            .expect("ws request");
        if let Some(origin) = origin {
            req.headers_mut()
                .insert("origin", origin.parse().expect("origin header"));
        }
        match tokio_tungstenite::connect_async(req).await {
            Ok((socket, _)) => Ok(WsClient {
                socket,
                events: Vec::new(),
            }),
            Err(tungstenite::Error::Http(res)) => Err(res.status()),
            Err(e) => panic!("websocket failed: {e}"),
        }
    }

    /// Read batches until `done` holds for the events so far, or panic after `limit`.
    pub async fn until(
        &mut self,
        limit: Duration,
        done: impl Fn(&[pb::Event]) -> bool,
    ) -> &[pb::Event] {
        if !self.within(limit, done).await {
            panic!(
                "timed out waiting; have {} events: {:#?}",
                self.events.len(),
                self.events
            );
        }
        &self.events
    }

    /// Read batches until `done` holds for the events so far: true, or
    /// false once `limit` has passed (for tests that say themselves what
    /// was missing; [`WsClient::until`] dumps every event).
    pub async fn within(&mut self, limit: Duration, done: impl Fn(&[pb::Event]) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while !done(&self.events) {
            let Ok(next) = tokio::time::timeout_at(deadline, self.socket.next()).await else {
                return false;
            };
            match next {
                Some(Ok(Message::Binary(bytes))) => {
                    self.events
                        .extend(capture::decode_batch(&bytes).expect("a valid batch"));
                }
                Some(Ok(_)) => {}
                other => panic!("websocket ended: {other:?}"),
            }
        }
        true
    }

    /// Whether the server closed the socket (within `limit`).
    pub async fn closed_within(&mut self, limit: Duration) -> bool {
        loop {
            match tokio::time::timeout(limit, self.socket.next()).await {
                Err(_) => return false,
                Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return true,
                Ok(Some(Ok(Message::Binary(bytes)))) => {
                    self.events
                        .extend(capture::decode_batch(&bytes).unwrap_or_default());
                }
                Ok(Some(Ok(_))) => {}
            }
        }
    }
}
