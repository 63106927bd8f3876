//! A web connection that stops reading is closed: [`StallGuard`] fails its
//! writes once it has taken less than [`MIN_PROGRESS`] in [`MAX_STALL`]
//! while there was something to send.
//!
//! A viewer that stops reading (a player paused in the background, a peer
//! that never reads) would otherwise hold its viewer place and the frame on
//! its way for as long as its TCP connection stays up; a kernel keeps
//! taking a few bytes now and then (and may say so only when asked again),
//! so "no progress at all" is not enough to see it. A slow viewer that still reads (a phone on a
//! bad link, at 1 KB/s) is not stalled.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::{AsyncRead, AsyncWrite, Future};
use smol::Timer;

/// How long a connection with something to send may go (as long as the
/// page's WebSocket may take to take one message) ...
pub const MAX_STALL: Duration = Duration::from_secs(10);
/// ... taking less than this.
pub const MIN_PROGRESS: u64 = 4096;

/// `inner`, whose writes fail when it stalls.
pub struct StallGuard<S> {
    inner: S,
    /// Since a write first waited: when the bound runs out, and the bytes
    /// written by then.
    waiting: Option<(Timer, u64)>,
    written: u64,
    /// The bound ran out: every later write, flush or close fails at once
    /// (a close would wait for the same buffers to drain).
    gave_up: bool,
}

impl<S> StallGuard<S> {
    pub fn new(inner: S) -> Self {
        StallGuard {
            inner,
            waiting: None,
            written: 0,
            gave_up: false,
        }
    }

    pub fn into_inner(self) -> S {
        self.inner
    }

    /// Notes what a write, flush or close did (`Some(bytes)` when it went
    /// through), and fails it when the connection has stalled.
    fn watch(&mut self, context: &mut Context<'_>, went: Option<u64>) -> Result<(), io::Error> {
        if let Some(bytes) = went {
            self.written += bytes;
            if self
                .waiting
                .as_ref()
                .is_some_and(|(_, since)| self.written - since >= MIN_PROGRESS)
            {
                self.waiting = None;
            }
            return Ok(());
        }
        let written = self.written;
        let (deadline, _) = self
            .waiting
            .get_or_insert_with(|| (Timer::after(MAX_STALL), written));
        match Pin::new(deadline).poll(context) {
            Poll::Ready(_) => {
                self.gave_up = true;
                Err(stalled())
            }
            Poll::Pending => Ok(()),
        }
    }
}

fn stalled() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "the client took under {MIN_PROGRESS} bytes in {} s",
            MAX_STALL.as_secs()
        ),
    )
}

impl<S: AsyncRead + Unpin> AsyncRead for StallGuard<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_read(context, buffer)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for StallGuard<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.gave_up {
            return Poll::Ready(Err(stalled()));
        }
        let result = Pin::new(&mut self.inner).poll_write(context, bytes);
        let went = match &result {
            Poll::Ready(Ok(written)) => Some(*written as u64),
            Poll::Ready(Err(_)) => return result,
            Poll::Pending => None,
        };
        match self.watch(context, went) {
            Ok(()) => result,
            Err(error) => Poll::Ready(Err(error)),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.gave_up {
            return Poll::Ready(Err(stalled()));
        }
        let result = Pin::new(&mut self.inner).poll_flush(context);
        if result.is_ready() {
            return result;
        }
        match self.watch(context, None) {
            Ok(()) => result,
            Err(error) => Poll::Ready(Err(error)),
        }
    }

    fn poll_close(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.gave_up {
            return Poll::Ready(Err(stalled()));
        }
        Pin::new(&mut self.inner).poll_close(context)
    }
}
