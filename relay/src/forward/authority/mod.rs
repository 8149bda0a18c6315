//! Clients on a Unix socket whose `:authority` is the socket's path.
//!
//! gRPC clients that dial a Unix socket send its path as the
//! `:authority`, raw (grpc-java) or percent-encoded (grpcio from 1.57,
//! recent grpc-go, so grpcurl `-unix`), and the `h2` crate refuses either
//! as malformed: the stream is reset with PROTOCOL_ERROR before the relay
//! sees it. On a Unix socket the authority names nothing, so
//! [`RepairAuthority`] sits between such a client and `h2`: it passes
//! every frame through untouched but header blocks, which it decodes
//! (HPACK, the client's dynamic table kept) and encodes again, as literals
//! that touch no dynamic table, with an authority `h2` refuses replaced by
//! `localhost`. DATA frames are streamed, never buffered.
//!
//! Only connections from the Unix-socket listener get it: over TCP an
//! authority is a name, and a bad one is the client's to fix.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, BufMut, BytesMut};
use httlib_hpack::{Decoder, Encoder};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::forward::protocol::PREFACE;
use crate::forward::upstream::BoxIo;

/// What replaces an authority `h2` refuses.
pub const LOCAL_AUTHORITY: &str = "localhost";
/// The largest frame payload the relay's HTTP/2 server takes (its
/// SETTINGS_MAX_FRAME_SIZE, the protocol's default).
const MAX_FRAME: usize = 16_384;
/// The most one header block may hold, compressed (more than the relay's
/// own limit on a request's metadata, which `h2` then applies).
const MAX_BLOCK: usize = (1 << 20) + (64 << 10);

const HEADERS: u8 = 0x1;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;

/// A header block being gathered from HEADERS and CONTINUATION frames.
struct Block {
    stream: u32,
    /// END_STREAM, if the HEADERS frame had it.
    end_stream: bool,
    /// The HEADERS frame's priority fields, if any.
    priority: Option<[u8; 5]>,
    fragment: Vec<u8>,
}

/// A client's byte stream with its header blocks' `:authority` made one
/// that `h2` accepts (see the module).
pub struct RepairAuthority {
    io: BoxIo,
    /// Where reads land.
    scratch: Box<[u8]>,
    /// Read from the client, not yet looked at.
    raw: BytesMut,
    /// Ready for `h2`.
    ready: BytesMut,
    /// Bytes of the preface still to pass.
    preface: usize,
    /// Bytes of the current (non-header) frame's payload still to pass.
    passing: usize,
    block: Option<Block>,
    decoder: Decoder<'static>,
    /// The client has closed its side.
    eof: bool,
    /// An authority was replaced on this connection (logged once).
    repaired: bool,
}

impl RepairAuthority {
    pub fn new(io: BoxIo) -> Self {
        RepairAuthority {
            io,
            scratch: vec![0; 16 << 10].into_boxed_slice(),
            raw: BytesMut::with_capacity(16 << 10),
            ready: BytesMut::new(),
            preface: PREFACE.len(),
            passing: 0,
            block: None,
            decoder: Decoder::default(),
            eof: false,
            repaired: false,
        }
    }

    /// Moves what can be moved from `raw` to `ready`.
    fn process(&mut self) -> io::Result<()> {
        loop {
            if self.preface > 0 || self.passing > 0 {
                let left = if self.preface > 0 {
                    &mut self.preface
                } else {
                    &mut self.passing
                };
                let n = (*left).min(self.raw.len());
                if n == 0 {
                    return Ok(());
                }
                self.ready.extend_from_slice(&self.raw.split_to(n));
                *left -= n;
                continue;
            }
            if self.raw.len() < 9 {
                return Ok(());
            }
            let len = usize::from(self.raw[0]) << 16
                | usize::from(self.raw[1]) << 8
                | usize::from(self.raw[2]);
            let kind = self.raw[3];
            let flags = self.raw[4];
            let stream = u32::from_be_bytes([self.raw[5], self.raw[6], self.raw[7], self.raw[8]])
                & 0x7fff_ffff;
            let header_frame = kind == HEADERS || kind == CONTINUATION;
            if self.block.is_some() && kind != CONTINUATION {
                return Err(broken("a header block was cut by another frame"));
            }
            if !header_frame {
                self.ready.extend_from_slice(&self.raw.split_to(9));
                self.passing = len;
                continue;
            }
            if len > MAX_FRAME {
                return Err(broken("a header frame larger than the relay takes"));
            }
            if self.raw.len() < 9 + len {
                return Ok(());
            }
            self.raw.advance(9);
            let payload = self.raw.split_to(len);
            self.header_frame(kind, flags, stream, &payload)?;
        }
    }

