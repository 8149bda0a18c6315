//! containerd (Debian's, driven by `ctr`): a real gRPC service that listens
//! only on a Unix socket. Started as root with a config whose root, state
//! and sockets are all under a temporary folder, and the CRI plugin off;
//! ready once it logs that it booted.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long containerd may take to boot.
const BOOT_TIMEOUT: Duration = Duration::from_secs(30);

/// A running containerd; killed when dropped.
pub struct Containerd {
    /// Its gRPC socket.
    pub socket: PathBuf,
    child: Child,
}

impl Containerd {
    /// Starts one under `dir` and waits until it has booted.
    pub async fn start(dir: &Path) -> Containerd {
        let binary = which("containerd");
        let socket = dir.join("containerd.sock");
        let config = dir.join("config.toml");
        let d = dir.display();
        std::fs::write(
            &config,
            format!(
                "version = 2\nroot = \"{d}/root\"\nstate = \"{d}/state\"\n\
                 disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
                 [grpc]\n  address = \"{}\"\n\
                 [ttrpc]\n  address = \"{d}/containerd.sock.ttrpc\"\n\
                 [debug]\n  address = \"{d}/debug.sock\"\n",
                socket.display()
            ),
        )
        .expect("write containerd's config");
        let mut child = Command::new(binary)
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start containerd (it needs root)");
        let stderr = child.stderr.take().expect("piped stderr");
        let (booted_tx, booted_rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut booted_tx = Some(booted_tx);
            let mut seen = Vec::new();
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains("successfully booted")
                    && let Some(tx) = booted_tx.take()
                {
                    let _ = tx.send(Ok(()));
                }
                if booted_tx.is_some() {
                    seen.push(line);
                }
            }
            if let Some(tx) = booted_tx.take() {
                let _ = tx.send(Err(seen.join("\n")));
            }
        });
        let containerd = Containerd { socket, child };
        match tokio::time::timeout(BOOT_TIMEOUT, booted_rx).await {
            Ok(Ok(Ok(()))) => containerd,
            Ok(Ok(Err(log))) => panic!("containerd exited before it booted:\n{log}"),
            Ok(Err(_)) => panic!("containerd's log reader went away"),
            Err(_) => panic!("containerd did not boot within {BOOT_TIMEOUT:?}"),
        }
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `ctr` with `args`, against the socket at `address`: its output, or
/// a panic naming what went wrong.
pub async fn ctr(address: &Path, args: &[&str]) -> String {
    let mut command = Command::new(which("ctr"));
    command.arg("--address").arg(address).args(args);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("ctr's waiter")
        .expect("run ctr");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "ctr {args:?}: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// A program on PATH (installed by `scripts/setup.sh test`).
fn which(program: &str) -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{program} is missing. Run `scripts/setup.sh test`, then the tests again.")
        })
}
