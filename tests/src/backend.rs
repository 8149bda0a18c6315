//! The probe backend: a tonic server on 127.0.0.1:0 that does what each
//! request asks, and reports what it observed (deadlines, cancellations).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};
use tonic::codec::CompressionEncoding;
use tonic::metadata::{KeyAndValueRef, MetadataMap, MetadataValue};
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status, Streaming};

use crate::probe::probe_server::{Probe, ProbeServer};
use crate::probe::{ProbeReply, ProbeRequest};

/// What the backend saw, for assertions.
#[derive(Default)]
pub struct Observed {
    /// Streams whose client went away before the backend finished.
    pub cancelled: AtomicU64,
    pub calls: AtomicU64,
    pub changed: Notify,
}

impl Observed {
    /// Wait until `cancelled` reaches `n` (bounded by the caller's timeout).
    pub async fn cancelled_at_least(&self, n: u64) {
        loop {
            let notified = self.changed.notified();
            if self.cancelled.load(Ordering::SeqCst) >= n {
                return;
            }
            notified.await;
        }
    }
}

pub struct Backend {
    pub addr: SocketAddr,
    pub observed: Arc<Observed>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Backend {
    pub async fn start() -> Backend {
        Self::start_on(
            TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind backend"),
        )
        .await
    }

    /// Serve on a given listener (to restart on the same port).
    pub async fn start_on(listener: TcpListener) -> Backend {
        let addr = listener.local_addr().expect("backend addr");
        let observed = Arc::new(Observed::default());
        let service = probe_service(observed.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(
                    TcpIncoming::from(listener).with_nodelay(Some(true)),
                    async {
                        let _ = stopped.await;
                    },
                )
                .await;
        });
        Backend {
            addr,
            observed,
            stop: Some(stop),
            task,
        }
    }

    /// Stop serving and wait until the port is closed.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

/// The probe service, reporting to `observed` (also served over TLS by
/// [`crate::tls_backend`]).
pub(crate) fn probe_service(observed: Arc<Observed>) -> ProbeServer<ProbeService> {
    ProbeServer::new(ProbeService { observed })
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20)
}

pub(crate) struct ProbeService {
    observed: Arc<Observed>,
}

fn echoed(metadata: &MetadataMap) -> std::collections::BTreeMap<String, String> {
    metadata
        .iter()
        .filter_map(|kv| match kv {
            KeyAndValueRef::Ascii(k, v) if k.as_str().starts_with("x-") => {
                Some((k.to_string(), v.to_str().unwrap_or("").to_owned()))
            }
            KeyAndValueRef::Binary(k, v) if k.as_str().starts_with("x-") => Some((
                k.to_string(),
                format!("{:?}", v.to_bytes().unwrap_or_default().as_ref()),
            )),
            _ => None,
        })
        .collect()
}

fn failure(req: &ProbeRequest) -> Option<Status> {
    (req.fail_code != 0).then(|| {
        Status::with_details(
            tonic::Code::from_i32(req.fail_code as i32),
            req.fail_message.clone(),
            bytes::Bytes::from_static(b"\x08\x03\x12\x04nope"),
        )
    })
}

/// Response metadata: each request `x-` header comes back as `x-echo-<name>`.
fn echo_headers(from: &MetadataMap, to: &mut MetadataMap) {
    for kv in from.iter() {
        match kv {
            KeyAndValueRef::Ascii(k, v) if k.as_str().starts_with("x-") => {
                if let Ok(name) =
                    format!("x-echo-{}", k.as_str()).parse::<tonic::metadata::AsciiMetadataKey>()
                {
                    to.insert(name, v.clone());
                }
            }
            KeyAndValueRef::Binary(k, v) if k.as_str().starts_with("x-") => {
                if let Ok(name) =
                    format!("x-echo-{}", k.as_str()).parse::<tonic::metadata::BinaryMetadataKey>()
                {
                    to.insert_bin(name, v.clone());
                }
            }
            _ => {}
        }
    }
}

type ReplyStream = Pin<Box<dyn Stream<Item = Result<ProbeReply, Status>> + Send>>;

