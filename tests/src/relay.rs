//! The relay, in-process, on ephemeral loopback ports.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use loom_relay::{Config, RelayError};
use loom_shared::{capture, pb};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub struct TestRelay {
    pub relay_addr: SocketAddr,
    pub ui_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), RelayError>>,
}

impl TestRelay {
    pub async fn start(upstream: SocketAddr) -> TestRelay {
        Self::start_with(upstream, |_| {}).await
    }

    /// Start with a config adjusted by `tweak` (listen/ui addresses are ours).
    pub async fn start_with(upstream: SocketAddr, tweak: impl FnOnce(&mut Config)) -> TestRelay {
        crate::init_tracing();
        let mut config = Config::new(upstream.to_string().parse().expect("upstream address"));
        tweak(&mut config);
        Self::try_start(config).await.expect("relay starts")
    }

    pub async fn try_start(config: Config) -> Result<TestRelay, RelayError> {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let ui = TcpListener::bind("127.0.0.1:0").await.expect("bind ui");
        Self::try_start_on(config, listener, ui).await
    }

    /// On listeners the test bound itself (to restart a relay on the same
    /// ports, say).
    pub async fn start_on(config: Config, listener: TcpListener, ui: TcpListener) -> TestRelay {
        crate::init_tracing();
        Self::try_start_on(config, listener, ui)
            .await
            .expect("relay starts")
    }

    /// Taking gRPC clients on a Unix domain socket at `path` (made by the
    /// relay's own listener). `relay_addr` is then `0.0.0.0:0`: there is
    /// no TCP address.
    pub async fn start_unix(config: Config, path: &std::path::Path) -> TestRelay {
        crate::init_tracing();
        let listener =
            loom_relay::forward::unix::UnixSocketListener::bind(path).expect("the relay's socket");
        let ui = TcpListener::bind("127.0.0.1:0").await.expect("bind ui");
        let unbound = SocketAddr::from(([0, 0, 0, 0], 0));
        Self::try_start_listening(config, listener, unbound, ui)
            .await
            .expect("relay starts")
    }

    async fn try_start_on(
        config: Config,
        listener: TcpListener,
        ui: TcpListener,
    ) -> Result<TestRelay, RelayError> {
        let relay_addr = listener.local_addr().expect("relay addr");
        Self::try_start_listening(config, listener, relay_addr, ui).await
    }

    async fn try_start_listening(
        config: Config,
        listener: impl loom_relay::forward::listen::Listener,
        relay_addr: SocketAddr,
        ui: TcpListener,
    ) -> Result<TestRelay, RelayError> {
        let ui_addr = ui.local_addr().expect("ui addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let (started_tx, started_rx) = oneshot::channel();
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = started_tx.send(());
                let _ = stopped.await;
            };
            let seams = loom_relay::forward::Seams::default();
            loom_relay::run_with(config, listener, ui, seams, shutdown).await
        });
        // `run` awaits the shutdown future only once everything is serving;
        // if it fails first, the error comes back through the task.
        if started_rx.await.is_err() {
            return match task.await {
                Ok(Err(e)) => Err(e),
                other => panic!("relay task ended without starting: {other:?}"),
            };
        }
        Ok(TestRelay {
            relay_addr,
            ui_addr,
            stop: Some(stop),
            task,
        })
    }

    /// GET a path on the UI port: status, headers and body.
    pub async fn get(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (http::StatusCode, http::HeaderMap, Bytes) {
        get(self.ui_addr, path, headers).await
    }

    /// The current capture file, as `/api/capture` serves it.
    pub async fn capture_bytes(&self) -> Bytes {
        let (status, _, body) = self
            .get(
                "/api/capture",
                &[(loom_relay::access::CLIENT_HEADER, "loom-tests")],
            )
            .await;
        assert_eq!(status, http::StatusCode::OK, "capture download failed");
        body
    }

    /// The current capture's events.
    pub async fn capture_events(&self) -> Vec<pb::Event> {
        let bytes = self.capture_bytes().await;
        let capture = capture::read_capture(&bytes).expect("a valid capture");
        assert!(capture.truncated.is_none(), "a download is never truncated");
        capture.events
    }

    /// Signal shutdown and wait for `run` to return.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match (&mut self.task).await {
            Ok(Ok(())) => {}
            other => panic!("relay ended badly: {other:?}"),
        }
    }
}

impl Drop for TestRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// GET a path on the UI port at `ui` (of any relay, in-process or not):
/// status, headers and body.
pub async fn get(
    ui: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> (http::StatusCode, http::HeaderMap, Bytes) {
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new())
        .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let mut req = http::Request::get(format!("http://{ui}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = client
        .request(req.body(Empty::new()).expect("request"))
        .await
        .expect("ui request");
    let (parts, body) = res.into_parts();
    let body = body.collect().await.expect("ui body").to_bytes();
    (parts.status, parts.headers, body)
}
