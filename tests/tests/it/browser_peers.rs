//! The inspector in a real browser, in front of servers that are not tonic:
//! for grpc-go, grpcio and grpc-js, the first call shows its kind without a
//! question mark, decodes with field and enum names, and the Schemas table
//! says the schema was loaded by reflection and which version; a client's
//! own reflection call (grpcurl) shows as a known bidi call.

use loom_tests::TestRelay;
use loom_tests::browser::{Browser, ui_url};
use loom_tests::inspector::{DETAIL, WAIT, require_embedded_ui, select, wait_live, wait_rows};
use loom_tests::peer::{self, Kind, Peer, grpc_testing, harness, interop};
use serde_json::json;

use crate::browser::bounded;

/// (service, method, version, what the decoded messages show)
fn expect(
    kind: Kind,
) -> (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
) {
    match kind {
        Kind::GrpcGo => (
            grpc_testing::SERVICE,
            "UnaryCall",
            "v1alpha",
            &["\"UNCOMPRESSABLE\"", "\"fillUsername\"", "\"loom-go\""],
        ),
        Kind::Grpcio => (
            interop::SERVICE,
            "Unary",
            "v1alpha",
            &["\"MOOD_CALM\"", "\"unary:hello\""],
        ),
        Kind::GrpcJs => (
            harness::SERVICE,
            "Echo",
            "v1",
            &[
                "\"MOOD_HAPPY\"",
                "\"LEVEL_HIGH\"",
                "\"2023-11-14T22:13:20.000000005Z\"",
            ],
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_server_implementation_decodes_in_the_browser() {
    require_embedded_ui();
    let browser = Browser::start().await;
    bounded(async {
        for kind in [Kind::GrpcGo, Kind::Grpcio, Kind::GrpcJs] {
            let args: &[&str] = if kind == Kind::Grpcio { &["--reflection"] } else { &[] };
            let server = Peer::start(kind, args).await;
            let relay = TestRelay::start(server.addr).await;
            browser.goto(&ui_url(relay.ui_addr)).await;
            wait_live(&browser).await;
            peer::sample_call(kind, relay.relay_addr).await;
            let (service, method, version, decoded) = expect(kind);
            let full = format!("{service}/{method}");
            // The kind is known (no question mark) once the schema is in.
            let rows = wait_rows(&browser, &format!("{} call known as unary", kind.name()), |rows| {
                rows.iter().any(|r| r.method == full && r.kind == "unary")
            })
            .await;
            let text = browser
                .wait_js(
                    &format!("{}: the Schemas table says loaded", kind.name()),
                    "const r = document.querySelector(`[data-test=schemas] tr[data-service='${arguments[0]}']`);
                     return r ? r.innerText : null;",
                    vec![json!(service)],
                    |v| v.as_str().is_some_and(|t| t.contains("loaded")),
                    WAIT,
                )
                .await;
            let text = text.as_str().unwrap_or_default();
            assert!(
                text.contains(&format!("reflection {version} from http://{}", server.addr)),
                "{}: {text}",
                kind.name()
            );
            let row = rows.iter().find(|r| r.method == full).expect("the row");
            select(&browser, row.id, method).await;
            let messages = browser
                .wait_until_text(
                    &format!("{DETAIL} [data-test=messages]"),
                    |t| decoded.iter().all(|want| t.contains(want)),
                    WAIT,
                )
                .await;
            assert_eq!(
                browser
                    .count(&format!("{DETAIL} [data-test=messages] [data-test=note]"))
                    .await,
                0,
                "{}: every message decodes:\n{messages}",
                kind.name()
            );
            relay.shutdown().await;
        }

        // grpcurl's own reflection calls through the relay: a known bidi call.
        let server = Peer::start(Kind::GrpcGo, &[]).await;
        let relay = TestRelay::start(server.addr).await;
        browser.goto(&ui_url(relay.ui_addr)).await;
        wait_live(&browser).await;
        let target = relay.relay_addr.to_string();
        let grpcurl = peer::grpcurl();
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new(grpcurl)
                .args(["-plaintext", &target, "list"])
                .output()
                .expect("run grpcurl")
        })
        .await
        .expect("grpcurl thread");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let reflection = "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";
        wait_rows(&browser, "grpcurl's reflection call, a known bidi call", |rows| {
            rows.iter().any(|r| r.method == reflection && r.kind == "bidi")
        })
        .await;
        relay.shutdown().await;
    })
    .await;
    browser.close().await;
}
