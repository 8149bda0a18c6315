//! One run of a peer's client program (`tests/go`, `tests/python/interop.py
//! calls`, `tests/node/client.js`): a few calls of one backend's service, at
//! any target grpc names (`host:port`, `unix:/path`), directly or through
//! the relay as its HTTP proxy, set the way users set it: one environment
//! variable. grpc-go reads `HTTPS_PROXY` (and never proxies loopback names,
//! so it dials a name that the relay's `--resolve` pins); grpcio and
//! grpc-js read `grpc_proxy`. Every other proxy variable is removed.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use std::process::Command;

use crate::peer::{Kind, need, python, workspace_root};

/// How long one client run may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// How the client reaches its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Direct,
    /// The relay at this address, as its proxy.
    Proxy(SocketAddr),
}

/// What a client program did.
#[derive(Debug)]
pub struct ClientRun {
    pub client: Kind,
    pub server: Kind,
    /// It exited 0 and every call it reported was OK.
    pub ok: bool,
    /// Calls it reported OK.
    pub calls_ok: usize,
    pub stdout: String,
    pub stderr: String,
}

/// grpcio's `loom.interop.v1.Interop/Unary`, for clients with no generated
/// code for it.
const INTEROP_UNARY: &str = "/loom.interop.v1.Interop/Unary";

/// Runs `client` once: calls of `server`'s service at `target` (as the
/// client dials it), `via` the relay as its proxy or not.
pub async fn run_client(client: Kind, target: &str, server: Kind, via: Via) -> ClientRun {
    run_client_with(client, target, server, via, &[]).await
}

/// [`run_client`] with extra flags for the client program (its TLS flags:
/// [`crate::peer_tls::ClientTls::args`]).
pub async fn run_client_with(
    client: Kind,
    target: &str,
    server: Kind,
    via: Via,
    extra: &[String],
) -> ClientRun {
    let root = workspace_root();
    let mut command = match client {
        Kind::GrpcGo => {
            let mut c = Command::new(need(root.join("target/loom-grpc-go"), "grpc-go"));
            c.args(["-client", target]);
            match server {
                Kind::GrpcGo => {}
                // Msg{text: "grpc-go"}.
                Kind::Grpcio => {
                    c.args([
                        "-raw-method",
                        INTEROP_UNARY,
                        "-raw-hex",
                        "0a07677270632d676f",
                    ]);
                }
                Kind::GrpcJs => panic!("the grpc-go client has no call of grpc-js's service"),
            }
            c
        }
        Kind::Grpcio => {
            let mut c = Command::new(python());
            c.arg(root.join("tests/python/interop.py")).arg("calls");
            c.env("PYTHONUNBUFFERED", "1");
            c
        }
        Kind::GrpcJs => {
            need(
                root.join("tests/node/node_modules/@grpc/grpc-js"),
                "grpc-js",
            );
            let mut c = Command::new("node");
            c.arg(root.join("tests/node/client.js"));
            c
        }
    };
    if client != Kind::GrpcGo {
        command.args(["--target", target, "--server", server.name()]);
        command.args(["--case", "complete", "--count", "2"]);
        if matches!(via, Via::Proxy(_)) {
            command.arg("--proxy");
        }
    }
    for name in [
        "http_proxy",
        "https_proxy",
        "grpc_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "no_proxy",
        "NO_PROXY",
        "no_grpc_proxy",
    ] {
        command.env_remove(name);
    }
    if let Via::Proxy(proxy) = via {
        let proxy_url = format!("http://{proxy}");
        match client {
            Kind::GrpcGo => command.env("HTTPS_PROXY", &proxy_url),
            Kind::Grpcio | Kind::GrpcJs => command.env("grpc_proxy", &proxy_url),
        };
    }
    let child = command
        .args(extra)
        .current_dir(&root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting the {} client: {e}", client.name()));
    let pid = child.id();
    let run = tokio::task::spawn_blocking(move || child.wait_with_output());
    let Ok(output) = tokio::time::timeout(RUN_TIMEOUT, run).await else {
        // SIGKILL, so that the wait above returns.
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        panic!("the {} client ran past {RUN_TIMEOUT:?}", client.name());
    };
    let output = output
        .expect("the client's waiter")
        .expect("the client's output");
    let status = output.status;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let calls_ok = stdout
        .lines()
        .filter(|l| l.starts_with("OK ") || (l.starts_with("RESULT ") && l.contains("\"OK\"")))
        .count();
    let failed = stdout
        .lines()
        .any(|l| l.starts_with("FAIL ") || (l.starts_with("RESULT ") && !l.contains("\"OK\"")));
    ClientRun {
        client,
        server,
        ok: status.success() && calls_ok > 0 && !failed,
        calls_ok,
        stdout,
        stderr,
    }
}
