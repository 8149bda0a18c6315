//! The forward path: accepts client connections and relays each call to the
//! upstream, with a capture tap on both bodies.
//!
//! Nothing here waits for capture or for reflection. Each call costs one
//! `Call` (a few atomics), a splitter per direction, and one non-blocking
//! event emission per message.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, Uri, Version, header};
use http_body::Body as _;
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use loom_shared::pb;
use tokio::net::TcpListener;
use tracing::Instrument;

use crate::call::{Call, LiveCalls, RelayStatus};
use crate::config::Upstream;
use crate::framing::PartialBudget;
use crate::header_limit::{self, HeaderLimit};
use crate::hub::Hub;
use crate::reflection::Reflector;
use crate::shutdown::Shutdown;
use crate::status;
use crate::tap::TapBody;
use crate::upstream::{self, UpstreamClient};

pub type ProxyBody = Either<TapBody<Incoming>, Full<Bytes>>;

/// The most request metadata the relay takes from a client.
const MAX_CLIENT_HEADER_LIST: u32 = 1 << 20;

pub struct Proxy {
    hub: Hub,
    live: LiveCalls,
    reflector: Arc<Reflector>,
    upstream: Upstream,
    upstream_name: Arc<str>,
    client: UpstreamClient,
    max_message_bytes: usize,
    /// What incomplete messages may hold in all.
    partial: PartialBudget,
    /// The most request metadata the upstream accepts.
    pub(crate) header_limit: HeaderLimit,
    /// Shown to people who open the relay port in a browser.
    ui_url: String,
}

impl Proxy {
    pub fn new(
        hub: Hub,
        reflector: Arc<Reflector>,
        upstream: Upstream,
        max_message_bytes: usize,
        partial: PartialBudget,
        ui_url: String,
    ) -> Self {
        Proxy {
            hub,
            live: LiveCalls::default(),
            reflector,
            upstream_name: upstream.to_string().into(),
            upstream,
            client: upstream::client(),
            max_message_bytes,
            partial,
            header_limit: HeaderLimit::default(),
            ui_url,
        }
    }

    pub async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> Result<Response<ProxyBody>, Infallible> {
        if let Some(refusal) = self.refuse_non_grpc(&req) {
            return Ok(refusal);
        }
        let (mut parts, body) = req.into_parts();
        let call = Call::start(&self.hub, &self.live, &parts, &self.upstream_name);
        if let Some(refusal) = self.refuse_oversized(&parts, &call) {
            return Ok(refusal);
        }
        // Returns at once; a first call of a service starts a background fetch.
        self.reflector.observe(parts.uri.path());
        let span = call.span.clone();
        async move {
            let path_and_query = parts
                .uri
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));
            let mut uri = Uri::builder()
                .scheme("http")
                .authority(self.upstream.authority().clone())
                .path_and_query(path_and_query);
            if let Ok(built) = std::mem::take(&mut uri).build() {
                parts.uri = built;
            }
            parts.headers.remove(header::HOST);
            let body = TapBody::new(
                body,
                pb::Direction::Request,
                call.clone(),
                self.max_message_bytes,
                self.partial.clone(),
            );
            match self.client.request(Request::from_parts(parts, body)).await {
                Ok(res) => Ok(self.relay_response(res, call)),
                Err(e) => Ok(self.upstream_failed(&e, &call)),
            }
        }
        .instrument(span)
        .await
    }

    fn relay_response(&self, res: Response<Incoming>, call: Arc<Call>) -> Response<ProxyBody> {
        let (parts, body) = res.into_parts();
        if body.is_end_stream() {
            // Trailers-only: the one HEADERS frame carries the status.
            call.end_with_trailers(&parts.headers, Some(parts.status));
        } else {
            call.response_headers(parts.status, &parts.headers);
        }
        let body = TapBody::new(
            body,
            pb::Direction::Response,
            call,
            self.max_message_bytes,
            self.partial.clone(),
        );
        Response::from_parts(parts, Either::Left(body))
    }

    fn upstream_failed(
        &self,
        error: &hyper_util::client::legacy::Error,
        call: &Call,
    ) -> Response<ProxyBody> {
        let answer = call
            .fail_upstream(&upstream::describe(error), false)
            .unwrap_or_else(|| RelayStatus {
                code: status::CANCELLED,
                message: "the client went away".to_owned(),
            });
        trailers_only(&answer)
    }

    /// RESOURCE_EXHAUSTED, without forwarding, for a request whose metadata
    /// the upstream would not accept: its decoder would end the connection
    /// every other client shares.
    fn refuse_oversized(
        &self,
        parts: &http::request::Parts,
        call: &Call,
    ) -> Option<Response<ProxyBody>> {
        let limit = u64::from(self.header_limit.get());
        let size = header_limit::request_size(parts, self.upstream.authority().as_str());
        if size <= limit {
            return None;
        }
        let message = format!(
            "loom: the request's metadata is {size} bytes, more than upstream {} accepts \
             ({limit} bytes); the call was not forwarded",
            self.upstream_name
        );
        Some(trailers_only(
            &call.refuse(status::RESOURCE_EXHAUSTED, message),
        ))
    }

    /// A clear answer for anything that is not gRPC over HTTP/2.
    fn refuse_non_grpc(&self, req: &Request<Incoming>) -> Option<Response<ProxyBody>> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let is_grpc = content_type == "application/grpc"
            || content_type.starts_with("application/grpc+")
            || content_type.starts_with("application/grpc;");
        let (status, text) = if req.version() != Version::HTTP_2 {
            (
                StatusCode::HTTP_VERSION_NOT_SUPPORTED,
                format!(
                    "This is the Loom gRPC relay: it takes gRPC over HTTP/2 (cleartext, prior knowledge), \
                     and forwards it to {}.\nPoint your gRPC client here. The inspector is at {}\n",
                    self.upstream_name, self.ui_url
                ),
            )
        } else if content_type.starts_with("application/grpc-web") {
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("Loom does not relay gRPC-Web yet (content-type {content_type}).\n"),
            )
        } else if !is_grpc {
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "Loom relays gRPC only: content-type must be application/grpc, not {:?}.\n",
                    content_type
                ),
            )
        } else {
            return None;
        };
        tracing::warn!(
            method = %req.method(),
            uri = %req.uri(),
            version = ?req.version(),
            content_type,
            "refused a non-gRPC request with {status}"
        );
        let mut res = Response::new(Either::Right(Full::new(Bytes::from(text))));
        *res.status_mut() = status;
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        Some(res)
    }
}

