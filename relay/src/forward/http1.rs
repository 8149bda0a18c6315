//! gRPC-Web and Connect over HTTP/1.1: the relay's [`Http1`] way in.
//!
//! Browsers (and connect-node, buf curl with `--http1.1`) speak these
//! protocols over HTTP/1.1. Each request is classified
//! (`loom_shared::web_protocol`), captured like an HTTP/2 call (the same
//! [`Call`] and [`Tap`]s, on the request and response bodies as they
//! pass) and forwarded as it came, HTTP/1.1, on an upstream connection of
//! the client connection's own: HTTP/1.1 carries one request at a time, so
//! one upstream connection per client connection is all a client can use.
//! A CORS preflight (`OPTIONS`) is forwarded too, uncaptured, and answered
//! as the upstream answers it. Anything else gets the port's
//! [`Http1Refusal`].
//!
//! What it is not: a general HTTP proxy. Upgrades, `CONNECT` (see
//! `forward::tunnel`) and requests of no RPC protocol are not forwarded.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, header};
use http_body::{Body, Frame};
use http_body_util::BodyExt as _;
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use loom_shared::pb;

use crate::capture::call::Stopping;
use crate::capture::call::{Call, Ending};
use crate::capture::framing::PartialBudget;
use crate::capture::hub::Hub;
use crate::capture::spoken::HttpVersion;
use crate::capture::tap::Tap;
use crate::forward::protocol::{Http1, Http1Conn, Http1Refusal, Serving};
use crate::forward::route::{Route, Target};
use crate::forward::upstream::{Connect, describe};
use crate::forward::{status, web};
use crate::reflection::Reflector;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Outgoing = BoxBody<Bytes, BoxError>;

/// What every HTTP/1.1 call of the relay needs.
pub struct Http1Forward {
    pub hub: Hub,
    pub reflector: Arc<Reflector>,
    pub route: Arc<dyn Route>,
    pub connect: Arc<dyn Connect>,
    pub max_message_bytes: usize,
    pub partial: PartialBudget,
    pub stopping: Stopping,
    /// What requests of no RPC protocol get.
    pub refusal: Http1Refusal,
}

/// The client connection's upstream connection, once opened.
type UpstreamSlot =
    Arc<tokio::sync::Mutex<Option<(Arc<str>, hyper::client::conn::http1::SendRequest<Outgoing>)>>>;

impl Http1 for Arc<Http1Forward> {
    fn serve(&self, io: crate::forward::upstream::BoxIo, conn: Http1Conn) -> Serving {
        let this = self.clone();
        Box::pin(async move {
            let slot: UpstreamSlot = Arc::default();
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let (this, conn, slot) = (this.clone(), conn.clone(), slot.clone());
                async move { Ok::<_, Infallible>(this.handle(req, &conn, &slot).await) }
            });
            let served = hyper::server::conn::http1::Builder::new()
                .auto_date_header(false)
                .serve_connection(TokioIo::new(io), service)
                .await;
            if let Err(e) = served {
                tracing::debug!("HTTP/1.1 client connection ended: {e}");
            }
        })
    }
}

impl Http1Forward {
    async fn handle(
        &self,
        req: Request<Incoming>,
        conn: &Http1Conn,
        slot: &UpstreamSlot,
    ) -> Response<Outgoing> {
        let (parts, body) = req.into_parts();
        let target = match &conn.target {
            Some(target) => target.clone(),
            None => self.route.target(&parts.uri, &parts.headers),
        };
        if parts.method == http::Method::OPTIONS {
            // A CORS preflight: the upstream's answer, as it gives it.
            let req = Request::from_parts(parts, body.map_err(BoxError::from).boxed());
            return match self.send(slot, &target, req).await {
                Ok(res) => res.map(|b| b.map_err(BoxError::from).boxed()),
                Err(why) => plain(http::StatusCode::BAD_GATEWAY, &why),
            };
        }
        let Some(spoken) = web::spoken(&parts, HttpVersion::Http11) else {
            return self
                .refusal
                .response(&parts)
                .map(|b| b.map_err(|e| match e {}).boxed());
        };
        let mut call = Call::start(
            &self.hub,
            &parts,
            &target.name,
            conn.client_tls.as_deref(),
            &spoken,
            &self.stopping,
        );
        self.reflector
            .observe(target.source(&self.reflector), parts.uri.path());
        web::get_message(&mut call, &parts);
        let state = Arc::new(Mutex::new(State {
            request: Tap::spoken(
                &spoken,
                pb::Direction::Request,
                self.max_message_bytes,
                self.partial.clone(),
            ),
            response: Tap::spoken(
                &spoken,
                pb::Direction::Response,
                self.max_message_bytes,
                self.partial.clone(),
            ),
            call,
        }));
        if web::compressed_body(&parts.headers, &spoken) {
            lock(&state).request.set_compressed();
        }
        let body = Tapped {
            inner: body,
            state: state.clone(),
            direction: pb::Direction::Request,
            done: false,
        };
        let req = Request::from_parts(parts, body.boxed());
        match self.send(slot, &target, req).await {
            Ok(res) => {
                let (parts, body) = res.into_parts();
                {
                    let mut s = lock(&state);
                    let State { call, response, .. } = &mut *s;
                    call.response_headers(parts.status, &parts.headers);
                    if web::compressed_body(&parts.headers, &spoken) {
                        response.set_compressed();
                    }
                }
                let body = Tapped {
                    inner: body,
                    state,
                    direction: pb::Direction::Response,
                    done: false,
                };
                Response::from_parts(parts, body.boxed())
            }
            Err(why) => {
                let mut s = lock(&state);
                let ending = Ending::new(
                    pb::EndSide::Upstream,
                    pb::EndKind::Disconnect,
                    0,
                    why.as_str(),
                );
                let answer = s.call.fail_unreachable(ending);
                status::answer(&spoken, answer.code, &answer.message)
                    .map(|b| http_body_util::Full::new(b).map_err(|e| match e {}).boxed())
            }
        }
    }

