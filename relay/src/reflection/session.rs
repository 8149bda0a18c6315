//! One reflection exchange (a `ServerReflectionInfo` bidi stream) with the
//! upstream, in either protocol version, behind one dialect-neutral API.
//!
//! `grpc.reflection.v1` and `v1alpha` have identical messages in different
//! packages; a macro maps each onto [`Query`] and [`Reply`] so the closure
//! logic is written once.

use std::fmt;
use std::pin::Pin;

use futures_util::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
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

pub struct Session {
    queries: mpsc::Sender<Query>,
    replies: Replies,
}

impl Session {
    /// Open an exchange. An `Unimplemented` status means this version is not served.
    pub async fn open(
        channel: Channel,
        version: Version,
        metadata: &MetadataMap,
    ) -> Result<Session, Status> {
        let (queries, rx) = mpsc::channel(16);
        let replies = match version {
            Version::V1 => dialect!(v1, channel, rx, metadata),
            Version::V1Alpha => dialect!(v1alpha, channel, rx, metadata),
        };
        Ok(Session { queries, replies })
    }

    /// Send queries, then read one reply for each, in order.
    pub async fn ask_all(&mut self, queries: &[Query]) -> Result<Vec<Reply>, Status> {
        for q in queries {
            self.queries
                .send(q.clone())
                .await
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

        let requests = ReceiverStream::new($rx).map(|q: Query| ServerReflectionRequest {
            host: String::new(),
            message_request: Some(match q {
                Query::Symbol(s) => MessageRequest::FileContainingSymbol(s),
                Query::File(f) => MessageRequest::FileByFilename(f),
            }),
        });
        let mut request = tonic::Request::new(requests);
        *request.metadata_mut() = $metadata.clone();
        let mut client = ServerReflectionClient::new($channel).max_decoding_message_size(64 << 20);
        let stream = client.server_reflection_info(request).await?.into_inner();
        Box::pin(stream.map(|item| {
            item.map(|res| match res.message_response {
                Some(MessageResponse::FileDescriptorResponse(f)) => {
                    Reply::Files(f.file_descriptor_proto)
                }
                Some(MessageResponse::ErrorResponse(e)) => {
                    Reply::Error(e.error_code, e.error_message)
                }
                _ => Reply::Unexpected,
            })
        })) as Replies
    }};
}
use dialect;
