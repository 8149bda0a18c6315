//! The `loom` binary as a child process, for what only a process of its own
//! shows: its memory. [`LoomProcess`] runs the relay on ephemeral ports and
//! reads its resident set size; [`run_measured`] runs a command to the end
//! and reports its peak resident set size.
//!
//! The binary is the one `cargo test --workspace` builds next to the test
//! executables (`target/<profile>/loom`).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// How long the relay may take to say where it listens.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// `target/<profile>/loom`.
pub fn loom_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable");
    // target/<profile>/deps/it-<hash> → target/<profile>/loom
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let loom = dir.join("loom");
    assert!(
        loom.is_file(),
        "{} is missing: build it with `cargo build -p loom-relay` (scripts/test.sh does)",
        loom.display()
    );
    loom
}

/// The relay, running as a process; killed on drop.
pub struct LoomProcess {
    child: Child,
    pub relay_addr: SocketAddr,
    pub ui_addr: SocketAddr,
}

impl LoomProcess {
    /// `loom --upstream UPSTREAM --listen 127.0.0.1:0 --ui 127.0.0.1:0 ARGS`.
    pub async fn start(upstream: SocketAddr, args: &[&str]) -> LoomProcess {
        let mut child = Command::new(loom_binary())
            .arg("--upstream")
            .arg(upstream.to_string())
            .args(["--listen", "127.0.0.1:0", "--ui", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start loom");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                // "relaying gRPC from A to U; inspector at http://B/"
                if let Some(rest) = line.split("relaying gRPC from ").nth(1)
                    && let Some(tx) = tx.take()
                {
                    let relay = rest.split(' ').next().and_then(|a| a.parse().ok());
                    let ui = rest
                        .split("inspector at http://")
                        .nth(1)
                        .and_then(|u| u.trim_end_matches('/').parse().ok());
                    let _ = tx.send(relay.zip(ui));
                }
            }
        });
        let mut process = LoomProcess {
            child,
            relay_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            ui_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        match tokio::time::timeout(START_TIMEOUT, rx).await {
            Ok(Ok(Some((relay, ui)))) => {
                process.relay_addr = relay;
                process.ui_addr = ui;
            }
            other => panic!("loom did not say where it listens: {other:?}"),
        }
        process
    }

    /// Resident set size now, in bytes.
    pub fn rss(&self) -> u64 {
        status_kib(self.child.id(), "VmRSS:") * 1024
    }

    /// The highest resident set size so far, in bytes.
    pub fn peak_rss(&self) -> u64 {
        status_kib(self.child.id(), "VmHWM:") * 1024
    }
}

impl Drop for LoomProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Runs `program args` to the end; its output (stderr without the
/// measurement) and its peak resident set size in bytes, as the kernel
/// accounts it for that one child (Python's `resource.getrusage` does the
/// waiting, so no unsafe code is needed here).
pub fn run_measured(program: &std::path::Path, args: &[&std::ffi::OsStr]) -> (Output, u64) {
    const MEASURE: &str = "import resource, subprocess, sys\n\
        code = subprocess.run(sys.argv[1:]).returncode\n\
        print('LOOM_MAXRSS_KIB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n\
        sys.exit(code if code >= 0 else 128 - code)\n";
    let mut output = Command::new("python3")
        .arg("-c")
        .arg(MEASURE)
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run python3");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let (rest, kib) = match stderr.rsplit_once("LOOM_MAXRSS_KIB ") {
        Some((rest, tail)) => (rest.to_owned(), tail.trim().parse::<u64>().unwrap_or(0)),
        None => panic!("no measurement: {stderr}"),
    };
    output.stderr = rest.into_bytes();
    (output, kib * 1024)
}
