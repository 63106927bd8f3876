//! Accepting senders and reading their frames, one task per connection.
//!
//! A connection goes through three steps, like mini-redis's handler:
//!
//! 1. **Admission.** The allow-list is checked on accept, before a byte is
//!    read. The connection then takes a *pending* place from the [`Gate`]
//!    (a small budget of its own, per address too) for its TLS handshake and
//!    its first message (with the token, if one is set), each under its own
//!    short deadline and with a small message limit while a token is asked.
//!    Only a peer that got through takes a sender slot (`--max-senders`), so
//!    squatters never keep a real sender out.
//! 2. **Open the stream.** The [`Registry`] gives it a [`Stream`] and a
//!    guard; its decoder thread starts, and its recording if `--record`.
//! 3. **Pump.** Frames go into the decoder's latest-frame slot (and to the
//!    recorder), each charged to the memory budget; if the sender's hello
//!    announced the back-channel, a task beside the pump writes clock
//!    probes to it (the pump hands the replies to the stream's clock) and
//!    the frame rate its decoder keeps up with ([`crate::capacity`]).
//!    This goes on until the peer closes,
//!    breaks the protocol, goes silent, or the receiver stops. Then the slot
//!    closes; the decoder finishes its frame and ends, and the sender slot
//!    and the guard are given back when both the connection and the decoder
//!    are done.
//!
//! Every connection has its own reader, buffer, counters and decoder, so
//! two senders never see each other's bytes (the prototype's server shared
//! one buffer among all clients and broke). The server does not decode or
//! draw.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use async_net::{TcpListener, TcpStream};
use framewire_proto::codec::{FrameReader, ReadError, write_control};
use framewire_proto::duplex::{ReadHalf, WriteHalf};
use framewire_proto::shutdown::StopSignal;
use framewire_proto::slot::latest_slot;
use framewire_proto::{
    ClockProbe, Control, Feature, Frame, FullFrameRequest, Pause, RateLimit, unix_time_us,
};
use futures_lite::{AsyncRead, AsyncWrite, FutureExt};

/// What starts a TLS session on an accepted connection (`--tls`).
#[cfg(feature = "tls")]
pub type TlsAcceptor = futures_rustls::TlsAcceptor;
/// Built without the `tls` feature: there is no acceptor to have.
#[cfg(not(feature = "tls"))]
pub type TlsAcceptor = std::convert::Infallible;

use crate::access::Access;
use crate::admission::Gate;
use crate::budget::MemoryBudget;
use crate::capacity::{CHECK_INTERVAL, Change, DecodeCapacity};
use crate::clock::Update;
use crate::decode::{DecoderContext, Received};
use crate::flood::{Flood, SenderRates};
use crate::places::{Place, PlaceLimits};
use crate::record::Recorder;
use crate::report::{Registry, StreamGuard};
use crate::stream::{Encoding, Stream, worth_a_log_line};
use crate::tasks;

/// The longest first message while a token is asked for: a hello is a
/// name and a token, far below this.
const MAX_HELLO_BYTES: usize = 64 * 1024;

/// The longest a step of admission (TLS handshake, first message) may take.
const MAX_ADMISSION_STEP: Duration = Duration::from_secs(5);

/// A sender that takes no control message for this long gets no more
/// probes; its frames go on.
const CONTROL_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// What a remote peer may use of this receiver.
pub struct Limits {
    /// Longest message accepted (`--max-frame-bytes`).
    pub max_frame_bytes: usize,
    /// Senders connected at once (`--max-senders`); one more is refused.
    pub max_senders: usize,
    /// Longest wait for a complete message (`--idle-timeout`): a peer that
    /// goes silent, or trickles a message byte by byte, is dropped after it.
    pub idle_timeout: Duration,
    /// Connections waiting to be admitted, in total and per address.
    pub pending: PlaceLimits,
}

impl Limits {
    /// Each step of admission gets the idle timeout, at most
    /// [`MAX_ADMISSION_STEP`].
    fn admission_step(&self) -> Duration {
        self.idle_timeout.min(MAX_ADMISSION_STEP)
    }
}

pub struct Server {
    listener: TcpListener,
    limits: Limits,
    access: Access,
    gate: Arc<Gate>,
    /// `--tls`: every connection starts with a TLS handshake.
    tls: Option<TlsAcceptor>,
    registry: Arc<Registry>,
    decoder: DecoderContext,
    budget: Arc<MemoryBudget>,
    /// `--record`: every stream is also written to disk.
    recorder: Option<Arc<Recorder>>,
    senders: Arc<AtomicUsize>,
    stop: StopSignal,
}

