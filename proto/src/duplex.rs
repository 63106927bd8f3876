//! One connection read and written at the same time, by two tasks: the
//! v2 back-channel reads control messages (sender) or writes probes
//! (receiver) beside the stream of frames.
//!
//! [`split`] is `futures_lite::io::split` with one difference that matters
//! here: the write half passes vectored writes through, so a frame still
//! leaves in one `writev` (its image uncopied) instead of three writes and,
//! with `TCP_NODELAY`, a tiny packet for its header. Each half locks the
//! connection only for the duration of one poll.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures_lite::{AsyncRead, AsyncWrite};

use crate::lock::lock;

/// A byte stream both ways: a TCP socket, or a TLS session over one. Both
/// ends keep their connection as a `Box<dyn Duplex>`, plain or TLS alike.
pub trait Duplex: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Duplex for T {}

/// The reading half of a connection.
pub struct ReadHalf<T>(Arc<Mutex<T>>);

/// The writing half of a connection.
pub struct WriteHalf<T>(Arc<Mutex<T>>);

/// Splits `stream` into halves that may be used at once.
pub fn split<T: AsyncRead + AsyncWrite + Unpin>(stream: T) -> (ReadHalf<T>, WriteHalf<T>) {
    let shared = Arc::new(Mutex::new(stream));
    (ReadHalf(shared.clone()), WriteHalf(shared))
}

impl<T: AsyncRead + Unpin> AsyncRead for ReadHalf<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *lock(&self.0)).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WriteHalf<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *lock(&self.0)).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *lock(&self.0)).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *lock(&self.0)).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *lock(&self.0)).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use futures_lite::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A writer that records how each write arrived.
    #[derive(Default)]
    struct Recorder {
        writes: Vec<usize>,
        incoming: io::Cursor<Vec<u8>>,
    }

    impl AsyncRead for Recorder {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Ready(io::Read::read(&mut self.incoming, buf))
        }
    }

    impl AsyncWrite for Recorder {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.writes.push(buf.len());
            Poll::Ready(Ok(buf.len()))
        }

        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let total = bufs.iter().map(|b| b.len()).sum();
            self.writes.push(total);
            Poll::Ready(Ok(total))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn a_frame_leaves_the_write_half_in_one_vectored_write_while_the_read_half_reads() {
        let stream = Recorder {
            incoming: io::Cursor::new(b"probe".to_vec()),
            ..Recorder::default()
        };
        let (mut reader, mut writer) = split(stream);
        let frame = crate::Frame {
            image: vec![7; 1000].into(),
            sequence: 3,
            ..crate::Frame::default()
        };
        smol::block_on(async {
            let mut read = [0; 5];
            reader.read_exact(&mut read).await.unwrap();
            assert_eq!(&read, b"probe");
            let written = crate::codec::write_frame(&mut writer, &frame)
                .await
                .unwrap();
            writer.close().await.unwrap();
            assert_eq!(lock(&writer.0).writes, vec![written]);
        });
    }
}
