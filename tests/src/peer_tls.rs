//! TLS for the peers of [`crate::peer`]: grpc-go and grpcio servers that
//! speak TLS, optionally requiring a client certificate
//! ([`Peer::start_tls`] with a [`ServerTls`]), and their TLS clients
//! ([`ClientTls`]): grpcio's `interop.py calls` and grpc-go's client mode
//! (`loom-grpc-go -client`, which makes one call of each of the four kinds).
//! grpc-js's programs have no TLS.
//!
//! [`run_tls_client`] runs a client to its end and returns what it printed,
//! whether its calls failed or not (a rejected handshake is a result too:
//! every call UNAVAILABLE, the handshake's error in its message);
//! [`tls_client_calls`] is [`crate::peer::client_calls`] over TLS (the
//! cancel cases too), which panics unless the client completes.
//!
//! The certificates normally come from [`crate::pki::TestPki`]:
//! `ServerTls::new(&pki.server).require_client_cert(&pki.client_ca)`,
//! `ClientTls::trusting(&pki.ca).server_name("localhost").identity(&pki.client)`.

use std::io::Read as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::peer::{
    ClientCase, ClientResult, Kind, Peer, Reaper, Shape, client_calls_with, need, python,
    without_proxy, workspace_root,
};
use crate::pki::CertKey;

/// How long a TLS client program may run (grpcio compiles nothing in the
/// `calls` mode, but Python starts slowly on a busy machine).
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// A peer server's TLS: its certificate and key, and the CA whose client
/// certificates it requires (mutual TLS), if any.
#[derive(Debug, Clone)]
pub struct ServerTls {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
}

impl ServerTls {
    /// Serve `leaf` (its certificate and key files), no client certificate.
    pub fn new(leaf: &CertKey) -> ServerTls {
        ServerTls {
            cert: leaf.cert.clone(),
            key: leaf.key.clone(),
            client_ca: None,
        }
    }

    /// Require a client certificate signed by `ca`.
    pub fn require_client_cert(mut self, ca: &CertKey) -> ServerTls {
        self.client_ca = Some(ca.cert.clone());
        self
    }

    /// The server's flags: grpc-go `-tls-cert F -tls-key F [-tls-client-ca
    /// F]`, grpcio `--tls-cert F --tls-key F [--tls-client-ca F]`.
    pub fn args(&self, kind: Kind) -> Vec<String> {
        let dash = dashes(kind);
        let mut args = vec![
            format!("{dash}tls-cert"),
            path_arg(&self.cert),
            format!("{dash}tls-key"),
            path_arg(&self.key),
        ];
        if let Some(ca) = &self.client_ca {
            args.extend([format!("{dash}tls-client-ca"), path_arg(ca)]);
        }
        args
    }
}

/// A peer client's TLS: the CA it trusts, the name it checks, the
/// certificate it presents.
#[derive(Debug, Clone)]
pub struct ClientTls {
    /// The CA certificates to trust (PEM).
    pub ca: PathBuf,
    /// The name to check in the server's certificate (and, for grpc-go,
    /// to send as SNI); `None`: the target's host, `127.0.0.1`.
    pub server_name: Option<String>,
    /// The client certificate and its key (PEM files).
    pub identity: Option<(PathBuf, PathBuf)>,
}

impl ClientTls {
    /// Trust `ca`'s certificate alone.
    pub fn trusting(ca: &CertKey) -> ClientTls {
        ClientTls {
            ca: ca.cert.clone(),
            server_name: None,
            identity: None,
        }
    }

    /// Check `name` in the server's certificate.
    pub fn server_name(mut self, name: &str) -> ClientTls {
        self.server_name = Some(name.to_owned());
        self
    }

    /// Present `leaf`'s certificate when the server asks.
    pub fn identity(mut self, leaf: &CertKey) -> ClientTls {
        self.identity = Some((leaf.cert.clone(), leaf.key.clone()));
        self
    }

