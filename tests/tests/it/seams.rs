//! The forward path's seams take a second implementation: client
//! connections from a Unix socket (`Listener`), upstreams reached through a
//! connector of the test's own (`Connect`), calls routed between two
//! upstreams by metadata (`Route`), and HTTP/1.1 connections handed to a
//! handler of the test's own (`Http1`). Each is what TLS, tunnels, routing
//! and gRPC-Web plug into next.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use loom_relay::config::Upstream;
use loom_relay::forward::Seams;
use loom_relay::forward::listen::{Accepting, Listener, Peer};
use loom_relay::forward::protocol::{Http1, Http1Conn, Serving};
use loom_relay::forward::route::{Route, Target};
use loom_relay::forward::upstream::{BoxIo, Connect, Connected, Connecting};
use loom_relay::{Config, RelayError};
use loom_shared::pb::event::Kind;
use loom_tests::backend::Backend;
use loom_tests::raw;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener, UnixStream};
use tokio::sync::oneshot;

const UNARY: &str = "/loom.test.v1.Probe/Unary";

/// A relay run with `listener` and `seams`; stopped by the sender.
async fn start(
    config: Config,
    listener: impl Listener,
    seams: Seams,
) -> (
    SocketAddr,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), RelayError>>,
) {
    loom_tests::init_tracing();
    let ui = TcpListener::bind("127.0.0.1:0").await.expect("bind ui");
    let ui_addr = ui.local_addr().expect("ui addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let (started_tx, started_rx) = oneshot::channel();
    let task = tokio::spawn(async move {
        let shutdown = async move {
            let _ = started_tx.send(());
            let _ = stopped.await;
        };
        loom_relay::run_with(config, listener, ui, seams, shutdown).await
    });
    started_rx.await.expect("the relay starts");
    (ui_addr, stop, task)
}

async fn stop(stop: oneshot::Sender<()>, task: tokio::task::JoinHandle<Result<(), RelayError>>) {
    let _ = stop.send(());
    task.await.expect("relay task").expect("relay ran");
}

/// Client connections from a Unix socket.
struct UnixSocket(UnixListener, String);

impl Listener for UnixSocket {
    fn accept(&mut self) -> Accepting<'_> {
        Box::pin(async move {
            let (stream, _) = self.0.accept().await?;
            Ok((Box::new(stream) as BoxIo, Peer::Local))
        })
    }

    fn local_name(&self) -> io::Result<String> {
        Ok(self.1.clone())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unix_socket_listener_serves_calls() {
    let backend = Backend::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("loom.sock");
    let listener = UnixListener::bind(&path).expect("bind unix socket");
    let name = path.display().to_string();
    let config = Config::new(backend.addr.to_string().parse().expect("upstream"));
    let (ui, stopper, task) = start(config, UnixSocket(listener, name), Seams::default()).await;

    let io = UnixStream::connect(&path).await.expect("connect");
    let reply = raw::call_over(io, "loom.sock", UNARY, &[], raw::probe_unary_body("unix")).await;
    assert_eq!(reply.grpc_status().0.as_deref(), Some("0"));

    let (status, _, body) = loom_tests::relay::get(ui, "/healthz", &[]).await;
    assert_eq!(status, http::StatusCode::OK);
    let health = String::from_utf8_lossy(&body);
    assert!(health.contains("loom.sock"), "{health}");
    stop(stopper, task).await;
    backend.stop().await;
}

/// Reaches every target at one fixed address, counting connections.
struct Redirect {
    to: SocketAddr,
    opened: Arc<AtomicUsize>,
}

impl Connect for Redirect {
    fn connect(&self, _target: &Upstream) -> Connecting {
        let to = self.to;
        self.opened.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            let stream = tokio::net::TcpStream::connect(to).await?;
            Ok(Connected::plain(Box::new(stream) as BoxIo))
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_of_our_own_reaches_the_upstream() {
    let backend = Backend::start().await;
    // Nothing listens at the configured upstream: only the connector's
    // address can answer.
    let parked = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let nowhere = parked.local_addr().expect("addr");
    drop(parked);
    let opened = Arc::new(AtomicUsize::new(0));
    let seams = Seams {
        connect: Some(Arc::new(Redirect {
            to: backend.addr,
            opened: opened.clone(),
        })),
        ..Seams::default()
    };
    let config = Config::new(nowhere.to_string().parse().expect("upstream"));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (_, stopper, task) = start(config, listener, seams).await;
    for i in 0..3 {
        let reply = raw::call(
            addr,
            UNARY,
            &[],
            raw::probe_unary_body(&format!("redirected {i}")),
        )
        .await;
        assert_eq!(reply.grpc_status().0.as_deref(), Some("0"));
    }
    // Three client connections, one upstream connection each; the relay's
    // own header probe and reflection reach the upstream the same way.
    let opened = opened.load(Ordering::SeqCst);
    assert!(opened >= 3, "{opened} connections");
    stop(stopper, task).await;
    backend.stop().await;
}

/// `x-backend: b` goes to the second upstream, everything else to the first.
struct ByHeader {
    a: Arc<Target>,
    b: Arc<Target>,
}

impl Route for ByHeader {
    fn target(&self, _uri: &http::Uri, headers: &http::HeaderMap) -> Arc<Target> {
        match headers.get("x-backend").map(|v| v.as_bytes()) {
            Some(b"b") => self.b.clone(),
            _ => self.a.clone(),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_of_our_own_picks_the_upstream_per_call() {
    let (first, second) = (Backend::start().await, Backend::start().await);
    let target =
        |addr: SocketAddr| Arc::new(Target::new(addr.to_string().parse().expect("upstream")));
    let seams = Seams {
        route: Some(Arc::new(ByHeader {
            a: target(first.addr),
            b: target(second.addr),
        })),
        ..Seams::default()
    };
    let config = Config::new(first.addr.to_string().parse().expect("upstream"));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (ui, stopper, task) = start(config, listener, seams).await;

    for (backend, header) in [("a", &b"a"[..]), ("b", b"b"), ("a", b"a")] {
        let reply = raw::call(
            addr,
            UNARY,
            &[("x-backend", header)],
            raw::probe_unary_body(backend),
        )
        .await;
        assert_eq!(reply.grpc_status().0.as_deref(), Some("0"));
    }
    let bytes = {
        let (status, _, body) = loom_tests::relay::get(
            ui,
            "/api/capture",
            &[(loom_relay::access::CLIENT_HEADER, "loom-tests")],
        )
        .await;
        assert_eq!(status, http::StatusCode::OK);
        body
    };
    let events = loom_shared::capture::read_capture(&bytes)
        .expect("capture")
        .events;
    let upstreams: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.kind {
            Some(Kind::CallStarted(s)) => Some(s.upstream.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        upstreams,
        [
            format!("http://{}", first.addr),
            format!("http://{}", second.addr),
            format!("http://{}", first.addr)
        ]
    );
    stop(stopper, task).await;
    first.stop().await;
    second.stop().await;
}

/// Answers every HTTP/1.1 connection with one fixed response.
struct Hello;

impl Http1 for Hello {
    fn serve(&self, mut io: BoxIo, _conn: Http1Conn) -> Serving {
        Box::pin(async move {
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match io.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let body = Bytes::from_static(b"hello from http/1.1");
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = io.write_all(answer.as_bytes()).await;
            let _ = io.write_all(&body).await;
            let _ = io.shutdown().await;
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http1_handler_of_our_own_gets_http1_connections() {
    let backend = Backend::start().await;
    let seams = Seams {
        http1: Some(Arc::new(Hello)),
        ..Seams::default()
    };
    let config = Config::new(backend.addr.to_string().parse().expect("upstream"));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (_, stopper, task) = start(config, listener, seams).await;

    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("write");
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.expect("read");
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(answer.ends_with("hello from http/1.1"), "{answer}");
    // HTTP/2 on the same port is still forwarded.
    let reply = raw::call(addr, UNARY, &[], raw::probe_unary_body("h2")).await;
    assert_eq!(reply.grpc_status().0.as_deref(), Some("0"));
    stop(stopper, task).await;
    backend.stop().await;
}