/// Why a connection ended.
enum Ending {
    /// The sender closed it between two messages.
    Closed,
    Broken(ReadError),
    Idle,
    /// It sent far more small messages than a sender does.
    Flooded(Flood),
    /// The receiver is stopping.
    Stopped,
}

/// A sender slot (`--max-senders`), given back on drop.
struct SenderSlot(Arc<AtomicUsize>);

impl Drop for SenderSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What an admitted connection holds until both it and its decoder are done.
struct Admitted {
    _slot: SenderSlot,
    _guard: StreamGuard,
}

/// A byte stream both ways.
pub(crate) trait Duplex: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Duplex for T {}

/// A connection's byte stream, plain or TLS.
pub(crate) type Socket = Box<dyn Duplex>;

/// What the pump reads frames from.
type Incoming = FrameReader<ReadHalf<Socket>>;
/// Where control messages go back to the sender (written only to a sender
/// whose hello announced the back-channel).
type Outgoing = WriteHalf<Socket>;

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
            gate: Gate::new(limits.pending),
            limits,
            access,
            tls: None,
            registry,
            budget: decoder.budget.clone(),
            stop: decoder.stop.clone(),
            decoder,
            recorder: None,
            senders: Arc::new(AtomicUsize::new(0)),
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

    /// The gate of admission, which the web side shares: a wrong token
    /// there slows the same address down here, and refusals are summarised
    /// together.
    pub fn gate(&self) -> Arc<Gate> {
        self.gate.clone()
    }

    /// Binds `address`, explaining the usual reasons it can fail.
    pub async fn bind(address: &str) -> anyhow::Result<TcpListener> {
        TcpListener::bind(address).await.with_context(|| {
            format!("cannot listen on {address} (is another receiver running there? choose another with --listen)")
        })
    }

    /// Accepts senders until the receiver stops.
    pub async fn run(self: Arc<Self>) {
        loop {
            let accepted = async { Some(self.listener.accept().await) }
                .or(async {
                    self.stop.stopped().await;
                    None
                })
                .await;
            match accepted {
                None => return,
                Some(Ok((socket, peer))) => {
                    if !self.access.allows_address(peer.ip()) {
                        self.gate.refused(
                            peer.ip(),
                            &peer.to_string(),
                            "its address is not in --allow",
                        );
                        continue;
                    }
                    match self.gate.enter(peer.ip()) {
                        Ok(pending) => {
                            tasks::spawn(self.clone().serve(socket, peer, pending)).detach();
                        }
                        Err(full) => {
                            self.gate
                                .refused(peer.ip(), &peer.to_string(), &full.to_string())
                        }
                    }
                }
                Some(Err(error)) => {
                    // Usually out of file descriptors: wait instead of spinning.
                    log::warn!("cannot accept a connection: {error}");
                    smol::Timer::after(Duration::from_millis(100)).await;
                }
            }
        }
    }

    async fn serve(self: Arc<Self>, socket: TcpStream, peer: SocketAddr, pending: Place) {
        if let Err(error) = socket.set_nodelay(true) {
            log::debug!("TCP_NODELAY not set for {peer}: {error}");
        }
        let admitted = async { self.admit(socket, peer).await }
            .or(async {
                pending.evicted().await;
                Err("every pending place was held: its place went to a newer connection".to_owned())
            })
            .or(async {
                self.stop.stopped().await;
                Err("the receiver is stopping".to_owned())
            })
            .await;
        let (reader, outgoing, first) = match admitted {
            Ok(admitted) => admitted,
            Err(reason) => {
                self.gate.refused(peer.ip(), &peer.to_string(), &reason);
                return;
            }
        };
        drop(pending);
        let live = self.senders.fetch_add(1, Ordering::AcqRel);
        let slot = SenderSlot(self.senders.clone());
        if live >= self.limits.max_senders {
            let reason = format!("{live} senders are connected, the most --max-senders allows");
            self.gate.refused(peer.ip(), &peer.to_string(), &reason);
            return; // dropping the socket and the slot closes and uncounts it
        }
        let (stream, guard) = self.registry.open(peer);
        let admitted = Arc::new(Admitted {
            _slot: slot,
            _guard: guard,
        });
        log::info!("sender connected from {peer} (stream {})", stream.id());
        let probing = first
            .speaks(Feature::Control)
            .then(|| tasks::spawn(write_controls(outgoing, stream.clone())));
        self.pump(reader, first, stream, admitted).await;
        drop(probing); // cancels the control messages
    }

    /// Admission: the TLS handshake, then the first message (checked for the
    /// token when one is set), each under its own deadline. Returns the
    /// reader, the way back and the first message, or why the peer is
    /// refused.
    async fn admit(
        &self,
        socket: TcpStream,
        peer: SocketAddr,
    ) -> Result<(Incoming, Outgoing, Frame), String> {
        let step = self.limits.admission_step();
        let socket = match start_tls(self.tls.as_ref(), socket, step).await {
            Ok(socket) => socket,
            Err(TlsFailure::Failed(error)) => {
                return Err(format!(
                    "TLS handshake failed: {error} (this receiver runs --tls: start the \
                     sender with --tls too)"
                ));
            }
            Err(TlsFailure::TimedOut) => {
                return Err(format!(
                    "no TLS handshake within {:.1} s",
                    step.as_secs_f64()
                ));
            }
        };
        let hello_limit = match self.access.token {
            Some(_) => MAX_HELLO_BYTES.min(self.limits.max_frame_bytes),
            None => self.limits.max_frame_bytes,
        };
        let (incoming, outgoing) = framewire_proto::duplex::split(socket);
        let mut reader = FrameReader::new(incoming, hello_limit);
        let first = match within(step, reader.read_frame()).await {
            Some(Ok(Some(frame))) => frame,
            Some(Ok(None)) => return Err("it closed the connection without a message".into()),
            Some(Err(error)) => {
                return Err(format!(
                    "its first message is not a framewire message: {error}{}",
                    hint(&error)
                ));
            }
            None => {
                return Err(format!(
                    "it sent no complete message within {:.1} s",
                    step.as_secs_f64()
                ));
            }
        };
        if let Err(reason) = self.access.check_first_message(&first) {
            if self.access.token.is_some() && !first.auth_token.is_empty() {
                let wait = self.gate.penalise(peer.ip());
                smol::Timer::after(wait).await;
            }
            return Err(reason.to_owned());
        }
        reader.set_max_message_bytes(self.limits.max_frame_bytes);
        Ok((reader, outgoing, first))
    }

    /// Opens the stream's decoder (and recording) and feeds them every frame
    /// until the connection ends.
    async fn pump(
        &self,
        mut reader: Incoming,
        first: Frame,
        stream: Arc<Stream>,
        admitted: Arc<Admitted>,
    ) {
        let peer = stream.peer();
        let (frames_out, frames_in) = latest_slot();
        let decoder = self.decoder.clone();
        let decoder_stream = stream.clone();
        let decoder_admitted = admitted.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("decode-{}", stream.id()))
            .spawn(move || {
                decoder.run(frames_in, decoder_stream.clone());
                decoder_stream.decoder_done();
                drop(decoder_admitted);
            });
        if let Err(error) = spawned {
            log::error!("closing the connection from {peer}: cannot start its decoder: {error}");
            stream.connection_ended();
            stream.decoder_done();
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
        let idle_timeout = self.limits.idle_timeout;
        let mut rates = SenderRates::default();
        let mut read_before = 0;
        let mut first = Some(first);
        let ending = loop {
            let mut frame = match first.take() {
                Some(frame) => frame,
                None => {
                    // A socket that always has a message ready would never
                    // let this task go: every message gives the others a turn.
                    futures_lite::future::yield_now().await;
                    let next = async { Some(read_with_timeout(&mut reader, idle_timeout).await) }
                        .or(async {
                            self.stop.stopped().await;
                            None
                        })
                        .await;
                    match next {
                        None => break Ending::Stopped,
                        Some(Some(Ok(Some(frame)))) => frame,
                        Some(Some(Ok(None))) => break Ending::Closed,
                        Some(Some(Err(error))) => break Ending::Broken(error),
                        Some(None) => break Ending::Idle,
                    }
                }
            };
            let arrived_us = unix_time_us();
            let read = reader.bytes_read();
            unpin_image(&mut frame, read - read_before);
            read_before = read;
            stream.note_bytes(read);
            if let Some(reply) = &frame.clock_reply {
                note_clock_reply(&stream, reply, arrived_us);
            }
            if frame.is_keep_alive() {
                if let Err(flood) = rates.keep_alive(Instant::now()) {
                    break Ending::Flooded(flood);
                }
                stream.note_keep_alive();
                continue;
            }
            if stream.rename(&frame.stream_name) {
                if let Err(flood) = rates.renamed(Instant::now()) {
                    break Ending::Flooded(flood);
                }
                log::info!("stream {} from {peer} is '{}'", stream.id(), stream.name());
            }
            stream.note_frame(frame.sequence);
            stream.note_encoding(Encoding::of(frame.quality, frame.halvings, frame.limit));
            if frame.full_quality {
                stream.full_frame().arrived(&frame.image);
            }
            if let Some(recording) = &mut recording {
                recording.record(&frame);
            }
            let Some(charge) = self.budget.charge(frame.image.len()) else {
                let refused = stream.note_refused_over_budget();
                if worth_a_log_line(refused) {
                    log::warn!(
                        "stream {}: frame {} refused ({refused} so far): the receiver's memory \
                         budget (--max-memory) is spent",
                        stream.label(),
                        frame.sequence
                    );
                }
                continue;
            };
            let _ = frames_out.put(Received {
                frame,
                charge,
                handed_over: Instant::now(),
            }); // a replaced frame is counted just below
            stream.note_dropped_before_decode(frames_out.dropped());
        };
        drop(frames_out); // the decoder finishes the frame it holds, then ends
        stream.connection_ended();
        let received = stream.counters().received;
        let label = stream.label();
        match ending {
            Ending::Closed => log::info!("sender {label} disconnected after {received} frames"),
            Ending::Stopped => log::info!(
                "closed the connection from {label} after {received} frames: the receiver is stopping"
            ),
            Ending::Broken(error) => log::warn!(
                "closed the connection from {label} after {received} frames: {error}{}",
                hint(&error)
            ),
            Ending::Flooded(flood) => {
                log::warn!(
                    "closed the connection from {label} after {received} frames: {}",
                    flood.reason()
                );
                smol::Timer::after(self.gate.penalise(peer.ip())).await;
            }
            Ending::Idle => log::warn!(
                "closed the connection from {label} after {received} frames: no complete message for {:.1} s \
                 (--idle-timeout)",
                idle_timeout.as_secs_f64()
            ),
        }
    }
}

