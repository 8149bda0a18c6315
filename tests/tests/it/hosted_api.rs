//! Hosted copies of the inspector, from the relay's side, without a browser:
//! `--hosted-ui` allows the page's origin only with the pairing token,
//! `/api/access` tells each refusal apart (and is readable by the page it
//! refuses), the relay's own page carries the marker a hosted copy lacks,
//! and the `loom` binary prints the deep link with the relay and the token.
//! The browser's side is `hosted`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use http::{StatusCode, header};
use loom_relay::{ConfigError, HostedUi, RelayError};
use loom_shared::access::{AccessAnswer, Refusal};
use loom_tests::TestRelay;
use loom_tests::backend::Backend;
use loom_tests::process::loom_binary;
use loom_tests::relay::get;

const PAGE: &str = "https://loom.example/tools/inspector/";
const HOSTED: &str = "https://loom.example";
const ALLOWED: &str = "http://allowed.example:8080";
const TOKEN: &str = "hosted-api-test-token";

async fn hosted_relay(backend: &Backend) -> TestRelay {
    TestRelay::start_with(backend.addr, |c| {
        c.hosted_ui = vec![PAGE.parse().expect("a hosted page")];
        c.pairing_token = Some(TOKEN.parse().expect("a token"));
        c.allow_origins = vec![ALLOWED.parse().expect("an origin")];
    })
    .await
}

fn allow_origin(headers: &http::HeaderMap) -> Option<&str> {
    headers
        .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        .and_then(|v| v.to_str().ok())
}

/// `/api/access` as a page of `origin` asks for it.
async fn access(relay: &TestRelay, origin: Option<&str>, token: Option<&str>) -> AccessAnswer {
    let path = match token {
        Some(t) => format!("/api/access?token={t}"),
        None => "/api/access".to_owned(),
    };
    // As a browser says it: the relay's own pages are same-origin.
    let own = origin.is_none_or(|o| o.starts_with("http://127.0.0.1:"));
    let site = if own { "same-origin" } else { "cross-site" };
    let mut headers = vec![("sec-fetch-site", site)];
    if let Some(origin) = origin {
        headers.push(("origin", origin));
    }
    let (status, h, body) = relay.get(&path, &headers).await;
    let answer = AccessAnswer::from_json(&body)
        .unwrap_or_else(|| panic!("not an answer: {}", String::from_utf8_lossy(&body)));
    let expected = if answer == AccessAnswer::Granted {
        StatusCode::OK
    } else {
        StatusCode::FORBIDDEN
    };
    assert_eq!(status, expected, "{answer:?}");
    // The page that asked can read the answer, whatever it is.
    assert_eq!(allow_origin(&h), origin, "{origin:?}: {h:?}");
    assert_eq!(h[header::CACHE_CONTROL], "no-store");
    answer
}

