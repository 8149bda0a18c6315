//! One call, from its request head to its end: a state machine that the
//! connection's task polls, not a task of its own.
//!
//! [`run`] answers what the relay answers itself (not gRPC, metadata the
//! upstream would choke on), opens the upstream stream, then moves both
//! directions at once ([`Flight`]): the request with a [`Pump`] from the
//! client to the upstream, the response (its head, then a `Pump` back).
//! Each side's end is noted as it is seen: the client's reset (or its
//! deadline, or its connection going) is checked before anything else in
//! each poll, so a cancel that crosses the upstream's trailers still reads
//! as the client's cancel, with the trailers noted after it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use h2::server::SendResponse;
use h2::{Reason, RecvStream, SendStream};
use http::{HeaderMap, Request, Response, Uri, header};
use loom_shared::pb::{self, EndKind, EndSide};
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::capture::call::{Call, Ending};
use crate::capture::spoken::{HttpVersion, Spoken};
use crate::capture::tap::Tap;
use crate::forward::ending::{client_error, client_reset, reset_ending, upstream_ending};
use crate::forward::late_reset::{LINGER, LateResets};
use crate::forward::pump::{Pump, PumpEnd, PumpError};
use crate::forward::route::Target;
use crate::forward::upstream::{Checkout, Lease};
use crate::forward::{Forwarder, header_limit, protocol, status, web};

/// A call's request for another upstream connection, after the one it got
/// refused the stream (a GOAWAY): the target, the connection to forget, and
/// where the new lease goes.
pub struct Retry {
    pub target: Arc<Target>,
    pub conn: u64,
    pub reply: tokio::sync::oneshot::Sender<Checkout>,
}

/// What a call shares with the other calls of its client connection.
#[derive(Clone)]
pub struct ClientSide {
    /// Where it asks for another upstream connection.
    pub retry: mpsc::UnboundedSender<Retry>,
    /// The connection's late resets.
    pub late: LateResets,
    /// The connection's TLS session, if it is TLS.
    pub tls: Option<Arc<pb::TlsSession>>,
}

/// Forward one call to its end.
pub async fn run(
    fwd: Arc<Forwarder>,
    target: Arc<Target>,
    request: Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    checkout: Checkout,
    client: ClientSide,
) {
    let ClientSide {
        retry,
        late,
        tls: client_tls,
    } = client;
    let (mut parts, body) = request.into_parts();
    let Some(spoken) = web::spoken(&parts, HttpVersion::H2) else {
        let refusal = protocol::refuse_non_rpc(&parts);
        if let Ok(mut stream) = respond.send_response(refusal.head(), false) {
            let _ = stream.send_data(Bytes::from(refusal.text), true);
        }
        return;
    };
    let mut call = Call::start(
        &fwd.hub,
        &parts,
        &target.name,
        client_tls.as_deref(),
        &spoken,
        &fwd.stopping,
    );
    web::get_message(&mut call, &parts);
    let request_compressed = web::compressed_body(&parts.headers, &spoken);
    let limit = u64::from(target.header_limit.get());
    let size = header_limit::request_size(&parts, target.upstream.authority().as_str());
    if size > limit {
        let message = format!(
            "loom: the request's metadata is {size} bytes, more than upstream {} accepts \
             ({limit} bytes); the call was not forwarded",
            target.name
        );
        let answer = call.refuse(status::RESOURCE_EXHAUSTED, message);
        send_answer(&mut respond, &spoken, answer);
        return;
    }
    // Returns at once; a first call of a service starts a background fetch.
    fwd.reflector
        .observe(target.source(&fwd.reflector), parts.uri.path());
    let span = call.span.clone();
    async move {
        let uri = Uri::builder()
            .scheme(target.upstream.scheme())
            .authority(target.upstream.authority().clone())
            .path_and_query(
                parts
                    .uri
                    .path_and_query()
                    .cloned()
                    .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/")),
            )
            .build();
        if let Ok(uri) = uri {
            parts.uri = uri;
        }
        parts.headers.remove(header::HOST);
        let head = Request::from_parts(parts, ());
        let end = body.is_end_stream();
        let Some((response, upstream, lease)) = open_stream(
            &mut call,
            &mut respond,
            &target,
            checkout,
            &retry,
            head,
            end,
        )
        .await
        else {
            return;
        };
        let stream = respond.stream_id().as_u32();
        let mut request_tap = Tap::spoken(
            &spoken,
            pb::Direction::Request,
            fwd.max_message_bytes,
            fwd.partial.clone(),
        );
        if request_compressed {
            request_tap.set_compressed();
        }
        let flight = Flight {
            request_tap,
            response_tap: Tap::spoken(
                &spoken,
                pb::Direction::Response,
                fwd.max_message_bytes,
                fwd.partial.clone(),
            ),
            call,
            request: Pump::new(body, upstream),
            request_done: end,
            ended_after_head: false,
            response: Phase::Head { response, respond },
            linger: None,
            late,
            stream,
            _lease: lease,
        };
        let mut flight = flight;
        (&mut flight).await;
        // The upstream's stream and its slot on the connection go now; the
        // call waits on for the client's late reset, holding the client's
        // stream only (so that `h2` reads the client's connection on, for
        // that reset, even once the client has said goodbye).
        let Flight {
            call,
            linger,
            late,
            stream,
            request,
            response,
            ..
        } = flight;
        if let Some(linger) = linger {
            let answer = match response {
                Phase::Body(pump) => Some(pump.into_send()),
                Phase::Head { .. } => None,
            };
            Lingering {
                call,
                linger,
                late,
                stream,
                _client: (request.into_recv(), answer),
            }
            .await;
        }
    }
    .instrument(span)
    .await
}

