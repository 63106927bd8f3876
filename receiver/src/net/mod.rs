//! A sender's connection, from accept to close: the [`Server`] binds and
//! accepts, checks the allow-list before a byte is read, and runs each
//! connection as a task through three steps, like mini-redis's handler:
//!
//! 1. **Admission** (`admit.rs`): the connection takes a
//!    *pending* place from the [`Gate`] (a small budget of its own, per
//!    address too) for its TLS handshake and its first message (with the
//!    token, if one is set), each under its own short deadline and with a
//!    small message limit while a token is asked. Only a peer that got
//!    through takes a sender slot (`--max-senders`), so squatters never keep
//!    a real sender out.
//! 2. **Open the stream.** The [`Registry`] gives it a [`Stream`] and a
//!    guard.
//! 3. **The way in** (`pump.rs`): its decoder thread starts, and its
//!    recording if `--record`; frames go into the decoder's latest-frame
//!    slot (and to the recorder), each charged to the memory budget, until
//!    the peer closes, breaks the protocol, goes silent, floods, or the
//!    receiver stops. Then the slot closes; the decoder finishes its frame
//!    and ends, and the sender slot and the guard are given back when both
//!    the connection and the decoder are done. **The way out**
//!    (`talk.rs`): if the sender's hello announced the back-channel, a task
//!    beside the pump writes every control message the receiver sends.
//!
//! How any connection starts (TLS, its byte stream) is in [`conn`], which
//! the web side uses too; who may connect is [`access`], [`gate`] and
//! [`places`]; what a sender's small messages may cost is [`flood`].
//! Every connection has its own reader, buffer, counters and decoder, so
//! two senders never see each other's bytes (the prototype's server shared
//! one buffer among all clients and broke). Nothing here decodes or draws.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use async_net::{TcpListener, TcpStream};
use framewire_proto::Feature;
use framewire_proto::codec::FrameReader;
use framewire_proto::duplex::{ReadHalf, WriteHalf};
use framewire_proto::shutdown::StopSignal;
use futures_lite::FutureExt;

use crate::budget::MemoryBudget;
use crate::decode::DecoderContext;
use crate::record::Recorder;
use crate::report::{Registry, StreamGuard};
use crate::tasks;

pub mod access;
mod admit;
pub mod conn;
pub mod flood;
pub mod gate;
pub mod places;
mod pump;
mod talk;
#[cfg(feature = "tls")]
pub mod tls;

use access::Access;
use conn::Socket;
pub use conn::TlsAcceptor;
use gate::Gate;
use places::{Place, PlaceLimits};

/// The longest a step of admission (TLS handshake, first message) may take.
const MAX_ADMISSION_STEP: Duration = Duration::from_secs(5);

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

/// The senders' port: accepts connections and serves each as a task.
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
            .then(|| tasks::spawn(talk::write_controls(outgoing, stream.clone())));
        self.pump(reader, first, stream, admitted).await;
        drop(probing); // cancels the control messages
    }
}