/// Sends through `tx` until done or the client goes away (counted).
async fn pump(
    observed: Arc<Observed>,
    tx: tokio::sync::mpsc::Sender<Result<ProbeReply, Status>>,
    req: ProbeRequest,
) {
    let mut index = 0u32;
    loop {
        if req.count != 0 && index >= req.count {
            return;
        }
        let reply = ProbeReply {
            text: req.text.clone(),
            blob: vec![(index % 251) as u8; req.reply_size as usize],
            index,
            ..Default::default()
        };
        if tx.send(Ok(reply)).await.is_err() {
            observed.cancelled.fetch_add(1, Ordering::SeqCst);
            observed.changed.notify_waiters();
            return;
        }
        index += 1;
        if req.delay_ms > 0 {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(req.delay_ms)) => {}
                () = tx.closed() => {
                    observed.cancelled.fetch_add(1, Ordering::SeqCst);
                    observed.changed.notify_waiters();
                    return;
                }
            }
        }
    }
}

#[tonic::async_trait]
impl Probe for ProbeService {
    async fn unary(&self, request: Request<ProbeRequest>) -> Result<Response<ProbeReply>, Status> {
        self.observed.calls.fetch_add(1, Ordering::SeqCst);
        let grpc_timeout = request
            .metadata()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let echoed = echoed(request.metadata());
        let metadata = request.metadata().clone();
        let req = request.into_inner();
        if let Some(status) = failure(&req) {
            return Err(status);
        }
        let mut response = Response::new(ProbeReply {
            text: format!("echo: {}", req.text),
            blob: if req.reply_size > 0 {
                vec![0xab; req.reply_size as usize]
            } else {
                req.blob.clone()
            },
            grpc_timeout,
            echoed,
            ..Default::default()
        });
        echo_headers(&metadata, response.metadata_mut());
        Ok(response)
    }

    type ServerStreamStream = ReplyStream;

    async fn server_stream(
        &self,
        request: Request<ProbeRequest>,
    ) -> Result<Response<ReplyStream>, Status> {
        self.observed.calls.fetch_add(1, Ordering::SeqCst);
        let req = request.into_inner();
        if let Some(status) = failure(&req) {
            return Err(status);
        }
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(pump(self.observed.clone(), tx, req));
        let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
        let mut response = Response::new(Box::pin(stream) as ReplyStream);
        response
            .metadata_mut()
            .insert("x-stream", MetadataValue::from_static("server"));
        Ok(response)
    }

    async fn client_stream(
        &self,
        request: Request<Streaming<ProbeRequest>>,
    ) -> Result<Response<ProbeReply>, Status> {
        self.observed.calls.fetch_add(1, Ordering::SeqCst);
        let mut stream = request.into_inner();
        let mut requests = 0u64;
        let mut blob_bytes = 0u64;
        let mut texts = Vec::new();
        while let Some(item) = stream.next().await {
            let req = item?;
            if let Some(status) = failure(&req) {
                return Err(status);
            }
            requests += 1;
            blob_bytes += req.blob.len() as u64;
            texts.push(req.text);
        }
        Ok(Response::new(ProbeReply {
            text: texts.join(","),
            requests,
            blob_bytes,
            ..Default::default()
        }))
    }

    type BidiStream = ReplyStream;

    async fn bidi(
        &self,
        request: Request<Streaming<ProbeRequest>>,
    ) -> Result<Response<ReplyStream>, Status> {
        self.observed.calls.fetch_add(1, Ordering::SeqCst);
        let mut stream = request.into_inner();
        let observed = self.observed.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            let mut index = 0;
            while let Some(item) = stream.next().await {
                let reply = item.map(|req| ProbeReply {
                    text: format!("echo: {}", req.text),
                    blob: req.blob,
                    index,
                    ..Default::default()
                });
                index += 1;
                if tx.send(reply).await.is_err() {
                    break;
                }
            }
            // The request stream ended or failed: a client reset shows up as
            // an error item or as the reply channel closing.
            if tx.is_closed() {
                observed.cancelled.fetch_add(1, Ordering::SeqCst);
                observed.changed.notify_waiters();
            }
        });
        let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
        Ok(Response::new(Box::pin(stream) as ReplyStream))
    }
}