    fn header_frame(&mut self, kind: u8, flags: u8, stream: u32, payload: &[u8]) -> io::Result<()> {
        if kind == HEADERS {
            let mut body = payload;
            let mut pad = 0;
            if flags & PADDED != 0 {
                let (&n, rest) = body
                    .split_first()
                    .ok_or_else(|| broken("a padded HEADERS frame with no pad length"))?;
                pad = usize::from(n);
                body = rest;
            }
            let priority = if flags & PRIORITY != 0 {
                let (fields, rest) = body
                    .split_first_chunk::<5>()
                    .ok_or_else(|| broken("a HEADERS frame too short for its priority"))?;
                body = rest;
                Some(*fields)
            } else {
                None
            };
            let end = body
                .len()
                .checked_sub(pad)
                .ok_or_else(|| broken("a HEADERS frame's padding is longer than it"))?;
            self.block = Some(Block {
                stream,
                end_stream: flags & END_STREAM != 0,
                priority,
                fragment: body[..end].to_vec(),
            });
        } else {
            let block = self
                .block
                .as_mut()
                .ok_or_else(|| broken("a CONTINUATION frame with no header block"))?;
            if block.stream != stream {
                return Err(broken("a CONTINUATION frame of another stream"));
            }
            block.fragment.extend_from_slice(payload);
            if block.fragment.len() > MAX_BLOCK {
                return Err(broken("a header block larger than the relay takes"));
            }
        }
        if flags & END_HEADERS != 0
            && let Some(block) = self.block.take()
        {
            self.reencode(block)?;
        }
        Ok(())
    }

    /// Decodes a whole block and writes it again as HEADERS (and
    /// CONTINUATION) frames.
    fn reencode(&mut self, block: Block) -> io::Result<()> {
        let mut fields = Vec::new();
        let mut input = block.fragment;
        let decoder = &mut self.decoder;
        // The decoder is a crate of its own: whatever it does with bytes a
        // client chose, the relay closes this connection, and only it.
        let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            decoder.decode(&mut input, &mut fields)
        }));
        match decoded {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                return Err(broken(&format!(
                    "a header block HPACK cannot decode: {e:?}"
                )));
            }
            Err(_) => return Err(broken("a header block HPACK cannot decode")),
        }
        let mut encoder = Encoder::default();
        let mut out = Vec::with_capacity(input.capacity());
        for (name, mut value, flags) in fields {
            if name == b":authority" && http::uri::Authority::try_from(value.as_slice()).is_err() {
                if !self.repaired {
                    self.repaired = true;
                    tracing::info!(
                        "a client on the Unix socket sent :authority {:?} (a socket path, which HTTP/2 \
                         libraries refuse); taken as {LOCAL_AUTHORITY}",
                        String::from_utf8_lossy(&value)
                    );
                }
                value = LOCAL_AUTHORITY.as_bytes().to_vec();
            }
            // Literals that touch no dynamic table, so that h2's stays empty.
            let never = if flags & Decoder::NEVER_INDEXED != 0 {
                Encoder::NEVER_INDEXED
            } else {
                0
            };
            encoder
                .encode((name, value, Encoder::HUFFMAN_VALUE | never), &mut out)
                .map_err(|e| broken(&format!("cannot encode a header again: {e:?}")))?;
        }
        let mut first = true;
        let mut rest = out.as_slice();
        loop {
            let room = if first && block.priority.is_some() {
                MAX_FRAME - 5
            } else {
                MAX_FRAME
            };
            let (chunk, tail) = rest.split_at(rest.len().min(room));
            rest = tail;
            let last = rest.is_empty();
            let mut flags = if last { END_HEADERS } else { 0 };
            let (kind, priority) = if first {
                if block.end_stream {
                    flags |= END_STREAM;
                }
                if block.priority.is_some() {
                    flags |= PRIORITY;
                }
                (HEADERS, block.priority)
            } else {
                (CONTINUATION, None)
            };
            let len = chunk.len() + priority.map_or(0, |p| p.len());
            let len = u32::try_from(len).unwrap_or(0).to_be_bytes();
            self.ready.put_slice(&len[1..]);
            self.ready.put_u8(kind);
            self.ready.put_u8(flags);
            self.ready.put_u32(block.stream);
            if let Some(p) = priority {
                self.ready.put_slice(&p);
            }
            self.ready.put_slice(chunk);
            first = false;
            if last {
                return Ok(());
            }
        }
    }
}

fn broken(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("loom: {what}"))
}

impl AsyncRead for RepairAuthority {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if !this.ready.is_empty() {
                let n = this.ready.len().min(buf.remaining());
                buf.put_slice(&this.ready.split_to(n));
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            let mut read = ReadBuf::new(&mut this.scratch);
            ready!(Pin::new(&mut this.io).poll_read(cx, &mut read))?;
            let n = read.filled().len();
            if n == 0 {
                this.eof = true;
                continue;
            }
            this.raw.extend_from_slice(&this.scratch[..n]);
            this.process()?;
        }
    }
}

impl AsyncWrite for RepairAuthority {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests;
