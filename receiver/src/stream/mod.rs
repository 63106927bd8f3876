//! One admitted connection's stream, and everything it owns, behind the
//! methods of [`Stream`]: the connection task, the stream's decoder, the
//! recorder, the window, the web view and the report all hold the same
//! `Arc<Stream>` and change it only through these methods.
//!
//! A stream is [`Phase::Live`] while its connection is open,
//! [`Phase::Closing`] once the connection has ended while the decoder still
//! works on what was received, and [`Phase::Closed`] when the decoder is
//! done too. What it owns is one file each: its [`name`] (cleaned once,
//! so no log line, file name or tile shows what a peer typed raw), its
//! [`counters`], the [`encoding`] of its latest frame, the [`newest`] JPEG
//! kept for viewers and snapshots, its [`timing`] (the sender's [`clock`]
//! offset and the [`latency`] histogram), the [`pause`] of its sender, an
//! asked [`full_frame`], and the [`liveness`] a tile shows. Every memory
//! ordering of a stream's state is in these files. A stream does not read
//! sockets or decode.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};
use std::time::Instant;

pub mod clock;
pub mod counters;
pub mod encoding;
pub mod full_frame;
pub mod latency;
pub mod liveness;
pub mod name;
pub mod newest;
pub mod pause;
pub mod timing;

use clock::ClockSync;
use counters::Counts;
use full_frame::FullFrame;
use latency::LatencyHistogram;
use newest::Kept;
use pause::Pause;

pub use counters::Counters;
pub use encoding::Encoding;
pub use name::{MAX_NAME_CHARS, clean_name};
pub use newest::Newest;

/// Where a stream is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Its connection is open.
    Live,
    /// Its connection has ended; its decoder finishes what it holds.
    Closing,
    /// Its decoder is done (or never started): the stream holds nothing more.
    Closed,
}

/// One stream's state.
pub struct Stream {
    id: u64,
    peer: SocketAddr,
    name: Mutex<String>,
    connected_at: Instant,
    phase: AtomicU8,
    counts: Counts,
    /// The latest frame's [`Encoding`], packed; 0: not told.
    encoding: AtomicU32,
    latency: Mutex<LatencyHistogram>,
    clock: Mutex<ClockSync>,
    /// The newest decoded frame, and the event its waiters listen to.
    newest: Kept,
    /// A full-quality frame asked of the sender (S on a reduced stream).
    full_frame: FullFrame,
    /// Whether the sender is asked to send no frames: nobody sees them.
    pause: Pause,
}