/// Opens the call's stream on an upstream connection (once more on another
/// connection if the first refuses it). `None` when the call is over
/// already (the client left, or the upstream could not be reached, which
/// the client has been told).
async fn open_stream(
    call: &mut Call,
    respond: &mut SendResponse<Bytes>,
    target: &Arc<Target>,
    mut checkout: Checkout,
    retry: &mpsc::UnboundedSender<Retry>,
    mut head: Request<()>,
    end: bool,
) -> Option<(h2::client::ResponseFuture, SendStream<Bytes>, Lease)> {
    for attempt in 0..2 {
        let leased = tokio::select! {
            biased;
            reset = std::future::poll_fn(|cx| respond.poll_reset(cx)) => {
                call.end_by_client(client_reset(reset, call.deadline_passed()));
                return None;
            }
            leased = checkout.lease() => leased,
        };
        let mut lease = match leased {
            Ok(lease) => lease,
            Err(why) => {
                let ending = Ending::new(EndSide::Upstream, EndKind::Disconnect, 0, &*why);
                let answer = call.fail_unreachable(ending);
                send_answer(respond, call.spoken(), answer);
                return None;
            }
        };
        let conn = lease.conn;
        call.set_upstream_tls(lease.tls.clone());
        let ready = std::future::poll_fn(|cx| lease.send.poll_ready(cx)).await;
        let sent = ready.and_then(|()| lease.send.send_request(clone_head(&head), end));
        match sent {
            Ok((response, stream)) => return Some((response, stream, lease)),
            Err(e) if attempt == 0 && (e.is_go_away() || e.is_io() || e.reason().is_none()) => {
                let (reply, rx) = tokio::sync::oneshot::channel();
                let asked = retry.send(Retry {
                    target: target.clone(),
                    conn,
                    reply,
                });
                match (asked, rx.await) {
                    (Ok(()), Ok(next)) => checkout = next,
                    _ => {
                        let ending = upstream_ending(&e);
                        let answer = call.fail_upstream(ending, false);
                        send_answer(respond, call.spoken(), answer);
                        return None;
                    }
                }
            }
            Err(e) => {
                let answer = call.fail_upstream(upstream_ending(&e), false);
                send_answer(respond, call.spoken(), answer);
                return None;
            }
        }
        head = clone_head(&head);
    }
    None
}

fn clone_head(head: &Request<()>) -> Request<()> {
    let mut copy = Request::new(());
    *copy.method_mut() = head.method().clone();
    *copy.uri_mut() = head.uri().clone();
    *copy.version_mut() = head.version();
    *copy.headers_mut() = head.headers().clone();
    copy
}

/// The relay's own answer, in the call's protocol.
fn send_answer(
    respond: &mut SendResponse<Bytes>,
    spoken: &Spoken,
    answer: crate::capture::call::RelayStatus,
) {
    let (head, body) = status::answer(spoken, answer.code, &answer.message).into_parts();
    let head = Response::from_parts(head, ());
    if body.is_empty() {
        let _ = respond.send_response(head, true);
    } else if let Ok(mut stream) = respond.send_response(head, false) {
        let _ = stream.send_data(body, true);
    }
}

/// Where the response is.
enum Phase {
    /// Waiting for the upstream's response head.
    Head {
        response: h2::client::ResponseFuture,
        respond: SendResponse<Bytes>,
    },
    /// Moving the response body to the client.
    Body(Pump),
}

/// A call in flight: both directions at once, until the response ends.
struct Flight {
    call: Call,
    request_tap: Tap,
    response_tap: Tap,
    /// Client to upstream; kept after the request ends, for the upstream
    /// stream's handle.
    request: Pump,
    request_done: bool,
    /// The client ended its request after the response head came.
    ended_after_head: bool,
    response: Phase,
    /// Trailers forwarded, waiting for the client's late reset.
    linger: Option<Linger>,
    /// The connection's late resets, and this call's client stream.
    late: LateResets,
    stream: u32,
    /// The upstream connection's stream count, held until the call ends.
    _lease: Lease,
}

