//! Sending encoded frames to the receiver over TCP, for as long as it takes.
//!
//! The transport connects (retrying with exponential backoff, capped at
//! [`MAX_BACKOFF`], so the sender may start before the receiver; a
//! connection that ends within [`STABLE_CONNECTION`], such as a receiver
//! that accepts and closes at once, counts as a failed attempt), sends the
//! newest frame from its slot whenever the socket is ready, and sends a
//! keep-alive when no frame has come for [`KEEP_ALIVE_INTERVAL`]. When the
//! connection breaks it reconnects on its own; frames that arrive meanwhile
//! replace each other in the slot and are counted as drops, never queued.
//!
//! Every connection starts with a hello that announces the back-channel
//! (protocol v2). While frames go out, the transport reads the receiver's
//! control messages on the same connection ([`control`]) and answers each
//! clock probe with its own receive and send times, ahead of the next frame
//! (a reply never waits behind a frame in the slot). A receiver that never writes
//! (v1, the prototype) costs nothing but a pending read. It does not encode
//! or look inside the images.
//!
//! It tells the [`Audience`] when a connection is up, when it ends, and
//! when the receiver pauses or resumes the stream, so nothing is captured
//! while nobody can see it (keep-alives go on meanwhile); a frame still in
//! the slot from before an outage is dropped rather than shown as the first.
//! Every [`LINK_READING_INTERVAL`] it gives the [`Adaptation`] a reading of
//! the link (frames the slot replaced, the kernel's `TCP_INFO`), and it
//! passes on the receiver's rate limit when one comes.
//!
//! This file is the run loop: connect, back off, send. How a connection is
//! opened (DNS, TCP, socket options, TLS) is `connect.rs`; the way back,
//! every control message the receiver sends, is [`control`]; the link's
//! readings are `link.rs`.

use std::io;
use std::time::{Duration, Instant};

use framewire_proto::codec::write_frame;
use framewire_proto::deadline::within;
use framewire_proto::shutdown::StopSignal;
use framewire_proto::slot::SlotReceiver;
use framewire_proto::{Frame, unix_time_us};
use futures_lite::{AsyncWrite, AsyncWriteExt, FutureExt};
use smol::Timer;

mod connect;
pub mod control;
mod link;

use crate::adapt::Adaptation;
use crate::audience::Audience;
use crate::stats::SenderStats;
use crate::tls::TlsClient;
use connect::{Connection, Socket};
use control::{ControlHandler, Probe, read_controls};

pub use connect::CONNECT_TIMEOUT;
pub use link::LINK_READING_INTERVAL;

/// First wait after a failed connection attempt; it doubles on each failure.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Longest wait between two connection attempts: after a network outage
/// the stream is back within about a second of the link.
pub const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// A connection that lasts less than this counts as a failed attempt: the
/// next one waits out the backoff, which goes on growing.
pub const STABLE_CONNECTION: Duration = Duration::from_secs(2);
/// A keep-alive goes out when no frame was sent for this long.
pub const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(1);
/// A receiver that takes no data for this long is treated as gone.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// After a stop, a frame being written gets this long to finish.
pub const STOP_GRACE: Duration = Duration::from_millis(500);
/// Answers waiting for the socket; a probe that finds them full is not
/// answered (the receiver only loses one clock sample).
const PENDING_REPLIES: usize = 4;
/// A frame found in the slot when a connection comes up is sent only if it
/// was captured less than this long ago; an older one predates the outage.
pub const STALE_ON_CONNECT: Duration = Duration::from_secs(1);

pub struct Transport<'a> {
    pub address: String,
    pub stream_name: String,
    /// Presented in a hello message first thing on every connection.
    pub token: Option<String>,
    /// `--tls`: every connection starts with a TLS handshake.
    pub tls: Option<TlsClient>,
    /// Told when a connection is up and when it ends.
    pub audience: &'a Audience,
    /// Given readings of the link and the receiver's rate limit.
    pub adaptation: &'a Adaptation,
    pub stats: &'a SenderStats,
    pub stop: &'a StopSignal,
}

/// How a connection ended.
enum Ended {
    /// The source is finished and every frame has been sent.
    SourceFinished,
    /// Ctrl-C or SIGTERM.
    Stopped,
}

