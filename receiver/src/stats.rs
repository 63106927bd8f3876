//! What the receiver counts, per stream, and the report it prints on exit.
//!
//! Every connection gets a [`StreamStats`] that the connection task, its
//! decoder and the view update with lock-free counters (the latency histogram
//! takes a short lock). At exit the registry of all streams, live or gone,
//! becomes a [`Report`]: a human table on stdout and, with `--stats-json`,
//! the same figures as JSON. Counting never slows or changes the stream.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::snapshot::Picture;

/// Latency buckets per power of two: about 1.5 % resolution.
const SUB_BUCKETS: usize = 64;
/// Powers of two covered, in microseconds: up to about 2^36 µs (19 hours).
const OCTAVES: usize = 36;

/// A histogram of latencies in microseconds with fixed memory, so a stream
/// can run for months without the stats growing.
#[derive(Clone)]
pub struct LatencyHistogram {
    counts: Vec<u64>,
    total: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            counts: vec![0; OCTAVES * SUB_BUCKETS],
            total: 0,
        }
    }
}

impl LatencyHistogram {
    pub fn record(&mut self, micros: u64) {
        let index = Self::bucket_of(micros).min(self.counts.len() - 1);
        self.counts[index] += 1;
        self.total += 1;
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    /// The latencies recorded since `earlier`, a copy of this histogram.
    pub fn since(&self, earlier: &LatencyHistogram) -> LatencyHistogram {
        LatencyHistogram {
            counts: self
                .counts
                .iter()
                .zip(&earlier.counts)
                .map(|(now, before)| now.saturating_sub(*before))
                .collect(),
            total: self.total.saturating_sub(earlier.total),
        }
    }

    /// The latency at `quantile` (0..=1) in milliseconds, or None if empty.
    pub fn quantile_ms(&self, quantile: f64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((quantile * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(Self::midpoint_of(index) / 1000.0);
            }
        }
        None
    }

    /// Values below 64 µs get a bucket each; above, each power of two is
    /// split into 64 equal buckets.
    fn bucket_of(micros: u64) -> usize {
        if micros < SUB_BUCKETS as u64 {
            return micros as usize;
        }
        let octave = 63 - micros.leading_zeros() as usize; // >= 6
        let offset = (micros >> (octave - 6)) as usize - SUB_BUCKETS;
        (octave - 5) * SUB_BUCKETS + offset
    }

    fn midpoint_of(index: usize) -> f64 {
        if index < SUB_BUCKETS {
            return index as f64;
        }
        let octave = index / SUB_BUCKETS + 5;
        let offset = index % SUB_BUCKETS;
        let width = (1u64 << (octave - 6)) as f64;
        (SUB_BUCKETS + offset) as f64 * width + width / 2.0
    }
}

/// The counters of one connection.
pub struct StreamStats {
    pub id: u64,
    pub peer: SocketAddr,
    pub name: Mutex<String>,
    pub connected_at: Instant,
    pub received: AtomicU64,
    pub keep_alives: AtomicU64,
    pub bytes: AtomicU64,
    pub decoded: AtomicU64,
    pub decode_errors: AtomicU64,
    /// Time spent decoding, over all decoded frames.
    pub decode_nanos: AtomicU64,
    pub shown: AtomicU64,
    pub dropped_before_decode: AtomicU64,
    pub dropped_before_show: AtomicU64,
    pub sequence_gaps: AtomicU64,
    pub out_of_order: AtomicU64,
    pub last_sequence: AtomicU64,
    pub width: AtomicU64,
    pub height: AtomicU64,
    pub latency: Mutex<LatencyHistogram>,
    /// The newest decoded picture, kept only with `--snapshot-dir`.
    pub last_picture: Mutex<Picture>,
    pub connected: std::sync::atomic::AtomicBool,
    /// Set once the stream's decoder has taken its last frame (or never started).
    pub decoder_finished: std::sync::atomic::AtomicBool,
    /// Microseconds since `connected_at` of the first and the latest decoded frame.
    pub first_decoded_us: AtomicU64,
    pub last_decoded_us: AtomicU64,
}

impl StreamStats {
    pub fn new(id: u64, peer: SocketAddr) -> StreamStats {
        StreamStats {
            id,
            peer,
            name: Mutex::new(peer.to_string()),
            connected_at: Instant::now(),
            received: AtomicU64::new(0),
            keep_alives: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            decoded: AtomicU64::new(0),
            decode_errors: AtomicU64::new(0),
            decode_nanos: AtomicU64::new(0),
            shown: AtomicU64::new(0),
            dropped_before_decode: AtomicU64::new(0),
            dropped_before_show: AtomicU64::new(0),
            sequence_gaps: AtomicU64::new(0),
            out_of_order: AtomicU64::new(0),
            last_sequence: AtomicU64::new(0),
            width: AtomicU64::new(0),
            height: AtomicU64::new(0),
            latency: Mutex::new(LatencyHistogram::default()),
            last_picture: Mutex::new(Picture::default()),
            connected: std::sync::atomic::AtomicBool::new(true),
            decoder_finished: std::sync::atomic::AtomicBool::new(false),
            first_decoded_us: AtomicU64::new(0),
            last_decoded_us: AtomicU64::new(0),
        }
    }

