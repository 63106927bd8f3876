//! One admitted connection's stream: its name, its counters and its
//! lifecycle, behind the methods of [`Stream`].
//!
//! The connection task, the stream's decoder, the recorder, the window and
//! the report all hold the same `Arc<Stream>` and change it only through
//! these methods; every memory ordering of a stream's state is in this file.
//! A stream is [`Phase::Live`] while its connection is open,
//! [`Phase::Closing`] once the connection has ended while the decoder still
//! works on what was received, and [`Phase::Closed`] when the decoder is done
//! too. A stream of a v2 sender also holds its [`ClockSync`]: every latency
//! is measured on the receiver's clock, the capture time moved by the
//! estimated offset, and the latency histogram starts again whenever the
//! estimate does (first estimate, clock step). The name a sender gives is cleaned here, once: control characters
//! and bidirectional overrides are replaced and it is shortened, so no log
//! line, file name or tile ever shows what a peer typed raw. The stream does
//! not read sockets or decode.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use event_listener::Event;
use framewire_proto::ClockReply;
use framewire_proto::Limit;
use futures_lite::FutureExt;

use crate::budget::Charge;
use crate::clock::{ClockEstimate, ClockSync, Update};
use crate::full_frame::FullFrame;
use crate::latency::LatencyHistogram;
use crate::pause::Pause;

/// Longest stream name kept, in characters; a longer one is cut.
pub const MAX_NAME_CHARS: usize = 64;

/// A step in sequence numbers bigger than this is a sender that started
/// numbering again (or a peer playing games), not frames it dropped.
const MAX_SEQUENCE_GAP: u64 = 1 << 20;

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

/// The newest frame that decoded, as it came (a JPEG): what the web's
/// viewers are sent and what is saved on exit, without holding decoded
/// pixels.
#[derive(Clone, Debug)]
pub struct Newest {
    pub jpeg: Bytes,
    /// Counts the frames kept so far (from 1): a viewer that has had
    /// `version` waits for a higher one, so it never gets a frame twice.
    pub version: u64,
    pub sequence: u64,
    /// The capture time on the receiver's clock (0: unknown).
    pub capture_time_us: u64,
    pub width: u32,
    pub height: u32,
}

/// The kept frame and the budget it holds.
struct KeptFrame {
    newest: Newest,
    _charge: Charge,
}

/// One stream's state.
pub struct Stream {
    id: u64,
    peer: SocketAddr,
    name: Mutex<String>,
    connected_at: Instant,
    phase: AtomicU8,
    received: AtomicU64,
    keep_alives: AtomicU64,
    bytes: AtomicU64,
    decoded: AtomicU64,
    decode_errors: AtomicU64,
    refused_over_budget: AtomicU64,
    decode_nanos: AtomicU64,
    decoder_waited_nanos: AtomicU64,
    shown: AtomicU64,
    dropped_before_decode: AtomicU64,
    dropped_before_show: AtomicU64,
    sequence_gaps: AtomicU64,
    out_of_order: AtomicU64,
    last_sequence: AtomicU64,
    width: AtomicU64,
    height: AtomicU64,
    /// The latest frame's [`Encoding`], packed; 0: not told.
    encoding: AtomicU32,
    /// Microseconds since `connected_at` of the first and the latest decoded frame.
    first_decoded_us: AtomicU64,
    last_decoded_us: AtomicU64,
    /// The longest time between two decoded frames, in microseconds.
    longest_gap_us: AtomicU64,
    /// The longest time from telling the sender to resume to its next
    /// decoded frame, in microseconds.
    slowest_resume_us: AtomicU64,
    latency: Mutex<LatencyHistogram>,
    clock: Mutex<ClockSync>,
    newest: Mutex<Option<KeptFrame>>,
    /// Notified when a newer frame is kept and when the stream closes.
    changed: Event,
    /// A full-quality frame asked of the sender (S on a reduced stream).
    full_frame: FullFrame,
    /// Whether the sender is asked to send no frames: nobody sees them.
    pause: Pause,
}