/// The upstream's end, forwarded but not yet recorded: the client may yet
/// turn out to have cancelled before it saw it (see `late_reset`).
struct Linger {
    trailers: HeaderMap,
    trailers_only: Option<http::StatusCode>,
    until: Pin<Box<tokio::time::Sleep>>,
}

impl Future for Flight {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        // The client first: its cancel wins a tie with the upstream's end.
        let reset = match &mut this.response {
            Phase::Head { respond, .. } => respond.poll_reset(cx),
            Phase::Body(pump) => pump.send_stream().poll_reset(cx),
        };
        if let Poll::Ready(reset) = reset {
            let ending = client_reset(reset, this.call.deadline_passed());
            this.client_left(cx, ending);
            return Poll::Ready(());
        }
        if !this.request_done {
            let (call, tap) = (&mut this.call, &mut this.request_tap);
            match this.request.poll(cx, |data| tap.data(call, data)) {
                Poll::Pending => {}
                Poll::Ready(Ok(end)) => {
                    this.request_done = true;
                    this.ended_after_head = matches!(this.response, Phase::Body(_));
                    this.request_tap.finish(&mut this.call);
                    if let PumpEnd::Trailers(trailers) = end {
                        let _ = this.request.send_trailers(trailers);
                    }
                }
                Poll::Ready(Err(PumpError::Recv(e))) => {
                    let ending = client_error(&e, this.call.deadline_passed());
                    this.client_left(cx, ending);
                    return Poll::Ready(());
                }
                // The upstream no longer takes the request (it reset the
                // stream, or answered in full): the response says how.
                Poll::Ready(Err(PumpError::Send(_))) => this.request_done = true,
            }
        }
        loop {
            match &mut this.response {
                Phase::Head { response, respond } => {
                    let head = match Pin::new(response).poll(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(head) => head,
                    };
                    match head {
                        Ok(head) => {
                            let (parts, body) = head.into_parts();
                            let trailers_only = body.is_end_stream();
                            let lingers = trailers_only
                                && lingers(this.request_done, this.ended_after_head, &this.call);
                            if lingers {
                                this.late.watch(this.stream);
                                this.linger =
                                    Some(Linger::new(parts.headers.clone(), Some(parts.status)));
                            } else if trailers_only {
                                this.call
                                    .end_with_trailers(&parts.headers, Some(parts.status));
                            } else {
                                this.call.response_headers(parts.status, &parts.headers);
                                if web::compressed_body(&parts.headers, this.call.spoken()) {
                                    this.response_tap.set_compressed();
                                }
                            }
                            let head = Response::from_parts(parts, ());
                            match respond.send_response(head, trailers_only) {
                                Ok(_) if lingers => return Poll::Ready(()),
                                Ok(_) if trailers_only => return Poll::Ready(()),
                                Ok(stream) => this.response = Phase::Body(Pump::new(body, stream)),
                                Err(e) => {
                                    let ending = client_error(&e, this.call.deadline_passed());
                                    this.client_left(cx, ending);
                                    return Poll::Ready(());
                                }
                            }
                        }
                        Err(e) => {
                            let answer = this.call.fail_upstream(upstream_ending(&e), false);
                            send_answer(respond, this.call.spoken(), answer);
                            return Poll::Ready(());
                        }
                    }
                }
                Phase::Body(pump) => {
                    let (call, tap) = (&mut this.call, &mut this.response_tap);
                    let polled = pump.poll(cx, |data| tap.data(call, data));
                    return match polled {
                        Poll::Pending => Poll::Pending,
                        Poll::Ready(Ok(end)) => {
                            this.response_tap.finish(&mut this.call);
                            match end {
                                PumpEnd::Trailers(trailers) => {
                                    if lingers(this.request_done, this.ended_after_head, &this.call)
                                    {
                                        let _ = pump.send_trailers(trailers.clone());
                                        this.late.watch(this.stream);
                                        this.linger = Some(Linger::new(trailers, None));
                                        return Poll::Ready(());
                                    }
                                    this.call.end_with_trailers(&trailers, None);
                                    let _ = pump.send_trailers(trailers);
                                }
                                PumpEnd::EndOfStream => {
                                    this.call.end_with_trailers(&HeaderMap::new(), None);
                                }
                            }
                            Poll::Ready(())
                        }
                        Poll::Ready(Err(PumpError::Recv(e))) => {
                            this.response_tap.finish(&mut this.call);
                            let answer = this.call.fail_upstream(upstream_ending(&e), true);
                            match status::cut(this.call.spoken(), answer.code, &answer.message) {
                                status::Cut::Trailers(trailers) => {
                                    let _ = pump.send_trailers(trailers);
                                }
                                status::Cut::LastData(data) => {
                                    let _ = pump.send_stream().send_data(data, true);
                                }
                            }
                            Poll::Ready(())
                        }
                        Poll::Ready(Err(PumpError::Send(e))) => {
                            let ending = client_error(&e, this.call.deadline_passed());
                            this.client_left(cx, ending);
                            Poll::Ready(())
                        }
                    };
                }
            }
        }
    }
}