    pub fn add(counter: &AtomicU64, amount: u64) {
        counter.fetch_add(amount, Ordering::Relaxed);
    }

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

    /// Takes the name the sender gives its stream; true if it changed.
    /// An empty name (the prototype sends none) keeps the peer address.
    pub fn rename(&self, name: &str) -> bool {
        let Ok(mut current) = self.name.lock() else {
            return false;
        };
        if name.is_empty() || *current == name {
            return false;
        }
        name.clone_into(&mut current);
        true
    }

    /// Notes a received frame's sequence number: gaps are frames the sender
    /// dropped, a step back is out of order. Streams that never number their
    /// frames (the prototype sends 0 every time) count neither.
    pub fn note_sequence(&self, sequence: u64) {
        let received_before = self.received.fetch_add(1, Ordering::Relaxed);
        let previous = self.last_sequence.swap(sequence, Ordering::Relaxed);
        if received_before == 0 || (sequence == 0 && previous == 0) {
            return;
        }
        if sequence > previous {
            Self::add(&self.sequence_gaps, sequence - previous - 1);
        } else {
            Self::add(&self.out_of_order, 1);
        }
    }

    /// Notes a decoded frame, the time decoding took, and its
    /// capture→decoded latency.
    pub fn note_decoded(
        &self,
        width: u32,
        height: u32,
        capture_time_us: u64,
        decode_time: Duration,
    ) {
        Self::add(&self.decode_nanos, decode_time.as_nanos() as u64);
        let now_us = framewire_proto::unix_time_us();
        if capture_time_us != 0
            && now_us >= capture_time_us
            && let Ok(mut latency) = self.latency.lock()
        {
            latency.record(now_us - capture_time_us);
        }
        let since_connect = self.connected_at.elapsed().as_micros() as u64;
        if self.decoded.fetch_add(1, Ordering::Relaxed) == 0 {
            self.first_decoded_us
                .store(since_connect, Ordering::Relaxed);
        }
        self.last_decoded_us.store(since_connect, Ordering::Relaxed);
        self.width.store(width as u64, Ordering::Relaxed);
        self.height.store(height as u64, Ordering::Relaxed);
    }

    /// Decoded frames per second between the first and the latest decoded frame.
    pub fn decoded_fps(&self) -> f64 {
        let decoded = self.decoded.load(Ordering::Relaxed);
        let span_us = self.last_decoded_us.load(Ordering::Relaxed)
            - self
                .first_decoded_us
                .load(Ordering::Relaxed)
                .min(self.last_decoded_us.load(Ordering::Relaxed));
        if decoded < 2 || span_us == 0 {
            return 0.0;
        }
        (decoded - 1) as f64 * 1e6 / span_us as f64
    }

    /// Median capture→decoded latency so far, in milliseconds.
    pub fn latency_p50_ms(&self) -> Option<f64> {
        self.latency.lock().ok()?.quantile_ms(0.5)
    }
}

/// Disconnected streams kept for the exit report; older ones are folded
/// into [`Report::earlier`], so a sender that reconnects every few minutes
/// for months does not make the receiver grow.
pub const FINISHED_STREAMS_KEPT: usize = 32;

/// The streams the receiver knows: every connected one, the latest
/// [`FINISHED_STREAMS_KEPT`] disconnected ones, and the totals of the rest.
#[derive(Default)]
pub struct Registry {
    streams: Mutex<Vec<Arc<StreamStats>>>,
    earlier: Mutex<EarlierStreams>,
    next_id: AtomicU64,
}

/// Totals of disconnected streams no longer listed one by one.
#[derive(Serialize, Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct EarlierStreams {
    pub streams: u64,
    pub frames_received: u64,
    pub frames_decoded: u64,
    pub frames_shown: u64,
    pub frames_dropped: u64,
    pub decode_errors: u64,
    pub bytes: u64,
}

impl EarlierStreams {
    /// Counts `stream` in these totals.
    fn add(&mut self, stream: &StreamReport) {
        self.streams += 1;
        self.frames_received += stream.frames_received;
        self.frames_decoded += stream.frames_decoded;
        self.frames_shown += stream.frames_shown;
        self.frames_dropped += stream.frames_dropped;
        self.decode_errors += stream.decode_errors;
        self.bytes += stream.bytes;
    }
}

