//! HTTP/2 keepalive pings: a peer that stops answering them is dead, and
//! its connection is dropped (on either side of the relay).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use h2::{Ping, PingPong};
use tokio::time::{Instant, Sleep};

/// How often a connection is pinged.
pub const INTERVAL: Duration = Duration::from_secs(20);
/// How long a ping may go unanswered.
pub const TIMEOUT: Duration = Duration::from_secs(10);

pub struct KeepAlive {
    ping: PingPong,
    timer: Pin<Box<Sleep>>,
    waiting: bool,
}

impl KeepAlive {
    pub fn new(ping: PingPong) -> Self {
        KeepAlive {
            ping,
            timer: Box::pin(tokio::time::sleep(INTERVAL)),
            waiting: false,
        }
    }

    /// `Ready` once the peer has failed to answer a ping in time (or the
    /// connection can no longer send one).
    pub fn poll_dead(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if self.waiting {
                match self.ping.poll_pong(cx) {
                    Poll::Ready(Ok(_)) => {
                        self.waiting = false;
                        self.timer.as_mut().reset(Instant::now() + INTERVAL);
                        continue;
                    }
                    Poll::Ready(Err(_)) => return Poll::Ready(()),
                    Poll::Pending => {}
                }
            }
            if self.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if self.waiting {
                return Poll::Ready(());
            }
            if self.ping.send_ping(Ping::opaque()).is_err() {
                // A ping is still out (h2 allows one), or the connection is
                // closing: try again at the next interval.
                self.timer.as_mut().reset(Instant::now() + INTERVAL);
                continue;
            }
            self.waiting = true;
            self.timer.as_mut().reset(Instant::now() + TIMEOUT);
        }
    }
}
