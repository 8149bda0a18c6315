//! gRPC-Web's text form and the browsers' clients, directly against the
//! connect-node server: text by hand, byte for byte (base64 padded
//! mid-body both ways, frames, the trailer frame), and, in headless
//! Chromium, connect-web (Connect and gRPC-Web, both codecs) and grpc-web's
//! text mode.

use std::time::Duration;

use loom_tests::browser::Browser;
use loom_tests::connect::{
    self, Codec, ConnectServer, Http, Method, PageClient, Protocol, WebReply, WebRequest,
    grpc_web_text,
};
use loom_tests::static_files::StaticFiles;
use serde_json::Value;

use super::SERVER_LINE;

#[tokio::test]
async fn grpc_web_text_is_answered_in_base64_padded_mid_body() {
    let bytes: Vec<u8> = (0..=255).collect();
    for n in 0..8 {
        let encoded = connect::base64_encode(&bytes[..n]);
        assert_eq!(
            connect::base64_decode(&encoded).as_deref(),
            Some(&bytes[..n])
        );
    }
    for http in Http::ALL {
        let server = ConnectServer::start(http).await;
        let request = WebRequest {
            text: "text".into(),
            count: 3,
            ..Default::default()
        };
        let reply = grpc_web_text(server.addr, http, Method::ServerStream, &[request]).await;
        assert_eq!(reply.status, 200, "{http:?}: {}", reply.body);
        assert_eq!(
            reply.headers["content-type"], "application/grpc-web-text+proto",
            "{http:?}"
        );
        assert!(reply.padded_mid_body(), "{http:?}: {}", reply.body);
        let replies: Vec<WebReply> = reply.messages();
        let indexes: Vec<u32> = replies.iter().map(|r| r.index).collect();
        assert_eq!(indexes, [0, 1, 2], "{http:?}");
        assert_eq!(replies[0].text, "text");
        assert_eq!(replies[0].protocol, "grpc-web");
        assert_eq!(replies[0].content_type, "application/grpc-web-text");
        assert_eq!(replies[0].http_version, http.reported());
        let trailer = reply.trailer().expect("a trailer frame");
        assert!(trailer.contains("grpc-status: 0"), "{trailer:?}");

        // A failure's status and details come in the trailer frame.
        let failing = WebRequest {
            fail_code: 5,
            ..Default::default()
        };
        let reply = grpc_web_text(server.addr, http, Method::Unary, &[failing]).await;
        assert!(reply.messages::<WebReply>().is_empty());
        let trailer = reply.trailer().expect("a trailer frame");
        assert!(trailer.contains("grpc-status: 5"), "{trailer:?}");
        assert!(trailer.contains("grpc-status-details-bin: "), "{trailer:?}");
    }
}

/// The connect-web page's outcome of its call `name`.
async fn page_outcome(browser: &Browser, name: &str) -> Value {
    let css = format!("[data-test={name}][data-done='1']");
    browser.wait_for(&css, Duration::from_secs(20)).await;
    let text = browser.text_of(&css).await.expect("the outcome's text");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {text:?} ({e})"))
}

#[tokio::test]
async fn connect_web_and_grpc_web_text_in_chromium() {
    let server = ConnectServer::start(Http::H1).await;
    let site = StaticFiles::serve(connect::page_dir()).await;
    let browser = Browser::start().await;
    let mut clients = vec![PageClient::GrpcWebText];
    for protocol in [Protocol::Connect, Protocol::GrpcWeb] {
        for codec in Codec::ALL {
            clients.push(PageClient::ConnectWeb(protocol, codec));
        }
    }
    for client in clients {
        let what = format!("{client:?}");
        let (protocol, content_type) = match client {
            PageClient::ConnectWeb(Protocol::Connect, Codec::Proto) => {
                (Protocol::Connect, "application/proto")
            }
            PageClient::ConnectWeb(Protocol::Connect, Codec::Json) => {
                (Protocol::Connect, "application/json")
            }
            PageClient::ConnectWeb(protocol, Codec::Proto) => {
                (protocol, "application/grpc-web+proto")
            }
            PageClient::ConnectWeb(protocol, Codec::Json) => {
                (protocol, "application/grpc-web+json")
            }
            PageClient::GrpcWebText => (Protocol::GrpcWeb, "application/grpc-web-text"),
        };
        let url = site.url("index.html") + &connect::page_query(&server.url(), client);
        browser.goto(&url).await;
        let unary = page_outcome(&browser, "unary").await;
        assert_eq!(unary["code"], "OK", "{what}: {unary}");
        let reply = &unary["replies"][0];
        assert_eq!(reply["text"], "browser", "{what}");
        assert_eq!(reply["protocol"], protocol.reported(), "{what}");
        assert_eq!(reply["content_type"], content_type, "{what}");
        assert_eq!(unary["peer"], "connect-node", "{what}: {unary}");
        let stream = page_outcome(&browser, "server").await;
        assert_eq!(stream["code"], "OK", "{what}: {stream}");
        assert_eq!(stream["responses"], 3, "{what}: {stream}");
        assert_eq!(stream["trailer"], "ServerStream", "{what}: {stream}");
        let error = page_outcome(&browser, "error").await;
        assert_eq!(error["code"], "FAILED_PRECONDITION", "{what}: {error}");
        assert_eq!(error["message"], "browser failure", "{what}");
        assert_eq!(
            error["details"][0]["reason"], "LOOM_TEST_FAILURE",
            "{what}: {error}"
        );
        assert_eq!(
            browser.text_of("[data-test=fatal]").await.as_deref(),
            Some("")
        );
    }
    // connect-web twice in each protocol, grpc-web once in gRPC-Web.
    for (protocol, calls) in [(Protocol::Connect, 4), (Protocol::GrpcWeb, 6)] {
        assert!(
            server
                .wait_for(Method::Unary, protocol, calls, SERVER_LINE)
                .await,
            "{protocol:?}: {:?}",
            server.calls()
        );
    }
    browser.close().await;
}