impl Transport<'_> {
    /// Sends frames from `frames` until the source finishes or a stop is asked.
    pub async fn run(&self, frames: SlotReceiver<Frame>) {
        let mut backoff = FIRST_BACKOFF;
        let mut failed_attempts = 0u32;
        loop {
            let connected = self
                .connect()
                .or(async {
                    self.stop.stopped().await;
                    Err(io::Error::other("stopped"))
                })
                .await;
            if self.stop.is_stopped() {
                return;
            }
            let (mut stream, socket) = match connected {
                Ok(connected) => connected,
                Err(error) => {
                    if failed_attempts.is_multiple_of(30) {
                        log::warn!(
                            "cannot reach the receiver at {}: {error}; retrying every {:.1} s at most",
                            self.address,
                            MAX_BACKOFF.as_secs_f32()
                        );
                    }
                    failed_attempts += 1;
                    if frames.is_finished() {
                        log::warn!("the source has finished; giving up on {}", self.address);
                        return;
                    }
                    self.sleep_unless_stopped(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            };
            let connected_at = Instant::now();
            log::info!(
                "connected to the receiver at {}{}",
                self.address,
                if self.tls.is_some() { " (TLS)" } else { "" }
            );
            self.audience.receiver_connected();
            self.adaptation.connection_started();
            let ended = self.send_frames(&mut stream, socket, &frames).await;
            self.audience.receiver_gone();
            match ended {
                Ok(Ended::SourceFinished) => {
                    log::info!("all frames sent; closing the connection");
                    // Ends a TLS session properly (close_notify), then the TCP stream.
                    let _ = within(STOP_GRACE, stream.close()).await;
                    return;
                }
                Ok(Ended::Stopped) => return,
                Err(error) => {
                    log::warn!(
                        "lost the connection to the receiver at {}: {error}; reconnecting",
                        self.address
                    );
                    if connected_at.elapsed() >= STABLE_CONNECTION {
                        backoff = FIRST_BACKOFF;
                        failed_attempts = 0;
                    } else {
                        // Accepted, then closed at once: no faster than a refusal.
                        self.sleep_unless_stopped(backoff).await;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                }
            }
        }
    }

    /// Sends the hello, then frames, keep-alives and clock replies, while
    /// reading the receiver's control messages on the same connection and
    /// the link for the adaptation.
    async fn send_frames(
        &self,
        stream: &mut Connection,
        socket: Socket,
        frames: &SlotReceiver<Frame>,
    ) -> io::Result<Ended> {
        let (incoming, mut outgoing) = framewire_proto::duplex::split(stream);
        let (probes_out, probes_in) = async_channel::bounded(PENDING_REPLIES);
        self.write_frames(&mut outgoing, frames, &probes_in)
            .or(async {
                let handler = ControlHandler::new(&probes_out, self.adaptation, self.audience);
                read_controls(incoming, handler).await;
                std::future::pending().await
            })
            .or(async {
                self.read_link(socket, frames).await;
                std::future::pending().await
            })
            .await
    }

    async fn write_frames<W: AsyncWrite + Unpin>(
        &self,
        outgoing: &mut W,
        frames: &SlotReceiver<Frame>,
        probes: &async_channel::Receiver<Probe>,
    ) -> io::Result<Ended> {
        let hello = Frame::hello(&self.stream_name, self.token.as_deref());
        let mut opening = std::iter::once(hello).chain(self.fresh_waiting_frame(frames));
        loop {
            let frame = match opening.next() {
                Some(frame) => frame,
                None => {
                    // Polled in this order: a reply goes before a waiting frame.
                    let next = async {
                        match probes.recv().await {
                            Ok(probe) => Next::Reply(probe),
                            Err(_) => std::future::pending().await,
                        }
                    }
                    .or(async { Next::Frame(frames.take().await) })
                    .or(async {
                        Timer::after(KEEP_ALIVE_INTERVAL).await;
                        Next::KeepAlive
                    })
                    .await;
                    match next {
                        Next::Reply(probe) => probe.reply(&self.stream_name),
                        Next::Frame(Some(frame)) => frame,
                        Next::Frame(None) => return Ok(Ended::SourceFinished),
                        Next::KeepAlive => Frame::keep_alive(&self.stream_name),
                    }
                }
            };
            let written = async {
                match within(WRITE_TIMEOUT, write_frame(outgoing, &frame)).await {
                    Some(written) => written.map(Some),
                    None => Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("it took no data for {} s", WRITE_TIMEOUT.as_secs()),
                    )),
                }
            }
            .or(async {
                self.stop.stopped().await;
                Timer::after(STOP_GRACE).await;
                Ok(None)
            })
            .await?;
            let Some(bytes) = written else {
                return Ok(Ended::Stopped);
            };
            self.stats.sent(bytes as u64, frame.is_keep_alive());
            if frame.full_quality {
                self.adaptation.full_frame_sent();
            }
        }
    }

    /// The frame waiting in the slot as a connection comes up, unless it
    /// was captured before an outage (then it is counted as dropped).
    fn fresh_waiting_frame(&self, frames: &SlotReceiver<Frame>) -> Option<Frame> {
        let frame = frames.try_take()?;
        let age_us = unix_time_us().saturating_sub(frame.capture_time_us);
        if age_us > STALE_ON_CONNECT.as_micros() as u64 {
            self.stats.stale_on_connect();
            log::info!(
                "frame {} dropped: captured {:.1} s ago, before the connection was lost",
                frame.sequence,
                age_us as f64 / 1e6
            );
            return None;
        }
        Some(frame)
    }

    async fn sleep_unless_stopped(&self, duration: Duration) {
        let _ = within(duration, self.stop.stopped()).await;
    }
}

/// What goes out next on a connection.
enum Next {
    Reply(Probe),
    /// The slot's next frame, or `None` when the source has finished.
    Frame(Option<Frame>),
    KeepAlive,
}