    /// The client's flags: grpcio `--tls-ca F [--tls-server-name N]
    /// [--tls-cert F --tls-key F]`, grpc-go `-tls-ca F [-server-name N]
    /// [-tls-cert F -tls-key F]`.
    pub fn args(&self, kind: Kind) -> Vec<String> {
        let dash = dashes(kind);
        let mut args = vec![format!("{dash}tls-ca"), path_arg(&self.ca)];
        if let Some(name) = &self.server_name {
            let flag = match kind {
                Kind::GrpcGo => "-server-name",
                _ => "--tls-server-name",
            };
            args.extend([flag.to_owned(), name.clone()]);
        }
        if let Some((cert, key)) = &self.identity {
            args.extend([
                format!("{dash}tls-cert"),
                path_arg(cert),
                format!("{dash}tls-key"),
                path_arg(key),
            ]);
        }
        args
    }
}

fn dashes(kind: Kind) -> &'static str {
    match kind {
        Kind::GrpcGo => "-",
        Kind::Grpcio => "--",
        Kind::GrpcJs => panic!("grpc-js's test programs have no TLS"),
    }
}

fn path_arg(path: &std::path::Path) -> String {
    path.to_str().expect("a UTF-8 path").to_owned()
}

impl Peer {
    /// Starts `kind` (grpc-go or grpcio) serving TLS as `tls` says, with
    /// extra `args`, and waits for its port.
    pub async fn start_tls(kind: Kind, tls: &ServerTls, args: &[&str]) -> Peer {
        let tls_args = tls.args(kind);
        let mut all: Vec<&str> = tls_args.iter().map(String::as_str).collect();
        all.extend_from_slice(args);
        Peer::start(kind, &all).await
    }
}

/// One call of a TLS client program, as it reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallOutcome {
    /// The full method name (`/grpc.testing.TestService/UnaryCall`).
    pub method: String,
    /// The status code's name as the client prints it: grpcio `OK`,
    /// `UNAVAILABLE`; grpc-go `OK`, `Unavailable`.
    pub code: String,
    pub message: String,
    pub responses: u64,
}

impl CallOutcome {
    pub fn ok(&self) -> bool {
        self.code == "OK"
    }
}

/// What grpc-go's client saw of its first call's connection (its `TLS`
/// line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSeen {
    /// `TLS1.3`, `TLS1.2`.
    pub version: String,
    /// The protocol ALPN settled on (`h2`); `None` if none.
    pub alpn: Option<String>,
    /// The server certificate's common name.
    pub server: String,
}

/// A TLS client program's run, once it exited.
#[derive(Debug, Clone)]
pub struct TlsClientRun {
    pub client: Kind,
    /// It exited 0 and every call succeeded.
    pub success: bool,
    pub exit_code: Option<i32>,
    pub calls: Vec<CallOutcome>,
    /// grpc-go only: its first call's connection; `None` when that call saw
    /// no TLS connection (or for grpcio).
    pub tls: Option<TlsSeen>,
    /// Everything it printed, for failure messages.
    pub stdout: String,
    pub stderr: String,
}

