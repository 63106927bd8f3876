//! A stream's counters: frames received, decoded, shown and dropped on
//! the way, bytes, sequence gaps, decode times, gaps in the picture and
//! resumes, kept in atomics that the connection, the decoder and the window
//! bump through [`Stream`]'s `note_` methods, and read as one plain
//! [`Counters`] snapshot. It decides nothing from them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use framewire_proto::lock::lock;

use super::Stream;

/// A step in sequence numbers bigger than this is a sender that started
/// numbering again (or a peer playing games), not frames it dropped.
const MAX_SEQUENCE_GAP: u64 = 1 << 20;

/// The counters themselves; a field of [`Stream`].
#[derive(Default)]
pub(super) struct Counts {
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
    /// Microseconds since the connection of the first and the latest decoded frame.
    first_decoded_us: AtomicU64,
    last_decoded_us: AtomicU64,
    /// The longest time between two decoded frames, in microseconds.
    longest_gap_us: AtomicU64,
    /// The longest time from telling the sender to resume to its next
    /// decoded frame, in microseconds.
    slowest_resume_us: AtomicU64,
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

impl Counters {
    /// Every frame lost on the way to the screen: not sent, replaced before
    /// decoding, or replaced before being shown.
    pub fn dropped(&self) -> u64 {
        self.dropped_before_decode + self.dropped_before_show
    }
}

impl Stream {
    /// Total bytes of complete messages read on the connection.
    pub fn note_bytes(&self, total: u64) {
        self.counts.bytes.store(total, Ordering::Relaxed);
    }

    pub fn note_keep_alive(&self) {
        self.counts.keep_alives.fetch_add(1, Ordering::Relaxed);
    }

    /// Notes a received frame's sequence number: gaps are frames the sender
    /// dropped, a step back is out of order. Streams that never number their
    /// frames (the prototype sends 0 every time) count neither, and a jump
    /// too big to be dropped frames (a sender numbering again) is not a gap.
    pub fn note_frame(&self, sequence: u64) {
        let received_before = self.counts.received.fetch_add(1, Ordering::Relaxed);
        let previous = self.counts.last_sequence.swap(sequence, Ordering::Relaxed);
        if received_before == 0 || (sequence == 0 && previous == 0) {
            return;
        }
        match sequence.checked_sub(previous) {
            Some(step) if (1..=MAX_SEQUENCE_GAP).contains(&step) => {
                self.counts
                    .sequence_gaps
                    .fetch_add(step - 1, Ordering::Relaxed);
            }
            _ => {
                self.counts.out_of_order.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The slot before the decoder has replaced `total` frames so far.
    pub fn note_dropped_before_decode(&self, total: u64) {
        self.counts
            .dropped_before_decode
            .store(total, Ordering::Relaxed);
    }

    /// A decoded picture was replaced before the window showed it.
    pub fn note_dropped_before_show(&self) {
        self.counts
            .dropped_before_show
            .fetch_add(1, Ordering::Relaxed);
    }

    pub fn note_shown(&self) {
        self.counts.shown.fetch_add(1, Ordering::Relaxed);
    }

    /// Notes a frame that did not decode; returns the errors so far.
    pub fn note_decode_error(&self) -> u64 {
        self.counts.decode_errors.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Notes a frame refused for the memory budget; returns how many so far.
    pub fn note_refused_over_budget(&self) -> u64 {
        self.counts
            .refused_over_budget
            .fetch_add(1, Ordering::Relaxed)
            + 1
    }

    /// Notes that the decoder waited `waited` for its next frame.
    pub fn note_decoder_waited(&self, waited: Duration) {
        self.counts
            .decoder_waited_nanos
            .fetch_add(waited.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Notes a decoded frame, the time decoding took, and its
    /// capture→decoded latency (`capture_time_us` on the receiver's clock,
    /// as [`Stream::receiver_time`] gives it).
    pub fn note_decoded(&self, width: u32, height: u32, capture_time_us: u64, took: Duration) {
        self.counts
            .decode_nanos
            .fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
        let now_us = framewire_proto::unix_time_us();
        if capture_time_us != 0 && now_us >= capture_time_us {
            lock(&self.latency).record(now_us - capture_time_us);
        }
        let since_connect = self.connected_at.elapsed().as_micros() as u64;
        let previous = self
            .counts
            .last_decoded_us
            .swap(since_connect, Ordering::Relaxed);
        // A pause is no gap (nobody was looking); the wait for the first
        // frame after it is measured instead.
        let resumed = self
            .pause
            .resumed_at()
            .filter(|&resumed| resumed > self.connected_at + Duration::from_micros(previous));
        if self.counts.decoded.fetch_add(1, Ordering::Relaxed) == 0 {
            self.counts
                .first_decoded_us
                .store(since_connect, Ordering::Relaxed);
        } else if let Some(resumed) = resumed {
            self.counts
                .slowest_resume_us
                .fetch_max(resumed.elapsed().as_micros() as u64, Ordering::Relaxed);
        } else {
            self.counts
                .longest_gap_us
                .fetch_max(since_connect.saturating_sub(previous), Ordering::Relaxed);
        }
        self.counts.width.store(width as u64, Ordering::Relaxed);
        self.counts.height.store(height as u64, Ordering::Relaxed);
    }

    /// Time since the latest decoded frame (since the connection, before the
    /// first one).
    pub fn since_last_decoded(&self) -> Duration {
        let last_us = self.counts.last_decoded_us.load(Ordering::Relaxed);
        self.connected_at
            .elapsed()
            .saturating_sub(Duration::from_micros(last_us))
    }

    /// All counters now. A decoder's counters are complete once
    /// [`Stream::phase`] says [`Phase::Closed`] (Acquire, in `phase`).
    pub fn counters(&self) -> Counters {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let decoded = get(&self.counts.decoded);
        let (first, last) = (
            get(&self.counts.first_decoded_us),
            get(&self.counts.last_decoded_us),
        );
        let span_us = last.saturating_sub(first);
        Counters {
            received: get(&self.counts.received),
            keep_alives: get(&self.counts.keep_alives),
            bytes: get(&self.counts.bytes),
            decoded,
            decode_errors: get(&self.counts.decode_errors),
            refused_over_budget: get(&self.counts.refused_over_budget),
            shown: get(&self.counts.shown),
            dropped_before_decode: get(&self.counts.dropped_before_decode),
            dropped_before_show: get(&self.counts.dropped_before_show),
            sequence_gaps: get(&self.counts.sequence_gaps),
            out_of_order: get(&self.counts.out_of_order),
            last_sequence: get(&self.counts.last_sequence),
            width: get(&self.counts.width),
            height: get(&self.counts.height),
            decode_ms_mean: get(&self.counts.decode_nanos) as f64 / 1e6 / decoded.max(1) as f64,
            decoder_waited_nanos: get(&self.counts.decoder_waited_nanos),
            decoded_fps: if decoded < 2 || span_us == 0 {
                0.0
            } else {
                (decoded - 1) as f64 * 1e6 / span_us as f64
            },
            first_frame_ms: (decoded > 0).then(|| first as f64 / 1000.0),
            longest_gap_ms: get(&self.counts.longest_gap_us) as f64 / 1000.0,
            slowest_resume_ms: get(&self.counts.slowest_resume_us) as f64 / 1000.0,
        }
    }
}
