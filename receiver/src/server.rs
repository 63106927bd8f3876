//! Accepting senders and reading their frames, one task per connection.
//!
//! Every connection has its own reader, buffer, counters and decoder thread,
//! so two senders never see each other's bytes (the prototype's server shared
//! one buffer among all clients and broke). A connection that sends something
//! that is not a framewire (or prototype) stream is closed with a log line
//! naming the peer and the reason; every other connection carries on. The
//! [`Limits`] bound what a peer can use: message size, the number of senders,
//! and the time to deliver a message; [`Access`] says who may connect at all.
//! The server does not decode or draw.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use async_net::{TcpListener, TcpStream};
use framewire_proto::codec::{FrameReader, ReadError};
use framewire_proto::slot::latest_slot;
use futures_lite::{AsyncRead, FutureExt};

/// What starts a TLS session on an accepted connection (`--tls`).
#[cfg(feature = "tls")]
pub type TlsAcceptor = futures_rustls::TlsAcceptor;
/// Built without the `tls` feature: there is no acceptor to have.
#[cfg(not(feature = "tls"))]
pub type TlsAcceptor = std::convert::Infallible;

use crate::access::Access;
use crate::decode::DecoderContext;
use crate::record::Recorder;
use crate::stats::{Registry, StreamStats};

/// What a remote peer may use of this receiver.
pub struct Limits {
    /// Longest message accepted (`--max-frame-bytes`).
    pub max_frame_bytes: usize,
    /// Senders connected at once (`--max-senders`); one more is refused.
    pub max_senders: usize,
    /// Longest wait for a complete message (`--idle-timeout`): a peer that
    /// goes silent, or trickles a message byte by byte, is dropped after it.
    pub idle_timeout: Duration,
}

pub struct Server {
    listener: TcpListener,
    limits: Limits,
    access: Access,
    /// `--tls`: every connection starts with a TLS handshake.
    tls: Option<TlsAcceptor>,
    registry: Arc<Registry>,
    decoder: DecoderContext,
    /// `--record`: every stream is also written to disk.
    recorder: Option<Arc<Recorder>>,
    live_senders: Arc<AtomicUsize>,
}

/// Why a connection ended.
enum Ending {
    /// The sender closed it between two messages.
    Closed,
    Broken(ReadError),
    Idle,
}

/// Counts a connection as live until dropped.
struct LiveSender(Arc<AtomicUsize>);