fn trailers_only(answer: &RelayStatus) -> Response<ProxyBody> {
    status::trailers_only(answer.code, &answer.message).map(|()| Either::Right(Full::default()))
}

/// Accept connections until `stop` fires, then let in-flight calls finish for
/// up to `grace`. A connection that sends no request within
/// `first_request_timeout` is closed.
pub async fn serve(
    listener: TcpListener,
    proxy: Arc<Proxy>,
    mut stop: Shutdown,
    grace: Duration,
    first_request_timeout: Duration,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().auto_date_header(false);
    builder
        .http2()
        .auto_date_header(false)
        .initial_connection_window_size(upstream::CONNECTION_WINDOW)
        .initial_stream_window_size(upstream::STREAM_WINDOW)
        .max_concurrent_streams(1000)
        .max_header_list_size(MAX_CLIENT_HEADER_LIST)
        // Idle clients are pinged; dead ones are dropped.
        .keep_alive_interval(Some(Duration::from_secs(20)))
        .keep_alive_timeout(Duration::from_secs(10))
        .timer(hyper_util::rt::TokioTimer::new());
    let graceful = GracefulShutdown::new();
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let proxy = proxy.clone();
                let asked = Arc::new(AtomicBool::new(false));
                let seen = asked.clone();
                let service = hyper::service::service_fn(move |req| {
                    seen.store(true, Ordering::Relaxed);
                    proxy.clone().handle(req)
                });
                let conn = builder.serve_connection(TokioIo::new(stream), service).into_owned();
                let conn = graceful.watch(conn);
                let span = tracing::info_span!("conn", %peer);
                connections.spawn(
                    async move {
                        tracing::debug!("client connected");
                        tokio::pin!(conn);
                        // Preface and first request in time, or the
                        // connection is closed (slowloris).
                        let deadline = tokio::time::sleep(first_request_timeout);
                        tokio::pin!(deadline);
                        let ended = tokio::select! {
                            ended = &mut conn => Some(ended),
                            () = &mut deadline, if !asked.load(Ordering::Relaxed) => None,
                        };
                        let ended = match ended {
                            Some(ended) => ended,
                            None if !asked.load(Ordering::Relaxed) => {
                                tracing::debug!(
                                    "no request within {first_request_timeout:?}; closing the connection"
                                );
                                return;
                            }
                            None => conn.await,
                        };
                        if let Err(e) = ended {
                            tracing::debug!("client connection ended: {}", upstream::describe(&*e));
                        }
                    }
                    .instrument(span),
                );
            }
            () = stop.wait() => break,
        }
    }
    drop(listener);
    let open = graceful.count();
    if open > 0 {
        tracing::info!("waiting up to {grace:?} for {open} client connections to finish");
    }
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "grace period over; cutting {} remaining client connections",
            connections.len()
        );
        connections.abort_all();
    }
    while connections.join_next().await.is_some() {}
    // Streams hyper had not finished dropping yet still get their end.
    proxy
        .live
        .end_all("the relay shut down before the call finished");
}
