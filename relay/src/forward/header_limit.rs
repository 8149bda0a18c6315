//! How much request metadata the upstream accepts, so that a request with
//! more is refused here, for that one client, instead of being forwarded.
//!
//! All clients share one pooled upstream connection, and an upstream whose
//! HPACK decoder meets a header list over its limit ends the whole
//! connection (hyper and tonic answer GOAWAY COMPRESSION_ERROR), killing
//! every other client's calls on it. The limit is the upstream's own
//! `SETTINGS_MAX_HEADER_LIST_SIZE`, read by [`probe`] from the SETTINGS frame
//! it sends on a short connection of its own (opened the way calls' are:
//! TLS to a TLS upstream), at start and then now and
//! then; [`DEFAULT_LIMIT`] stands when the upstream advertises none (or
//! cannot be reached). Sizes are counted as HTTP/2 does: name, value and 32
//! bytes for each field, pseudo-headers included.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use http::request::Parts;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::Upstream;
use crate::forward::upstream::{Connect, Connecting};

/// The limit when the upstream advertises none: more than any real client
/// sends, less than what breaks common servers' decoders.
pub const DEFAULT_LIMIT: u32 = 64 << 10;
/// How long one probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the limit is read again (the upstream may be redeployed).
pub const REPROBE_EVERY: Duration = Duration::from_secs(30);
/// The most a probe reads before it gives up finding SETTINGS.
const PROBE_MAX_BYTES: usize = 64 << 10;

/// HTTP/2's SETTINGS_MAX_HEADER_LIST_SIZE identifier.
const MAX_HEADER_LIST_SIZE: u16 = 0x6;
const FRAME_SETTINGS: u8 = 0x4;
const FLAG_ACK: u8 = 0x1;

/// The current limit, shared by every call.
#[derive(Debug, Clone)]
pub struct HeaderLimit(Arc<AtomicU32>);

impl Default for HeaderLimit {
    fn default() -> Self {
        HeaderLimit(Arc::new(AtomicU32::new(DEFAULT_LIMIT)))
    }
}

impl HeaderLimit {
    pub fn get(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }

    pub fn set(&self, limit: u32) {
        self.0.store(limit, Ordering::Relaxed);
    }

    /// Reads `upstream`'s limit now, reaching it by `connect`.
    pub async fn refresh(&self, connect: &dyn Connect, upstream: &Upstream) {
        match probe(connect.connect(upstream)).await {
            Ok(Some(limit)) => self.set(limit),
            Ok(None) => self.set(DEFAULT_LIMIT),
            // Unreachable now: keep what was known.
            Err(e) => tracing::debug!("cannot read the upstream's header limit: {e}"),
        }
    }
}

/// The size of a request's header list as the upstream's decoder counts it.
pub fn request_size(parts: &Parts, authority: &str) -> u64 {
    let field = |name: usize, value: usize| (name + value + 32) as u64;
    let path = parts.uri.path_and_query().map_or(1, |p| p.as_str().len());
    let pseudo = field(7, parts.method.as_str().len())
        + field(7, parts.uri.scheme_str().unwrap_or("http").len())
        + field(5, path)
        + field(10, authority.len());
    pseudo
        + parts
            .headers
            .iter()
            .map(|(k, v)| field(k.as_str().len(), v.len()))
            .sum::<u64>()
}

/// The `SETTINGS_MAX_HEADER_LIST_SIZE` the server on the connection being
/// opened advertises in its first SETTINGS frame, if any.
pub async fn probe(connecting: Connecting) -> std::io::Result<Option<u32>> {
    tokio::time::timeout(PROBE_TIMEOUT, probe_inner(connecting))
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no SETTINGS frame in time",
            ))
        })
}

async fn probe_inner(connecting: Connecting) -> std::io::Result<Option<u32>> {
    let mut tcp = connecting.await?.io;
    // The client preface, then an empty SETTINGS frame.
    let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    hello.extend_from_slice(&[0, 0, 0, FRAME_SETTINGS, 0, 0, 0, 0, 0]);
    tcp.write_all(&hello).await?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(found) = settings_limit(&buf) {
            // A polite goodbye: GOAWAY, last stream 0, NO_ERROR.
            let _ = tcp
                .write_all(&[0, 0, 8, 0x7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
                .await;
            return Ok(found);
        }
        if buf.len() > PROBE_MAX_BYTES {
            return Ok(None);
        }
        let n = tcp.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the upstream closed before sending SETTINGS",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// In the frames of `buf`: `Some(limit)` once the first non-ACK SETTINGS
/// frame is complete (`limit` `None` when it has no such entry), `None`
/// while it has not arrived whole.
fn settings_limit(buf: &[u8]) -> Option<Option<u32>> {
    let mut at = 0;
    while let Some(head) = buf.get(at..at + 9) {
        let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        let (kind, flags) = (head[3], head[4]);
        let body = buf.get(at + 9..at + 9 + len)?;
        if kind == FRAME_SETTINGS && flags & FLAG_ACK == 0 {
            let limit = body.chunks_exact(6).find_map(|entry| {
                let id = u16::from_be_bytes([entry[0], entry[1]]);
                (id == MAX_HEADER_LIST_SIZE)
                    .then(|| u32::from_be_bytes([entry[2], entry[3], entry[4], entry[5]]))
            });
            return Some(limit);
        }
        at += 9 + len;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(entries: &[(u16, u32)], ack: bool) -> Vec<u8> {
        let len = entries.len() * 6;
        let mut v = vec![0, 0, len as u8, FRAME_SETTINGS, u8::from(ack), 0, 0, 0, 0];
        for (id, value) in entries {
            v.extend_from_slice(&id.to_be_bytes());
            v.extend_from_slice(&value.to_be_bytes());
        }
        v
    }

    #[test]
    fn finds_the_limit_in_the_first_settings_frame() {
        let mut buf = settings(&[], true);
        buf.extend(settings(
            &[(0x3, 100), (MAX_HEADER_LIST_SIZE, 16384)],
            false,
        ));
        assert_eq!(settings_limit(&buf), Some(Some(16384)));
        for cut in 0..buf.len() {
            assert_eq!(settings_limit(&buf[..cut]), None, "cut at {cut}");
        }
        assert_eq!(
            settings_limit(&settings(&[(0x4, 65535)], false)),
            Some(None)
        );
    }

    #[test]
    fn sizes_count_as_hpack_does() {
        let req = http::Request::post("http://a:1/p.S/M")
            .header("x-a", "12345")
            .body(())
            .unwrap();
        let (parts, ()) = req.into_parts();
        let size = request_size(&parts, "a:1");
        // :method POST, :scheme http, :path /p.S/M, :authority a:1, x-a.
        assert_eq!(
            size,
            (7 + 4 + 32) + (7 + 4 + 32) + (5 + 6 + 32) + (10 + 3 + 32) + (3 + 5 + 32)
        );
    }

    #[tokio::test]
    async fn probes_a_real_hyper_server() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let service = hyper::service::service_fn(|_req| async {
                Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<
                    bytes::Bytes,
                >::new()))
            });
            let _ = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                .max_header_list_size(12345)
                .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                .await;
        });
        assert_eq!(
            probe(crate::forward::upstream::TcpConnect.connect(&addr.into()))
                .await
                .unwrap(),
            Some(12345)
        );
    }
}