fn reason(answer: AccessAnswer) -> Option<Refusal> {
    match answer {
        AccessAnswer::Granted => None,
        AccessAnswer::Refused { reason, .. } => Some(reason),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_tells_origin_token_and_granted_apart() {
    let backend = Backend::start().await;
    let relay = hosted_relay(&backend).await;
    let own = format!("http://127.0.0.1:{}", relay.ui_addr.port());

    assert_eq!(
        reason(access(&relay, Some("https://evil.example"), Some(TOKEN)).await),
        Some(Refusal::Origin)
    );
    let missing = access(&relay, Some(HOSTED), None).await;
    match &missing {
        AccessAnswer::Refused { reason, message } => {
            assert_eq!(*reason, Refusal::TokenMissing);
            assert!(message.contains("link loom printed"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        reason(access(&relay, Some(HOSTED), Some("not-this-runs-token")).await),
        Some(Refusal::TokenWrong)
    );
    assert_eq!(
        access(&relay, Some(HOSTED), Some(TOKEN)).await,
        AccessAnswer::Granted
    );
    // --allow-origin and the relay's own pages need no token.
    assert_eq!(
        access(&relay, Some(ALLOWED), None).await,
        AccessAnswer::Granted
    );
    assert_eq!(
        access(&relay, Some(&own), None).await,
        AccessAnswer::Granted
    );
    assert_eq!(access(&relay, None, None).await, AccessAnswer::Granted);

    relay.shutdown().await;
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hosted_origin_needs_the_token_on_every_route() {
    let backend = Backend::start().await;
    let relay = hosted_relay(&backend).await;
    let ws = [
        ("connection", "upgrade"),
        ("upgrade", "websocket"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("origin", HOSTED),
        ("sec-fetch-site", "cross-site"),
    ];
    let api = [("origin", HOSTED), ("sec-fetch-site", "cross-site")];
    for (path, headers, ok) in [
        ("/ws", &ws[..], StatusCode::SWITCHING_PROTOCOLS),
        ("/api/capture", &api[..], StatusCode::OK),
        ("/healthz", &api[..], StatusCode::OK),
    ] {
        let (status, h, body) = relay.get(path, headers).await;
        let body = String::from_utf8_lossy(&body);
        assert_eq!(status, StatusCode::FORBIDDEN, "{path} without the token");
        assert!(body.contains("pairing token"), "{path}: {body}");
        assert_eq!(allow_origin(&h), None, "{path}: a refusal has no CORS");

        let wrong = format!("{path}?token=not-this-runs-token");
        let (status, _, body) = relay.get(&wrong, headers).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{wrong}");
        assert!(
            String::from_utf8_lossy(&body).contains("not this relay run's"),
            "{wrong}"
        );

        let right = format!("{path}?token={TOKEN}");
        let (status, h, _) = relay.get(&right, headers).await;
        assert_eq!(status, ok, "{path} with the token");
        assert_eq!(allow_origin(&h), Some(HOSTED), "{path}: {h:?}");
    }
    relay.shutdown().await;
    backend.stop().await;
}

/// The relay's own page says a relay serves it; the bundle's does not (see
/// `hosted::no_relay_param_makes_no_websocket_attempt`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relays_own_page_carries_the_marker() {
    loom_tests::inspector::require_embedded_ui();
    let backend = Backend::start().await;
    let relay = hosted_relay(&backend).await;
    for path in ["/", "/index.html"] {
        let (status, _, body) = relay.get(path, &[]).await;
        assert_eq!(status, StatusCode::OK);
        let html = String::from_utf8_lossy(&body);
        assert!(html.contains("<meta name=\"loom-relay\""), "{path}: {html}");
    }
    let bundle = std::fs::read_to_string(loom_tests::inspector::dist_dir().join("index.html"))
        .expect("the bundle's index.html");
    assert!(!bundle.contains("loom-relay"), "{bundle}");
    relay.shutdown().await;
    backend.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosted_ui_without_a_token_is_a_config_error() {
    let backend = Backend::start().await;
    let mut config = loom_relay::Config::new(backend.addr.to_string().parse().expect("upstream"));
    config.hosted_ui = vec![PAGE.parse::<HostedUi>().expect("a page")];
    match TestRelay::try_start(config).await {
        Err(RelayError::Config(ConfigError::NoPairingToken)) => {}
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("a hosted UI without a token started"),
    }
    backend.stop().await;
}

/// `loom --hosted-ui URL` prints the link: the page, `?relay=` with the
/// port it bound, and `#token=` with a token the relay accepts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_prints_the_deep_link() {
    let backend = Backend::start().await;
    let mut child = Command::new(loom_binary())
        .args(["--upstream", &backend.addr.to_string()])
        .args(["--listen", "127.0.0.1:0", "--ui", "127.0.0.1:0"])
        .args(["--hosted-ui", PAGE, "--no-reflection"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start loom");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(link) = line.strip_prefix("Hosted inspector: ")
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(link.to_owned());
            }
        }
    });
    let link = tokio::time::timeout(Duration::from_secs(30), rx)
        .await
        .expect("loom prints the link in time")
        .expect("a link");
    let rest = link
        .strip_prefix(&format!("{PAGE}?relay=ws://127.0.0.1:"))
        .unwrap_or_else(|| panic!("{link}"));
    let (port, rest) = rest
        .split_once("/ws#token=")
        .unwrap_or_else(|| panic!("{link}"));
    let port: u16 = port.parse().unwrap_or_else(|_| panic!("{link}"));
    assert_ne!(port, 0, "{link}");
    let token = rest;
    assert!(token.len() >= 16, "{link}");

    let ui = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let (status, h, body) = get(
        ui,
        &format!("/api/access?token={token}"),
        &[("origin", HOSTED)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(AccessAnswer::from_json(&body), Some(AccessAnswer::Granted));
    assert_eq!(allow_origin(&h), Some(HOSTED));
    let (status, _, _) = get(ui, "/api/access", &[("origin", HOSTED)]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let _ = child.kill();
    let _ = child.wait();
    backend.stop().await;
}