impl Drop for LiveSender {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Server {
    pub fn new(
        listener: TcpListener,
        limits: Limits,
        access: Access,
        registry: Arc<Registry>,
        decoder: DecoderContext,
    ) -> Server {
        Server {
            listener,
            limits,
            access,
            tls: None,
            registry,
            decoder,
            recorder: None,
            live_senders: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Makes every connection start with a TLS handshake (`--tls`).
    pub fn with_tls(self, acceptor: TlsAcceptor) -> Server {
        Server {
            tls: Some(acceptor),
            ..self
        }
    }

    /// Writes every stream to disk as well (`--record`).
    pub fn with_recorder(self, recorder: Arc<Recorder>) -> Server {
        Server {
            recorder: Some(recorder),
            ..self
        }
    }

    /// Binds `address`, explaining the usual reasons it can fail.
    pub async fn bind(address: &str) -> anyhow::Result<TcpListener> {
        TcpListener::bind(address).await.with_context(|| {
            format!("cannot listen on {address} (is another receiver running there? choose another with --listen)")
        })
    }

    /// Accepts senders until the process ends.
    pub async fn run(self: Arc<Self>) {
        loop {
            match self.listener.accept().await {
                Ok((stream, peer)) => {
                    if !self.access.allows_address(peer.ip()) {
                        log::warn!("refused {peer}: its address is not in --allow");
                        continue;
                    }
                    let live = self.live_senders.fetch_add(1, Ordering::AcqRel);
                    let guard = LiveSender(self.live_senders.clone());
                    if live >= self.limits.max_senders {
                        log::warn!(
                            "refused {peer}: {live} senders are connected, the most --max-senders allows"
                        );
                        continue; // dropping the socket and the guard closes and uncounts it
                    }
                    smol::spawn(self.clone().serve(stream, peer, guard)).detach();
                }
                Err(error) => {
                    // Usually out of file descriptors: wait instead of spinning.
                    log::warn!("cannot accept a connection: {error}");
                    smol::Timer::after(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    }

    async fn serve(self: Arc<Self>, socket: TcpStream, peer: SocketAddr, _live: LiveSender) {
        if let Err(error) = socket.set_nodelay(true) {
            log::debug!("TCP_NODELAY not set for {peer}: {error}");
        }
        let idle_timeout = self.limits.idle_timeout;
        let socket: Box<dyn AsyncRead + Unpin + Send> = match &self.tls {
            None => Box::new(socket),
            #[cfg(not(feature = "tls"))]
            Some(never) => match *never {},
            #[cfg(feature = "tls")]
            Some(acceptor) => {
                let handshake = async { Some(acceptor.accept(socket).await) }
                    .or(async {
                        smol::Timer::after(idle_timeout).await;
                        None
                    })
                    .await;
                match handshake {
                    Some(Ok(stream)) => Box::new(stream),
                    Some(Err(error)) => {
                        log::warn!(
                            "refused {peer}: TLS handshake failed: {error} (this receiver runs \
                             --tls: start the sender with --tls too)"
                        );
                        return;
                    }
                    None => {
                        log::warn!("refused {peer}: no TLS handshake within --idle-timeout");
                        return;
                    }
                }
            }
        };
        let mut reader = FrameReader::new(socket, self.limits.max_frame_bytes);
        if self.access.token.is_some() {
            let first = read_with_timeout(&mut reader, idle_timeout).await;
            let refusal = match &first {
                Some(Ok(Some(frame))) => self.access.check_first_message(frame).err(),
                Some(Ok(None)) => Some("it closed the connection without a message"),
                Some(Err(_)) => Some("its first message is not a framewire message"),
                None => Some("it sent no message within --idle-timeout"),
            };
            if let Some(reason) = refusal {
                log::warn!("refused {peer}: {reason}");
                return;
            }
        }
        let stream = self.registry.open(peer);
        log::info!("sender connected from {peer} (stream {})", stream.id);
        let (frames_out, frames_in) = latest_slot();
        let decoder = self.decoder.clone();
        let decoder_stream = stream.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("decode-{}", stream.id))
            .spawn(move || decoder.run(frames_in, decoder_stream));
        if let Err(error) = spawned {
            log::error!("closing the connection from {peer}: cannot start its decoder: {error}");
            stream.connected.store(false, Ordering::Relaxed);
            stream.decoder_finished.store(true, Ordering::Release);
            return;
        }
        let mut recording = match self.recorder.as_ref().map(|r| r.start(stream.clone())) {
            None => None,
            Some(Ok(recording)) => Some(recording),
            Some(Err(error)) => {
                log::error!("stream {} is not recorded: {error:#}", stream.label());
                None
            }
        };

        let ending = loop {
            let next = read_with_timeout(&mut reader, idle_timeout).await;
            let frame = match next {
                Some(Ok(Some(frame))) => frame,
                Some(Ok(None)) => break Ending::Closed,
                Some(Err(error)) => break Ending::Broken(error),
                None => break Ending::Idle,
            };
            stream.bytes.store(reader.bytes_read(), Ordering::Relaxed);
            if frame.is_keep_alive() {
                StreamStats::add(&stream.keep_alives, 1);
                continue;
            }
            if stream.rename(&frame.stream_name) {
                log::info!(
                    "stream {} from {peer} is '{}'",
                    stream.id,
                    frame.stream_name
                );
            }
            stream.note_sequence(frame.sequence);
            if let Some(recording) = &mut recording {
                recording.record(&frame);
            }
            let _ = frames_out.put(frame); // a replaced frame is counted just below
            stream
                .dropped_before_decode
                .store(frames_out.dropped(), Ordering::Relaxed);
        };
        stream.connected.store(false, Ordering::Relaxed);
        let received = stream.received.load(Ordering::Relaxed);
        match ending {
            Ending::Closed => log::info!(
                "sender {} disconnected after {received} frames",
                stream.label()
            ),
            Ending::Broken(error) => log::warn!(
                "closed the connection from {} after {received} frames: {error}{}",
                stream.label(),
                hint(&error)
            ),
            Ending::Idle => log::warn!(
                "closed the connection from {} after {received} frames: no complete message for {:.1} s \
                 (--idle-timeout)",
                stream.label(),
                idle_timeout.as_secs_f64()
            ),
        }
    }
}

/// The next message, or `None` when none is complete within `timeout`.
async fn read_with_timeout<R: AsyncRead + Unpin>(
    reader: &mut FrameReader<R>,
    timeout: Duration,
) -> Option<Result<Option<framewire_proto::Frame>, ReadError>> {
    async { Some(reader.read_frame().await) }
        .or(async {
            smol::Timer::after(timeout).await;
            None
        })
        .await
}

/// A hint for the most common way to get here by mistake: pointing a web
/// browser, curl or another text protocol at the receiver's port.
fn hint(error: &ReadError) -> &'static str {
    match error {
        ReadError::TooLarge { length, .. }
            if (*length as u32)
                .to_be_bytes()
                .iter()
                .all(|b| b.is_ascii_graphic() || *b == b' ') =>
        {
            " (the peer seems to speak a text protocol such as HTTP; only framewire senders belong here)"
        }
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_http_request_gets_a_hint_and_binary_noise_does_not() {
        let http = ReadError::TooLarge {
            length: u32::from_be_bytes(*b"GET ") as usize,
            limit: 16,
        };
        assert!(hint(&http).contains("HTTP"));
        let noise = ReadError::TooLarge {
            length: 0xb4c0_ffee,
            limit: 16,
        };
        assert_eq!(hint(&noise), "");
    }
}
