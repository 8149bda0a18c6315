//! One reflection exchange (a `ServerReflectionInfo` bidi stream) with the
//! upstream, in either protocol version, behind one dialect-neutral API.
//!
//! `grpc.reflection.v1` and `v1alpha` have identical messages in different
//! packages; a macro maps each onto [`Query`] and [`Reply`] so the closure
//! logic is written once. A [`Session`] never waits for the server's
//! response headers before its first request is written.

use std::fmt;
use std::pin::Pin;

use futures_util::future::BoxFuture;
use futures_util::{FutureExt as _, Stream, StreamExt, stream};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::metadata::MetadataMap;
use tonic::transport::Channel;
use tonic::{Code, Status};

/// The reflection protocol versions, in the order they are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V1Alpha,
}

impl Version {
    pub fn other(self) -> Version {
        match self {
            Version::V1 => Version::V1Alpha,
            Version::V1Alpha => Version::V1,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Version::V1 => "v1",
            Version::V1Alpha => "v1alpha",
        })
    }
}

#[derive(Debug, Clone)]
pub enum Query {
    Symbol(String),
    File(String),
}

#[derive(Debug)]
pub enum Reply {
    /// Serialized `FileDescriptorProto`s.
    Files(Vec<Vec<u8>>),
    /// An `ErrorResponse`: code and message.
    Error(i32, String),
    /// Some other response type, which a well-behaved server never sends here.
    Unexpected,
}

type Replies = Pin<Box<dyn Stream<Item = Result<Reply, Status>> + Send>>;

/// One `ServerReflectionInfo` stream.
///
/// Nothing is sent until the first [`Session::ask_all`]: the stream is
/// opened then, with its first requests already queued, and its response
/// headers are awaited only after they are written. grpc-go, grpcio and
/// grpc-js send no response headers on this stream until they answer a
/// request, so an exchange that waited for headers first would wait forever.
pub struct Session {
    queries: mpsc::UnboundedSender<Query>,
    replies: Replies,
}

impl Session {
    /// Prepares an exchange in `version`. An `Unimplemented` status from the
    /// first [`Session::ask_all`] means this version is not served.
    pub fn new(channel: Channel, version: Version, metadata: &MetadataMap) -> Session {
        let (queries, rx) = mpsc::unbounded_channel();
        let opened: BoxFuture<'static, Result<Replies, Status>> = match version {
            Version::V1 => dialect!(v1, channel, rx, metadata),
            Version::V1Alpha => dialect!(v1alpha, channel, rx, metadata),
        };
        // The call starts when the replies are first polled, by which time
        // the first queries are in the channel.
        let replies = stream::once(opened).flat_map(|opened| match opened {
            Ok(replies) => replies,
            Err(status) => Box::pin(stream::iter([Err(status)])) as Replies,
        });
        Session {
            queries,
            replies: Box::pin(replies),
        }
    }

    /// Sends queries, then reads one reply for each, in order.
    pub async fn ask_all(&mut self, queries: &[Query]) -> Result<Vec<Reply>, Status> {
        for q in queries {
            self.queries
                .send(q.clone())
                .map_err(|_| Status::unavailable("the reflection stream closed"))?;
        }
        let mut out = Vec::with_capacity(queries.len());
        for _ in queries {
            match self.replies.next().await {
                Some(reply) => out.push(reply?),
                None => {
                    return Err(Status::unavailable(
                        "the server ended the reflection stream early",
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// Whether a status means "this reflection version is not served here".
pub fn is_unimplemented(status: &Status) -> bool {
    status.code() == Code::Unimplemented
}

macro_rules! dialect {
    ($v:ident, $channel:expr, $rx:expr, $metadata:expr) => {{
        use tonic_reflection::pb::$v::ServerReflectionRequest;
        use tonic_reflection::pb::$v::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::$v::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::$v::server_reflection_response::MessageResponse;

        let requests = UnboundedReceiverStream::new($rx).map(|q: Query| ServerReflectionRequest {
            host: String::new(),
            message_request: Some(match q {
                Query::Symbol(s) => MessageRequest::FileContainingSymbol(s),
                Query::File(f) => MessageRequest::FileByFilename(f),
            }),
        });
        let mut request = tonic::Request::new(requests);
        *request.metadata_mut() = $metadata.clone();
        let mut client = ServerReflectionClient::new($channel).max_decoding_message_size(64 << 20);
        async move {
            let stream = client.server_reflection_info(request).await?.into_inner();
            let replies = stream.map(|item| {
                item.map(|res| match res.message_response {
                    Some(MessageResponse::FileDescriptorResponse(f)) => {
                        Reply::Files(f.file_descriptor_proto)
                    }
                    Some(MessageResponse::ErrorResponse(e)) => {
                        Reply::Error(e.error_code, e.error_message)
                    }
                    _ => Reply::Unexpected,
                })
            });
            Ok(Box::pin(replies) as Replies)
        }
        .boxed()
    }};
}
use dialect;