impl Stream {
    pub fn new(id: u64, peer: SocketAddr) -> Stream {
        Stream {
            id,
            peer,
            name: Mutex::new(peer.to_string()),
            connected_at: Instant::now(),
            phase: AtomicU8::new(Phase::Live as u8),
            counts: Counts::default(),
            encoding: AtomicU32::new(0),
            latency: Mutex::new(LatencyHistogram::default()),
            clock: Mutex::new(ClockSync::default()),
            newest: Kept::default(),
            full_frame: FullFrame::default(),
            pause: Pause::default(),
        }
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Live,
            1 => Phase::Closing,
            _ => Phase::Closed,
        }
    }

    pub fn is_connected(&self) -> bool {
        self.phase() == Phase::Live
    }

    /// The connection has ended (its decoder may still be working).
    pub fn connection_ended(&self) {
        let _ = self.phase.compare_exchange(
            Phase::Live as u8,
            Phase::Closing as u8,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// The decoder has finished (or never started). Release: whoever sees
    /// [`Phase::Closed`] also sees the decoder's counters and kept picture;
    /// whoever waits for a newer frame is woken to see it closed.
    pub fn decoder_done(&self) {
        self.phase.store(Phase::Closed as u8, Ordering::Release);
        self.newest.closed();
    }

    /// The ask for a full-quality frame of this stream.
    pub fn full_frame(&self) -> &FullFrame {
        &self.full_frame
    }

    /// Whether the sender is paused, for the window, the web viewers and
    /// the control writer.
    pub fn pause(&self) -> &Pause {
        &self.pause
    }
}

/// Whether the `count`th time something repeats deserves a log line: the
/// first five, then every hundredth, so a peer that repeats a fault cannot
/// flood the log while the log still shows it goes on.
pub fn worth_a_log_line(count: u64) -> bool {
    count <= 5 || count.is_multiple_of(100)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use framewire_proto::ClockReply;

    use super::clock::Update;
    use super::*;

    fn stream() -> Stream {
        Stream::new(0, "127.0.0.1:1".parse().unwrap())
    }

    #[test]
    fn sequence_gaps_and_reordering_are_counted_but_the_prototypes_zeros_are_not() {
        let numbered = stream();
        for sequence in [5, 6, 9, 8] {
            numbered.note_frame(sequence);
        }
        let counters = numbered.counters();
        assert_eq!((counters.sequence_gaps, counters.out_of_order), (2, 1));

        let prototype = stream();
        for _ in 0..5 {
            prototype.note_frame(0);
        }
        let counters = prototype.counters();
        assert_eq!((counters.received, counters.out_of_order), (5, 0));
    }

    #[test]
    fn wild_sequence_numbers_never_make_a_huge_gap() {
        let wild = stream();
        for sequence in [10, 3, u64::MAX, 0, u64::MAX - 1, 4] {
            wild.note_frame(sequence);
        }
        let counters = wild.counters();
        assert_eq!(counters.sequence_gaps, 0);
        assert_eq!(counters.out_of_order, 5);
    }

    #[test]
    fn names_lose_control_characters_and_are_shortened() {
        let named = stream();
        assert!(named.rename("porch\r\n[INFO] forged line\x1b[31m"));
        assert_eq!(named.name(), "porch??[INFO] forged line?[31m");
        assert!(named.rename(&"x".repeat(1_000_000)));
        assert_eq!(named.name().chars().count(), MAX_NAME_CHARS + 1);
        assert!(!named.rename(&"x".repeat(1_000_000)), "the same name again");
        assert_eq!(clean_name("cam\u{202e}gpj.exe"), "cam?gpj.exe");
        assert!(
            !named.rename(""),
            "the prototype's empty name keeps the old one"
        );
    }

    #[test]
    fn the_phase_runs_live_closing_closed() {
        let stream = stream();
        assert!(stream.is_connected());
        stream.connection_ended();
        assert_eq!(stream.phase(), Phase::Closing);
        stream.decoder_done();
        stream.connection_ended();
        assert_eq!(stream.phase(), Phase::Closed, "never back to closing");
    }

    #[test]
    fn a_measured_offset_moves_capture_times_and_restarts_the_latency_figures() {
        let stream = stream();
        let now = framewire_proto::unix_time_us();
        let sender_ahead_us = 4_000_000;
        assert_eq!(
            stream.receiver_time(now + sender_ahead_us),
            now + sender_ahead_us
        );
        stream.note_decoded(8, 8, now - 4_000_000, Duration::ZERO); // clock-based, very late
        assert_eq!(stream.latency().count(), 1);

        stream.clock_probe_sent(now);
        let reply = ClockReply {
            receiver_send_time_us: now,
            sender_receive_time_us: now + sender_ahead_us + 100,
            sender_send_time_us: now + sender_ahead_us + 120,
        };
        assert_eq!(stream.clock_reply(&reply, now + 220), Update::First);
        assert_eq!(
            stream.latency().count(),
            0,
            "the clock-based figure is gone"
        );
        let clock = stream.clock().unwrap();
        assert_eq!(clock.offset_us, 4_000_000);
        assert!((100..110).contains(&clock.error_us), "{clock:?}");
        assert_eq!(stream.receiver_time(now + sender_ahead_us + 7), now + 7);
        assert_eq!(stream.receiver_time(0), 0, "unknown stays unknown");
    }
}