impl Registry {
    /// Registers a new connection from `peer`.
    pub fn open(&self, peer: SocketAddr) -> Arc<StreamStats> {
        let stream = Arc::new(StreamStats::new(
            self.next_id.fetch_add(1, Ordering::Relaxed),
            peer,
        ));
        if let Ok(mut streams) = self.streams.lock() {
            let finished = streams
                .iter()
                .filter(|s| !s.connected.load(Ordering::Relaxed))
                .count();
            if finished >= FINISHED_STREAMS_KEPT
                && let Some(oldest) = streams
                    .iter()
                    .position(|s| !s.connected.load(Ordering::Relaxed))
            {
                let retired = StreamReport::of(&streams.remove(oldest));
                if let Ok(mut earlier) = self.earlier.lock() {
                    earlier.add(&retired);
                }
            }
            streams.push(stream.clone());
        }
        stream
    }

    /// All streams, oldest first.
    pub fn all(&self) -> Vec<Arc<StreamStats>> {
        self.streams
            .lock()
            .map(|streams| streams.clone())
            .unwrap_or_default()
    }

    /// Waits, up to `timeout`, until every stream whose sender has gone has
    /// decoded the frames it still held, so the report and the last pictures
    /// on exit include everything received. Live streams are not waited for.
    pub fn wait_for_closed_streams_to_decode(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let busy = |stream: &Arc<StreamStats>| {
            !stream.connected.load(Ordering::Relaxed)
                && !stream.decoder_finished.load(Ordering::Acquire)
        };
        while self.all().iter().any(busy) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn report(&self) -> Report {
        let streams: Vec<StreamReport> = self.all().iter().map(|s| StreamReport::of(s)).collect();
        let earlier = self.earlier.lock().map(|e| *e).unwrap_or_default();
        let mut totals = earlier;
        for stream in &streams {
            totals.add(stream);
        }
        Report {
            frames_received: totals.frames_received,
            frames_decoded: totals.frames_decoded,
            frames_shown: totals.frames_shown,
            frames_dropped: totals.frames_dropped,
            decode_errors: totals.decode_errors,
            bytes: totals.bytes,
            earlier,
            streams,
        }
    }
}

/// The figures of one stream at exit.
#[derive(Serialize, Debug)]
pub struct StreamReport {
    pub id: u64,
    pub name: String,
    pub peer: String,
    pub frames_received: u64,
    pub keep_alives: u64,
    pub frames_decoded: u64,
    pub frames_shown: u64,
    /// Frames replaced by a newer one before being decoded or shown.
    pub frames_dropped: u64,
    pub dropped_before_decode: u64,
    pub dropped_before_show: u64,
    pub decode_errors: u64,
    /// Frames the sender numbered but never sent (dropped on its side).
    pub sequence_gaps: u64,
    pub out_of_order: u64,
    pub last_sequence: u64,
    pub bytes: u64,
    pub width: u64,
    pub height: u64,
    pub decoded_fps: f64,
    /// Mean time to decode one frame.
    pub decode_ms_mean: f64,
    pub latency_samples: u64,
    pub latency_ms_p50: Option<f64>,
    pub latency_ms_p95: Option<f64>,
    pub latency_ms_p99: Option<f64>,
}

impl StreamReport {
    fn of(stream: &StreamStats) -> StreamReport {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let (samples, p50, p95, p99) = match stream.latency.lock() {
            Ok(latency) => (
                latency.count(),
                latency.quantile_ms(0.50),
                latency.quantile_ms(0.95),
                latency.quantile_ms(0.99),
            ),
            Err(_) => (0, None, None, None),
        };
        let dropped_before_decode = get(&stream.dropped_before_decode);
        let dropped_before_show = get(&stream.dropped_before_show);
        StreamReport {
            id: stream.id,
            name: stream.name(),
            peer: stream.peer.to_string(),
            frames_received: get(&stream.received),
            keep_alives: get(&stream.keep_alives),
            frames_decoded: get(&stream.decoded),
            frames_shown: get(&stream.shown),
            frames_dropped: dropped_before_decode + dropped_before_show,
            dropped_before_decode,
            dropped_before_show,
            decode_errors: get(&stream.decode_errors),
            sequence_gaps: get(&stream.sequence_gaps),
            out_of_order: get(&stream.out_of_order),
            last_sequence: get(&stream.last_sequence),
            bytes: get(&stream.bytes),
            width: get(&stream.width),
            height: get(&stream.height),
            decoded_fps: stream.decoded_fps(),
            decode_ms_mean: get(&stream.decode_nanos) as f64
                / 1e6
                / get(&stream.decoded).max(1) as f64,
            latency_samples: samples,
            latency_ms_p50: p50,
            latency_ms_p95: p95,
            latency_ms_p99: p99,
        }
    }
}

/// The figures of the whole run at exit.
#[derive(Serialize, Debug)]
pub struct Report {
    pub frames_received: u64,
    pub frames_decoded: u64,
    pub frames_shown: u64,
    pub frames_dropped: u64,
    pub decode_errors: u64,
    pub bytes: u64,
    /// Disconnected streams beyond the latest [`FINISHED_STREAMS_KEPT`],
    /// counted in the totals above but not listed.
    pub earlier: EarlierStreams,
    pub streams: Vec<StreamReport>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |value: Option<f64>| value.map_or("-".to_owned(), |v| format!("{v:.1}"));
        writeln!(
            f,
            "framewire-receiver: {} frames received, {} decoded, {} shown, {} dropped, {} decode errors, {:.1} MB",
            self.frames_received,
            self.frames_decoded,
            self.frames_shown,
            self.frames_dropped,
            self.decode_errors,
            self.bytes as f64 / 1e6
        )?;
        if self.earlier.streams > 0 {
            writeln!(
                f,
                "  {} earlier streams (not listed): {} frames received, {} decoded",
                self.earlier.streams, self.earlier.frames_received, self.earlier.frames_decoded
            )?;
        }
        for s in &self.streams {
            writeln!(
                f,
                "  stream {} '{}' from {}: {}x{}, {} received, {} decoded, {} shown, {} dropped, \
                 {} decode errors, {} missing from the sender, {:.1} fps, decode {:.2} ms/frame, latency ms p50 {} p95 {} p99 {}",
                s.id,
                s.name,
                s.peer,
                s.width,
                s.height,
                s.frames_received,
                s.frames_decoded,
                s.frames_shown,
                s.frames_dropped,
                s.decode_errors,
                s.sequence_gaps,
                s.decoded_fps,
                s.decode_ms_mean,
                ms(s.latency_ms_p50),
                ms(s.latency_ms_p95),
                ms(s.latency_ms_p99)
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receiver_up_for_months_keeps_only_the_latest_finished_streams() {
        let registry = Registry::default();
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let live = registry.open(peer);
        StreamStats::add(&live.received, 1);
        for _ in 0..500 {
            let stream = registry.open(peer);
            StreamStats::add(&stream.received, 10);
            stream.connected.store(false, Ordering::Relaxed);
        }
        let report = registry.report();
        assert_eq!(report.streams.len(), FINISHED_STREAMS_KEPT + 1);
        assert_eq!(report.streams[0].id, live.id, "connected streams stay");
        assert_eq!(report.earlier.streams, 500 - FINISHED_STREAMS_KEPT as u64);
        assert_eq!(
            report.frames_received,
            1 + 500 * 10,
            "nothing lost from the totals"
        );
    }

    #[test]
    fn quantiles_are_within_two_percent() {
        let mut histogram = LatencyHistogram::default();
        for micros in 1..=10_000u64 {
            histogram.record(micros * 10); // 10 µs .. 100 ms, uniform
        }
        for (quantile, expected_ms) in [(0.5, 50.0), (0.95, 95.0), (0.99, 99.0)] {
            let got = histogram.quantile_ms(quantile).unwrap();
            assert!(
                (got - expected_ms).abs() / expected_ms < 0.02,
                "q{quantile}: {got}"
            );
        }
        assert_eq!(histogram.count(), 10_000);
    }

    #[test]
    fn an_empty_histogram_has_no_quantiles_and_huge_values_do_not_overflow() {
        let mut histogram = LatencyHistogram::default();
        assert_eq!(histogram.quantile_ms(0.5), None);
        histogram.record(u64::MAX);
        assert!(histogram.quantile_ms(0.5).unwrap() > 1e6);
    }

    #[test]
    fn sequence_gaps_and_reordering_are_counted_but_the_prototypes_zeros_are_not() {
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let stream = StreamStats::new(0, peer);
        for sequence in [5, 6, 9, 8] {
            stream.note_sequence(sequence);
        }
        assert_eq!(stream.sequence_gaps.load(Ordering::Relaxed), 2);
        assert_eq!(stream.out_of_order.load(Ordering::Relaxed), 1);

        let prototype = StreamStats::new(1, peer);
        for _ in 0..5 {
            prototype.note_sequence(0);
        }
        assert_eq!(prototype.out_of_order.load(Ordering::Relaxed), 0);
        assert_eq!(prototype.received.load(Ordering::Relaxed), 5);
    }
}
