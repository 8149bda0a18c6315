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
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt as _;

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
        let mut v = len[1..].to_vec();
        v.extend_from_slice(&[kind, flags]);
        v.extend_from_slice(&stream.to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    type Fields = Vec<(String, String)>;

    /// What `h2` would read: the fields of each header block, with a
    /// decoder that never saw the client's.
    fn blocks(mut bytes: &[u8]) -> (Vec<Fields>, Vec<Vec<u8>>) {
        assert!(bytes.starts_with(PREFACE));
        bytes = &bytes[PREFACE.len()..];
        let mut decoder = Decoder::default();
        let (mut out, mut data, mut block) = (Vec::new(), Vec::new(), Vec::new());
        while !bytes.is_empty() {
            let len =
                usize::from(bytes[0]) << 16 | usize::from(bytes[1]) << 8 | usize::from(bytes[2]);
            let (kind, flags) = (bytes[3], bytes[4]);
            let mut payload = &bytes[9..9 + len];
            bytes = &bytes[9 + len..];
            if kind == HEADERS && flags & PRIORITY != 0 {
                payload = &payload[5..];
            }
            match kind {
                HEADERS | CONTINUATION => block.extend_from_slice(payload),
                _ => data.push(payload.to_vec()),
            }
            if matches!(kind, HEADERS | CONTINUATION) && flags & END_HEADERS != 0 {
                let mut fields = Vec::new();
                let mut input = std::mem::take(&mut block);
                decoder.decode(&mut input, &mut fields).unwrap();
                out.push(
                    fields
                        .into_iter()
                        .map(|(n, v, _)| {
                            (String::from_utf8(n).unwrap(), String::from_utf8(v).unwrap())
                        })
                        .collect(),
                );
            }
        }
        (out, data)
    }

    async fn repaired(input: Vec<u8>) -> io::Result<Vec<u8>> {
        let mut repair = RepairAuthority::new(Box::new(std::io::Cursor::new(input)));
        let mut out = Vec::new();
        repair.read_to_end(&mut out).await?;
        Ok(out)
    }

    fn request(encoder: &mut Encoder<'_>, authority: &str, big: usize) -> Vec<u8> {
        let mut block = Vec::new();
        for (name, value) in [
            (":method", "POST".to_owned()),
            (":scheme", "http".to_owned()),
            (":path", "/pkg.S/M".to_owned()),
            (":authority", authority.to_owned()),
            ("x-big", "b".repeat(big)),
        ] {
            // Indexed, so that later blocks refer to the client's table.
            let field = (
                name.as_bytes().to_vec(),
                value.into_bytes(),
                Encoder::WITH_INDEXING,
            );
            encoder.encode(field, &mut block).unwrap();
        }
        block
    }

    #[tokio::test]
    async fn a_socket_path_becomes_localhost_and_everything_else_passes() {
        let mut encoder = Encoder::default();
        let path = "%2Ftmp%2Floom.sock";
        let first = request(&mut encoder, path, 10);
        // The same again, all indexed in the client's dynamic table (62 is
        // the newest entry): only a decoder that kept it can read this.
        let second: Vec<u8> = [66u8, 65, 64, 63, 62].iter().map(|i| 0x80 | i).collect();
        let mut input = PREFACE.to_vec();
        input.extend(frame(0x4, 0, 0, &[]));
        // Padded, with priority, split over a CONTINUATION.
        let mut padded = vec![3];
        padded.extend_from_slice(&[0, 0, 0, 0, 16]);
        padded.extend_from_slice(&first[..10]);
        padded.extend_from_slice(&[0, 0, 0]);
        input.extend(frame(HEADERS, PADDED | PRIORITY, 1, &padded));
        input.extend(frame(CONTINUATION, END_HEADERS, 1, &first[10..]));
        input.extend(frame(0x0, END_STREAM, 1, b"\0\0\0\0\x02hi"));
        input.extend(frame(HEADERS, END_HEADERS | END_STREAM, 3, &second));
        let out = repaired(input).await.unwrap();
        let (blocks, data) = blocks(&out);
        assert_eq!(blocks.len(), 2);
        for block in &blocks {
            let get = |n: &str| block.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
            assert_eq!(get(":authority"), Some(LOCAL_AUTHORITY));
            assert_eq!(get(":path"), Some("/pkg.S/M"));
            assert_eq!(get("x-big"), Some("bbbbbbbbbb"));
        }
        assert_eq!(
            data,
            [vec![], b"\0\0\0\0\x02hi".to_vec()],
            "SETTINGS and DATA untouched"
        );
    }

    #[tokio::test]
    async fn a_good_authority_stays_and_a_large_block_is_split() {
        let mut encoder = Encoder::default();
        let block = request(&mut encoder, "backend:443", 40_000);
        let mut input = PREFACE.to_vec();
        let chunks: Vec<&[u8]> = block.chunks(MAX_FRAME).collect();
        assert!(chunks.len() >= 3);
        for (i, chunk) in chunks.iter().enumerate() {
            let kind = if i == 0 { HEADERS } else { CONTINUATION };
            let flags = if i + 1 == chunks.len() {
                END_HEADERS
            } else {
                0
            };
            input.extend(frame(kind, flags, 1, chunk));
        }
        let out = repaired(input).await.unwrap();
        let (blocks, _) = blocks(&out);
        assert!(blocks[0].contains(&(":authority".into(), "backend:443".into())));
        assert!(
            blocks[0]
                .iter()
                .any(|(k, v)| k == "x-big" && v.len() == 40_000)
        );
    }

    #[tokio::test]
    async fn bad_blocks_end_the_connection_with_a_reason() {
        let mut input = PREFACE.to_vec();
        input.extend(frame(
            HEADERS,
            END_HEADERS,
            1,
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        ));
        let err = repaired(input).await.unwrap_err();
        assert!(err.to_string().contains("HPACK"), "{err}");
        let mut input = PREFACE.to_vec();
        input.extend(frame(HEADERS, 0, 1, &[0x82]));
        input.extend(frame(0x0, 0, 1, b"x"));
        let err = repaired(input).await.unwrap_err();
        assert!(err.to_string().contains("cut"), "{err}");
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_blocks_never_panic(block in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let mut input = PREFACE.to_vec();
            input.extend(frame(HEADERS, END_HEADERS, 1, &block));
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let _ = runtime.block_on(repaired(input));
        }
    }
}
