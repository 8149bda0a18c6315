//! `loom`: parse the command line, build the configuration, run. Logging
//! and signals are set up here; everything else is the library's.

mod cli;

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use cli::{Cli, Command, DecodeArgs};
use loom_relay::config::ListenAddr;
use loom_relay::demo::{self, DemoBackend};
use loom_relay::forward::unix::UnixSocketListener;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    one_malloc_arena();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let text = e.render().to_string();
            // One line: the first, with what it announces ("the following
            // required arguments were not provided:") when it ends in ':'.
            let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
            let mut first = lines.next().unwrap_or("invalid arguments").to_owned();
            if first.ends_with(':')
                && let Some(next) = lines.next()
            {
                first = format!("{first} {next}");
            }
            eprintln!("{first} (see `loom --help`)");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Some(Command::Decode(args)) => return decode(args),
        Some(Command::Ca(args)) => return ca(args),
        _ => {}
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,h2=warn,hyper=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = cli.threads {
        builder.worker_threads(usize::from(threads));
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loom: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(relay(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loom: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn relay(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::Demo(args)) => {
            // The backend first: the relay's config is built from its address.
            let backend_listener = TcpListener::bind("127.0.0.1:0")
                .await
                .context("cannot start the demo backend on a loopback port")?;
            let ca_dir = args.common.ca_dir.clone().or_else(cli::default_ca_dir);
            let backend = match (args.tls, ca_dir) {
                (false, _) => DemoBackend::start(backend_listener).await,
                (true, None) => anyhow::bail!(
                    "--tls needs the local CA's folder: give --ca-dir (neither XDG_CONFIG_HOME nor HOME is set)"
                ),
                (true, Some(dir)) => {
                    let ca = loom_relay::tls::ca::LocalCa::load_or_create(&dir)?;
                    let leaf = ca.leaf(None)?;
                    DemoBackend::start_tls(backend_listener, leaf, ca.cert_path()).await
                }
            };
            let mut config = args
                .common
                .into_config(demo::upstream_of(&backend))
                .map_err(anyhow::Error::msg)?;
            config.upstream_tls.ca = backend.tls_ca.clone();
            config.forward_threads = forward_threads(cli.threads);
            let (listener, ui) = bind(&config).await?;
            let Listening::Tcp(listener) = listener else {
                anyhow::bail!("loom demo listens on TCP only: give --listen host:port");
            };
            println!(
                "{}",
                demo::banner(
                    demo::reachable(ui.local_addr()?),
                    demo::reachable(listener.local_addr()?),
                    backend.addr,
                    backend.tls_ca.as_deref(),
                )
            );
            print_hosted_links(&config, &ui)?;
            demo::run(config, backend, listener, ui, shutdown_signal()).await?;
        }
        Some(Command::Decode(_) | Command::Ca(_)) => {
            anyhow::bail!("this command runs without the relay")
        }
        None => {
            let mut config = cli.relay.into_config().map_err(anyhow::Error::msg)?;
            config.forward_threads = forward_threads(cli.threads);
            let (listener, ui) = bind(&config).await?;
            print_hosted_links(&config, &ui)?;
            let seams = loom_relay::forward::Seams::default();
            match listener {
                Listening::Tcp(l) => {
                    loom_relay::run_with(config, l, ui, seams, shutdown_signal()).await?
                }
                Listening::Unix(l) => {
                    loom_relay::run_with(config, l, ui, seams, shutdown_signal()).await?
                }
            }
        }
    }
    Ok(())
}

/// `--threads` sizes the forward path too.
fn forward_threads(threads: Option<u16>) -> Option<std::num::NonZeroUsize> {
    threads.and_then(|n| std::num::NonZeroUsize::new(usize::from(n)))
}

/// glibc gives each thread that allocates its own heap arena, and memory
/// freed by another thread goes back to the arena it came from: with events
/// made on the forward path's threads and let go of by the hub's eviction
/// wherever it runs, every arena grew to the capture's high-water mark and
/// the resident set reached twice `--max-capture-bytes` (545 MiB against
/// 306 MiB with one arena, the same throughput: docs/performance.md). So
/// one arena, set before any other thread exists.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn one_malloc_arena() {
    // SAFETY: `mallopt` only tunes the allocator; it is called first thing
    // in `main`, while this is the only thread.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn one_malloc_arena() {}

/// The listen port, as given.
enum Listening {
    Tcp(TcpListener),
    Unix(UnixSocketListener),
}

async fn bind(config: &loom_relay::Config) -> anyhow::Result<(Listening, TcpListener)> {
    config.validate()?;
    let listener = match &config.listen {
        ListenAddr::Tcp(addr) => Listening::Tcp(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (--listen)"))?,
        ),
        ListenAddr::Unix(path) => Listening::Unix(UnixSocketListener::bind(path)?),
    };
    let ui = TcpListener::bind(config.ui)
        .await
        .with_context(|| format!("cannot listen on {} (--ui)", config.ui))?;
    Ok((listener, ui))
}

/// The link to each `--hosted-ui` page, connected to this relay and paired
/// with this run's token.
fn print_hosted_links(config: &loom_relay::Config, ui: &TcpListener) -> anyhow::Result<()> {
    let Some(token) = &config.pairing_token else {
        return Ok(());
    };
    let ui = demo::reachable(ui.local_addr()?);
    for hosted in &config.hosted_ui {
        println!("Hosted inspector: {}", hosted.link(ui, token));
        if !hosted.secure() {
            eprintln!(
                "loom: {hosted} is plain HTTP: Chrome and Edge let only HTTPS pages reach this \
                 machine (Local Network Access); publish it over HTTPS"
            );
        }
    }
    if !config.hosted_ui.is_empty() {
        println!("  (the link's #token pairs the page with this run of loom; it changes each run)");
    }
    Ok(())
}

/// `loom ca`: the local CA (made now if there is none), and how to trust it.
fn ca(args: cli::CaArgs) -> ExitCode {
    let Some(dir) = args.ca_dir.or_else(cli::default_ca_dir) else {
        eprintln!(
            "loom ca: no config folder (neither XDG_CONFIG_HOME nor HOME is set); give --ca-dir"
        );
        return ExitCode::from(2);
    };
    match loom_relay::tls::ca::LocalCa::load_or_create(&dir) {
        Ok(ca) => {
            print!("{}", loom_relay::tls::trust::guide(&ca));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("loom ca: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `loom decode`: synchronous, no runtime needed.
fn decode(args: DecodeArgs) -> ExitCode {
    use std::io::Write as _;
    // Standard input is spooled to a temporary file: decoding reads twice.
    let spooled = if args.input == std::path::Path::new("-") {
        match spool_stdin() {
            Ok(file) => Some(file),
            Err(e) => {
                eprintln!("loom decode: reading standard input: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        None
    };
    let options = loom_relay::decode::DecodeOptions {
        input: spooled.as_ref().map_or(args.input, |f| f.path().to_owned()),
        input_name: spooled.as_ref().map(|_| "standard input".to_owned()),
        descriptor_sets: args.descriptor_sets,
        protos: args.protos,
        proto_includes: args.proto_includes,
        method: args.method,
        status: args.status,
        grpcurl: args.grpcurl,
        hide_defaults: args.hide_defaults,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut err = std::io::stderr();
    let result = loom_relay::decode::run(&options, &mut out, &mut err);
    let flushed = out.flush();
    match (result, flushed) {
        (Ok(outcome), Ok(())) => ExitCode::from(outcome.exit_code()),
        (Ok(_), Err(e)) => {
            eprintln!("loom decode: writing the output: {e}");
            ExitCode::from(2)
        }
        (Err(e), _) => {
            eprintln!("loom decode: {e}");
            ExitCode::from(2)
        }
    }
}

/// Standard input, copied to a temporary file removed when dropped.
fn spool_stdin() -> std::io::Result<tempfile::NamedTempFile> {
    let mut file = tempfile::NamedTempFile::new()?;
    std::io::copy(&mut std::io::stdin().lock(), &mut file)?;
    Ok(file)
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