/// Runs `client`'s TLS client against `target` (a `server` peer, or a relay
/// in front of one) to its end: grpc-go makes one call of each kind
/// (`server` must be grpc-go), grpcio one unary call (`interop.py calls
/// --case complete`). Panics only if the program cannot run or prints what
/// it should not.
pub async fn run_tls_client(
    client: Kind,
    target: SocketAddr,
    server: Kind,
    tls: &ClientTls,
) -> TlsClientRun {
    let root = workspace_root();
    let target_arg = target.to_string();
    let mut command = match client {
        Kind::GrpcGo => {
            assert_eq!(server, Kind::GrpcGo, "grpc-go's client calls grpc.testing");
            let mut c = Command::new(need(root.join("target/loom-grpc-go"), "grpc-go"));
            c.args(["-client", &target_arg]);
            c
        }
        Kind::Grpcio => {
            let mut c = Command::new(python());
            c.arg(root.join("tests/python/interop.py")).arg("calls");
            c.args(["--target", &target_arg, "--server", server.name()]);
            c.args(["--case", "complete", "--count", "1"]);
            c.env("PYTHONUNBUFFERED", "1");
            c
        }
        Kind::GrpcJs => panic!("grpc-js's client has no TLS"),
    };
    command
        .args(tls.args(client))
        .current_dir(&root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    without_proxy(&mut command);
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("starting the {} client: {e}", client.name()));
    let read_all = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        tokio::task::spawn_blocking(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = read_all(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = read_all(child.stderr.take().map(|p| Box::new(p) as _));
    let reaper = Reaper(child);
    let Ok(stdout) = tokio::time::timeout(RUN_TIMEOUT, stdout).await else {
        panic!("the {} client ran past {RUN_TIMEOUT:?}", client.name());
    };
    let stdout = stdout.expect("the stdout reader");
    let stderr = stderr.await.expect("the stderr reader");
    let status = reaper.wait().await;
    let (calls, tls_seen) = parse_client_output(client, server, &stdout, &stderr);
    TlsClientRun {
        client,
        success: status.success() && !calls.is_empty() && calls.iter().all(CallOutcome::ok),
        exit_code: status.code(),
        calls,
        tls: tls_seen,
        stdout,
        stderr,
    }
}

fn parse_client_output(
    client: Kind,
    server: Kind,
    stdout: &str,
    stderr: &str,
) -> (Vec<CallOutcome>, Option<TlsSeen>) {
    let mut calls = Vec::new();
    let mut seen = None;
    let unexpected = |line: &str| -> ! {
        panic!(
            "the {} client printed {line:?}; its stderr:\n{stderr}",
            client.name()
        )
    };
    for line in stdout.lines() {
        if let Some(json) = line.strip_prefix("RESULT ") {
            let v: serde_json::Value = serde_json::from_str(json).expect("a JSON result");
            calls.push(CallOutcome {
                method: server.method(Shape::Unary).to_owned(),
                code: v["code"].as_str().expect("code").to_owned(),
                message: v["details"].as_str().unwrap_or("").to_owned(),
                responses: v["responses"].as_u64().unwrap_or(0),
            });
        } else if let Some(rest) = line.strip_prefix("OK ") {
            let (method, n) = rest.split_once(' ').unwrap_or_else(|| unexpected(line));
            calls.push(CallOutcome {
                method: method.to_owned(),
                code: "OK".into(),
                message: String::new(),
                responses: n.parse().unwrap_or_else(|_| unexpected(line)),
            });
        } else if let Some(rest) = line.strip_prefix("FAIL ") {
            let mut parts = rest.splitn(3, ' ');
            let (Some(method), Some(code)) = (parts.next(), parts.next()) else {
                unexpected(line)
            };
            calls.push(CallOutcome {
                method: method.to_owned(),
                code: code.to_owned(),
                message: parts.next().unwrap_or("").to_owned(),
                responses: 0,
            });
        } else if let Some(rest) = line.strip_prefix("TLS ") {
            seen = parse_tls_line(rest);
        } else if !line.starts_with("DONE ") {
            unexpected(line);
        }
    }
    (calls, seen)
}

/// `version=TLS1.3 alpn=h2 server=localhost`, or `none`.
fn parse_tls_line(rest: &str) -> Option<TlsSeen> {
    let field = |key: &str| {
        rest.split(' ')
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
            .map(str::to_owned)
    };
    Some(TlsSeen {
        version: field("version")?,
        alpn: field("alpn").filter(|a| a != "-"),
        server: field("server").unwrap_or_default(),
    })
}

/// [`crate::peer::client_calls`] over TLS: grpcio's client (grpc-js has
/// none) makes `count` calls of `case` against `target` in front of
/// `server`; panics unless the client completes them.
pub async fn tls_client_calls(
    client: Kind,
    target: SocketAddr,
    server: &Peer,
    case: ClientCase,
    count: usize,
    tls: &ClientTls,
) -> Vec<ClientResult> {
    assert_eq!(
        client,
        Kind::Grpcio,
        "only grpcio's case-by-case client has TLS"
    );
    client_calls_with(client, target, server, case, count, &tls.args(client)).await
}