/// A stream's counters at one moment, as plain numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Counters {
    pub received: u64,
    pub keep_alives: u64,
    pub bytes: u64,
    pub decoded: u64,
    pub decode_errors: u64,
    /// Frames refused before decoding because the memory budget was spent.
    pub refused_over_budget: u64,
    pub shown: u64,
    pub dropped_before_decode: u64,
    pub dropped_before_show: u64,
    /// Frames the sender numbered but never sent (dropped on its side).
    pub sequence_gaps: u64,
    pub out_of_order: u64,
    pub last_sequence: u64,
    pub width: u64,
    pub height: u64,
    /// Mean time to decode one frame, in milliseconds.
    pub decode_ms_mean: f64,
    /// Time the decoder spent waiting for a frame to decode, in
    /// nanoseconds (the rest of its time it had one: decoding, or waiting
    /// for a core).
    pub decoder_waited_nanos: u64,
    /// Decoded frames per second between the first and the latest one.
    pub decoded_fps: f64,
    /// From the connection to the first decoded frame, in milliseconds.
    pub first_frame_ms: Option<f64>,
    /// The longest time between two decoded frames, in milliseconds (0
    /// before the second): how long the picture stood still at worst (a
    /// pause, while nobody could see it, does not count).
    pub longest_gap_ms: f64,
    /// The longest wait from telling the sender to resume (its tile shown
    /// again) to its next decoded frame, in milliseconds (0: never paused).
    pub slowest_resume_ms: f64,
}

/// How the sender made a stream's latest frame, as it says: the JPEG
/// quality (0: a camera's JPEG, passed through), how many times the
/// picture was halved, and what holds it below the sender's ceiling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encoding {
    pub quality: u8,
    pub halvings: u8,
    pub limit: Limit,
}

impl Encoding {
    /// From a frame's fields; `None` when the sender told nothing (v1).
    /// A peer's nonsense is clamped: quality to 100, halvings to 15, an
    /// unknown limit reads as none.
    pub fn of(quality: u32, halvings: u32, limit: i32) -> Option<Encoding> {
        let limit = Limit::try_from(limit).unwrap_or(Limit::None);
        (quality > 0 || halvings > 0 || limit != Limit::None).then(|| Encoding {
            quality: quality.min(100) as u8,
            halvings: halvings.min(15) as u8,
            limit,
        })
    }

    fn pack(self) -> u32 {
        1 << 24
            | u32::from(self.quality)
            | u32::from(self.halvings) << 8
            | (self.limit as u32) << 16
    }

    fn unpack(packed: u32) -> Option<Encoding> {
        (packed != 0).then(|| Encoding {
            quality: packed as u8,
            halvings: (packed >> 8) as u8 & 0x0F,
            limit: Limit::try_from(((packed >> 16) & 0xFF) as i32).unwrap_or(Limit::None),
        })
    }

    /// E.g. "quality 40, 1/2 size (link)" or "camera JPEG (ceiling)".
    pub fn describe(&self) -> String {
        let picture = if self.quality == 0 {
            "camera JPEG".to_owned()
        } else if self.halvings == 0 {
            format!("quality {}, full size", self.quality)
        } else {
            format!("quality {}, 1/{} size", self.quality, 1u32 << self.halvings)
        };
        format!("{picture} ({})", self.limit.word())
    }
}

impl Counters {
    /// Every frame lost on the way to the screen: not sent, replaced before
    /// decoding, or replaced before being shown.
    pub fn dropped(&self) -> u64 {
        self.dropped_before_decode + self.dropped_before_show
    }
}

