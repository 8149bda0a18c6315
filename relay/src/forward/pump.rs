//! Moves one direction of a call from one HTTP/2 stream to another.
//!
//! The same `Bytes` that arrived go on, split only where the receiver's
//! flow-control window says so, never copied. Window is given back to the
//! sender only once its bytes are handed on, so a reader that does not read
//! holds back its own stream and nothing else, and no stream holds more than
//! its window. Every chunk is shown to the caller (the capture tap) as it
//! goes.

use std::task::{Context, Poll, ready};

use bytes::Bytes;
use h2::{RecvStream, SendStream};
use http::HeaderMap;

/// How a direction ended.
pub enum PumpEnd {
    /// Trailers arrived; they are not sent on yet (the caller may look at
    /// them first, then [`Pump::send_trailers`]).
    Trailers(HeaderMap),
    /// The end of stream came with the data, and went on with it.
    EndOfStream,
}

/// Which side failed.
pub enum PumpError {
    /// The stream read from (its peer reset it, or its connection failed).
    Recv(h2::Error),
    /// The stream written to.
    Send(h2::Error),
}

pub struct Pump {
    recv: RecvStream,
    send: SendStream<Bytes>,
    /// Received, not yet all sent on.
    pending: Bytes,
    ended: bool,
}

impl Pump {
    pub fn new(recv: RecvStream, send: SendStream<Bytes>) -> Self {
        Pump {
            recv,
            send,
            pending: Bytes::new(),
            ended: false,
        }
    }

    /// The stream written to (to watch for its reset, or to reset it).
    pub fn send_stream(&mut self) -> &mut SendStream<Bytes> {
        &mut self.send
    }

    /// The stream read from.
    pub fn recv_stream(&mut self) -> &mut RecvStream {
        &mut self.recv
    }

    /// The stream read from, the other let go.
    pub fn into_recv(self) -> RecvStream {
        self.recv
    }

    /// The stream written to, the other let go.
    pub fn into_send(self) -> SendStream<Bytes> {
        self.send
    }

    /// Forward what there is; `tap` sees each received chunk once.
    pub fn poll(
        &mut self,
        cx: &mut Context<'_>,
        mut tap: impl FnMut(&Bytes),
    ) -> Poll<Result<PumpEnd, PumpError>> {
        if self.ended {
            return Poll::Ready(Ok(PumpEnd::EndOfStream));
        }
        loop {
            if !self.pending.is_empty() {
                let want = self.pending.len();
                if self.send.capacity() < want {
                    self.send.reserve_capacity(want);
                }
                let mut room = self.send.capacity();
                while room == 0 {
                    match ready!(self.send.poll_capacity(cx)) {
                        Some(Ok(n)) => room = n,
                        Some(Err(e)) => return Poll::Ready(Err(PumpError::Send(e))),
                        None => {
                            return Poll::Ready(Err(PumpError::Send(h2::Error::from(
                                h2::Reason::STREAM_CLOSED,
                            ))));
                        }
                    }
                }
                let n = room.min(want);
                let chunk = self.pending.split_to(n);
                let last = self.pending.is_empty() && self.recv.is_end_stream();
                if let Err(e) = self.send.send_data(chunk, last) {
                    return Poll::Ready(Err(PumpError::Send(e)));
                }
                // Forwarded: the sender may send as much again.
                let _ = self.recv.flow_control().release_capacity(n);
                if last {
                    self.ended = true;
                    return Poll::Ready(Ok(PumpEnd::EndOfStream));
                }
                continue;
            }
            match ready!(self.recv.poll_data(cx)) {
                Some(Ok(data)) => {
                    tap(&data);
                    if data.is_empty() {
                        if self.recv.is_end_stream() {
                            return self.end_of_stream();
                        }
                        continue;
                    }
                    self.pending = data;
                }
                Some(Err(e)) => return Poll::Ready(Err(PumpError::Recv(e))),
                None => {
                    return match ready!(self.recv.poll_trailers(cx)) {
                        Ok(Some(trailers)) => {
                            self.ended = true;
                            Poll::Ready(Ok(PumpEnd::Trailers(trailers)))
                        }
                        Ok(None) => self.end_of_stream(),
                        Err(e) => Poll::Ready(Err(PumpError::Recv(e))),
                    };
                }
            }
        }
    }

    fn end_of_stream(&mut self) -> Poll<Result<PumpEnd, PumpError>> {
        self.ended = true;
        match self.send.send_data(Bytes::new(), true) {
            Ok(()) => Poll::Ready(Ok(PumpEnd::EndOfStream)),
            Err(e) => Poll::Ready(Err(PumpError::Send(e))),
        }
    }

    /// Sends trailers on (ending the stream written to).
    pub fn send_trailers(&mut self, trailers: HeaderMap) -> Result<(), h2::Error> {
        self.send.send_trailers(trailers)
    }
}