    /// Sends `req` on the client connection's upstream connection to
    /// `target` (opening one when there is none, or it is another target's,
    /// or it closed).
    async fn send<B>(
        &self,
        slot: &UpstreamSlot,
        target: &Arc<Target>,
        mut req: Request<B>,
    ) -> Result<Response<Incoming>, String>
    where
        B: Body<Data = Bytes, Error = BoxError> + Send + Sync + 'static,
    {
        if let Ok(value) = http::HeaderValue::from_str(target.upstream.authority().as_str()) {
            req.headers_mut().insert(header::HOST, value);
        }
        let req = req.map(|b| b.boxed());
        let mut guard = slot.lock().await;
        let reusable = guard
            .as_ref()
            .is_some_and(|(name, send)| *name == target.name && !send.is_closed());
        if !reusable {
            let connected =
                self.connect.connect(&target.upstream).await.map_err(|e| {
                    format!("cannot reach upstream {}: {}", target.name, describe(&e))
                })?;
            let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(connected.io))
                .await
                .map_err(|e| {
                    format!(
                        "HTTP/1.1 to upstream {} failed: {}",
                        target.name,
                        describe(&e)
                    )
                })?;
            // Runs on this worker, beside the client's connection.
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!("HTTP/1.1 upstream connection ended: {e}");
                }
            });
            *guard = Some((target.name.clone(), send));
        }
        let Some((_, send)) = guard.as_mut() else {
            return Err("no upstream connection".into());
        };
        send.ready().await.map_err(|e| {
            format!(
                "upstream {} closed the connection: {}",
                target.name,
                describe(&e)
            )
        })?;
        send.send_request(req)
            .await
            .map_err(|e| format!("upstream {} failed: {}", target.name, describe(&e)))
    }
}

/// One call's record and its two taps, shared by its two bodies.
struct State {
    call: Call,
    request: Tap,
    response: Tap,
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A body that shows each frame to its direction's tap as it passes; the
/// response's end ends the call, and a response dropped before its end
/// (the client left) ends it as the client's.
struct Tapped<B> {
    inner: B,
    state: Arc<Mutex<State>>,
    direction: pb::Direction,
    done: bool,
}

impl<B> Body for Tapped<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let polled = std::task::ready!(Pin::new(&mut this.inner).poll_frame(cx));
        let mut s = lock(&this.state);
        let State {
            call,
            request,
            response,
        } = &mut *s;
        let tap = if this.direction == pb::Direction::Request {
            request
        } else {
            response
        };
        match polled {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    tap.data(call, data);
                    // A body that knows it is over is not polled again.
                    if this.inner.is_end_stream() {
                        this.done = true;
                        tap.finish(call);
                        if this.direction == pb::Direction::Response {
                            call.end_with_trailers(&http::HeaderMap::new(), None);
                        }
                    }
                } else if let Some(trailers) = frame.trailers_ref()
                    && this.direction == pb::Direction::Response
                {
                    this.done = true;
                    tap.finish(call);
                    call.end_with_trailers(trailers, None);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(e)) => {
                let e: BoxError = e.into();
                this.done = true;
                tap.finish(call);
                if this.direction == pb::Direction::Response {
                    let ending = Ending::new(
                        pb::EndSide::Upstream,
                        pb::EndKind::Disconnect,
                        0,
                        e.to_string(),
                    );
                    let _ = call.fail_upstream(ending, true);
                }
                Poll::Ready(Some(Err(e)))
            }
            None if this.done => Poll::Ready(None),
            None => {
                this.done = true;
                tap.finish(call);
                if this.direction == pb::Direction::Response {
                    call.end_with_trailers(&http::HeaderMap::new(), None);
                }
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for Tapped<B> {
    fn drop(&mut self) {
        if self.direction == pb::Direction::Response && !self.done {
            let mut s = lock(&self.state);
            if !s.call.is_ended() {
                let ending = Ending::new(
                    pb::EndSide::Client,
                    pb::EndKind::Disconnect,
                    0,
                    "the client's HTTP/1.1 connection went before the response's end",
                );
                s.call.end_by_client(ending);
            }
        }
    }
}

/// A short text answer.
fn plain(status: http::StatusCode, text: &str) -> Response<Outgoing> {
    let mut res = Response::new(
        http_body_util::Full::new(Bytes::from(format!("loom: {text}\n")))
            .map_err(|e| match e {})
            .boxed(),
    );
    *res.status_mut() = status;
    res
}
