//! [`ConnectServer`]: `tests/connect/server.mjs` as a child process, on
//! `127.0.0.1:0`, over HTTP/1.1 or h2c. It exits when its stdin closes (the
//! guard holds the pipe) and is killed on drop; its `CALL` lines say which
//! calls reached a handler, and how.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use super::{Http, Method, Protocol, peers_dir};

/// How long the server may take to print `PORT n`.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running connect-node server of `loom.test.v1.Web`.
pub struct ConnectServer {
    pub addr: SocketAddr,
    pub http: Http,
    child: Child,
    _stdin: Option<ChildStdin>,
    calls: Arc<CallLines>,
}

/// The server's `CALL` lines, as they come.
#[derive(Default)]
struct CallLines {
    seen: Mutex<Vec<String>>,
    changed: Notify,
}

impl CallLines {
    fn count(&self, prefix: &str) -> usize {
        let seen = self.seen.lock().expect("call lines lock");
        seen.iter().filter(|l| l.starts_with(prefix)).count()
    }
}

impl ConnectServer {
    /// Starts one speaking `http` and waits for its port.
    pub async fn start(http: Http) -> ConnectServer {
        let dir = peers_dir();
        let mut child = Command::new("node")
            .arg("server.mjs")
            .args(["--http", http.arg()])
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting the connect-node server: {e}"));
        super::client::forward_stderr(&mut child);
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let calls = Arc::new(CallLines::default());
        let (port_tx, port_rx) = tokio::sync::oneshot::channel();
        let sink = calls.clone();
        std::thread::spawn(move || {
            let mut port_tx = Some(port_tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(port) = line.strip_prefix("PORT ") {
                    if let Some(tx) = port_tx.take() {
                        let _ = tx.send(port.trim().parse::<u16>().ok());
                    }
                } else {
                    sink.seen.lock().expect("call lines lock").push(line);
                    sink.changed.notify_waiters();
                }
            }
        });
        // From here on the guard owns the child, so any panic kills it.
        let mut server = ConnectServer {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            http,
            child,
            _stdin: stdin,
            calls,
        };
        let port = match tokio::time::timeout(START_TIMEOUT, port_rx).await {
            Ok(Ok(Some(port))) => port,
            Ok(Ok(None)) => panic!("the connect-node server printed a bad PORT line"),
            Ok(Err(_)) => {
                let status = server.child.wait().ok();
                panic!(
                    "the connect-node server exited ({status:?}) before printing its port; its stderr is above"
                )
            }
            Err(_) => panic!("the connect-node server printed no port within {START_TIMEOUT:?}"),
        };
        server.addr = SocketAddr::from(([127, 0, 0, 1], port));
        server
    }

    /// `http://127.0.0.1:PORT`, the base URL clients call.
    pub fn url(&self) -> http::Uri {
        format!("http://{}", self.addr).parse().expect("a URL")
    }

    /// Its `CALL` lines so far: `CALL <path> <protocol> <http version>
    /// <method>`.
    pub fn calls(&self) -> Vec<String> {
        self.calls.seen.lock().expect("call lines lock").clone()
    }

    /// How many calls of `method` in `protocol` reached a handler.
    pub fn count(&self, method: Method, protocol: Protocol) -> usize {
        self.calls
            .count(&format!("CALL {} {} ", method.path(), protocol.reported()))
    }

    /// Waits until `n` calls of `method` in `protocol` reached a handler;
    /// false if `limit` passed first.
    pub async fn wait_for(
        &self,
        method: Method,
        protocol: Protocol,
        n: usize,
        limit: Duration,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.calls.changed.notified();
            if self.count(method, protocol) >= n {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.count(method, protocol) >= n;
            }
        }
    }
}

impl Drop for ConnectServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