/// Whether the upstream's end, now, may have crossed a client's cancel that
/// ends the request first and resets the stream after: the request ended
/// after the response head came, or was not one message (so not a unary or
/// server-streaming call, which end their request at once).
fn lingers(request_done: bool, ended_after_head: bool, call: &Call) -> bool {
    request_done && (ended_after_head || call.messages(pb::Direction::Request) != 1)
}

impl Linger {
    fn new(trailers: HeaderMap, trailers_only: Option<http::StatusCode>) -> Self {
        Linger {
            trailers,
            trailers_only,
            until: Box::pin(tokio::time::sleep(LINGER)),
        }
    }
}

/// A call whose upstream end was forwarded, waiting for the client's late
/// reset with nothing else held.
struct Lingering {
    call: Call,
    linger: Linger,
    late: LateResets,
    stream: u32,
    _client: (RecvStream, Option<SendStream<Bytes>>),
}

impl Future for Lingering {
    type Output = ();

    /// Records the upstream's end once the client's late reset came (its
    /// cancel first, then the trailers) or the wait is over (the trailers).
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let reset = match this.late.poll(this.stream, cx) {
            Poll::Ready(code) => Some(code),
            Poll::Pending if this.linger.until.as_mut().poll(cx).is_ready() => None,
            Poll::Pending => return Poll::Pending,
        };
        this.late.forget(this.stream);
        if let Some(code) = reset.filter(|&code| code != u32::from(Reason::NO_ERROR)) {
            let reason = Reason::from(code);
            let mut ending = reset_ending(EndSide::Client, reason, this.call.deadline_passed());
            ending.detail = format!(
                "{} after ending its request, before the upstream's trailers reached it",
                ending.detail
            );
            this.call.note_ending(ending);
        }
        this.call
            .end_with_trailers(&this.linger.trailers, this.linger.trailers_only);
        Poll::Ready(())
    }
}

impl Flight {
    /// The client reset the call or went away: note it, then whatever the
    /// upstream had already sent (its end, crossing the cancel), then tell
    /// the upstream with a reset of its own.
    fn client_left(&mut self, cx: &mut Context<'_>, ending: Ending) {
        let why = ending.detail.clone();
        self.call.note_ending(ending);
        if let Some(code) = self.upstream_already_ended(cx) {
            self.call.note_ending(Ending::new(
                EndSide::Upstream,
                EndKind::Trailers,
                code,
                "arrived after the client had ended the call; not forwarded",
            ));
        }
        self.call.end_cancelled(why);
        self.request.send_stream().send_reset(Reason::CANCEL);
        if let Phase::Head { respond, .. } = &mut self.response {
            respond.send_reset(Reason::CANCEL);
        }
    }

    /// The grpc-status of the upstream's end, if it is already here.
    fn upstream_already_ended(&mut self, cx: &mut Context<'_>) -> Option<u32> {
        let (trailers, upstream) = match &mut self.response {
            Phase::Head { response, .. } => match Pin::new(response).poll(cx) {
                Poll::Ready(Ok(head)) if head.body().is_end_stream() => {
                    return grpc_status(head.headers());
                }
                Poll::Ready(Ok(head)) => {
                    let mut body = head.into_body();
                    (drain(&mut body, cx), Some(body))
                }
                _ => return None,
            },
            Phase::Body(pump) => (drain(pump.recv_stream(), cx), None),
        };
        drop(upstream);
        trailers.and_then(|t| grpc_status(&t))
    }
}

/// Reads what is already here of a body without waiting: its trailers, if
/// they have arrived.
fn drain(body: &mut RecvStream, cx: &mut Context<'_>) -> Option<HeaderMap> {
    loop {
        match body.poll_data(cx) {
            Poll::Ready(Some(Ok(data))) => {
                let _ = body.flow_control().release_capacity(data.len());
            }
            Poll::Ready(None) => break,
            _ => return None,
        }
    }
    match body.poll_trailers(cx) {
        Poll::Ready(Ok(trailers)) => trailers,
        _ => None,
    }
}

fn grpc_status(headers: &HeaderMap) -> Option<u32> {
    headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}
