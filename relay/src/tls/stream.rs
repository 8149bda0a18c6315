//! The relay's TLS stream to an upstream, whose errors say what went wrong
//! in TLS terms before HTTP/2 sees them (h2 keeps only an error's kind and
//! text, so the typed TLS error would be lost above this).
//!
//! Two cases matter most: a TLS alert (explained by
//! [`super::explain::explain`]), and a server that asked for a client
//! certificate, got none, and hung up (with TLS 1.3 the client finishes
//! its handshake first and only learns of it as a closed connection).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use rustls::client::ResolvesClientCert;
use rustls::sign::CertifiedKey;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::client::TlsStream;

use crate::forward::upstream::BoxIo;

/// Notes that the server asked for a client certificate; offers none.
#[derive(Debug, Default)]
pub struct NoCertificate {
    pub asked: AtomicBool,
}

impl ResolvesClientCert for NoCertificate {
    fn resolve(
        &self,
        _hints: &[&[u8]],
        _schemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        self.asked.store(true, Ordering::Relaxed);
        None
    }

    fn has_certs(&self) -> bool {
        false
    }
}

/// How long a connection whose server asked for a client certificate (and
/// got none) is watched for the server's refusal before it is used.
const REFUSAL_WAIT: std::time::Duration = std::time::Duration::from_millis(250);

pub struct UpstreamTls {
    inner: TlsStream<BoxIo>,
    /// Bytes read while watching for a refusal, not yet given out.
    prefix: bytes::Bytes,
    /// Set when the relay has no client certificate: did the server ask?
    no_certificate: Option<Arc<NoCertificate>>,
}

impl UpstreamTls {
    pub fn new(inner: TlsStream<BoxIo>, no_certificate: Option<Arc<NoCertificate>>) -> Self {
        UpstreamTls {
            inner,
            prefix: bytes::Bytes::new(),
            no_certificate,
        }
    }

    /// When the server asked for a client certificate and got none: waits
    /// briefly for its verdict (with TLS 1.3 a refusal comes after the
    /// handshake), so that the refusal is this connection's error, said
    /// plainly, not a broken pipe under the first call. What the server
    /// sends meanwhile is kept for the reader.
    pub async fn settle(&mut self) -> io::Result<()> {
        use tokio::io::AsyncReadExt as _;
        let asked = self
            .no_certificate
            .as_ref()
            .is_some_and(|n| n.asked.load(Ordering::Relaxed));
        if !asked {
            return Ok(());
        }
        let mut first = bytes::BytesMut::with_capacity(4096);
        match tokio::time::timeout(REFUSAL_WAIT, self.inner.read_buf(&mut first)).await {
            Err(_) => Ok(()),
            Ok(Ok(0)) => Err(self.explain(io::ErrorKind::UnexpectedEof.into())),
            Ok(Ok(_)) => {
                self.prefix = first.freeze();
                Ok(())
            }
            Ok(Err(e)) => Err(self.explain(e)),
        }
    }

    /// `error`, said in TLS terms where it can be.
    fn explain(&self, error: io::Error) -> io::Error {
        if let Some(tls) = error
            .get_ref()
            .and_then(|e| e.downcast_ref::<rustls::Error>())
        {
            return io::Error::new(error.kind(), super::explain::explain(tls));
        }
        let asked = self
            .no_certificate
            .as_ref()
            .is_some_and(|n| n.asked.load(Ordering::Relaxed));
        let closed = matches!(
            error.kind(),
            io::ErrorKind::BrokenPipe
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::UnexpectedEof
        );
        if asked && closed {
            return io::Error::new(
                error.kind(),
                format!(
                    "{}: the upstream asked for a client certificate, the relay had none to give, \
                     and the upstream closed the connection ({error})",
                    super::explain::CLIENT_CERTIFICATE_REQUIRED
                ),
            );
        }
        error
    }
}

impl AsyncRead for UpstreamTls {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            let part = self.prefix.split_to(n);
            buf.put_slice(&part);
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.explain(e))),
            // A clean end right after an unanswered request for a client
            // certificate is the same refusal.
            Poll::Ready(Ok(())) if buf.filled().len() == before && buf.remaining() > 0 => {
                let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
                let explained = self.explain(eof);
                if explained.get_ref().is_some() {
                    Poll::Ready(Err(explained))
                } else {
                    Poll::Ready(Ok(()))
                }
            }
            other => other,
        }
    }
}

impl AsyncWrite for UpstreamTls {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.explain(e))),
            other => other,
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.explain(e))),
            other => other,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.explain(e))),
            other => other,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