impl Stream {
    pub fn new(id: u64, peer: SocketAddr) -> Stream {
        Stream {
            id,
            peer,
            name: Mutex::new(peer.to_string()),
            connected_at: Instant::now(),
            phase: AtomicU8::new(Phase::Live as u8),
            received: AtomicU64::new(0),
            keep_alives: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            decoded: AtomicU64::new(0),
            decode_errors: AtomicU64::new(0),
            refused_over_budget: AtomicU64::new(0),
            decode_nanos: AtomicU64::new(0),
            decoder_waited_nanos: AtomicU64::new(0),
            shown: AtomicU64::new(0),
            dropped_before_decode: AtomicU64::new(0),
            dropped_before_show: AtomicU64::new(0),
            sequence_gaps: AtomicU64::new(0),
            out_of_order: AtomicU64::new(0),
            last_sequence: AtomicU64::new(0),
            width: AtomicU64::new(0),
            height: AtomicU64::new(0),
            encoding: AtomicU32::new(0),
            first_decoded_us: AtomicU64::new(0),
            last_decoded_us: AtomicU64::new(0),
            longest_gap_us: AtomicU64::new(0),
            slowest_resume_us: AtomicU64::new(0),
            latency: Mutex::new(LatencyHistogram::default()),
            clock: Mutex::new(ClockSync::default()),
            newest: Mutex::new(None),
            changed: Event::new(),
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

    /// The stream's name (cleaned), or the peer's address if it gave none.
    pub fn name(&self) -> String {
        self.name
            .lock()
            .map(|name| name.clone())
            .unwrap_or_default()
    }

    /// How logs name the stream: `'porch' (10.0.0.7:40112)`, or just the
    /// address when the sender gave no name.
    pub fn label(&self) -> String {
        let name = self.name();
        let peer = self.peer.to_string();
        if name == peer {
            peer
        } else {
            format!("'{name}' ({peer})")
        }
    }

    /// Takes the name the sender gives its stream, cleaned; true if it
    /// changed. An empty name (the prototype sends none) keeps the address.
    pub fn rename(&self, name: &str) -> bool {
        if name.is_empty() {
            return false;
        }
        let Ok(mut current) = self.name.lock() else {
            return false;
        };
        // Cheap test first: a sender repeats its name in every frame.
        if current.as_str() == name {
            return false;
        }
        let cleaned = clean_name(name);
        if *current == cleaned {
            return false;
        }
        *current = cleaned;
        true
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
    /// [`Phase::Closed`] also sees the decoder's counters and kept picture.
    pub fn decoder_done(&self) {
        self.phase.store(Phase::Closed as u8, Ordering::Release);
        self.changed.notify(usize::MAX);
    }

    /// Total bytes of complete messages read on the connection.
    pub fn note_bytes(&self, total: u64) {
        self.bytes.store(total, Ordering::Relaxed);
    }

    pub fn note_keep_alive(&self) {
        self.keep_alives.fetch_add(1, Ordering::Relaxed);
    }

    /// Notes a received frame's sequence number: gaps are frames the sender
    /// dropped, a step back is out of order. Streams that never number their
    /// frames (the prototype sends 0 every time) count neither, and a jump
    /// too big to be dropped frames (a sender numbering again) is not a gap.
    pub fn note_frame(&self, sequence: u64) {
        let received_before = self.received.fetch_add(1, Ordering::Relaxed);
        let previous = self.last_sequence.swap(sequence, Ordering::Relaxed);
        if received_before == 0 || (sequence == 0 && previous == 0) {
            return;
        }
        match sequence.checked_sub(previous) {
            Some(step) if (1..=MAX_SEQUENCE_GAP).contains(&step) => {
                self.sequence_gaps.fetch_add(step - 1, Ordering::Relaxed);
            }
            _ => {
                self.out_of_order.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The slot before the decoder has replaced `total` frames so far.
    /// How the sender made the latest frame (`None`: it did not say).
    pub fn note_encoding(&self, encoding: Option<Encoding>) {
        self.encoding
            .store(encoding.map_or(0, Encoding::pack), Ordering::Relaxed);
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

    /// How the sender made the latest frame, if it said.
    pub fn encoding(&self) -> Option<Encoding> {
        Encoding::unpack(self.encoding.load(Ordering::Relaxed))
    }

    pub fn note_dropped_before_decode(&self, total: u64) {
        self.dropped_before_decode.store(total, Ordering::Relaxed);
    }

    /// A decoded picture was replaced before the window showed it.
    pub fn note_dropped_before_show(&self) {
        self.dropped_before_show.fetch_add(1, Ordering::Relaxed);
    }

    pub fn note_shown(&self) {
        self.shown.fetch_add(1, Ordering::Relaxed);
    }

    /// Notes a frame that did not decode; returns the errors so far.
    pub fn note_decode_error(&self) -> u64 {
        self.decode_errors.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Notes a frame refused for the memory budget; returns how many so far.
    pub fn note_refused_over_budget(&self) -> u64 {
        self.refused_over_budget.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// A clock probe stamped `t1_us` went to the sender; returns when the
    /// next one is due.
    pub fn clock_probe_sent(&self, t1_us: u64) -> Duration {
        let gap_us = match self.clock.lock() {
            Ok(mut clock) => clock.probe_sent(t1_us),
            Err(_) => crate::clock::STEADY_GAP_US,
        };
        Duration::from_micros(gap_us)
    }

    /// The sender's answer to a probe, read at `t4_us`. A first or a new
    /// estimate (after a clock step) starts the latency histogram again, so
    /// it never mixes figures of two clock bases.
    pub fn clock_reply(&self, reply: &ClockReply, t4_us: u64) -> Update {
        let Ok(mut clock) = self.clock.lock() else {
            return Update::Ignored;
        };
        let update = clock.reply(reply, t4_us);
        if matches!(update, Update::First | Update::Restarted)
            && let Ok(mut latency) = self.latency.lock()
        {
            latency.restart();
        }
        update
    }

    /// The sender's clock minus ours now, if it is measured (a v2 sender
    /// that has answered a probe).
    pub fn clock(&self) -> Option<ClockEstimate> {
        let now_us = framewire_proto::unix_time_us();
        self.clock.lock().ok()?.estimate(now_us)
    }

    /// How many times a clock step made the estimate start again.
    pub fn clock_restarts(&self) -> u64 {
        self.clock.lock().map_or(0, |clock| clock.restarts())
    }

    /// A capture time of the sender's clock on ours (0 stays unknown);
    /// unchanged while no offset is measured.
    pub fn receiver_time(&self, capture_time_us: u64) -> u64 {
        match (capture_time_us, self.clock()) {
            (0, _) | (_, None) => capture_time_us,
            (capture, Some(clock)) => capture.saturating_add_signed(-clock.offset_us),
        }
    }

    /// Notes that the decoder waited `waited` for its next frame.
    pub fn note_decoder_waited(&self, waited: Duration) {
        self.decoder_waited_nanos
            .fetch_add(waited.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Notes a decoded frame, the time decoding took, and its
    /// capture→decoded latency (`capture_time_us` on the receiver's clock,
    /// as [`Stream::receiver_time`] gives it).
    pub fn note_decoded(&self, width: u32, height: u32, capture_time_us: u64, took: Duration) {
        self.decode_nanos
            .fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
        let now_us = framewire_proto::unix_time_us();
        if capture_time_us != 0
            && now_us >= capture_time_us
            && let Ok(mut latency) = self.latency.lock()
        {
            latency.record(now_us - capture_time_us);
        }
        let since_connect = self.connected_at.elapsed().as_micros() as u64;
        let previous = self.last_decoded_us.swap(since_connect, Ordering::Relaxed);
        // A pause is no gap (nobody was looking); the wait for the first
        // frame after it is measured instead.
        let resumed = self
            .pause
            .resumed_at()
            .filter(|&resumed| resumed > self.connected_at + Duration::from_micros(previous));
        if self.decoded.fetch_add(1, Ordering::Relaxed) == 0 {
            self.first_decoded_us
                .store(since_connect, Ordering::Relaxed);
        } else if let Some(resumed) = resumed {
            self.slowest_resume_us
                .fetch_max(resumed.elapsed().as_micros() as u64, Ordering::Relaxed);
        } else {
            self.longest_gap_us
                .fetch_max(since_connect.saturating_sub(previous), Ordering::Relaxed);
        }
        self.width.store(width as u64, Ordering::Relaxed);
        self.height.store(height as u64, Ordering::Relaxed);
    }

    /// Time since the latest decoded frame (since the connection, before the
    /// first one).
    pub fn since_last_decoded(&self) -> Duration {
        let last_us = self.last_decoded_us.load(Ordering::Relaxed);
        self.connected_at
            .elapsed()
            .saturating_sub(Duration::from_micros(last_us))
    }

    /// Keeps the newest frame that decoded (with the budget its bytes
    /// hold), for viewers and for a snapshot on exit, and wakes the viewers
    /// waiting for it. Its version is set here.
    pub fn keep_newest(&self, mut newest: Newest, charge: Charge) {
        if let Ok(mut kept) = self.newest.lock() {
            newest.version = kept.as_ref().map_or(0, |k| k.newest.version) + 1;
            *kept = Some(KeptFrame {
                newest,
                _charge: charge,
            });
        }
        self.changed.notify(usize::MAX);
    }

    /// The newest frame that decoded, if one is kept.
    pub fn newest(&self) -> Option<Newest> {
        let kept = self.newest.lock().ok()?;
        kept.as_ref().map(|kept| kept.newest.clone())
    }

    /// Waits, up to `timeout`, for a frame newer than `version`; `None` if
    /// none came in time or the stream has closed.
    pub async fn newer_than(&self, version: u64, timeout: Duration) -> Option<Newest> {
        let deadline = Instant::now() + timeout;
        loop {
            // Listen first, then look: a frame kept in between still wakes us.
            let listener = self.changed.listen();
            if let Some(newest) = self.newest().filter(|n| n.version > version) {
                return Some(newest);
            }
            if self.phase() == Phase::Closed {
                return None;
            }
            let woken = async {
                listener.await;
                true
            }
            .or(async {
                smol::Timer::at(deadline).await;
                false
            })
            .await;
            if !woken {
                return None;
            }
        }
    }

    /// Lets go of the kept frame (and its charge).
    pub fn forget_newest(&self) {
        if let Ok(mut kept) = self.newest.lock() {
            *kept = None;
        }
    }

    /// A copy of the latency histogram so far.
    pub fn latency(&self) -> LatencyHistogram {
        self.latency
            .lock()
            .map(|latency| latency.clone())
            .unwrap_or_default()
    }

    /// All counters now. A decoder's counters are complete once
    /// [`Stream::phase`] says [`Phase::Closed`] (Acquire, in `phase`).
    pub fn counters(&self) -> Counters {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let decoded = get(&self.decoded);
        let (first, last) = (get(&self.first_decoded_us), get(&self.last_decoded_us));
        let span_us = last.saturating_sub(first);
        Counters {
            received: get(&self.received),
            keep_alives: get(&self.keep_alives),
            bytes: get(&self.bytes),
            decoded,
            decode_errors: get(&self.decode_errors),
            refused_over_budget: get(&self.refused_over_budget),
            shown: get(&self.shown),
            dropped_before_decode: get(&self.dropped_before_decode),
            dropped_before_show: get(&self.dropped_before_show),
            sequence_gaps: get(&self.sequence_gaps),
            out_of_order: get(&self.out_of_order),
            last_sequence: get(&self.last_sequence),
            width: get(&self.width),
            height: get(&self.height),
            decode_ms_mean: get(&self.decode_nanos) as f64 / 1e6 / decoded.max(1) as f64,
            decoder_waited_nanos: get(&self.decoder_waited_nanos),
            decoded_fps: if decoded < 2 || span_us == 0 {
                0.0
            } else {
                (decoded - 1) as f64 * 1e6 / span_us as f64
            },
            first_frame_ms: (decoded > 0).then(|| first as f64 / 1000.0),
            longest_gap_ms: get(&self.longest_gap_us) as f64 / 1000.0,
            slowest_resume_ms: get(&self.slowest_resume_us) as f64 / 1000.0,
        }
    }
}

/// Whether the `count`th time something repeats deserves a log line: the
/// first five, then every hundredth, so a peer that repeats a fault cannot
/// flood the log while the log still shows it goes on.
pub fn worth_a_log_line(count: u64) -> bool {
    count <= 5 || count.is_multiple_of(100)
}

/// `name` as logs, tiles and file names may show it: control characters
/// (CR, LF, ANSI escapes) and bidirectional overrides become `?`, and it is
/// cut to [`MAX_NAME_CHARS`] characters (`…` marks the cut).
pub fn clean_name(name: &str) -> String {
    let mut cleaned: String = name
        .chars()
        .take(MAX_NAME_CHARS)
        .map(|c| {
            let bidi = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}');
            if c.is_control() || bidi { '?' } else { c }
        })
        .collect();
    if name.chars().nth(MAX_NAME_CHARS).is_some() {
        cleaned.push('…');
    }
    cleaned
}

#[cfg(test)]
mod tests {
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
