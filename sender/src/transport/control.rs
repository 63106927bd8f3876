//! The way back: the receiver's control messages, read on the sender's
//! connection and handed to the parts of the sender they concern.
//!
//! [`read_controls`] reads them no faster than [`CONTROL_RATE`] a second
//! (after a burst of [`CONTROL_BURST`]): a receiver that writes them back to
//! back finds its socket full, and the sender spends on them a few per cent
//! of a core however fast they come, instead of never yielding to the rest
//! of the sender. [`ControlHandler`] is what is done with each: a clock probe
//! (no closer than [`MIN_PROBE_GAP`] to the last one answered) goes to the
//! writer with the time it was read, a rate limit or an ask for a
//! full-quality frame to the [`Adaptation`] (which checks the values and
//! throttles what it logs about them), a pause or a resume to the
//! [`Audience`]. Fields this sender does not know are ignored. It does not
//! write anything to the connection.

use std::time::{Duration, Instant};

use framewire_proto::codec::FrameReader;
use framewire_proto::rate::MessageRate;
use framewire_proto::{ClockReply, Control, Frame, unix_time_us};
use futures_lite::AsyncRead;
use smol::Timer;

use crate::adapt::Adaptation;
use crate::audience::Audience;

/// The longest control message read from the receiver; a probe is a few
/// bytes, and later controls stay small.
pub const MAX_CONTROL_BYTES: usize = 64 * 1024;
/// Probes closer together than this are not answered, so a receiver that
/// floods probes cannot crowd frames out of the connection.
pub const MIN_PROBE_GAP: Duration = Duration::from_millis(10);
/// Control messages read a second at most. An honest receiver sends about
/// 20 a second during a burst of clock probes and one every two seconds
/// after it.
pub const CONTROL_RATE: f64 = 50.0;
/// Control messages read back to back at most, after a quiet spell.
pub const CONTROL_BURST: u32 = 20;

/// A clock probe read from the receiver, waiting for its reply.
pub struct Probe {
    pub receiver_send_time_us: u64,
    pub sender_receive_time_us: u64,
}

impl Probe {
    /// The keep-alive of the stream `stream_name` that answers this probe,
    /// stamped just before it is written.
    pub fn reply(self, stream_name: &str) -> Frame {
        Frame {
            clock_reply: Some(ClockReply {
                receiver_send_time_us: self.receiver_send_time_us,
                sender_receive_time_us: self.sender_receive_time_us,
                sender_send_time_us: unix_time_us(),
            }),
            ..Frame::keep_alive(stream_name)
        }
    }
}

/// What the sender does with each control message of one connection.
pub struct ControlHandler<'a> {
    /// Probes to answer; a probe that finds it full is not answered (the
    /// receiver only loses one clock sample).
    pub probes: &'a async_channel::Sender<Probe>,
    pub adaptation: &'a Adaptation,
    pub audience: &'a Audience,
    last_answered: Option<Instant>,
}

impl<'a> ControlHandler<'a> {
    pub fn new(
        probes: &'a async_channel::Sender<Probe>,
        adaptation: &'a Adaptation,
        audience: &'a Audience,
    ) -> ControlHandler<'a> {
        ControlHandler {
            probes,
            adaptation,
            audience,
            last_answered: None,
        }
    }

    /// Acts on `control`, read at `received`.
    pub fn handle(&mut self, control: &Control, received: Instant) {
        if let Some(limit) = control.rate_limit {
            self.adaptation
                .receiver_limit(Some(f64::from(limit.max_fps)));
        }
        if control.full_frame.is_some() {
            self.adaptation.full_frame_asked();
        }
        if let Some(pause) = control.pause {
            self.audience.receiver_paused(pause.paused);
        }
        let Some(probe) = control.clock_probe else {
            return;
        };
        if self
            .last_answered
            .is_some_and(|last| received.saturating_duration_since(last) < MIN_PROBE_GAP)
        {
            return;
        }
        let probe = Probe {
            receiver_send_time_us: probe.receiver_send_time_us,
            sender_receive_time_us: unix_time_us(),
        };
        if self.probes.try_send(probe).is_ok() {
            self.last_answered = Some(received);
        }
    }
}

/// Reads the receiver's control messages until it stops writing, at most
/// [`CONTROL_RATE`] a second, and hands each to `handler`. A message this
/// sender cannot read ends the reading, not the stream: frames go on.
pub async fn read_controls<R: AsyncRead + Unpin>(incoming: R, mut handler: ControlHandler<'_>) {
    let mut reader = FrameReader::new(incoming, MAX_CONTROL_BYTES);
    let mut rate = MessageRate::new(CONTROL_RATE, CONTROL_BURST);
    loop {
        let wait = rate.wait(Instant::now());
        if !wait.is_zero() {
            // Unread messages stay in the socket, where they hold the
            // receiver's writes back.
            Timer::after(wait).await;
        }
        match reader.read_message::<Control>().await {
            Ok(Some(control)) => {
                let received = Instant::now();
                rate.allow(received);
                handler.handle(&control, received);
            }
            Ok(None) => return,
            Err(error) => {
                log::warn!(
                    "the receiver sent a control message this sender cannot read ({error}); \
                     its control messages are ignored on this connection"
                );
                return;
            }
        }
    }
}