/// Bytes a message may carry besides its image before the image is copied
/// out of it: the image shares the message's buffer, and what is kept of
/// it (the decoder's slot, the newest frame kept for the web view and
/// snapshots) would pin the whole message while the budget is charged for
/// the image alone.
const MAX_MESSAGE_OVERHEAD: u64 = 64 * 1024;

/// Copies `frame`'s image out of its message of `message_bytes` when the
/// message is padded (unknown fields, say) far beyond the image, so that
/// the message's buffer is freed now.
fn unpin_image(frame: &mut Frame, message_bytes: u64) {
    if message_bytes > frame.image.len() as u64 + MAX_MESSAGE_OVERHEAD {
        frame.image = bytes::Bytes::copy_from_slice(&frame.image);
    }
}

/// Writes control messages to the sender until the connection ends (the
/// task is dropped) or it stops taking them: clock probes, a burst first,
/// then now and then; when the stream's decoder falls behind, the frame
/// rate it keeps up with ([`DecodeCapacity`]); an ask for a full-quality
/// frame the moment the view makes one; and a pause when nobody can see
/// the stream, a resume the moment somebody can ([`crate::pause`]).
async fn write_controls(mut outgoing: Outgoing, stream: Arc<Stream>) {
    let mut capacity = DecodeCapacity::default();
    let (mut next_probe, mut next_check) = (Instant::now(), Instant::now());
    let mut asked = false;
    loop {
        let now = Instant::now();
        let mut control = Control::default();
        if now >= next_check {
            next_check = now + CHECK_INTERVAL;
            control.rate_limit = capacity
                .check(now, stream.counters())
                .map(|change| rate_limit(&stream, change));
        }
        if now >= next_probe {
            let t1_us = unix_time_us();
            next_probe = now + stream.clock_probe_sent(t1_us);
            control.clock_probe = Some(ClockProbe {
                receiver_send_time_us: t1_us,
            });
        }
        if asked {
            control.full_frame = Some(FullFrameRequest {});
        }
        if let Some(paused) = stream.pause().to_tell(now) {
            if paused {
                log::info!(
                    "stream {}: nobody sees it: pausing its sender",
                    stream.label()
                );
            } else {
                log::info!(
                    "stream {}: somebody sees it again: resuming its sender",
                    stream.label()
                );
            }
            control.pause = Some(Pause { paused });
        }
        if control != Control::default() {
            match within(
                CONTROL_WRITE_TIMEOUT,
                write_control(&mut outgoing, &control),
            )
            .await
            {
                Some(Ok(_)) => {}
                Some(Err(error)) => {
                    log::debug!(
                        "stream {}: no more control messages: {error}",
                        stream.label()
                    );
                    return;
                }
                None => {
                    log::warn!(
                        "stream {}: the sender takes no control messages; its latency stays \
                         clock-based and it is told no frame rate limit",
                        stream.label()
                    );
                    return;
                }
            }
        }
        let wake_at = [
            Some(next_probe),
            Some(next_check),
            stream.pause().recheck_at(),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(next_probe);
        asked = async {
            smol::Timer::at(wake_at).await;
            false
        }
        .or(async {
            stream.pause().changed().await;
            false
        })
        .or(async {
            stream.full_frame().asked().await;
            true
        })
        .await;
    }
}

/// The message for a change of the stream's frame rate limit, logged.
fn rate_limit(stream: &Stream, change: Change) -> RateLimit {
    match change {
        Change::Limit(fps) => {
            log::info!(
                "stream {}: its decoder keeps up with {fps:.1} fps: asking the sender for no more",
                stream.label()
            );
            RateLimit {
                max_fps: fps as f32,
            }
        }
        Change::Lift => {
            log::info!("stream {}: lifting its frame rate limit", stream.label());
            RateLimit { max_fps: 0.0 }
        }
    }
}

/// Hands a clock reply to the stream, and says when the offset is first
/// known or starts again after a clock step.
fn note_clock_reply(stream: &Stream, reply: &framewire_proto::ClockReply, arrived_us: u64) {
    let update = stream.clock_reply(reply, arrived_us);
    if !matches!(update, Update::First | Update::Restarted) {
        return; // most replies only refine the estimate: nothing to say
    }
    let Some(clock) = stream.clock() else {
        return;
    };
    let offset = clock.offset_us as f64 / 1000.0;
    let error = clock.error_us as f64 / 1000.0;
    match update {
        Update::First => log::info!(
            "stream {}: the sender's clock is {offset:+.1} ±{error:.1} ms from ours",
            stream.label()
        ),
        Update::Restarted if worth_a_log_line(stream.clock_restarts()) => log::warn!(
            "stream {}: a clock was stepped ({} times so far); the sender's clock is now \
             {offset:+.1} ±{error:.1} ms from ours, latency figures start again",
            stream.label(),
            stream.clock_restarts()
        ),
        Update::Restarted | Update::Ignored | Update::Refined => {}
    }
}

/// Why a connection's TLS handshake did not complete (built without the
/// `tls` feature, there is never a handshake to fail).
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
pub(crate) enum TlsFailure {
    Failed(std::io::Error),
    TimedOut,
}

/// The connection's byte stream: `socket` itself without `--tls`, else the
/// TLS session after a handshake of at most `limit`. The senders' server
/// and the web side both start their connections here.
pub(crate) async fn start_tls(
    tls: Option<&TlsAcceptor>,
    socket: TcpStream,
    limit: Duration,
) -> Result<Socket, TlsFailure> {
    match tls {
        None => Ok(Box::new(socket)),
        #[cfg(not(feature = "tls"))]
        Some(never) => {
            let _ = limit;
            match *never {}
        }
        #[cfg(feature = "tls")]
        Some(acceptor) => match within(limit, acceptor.accept(socket)).await {
            Some(Ok(stream)) => Ok(Box::new(stream)),
            Some(Err(error)) => Err(TlsFailure::Failed(error)),
            None => Err(TlsFailure::TimedOut),
        },
    }
}

/// `future`'s output, or `None` if it takes longer than `limit`.
pub(crate) async fn within<T>(
    limit: Duration,
    future: impl std::future::Future<Output = T>,
) -> Option<T> {
    async { Some(future.await) }
        .or(async {
            smol::Timer::after(limit).await;
            None
        })
        .await
}

/// The next message, or `None` when none is complete within `timeout`.
async fn read_with_timeout(
    reader: &mut Incoming,
    timeout: Duration,
) -> Option<Result<Option<Frame>, ReadError>> {
    within(timeout, reader.read_frame()).await
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
