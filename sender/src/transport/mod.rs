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

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use async_net::TcpStream;
use framewire_proto::codec::write_frame;
use framewire_proto::slot::SlotReceiver;
use framewire_proto::unsent::limit_unsent_bytes;
use framewire_proto::{ClockReply, Frame, unix_time_us};
use futures_lite::{AsyncRead, AsyncWrite, AsyncWriteExt, FutureExt};
use smol::Timer;

pub mod control;

use crate::adapt::{Adaptation, LinkReading};
use crate::audience::Audience;
use crate::stats::SenderStats;
use crate::tcp_info::TcpInfo;
use crate::tls::TlsClient;
use control::{ControlHandler, Probe, read_controls};
use framewire_proto::shutdown::StopSignal;

/// First wait after a failed connection attempt; it doubles on each failure.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Longest wait between two connection attempts: after a network outage
/// the stream is back within about a second of the link.
pub const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// A connection attempt that gets no answer for this long is given up and
/// retried with a fresh SYN, instead of waiting out the kernel's SYN
/// retransmissions (1 s, 3 s, 7 s, ...) after a link comes back.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
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
/// How often the link is read for the adaptation.
pub const LINK_READING_INTERVAL: Duration = Duration::from_millis(100);

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

/// A byte stream both ways.
trait Duplex: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Duplex for T {}

/// An open connection to the receiver: plain TCP, or TLS over it.
type Connection = Box<dyn Duplex>;

/// The TCP socket under a [`Connection`], for its `TCP_INFO`; valid as
/// long as the connection is.
#[derive(Clone, Copy)]
struct Socket(RawFd);

/// How a connection ended.
enum Ended {
    /// The source is finished and every frame has been sent.
    SourceFinished,
    /// Ctrl-C or SIGTERM.
    Stopped,
}

impl Transport<'_> {
    /// Resolves the receiver's address (however long DNS takes) and
    /// connects to the first address that answers within [`CONNECT_TIMEOUT`].
    async fn connect(&self) -> io::Result<(Connection, Socket)> {
        let stream = self.connect_tcp().await?;
        let socket = Socket(stream.as_raw_fd());
        if let Err(error) = stream.set_nodelay(true) {
            log::debug!("TCP_NODELAY not set: {error}");
        }
        if let Err(error) = limit_unsent_bytes(&stream) {
            log::debug!("TCP_NOTSENT_LOWAT not set: {error}");
        }
        let Some(tls) = &self.tls else {
            return Ok((Box::new(stream), socket));
        };
        let handshake = tls
            .connector
            .connect(tls.server_name.clone(), stream)
            .or(async {
                Timer::after(WRITE_TIMEOUT).await;
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no TLS handshake (does the receiver run --tls?)",
                ))
            })
            .await
            .map_err(|error| io::Error::other(format!("TLS: {error}")))?;
        Ok((Box::new(handshake), socket))
    }

    async fn connect_tcp(&self) -> io::Result<TcpStream> {
        let mut last_error = io::Error::other("the name resolves to no address");
        for address in async_net::resolve(self.address.as_str()).await? {
            let attempt = TcpStream::connect(address)
                .or(async {
                    Timer::after(CONNECT_TIMEOUT).await;
                    Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
                    ))
                })
                .await;
            match attempt {
                Ok(stream) => return Ok(stream),
                Err(error) => last_error = error,
            }
        }
        Err(last_error)
    }

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
                    let _ = stream
                        .close()
                        .or(async {
                            Timer::after(STOP_GRACE).await;
                            Ok(())
                        })
                        .await;
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

    /// Hands the adaptation a reading of the link every
    /// [`LINK_READING_INTERVAL`], for as long as the connection lasts,
    /// except while the stream is paused: keep-alives alone say nothing of
    /// what the link carries.
    async fn read_link(&self, socket: Socket, frames: &SlotReceiver<Frame>) {
        let mut replaced_before = frames.dropped();
        loop {
            Timer::after(LINK_READING_INTERVAL).await;
            let tcp = match TcpInfo::read(socket.0) {
                Ok(tcp) => tcp,
                Err(error) => {
                    log::warn!(
                        "cannot read the connection's TCP_INFO ({error}): quality stays as it is"
                    );
                    return;
                }
            };
            let replaced = frames.dropped();
            if self.audience.is_paused() {
                replaced_before = replaced;
                continue;
            }
            self.adaptation.link_reading(&LinkReading {
                at: Instant::now(),
                replaced: replaced - replaced_before,
                tcp,
            });
            replaced_before = replaced;
        }
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
                        Next::Reply(probe) => self.clock_reply(probe),
                        Next::Frame(Some(frame)) => frame,
                        Next::Frame(None) => return Ok(Ended::SourceFinished),
                        Next::KeepAlive => Frame::keep_alive(&self.stream_name),
                    }
                }
            };
            let written = async { write_frame(outgoing, &frame).await.map(Some) }
                .or(async {
                    Timer::after(WRITE_TIMEOUT).await;
                    Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("it took no data for {} s", WRITE_TIMEOUT.as_secs()),
                    ))
                })
                .or(async {
                    self.stop.stopped().await;
                    Timer::after(STOP_GRACE).await;
                    Ok(None)
                })
                .await?;
            let Some(bytes) = written else {
                return Ok(Ended::Stopped);
            };
            if !frame.is_keep_alive() {
                SenderStats::add(&self.stats.sent, 1);
            }
            if frame.full_quality {
                self.adaptation.full_frame_sent();
            }
            SenderStats::add(&self.stats.bytes_sent, bytes as u64);
        }
    }

    /// The frame waiting in the slot as a connection comes up, unless it
    /// was captured before an outage (then it is counted as dropped).
    fn fresh_waiting_frame(&self, frames: &SlotReceiver<Frame>) -> Option<Frame> {
        let frame = frames.try_take()?;
        let age_us = unix_time_us().saturating_sub(frame.capture_time_us);
        if age_us > STALE_ON_CONNECT.as_micros() as u64 {
            SenderStats::add(&self.stats.stale_on_connect, 1);
            log::info!(
                "frame {} dropped: captured {:.1} s ago, before the connection was lost",
                frame.sequence,
                age_us as f64 / 1e6
            );
            return None;
        }
        Some(frame)
    }

    /// A keep-alive answering `probe`, stamped just before it is written.
    fn clock_reply(&self, probe: Probe) -> Frame {
        Frame {
            clock_reply: Some(ClockReply {
                receiver_send_time_us: probe.receiver_send_time_us,
                sender_receive_time_us: probe.sender_receive_time_us,
                sender_send_time_us: unix_time_us(),
            }),
            ..Frame::keep_alive(&self.stream_name)
        }
    }

    async fn sleep_unless_stopped(&self, duration: Duration) {
        async {
            Timer::after(duration).await;
        }
        .or(self.stop.stopped())
        .await
    }
}

/// What goes out next on a connection.
enum Next {
    Reply(Probe),
    /// The slot's next frame, or `None` when the source has finished.
    Frame(Option<Frame>),
    KeepAlive,
}
