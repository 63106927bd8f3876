//! The streams the receiver knows, and the report it prints on exit.
//!
//! The [`Registry`] lists every live stream and the finished ones that
//! matter (the [`FINISHED_STREAMS_KEPT`] with the most frames); the rest are
//! folded into totals, so connection churn neither grows the receiver nor
//! pushes a real stream out of the report. Each stream it opens comes with a
//! [`StreamGuard`]; on exit [`Registry::wait_for_streams_to_end`] waits (with
//! a bound) until every guard is dropped, which happens when a stream's
//! connection and decoder have both finished. At exit the registry becomes a
//! [`Report`]: a human table on stdout and, with `--stats-json`, the same
//! figures as JSON.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use framewire_proto::deadline::within;
use framewire_proto::lock::lock;
use serde::Serialize;

use crate::stream::{Counters, Stream};

/// Finished streams listed one by one in the report; the others are folded
/// into [`Report::earlier`], so a sender that reconnects every few minutes
/// for months does not make the receiver grow.
pub const FINISHED_STREAMS_KEPT: usize = 32;

/// The streams the receiver knows: every connected one, the finished ones
/// with the most frames, and the totals of the rest.
pub struct Registry {
    streams: Mutex<Vec<Arc<Stream>>>,
    earlier: Mutex<EarlierStreams>,
    next_id: AtomicU64,
    /// Cloned into every [`StreamGuard`]; taken away at exit, so that the
    /// channel closes when the last guard is dropped.
    guards: Mutex<Option<async_channel::Sender<()>>>,
    all_guards_dropped: async_channel::Receiver<()>,
}

/// Held by whatever works for a stream (its connection task and its
/// decoder); the exit waits until every guard is gone.
pub struct StreamGuard {
    _open: Option<async_channel::Sender<()>>,
}

impl Default for Registry {
    fn default() -> Self {
        let (guards, all_guards_dropped) = async_channel::bounded(1);
        Registry {
            streams: Mutex::default(),
            earlier: Mutex::default(),
            next_id: AtomicU64::new(0),
            guards: Mutex::new(Some(guards)),
            all_guards_dropped,
        }
    }
}

/// Figures summed over streams: the report's first line, and what
/// [`EarlierStreams`] keeps of the streams it no longer lists.
#[derive(Serialize, Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub frames_received: u64,
    pub frames_decoded: u64,
    pub frames_shown: u64,
    pub frames_dropped: u64,
    pub decode_errors: u64,
    pub refused_over_budget: u64,
    pub bytes: u64,
}

/// Totals of disconnected streams no longer listed one by one.
#[derive(Serialize, Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct EarlierStreams {
    pub streams: u64,
    #[serde(flatten)]
    pub totals: Totals,
}

impl EarlierStreams {
    /// Counts `stream` here, where it is no longer listed.
    fn add(&mut self, stream: &StreamReport) {
        self.streams += 1;
        self.totals.add(stream);
    }
}

impl Totals {
    /// Counts `stream` in these totals.
    fn add(&mut self, stream: &StreamReport) {
        self.frames_received += stream.frames_received;
        self.frames_decoded += stream.frames_decoded;
        self.frames_shown += stream.frames_shown;
        self.frames_dropped += stream.frames_dropped;
        self.decode_errors += stream.decode_errors;
        self.refused_over_budget += stream.refused_over_budget;
        self.bytes += stream.bytes;
    }
}

impl Registry {
    /// Registers a new stream from `peer`, and the guard of its work.
    pub fn open(&self, peer: SocketAddr) -> (Arc<Stream>, StreamGuard) {
        let stream = Arc::new(Stream::new(
            self.next_id.fetch_add(1, Ordering::Relaxed),
            peer,
        ));
        let guard = StreamGuard {
            _open: lock(&self.guards).clone(),
        };
        {
            let mut streams = lock(&self.streams);
            let finished = streams.iter().filter(|s| !s.is_connected()).count();
            if finished >= FINISHED_STREAMS_KEPT {
                self.retire_least_of(&mut streams);
            }
            streams.push(stream.clone());
        }
        (stream, guard)
    }

    /// Folds the finished stream with the fewest frames (the oldest of
    /// those) into the totals, and lets it go with all it held.
    fn retire_least_of(&self, streams: &mut Vec<Arc<Stream>>) {
        let least = streams
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.is_connected())
            .min_by_key(|(index, s)| (s.counters().received, *index))
            .map(|(index, _)| index);
        if let Some(index) = least {
            let retired = StreamReport::of(&streams.remove(index));
            lock(&self.earlier).add(&retired);
        }
    }

    /// All streams, oldest first.
    pub fn all(&self) -> Vec<Arc<Stream>> {
        lock(&self.streams).clone()
    }

    /// Waits, up to `timeout`, until every [`StreamGuard`] is dropped: each
    /// stream's connection has ended and its decoder has decoded what it
    /// held, so the report and the last pictures include everything
    /// received. Call it once the connections are told to stop; a stream
    /// opened afterwards is not waited for. True when all ended in time.
    pub fn wait_for_streams_to_end(&self, timeout: Duration) -> bool {
        drop(lock(&self.guards).take());
        // Nothing is ever sent: the receive returns once every guard is gone.
        smol::block_on(within(timeout, self.all_guards_dropped.recv())).is_some()
    }

    pub fn report(&self) -> Report {
        let streams: Vec<StreamReport> = self.all().iter().map(|s| StreamReport::of(s)).collect();
        let earlier = *lock(&self.earlier);
        let mut totals = earlier.totals;
        for stream in &streams {
            totals.add(stream);
        }
        Report {
            totals,
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
    /// Frames refused before decoding because the memory budget was spent.
    pub refused_over_budget: u64,
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
    /// From the connection to the first decoded frame.
    pub first_frame_ms: Option<f64>,
    /// The longest time between two decoded frames (a pause does not count).
    pub longest_gap_ms: f64,
    /// The longest wait from a resume (its tile shown again) to the
    /// sender's next decoded frame; 0: never paused.
    pub slowest_resume_ms: f64,
    pub latency_samples: u64,
    pub latency_ms_p50: Option<f64>,
    pub latency_ms_p95: Option<f64>,
    pub latency_ms_p99: Option<f64>,
    /// "measured": latencies are on the receiver's clock, the sender's
    /// offset measured over the back-channel; "clock-based": they compare
    /// the two machines' clocks as they are (a v1 sender).
    pub latency_basis: &'static str,
    /// The sender's clock minus the receiver's, and its error bound.
    pub clock_offset_ms: Option<f64>,
    pub clock_error_ms: Option<f64>,
    /// Times a clock step made the offset estimate start again.
    pub clock_restarts: u64,
    /// How the sender made the latest frame, as it said (absent: it did
    /// not, a v1 sender): the JPEG quality (0: a camera's JPEG passed
    /// through), the times it halved the picture, and what held it below
    /// its ceiling ("ceiling", "link", "receiver").
    pub quality: Option<u8>,
    pub halvings: Option<u8>,
    pub limited_by: Option<&'static str>,
}

impl StreamReport {
    pub fn of(stream: &Stream) -> StreamReport {
        let latency = stream.latency();
        let clock = stream.clock();
        let encoding = stream.encoding();
        let Counters {
            received,
            keep_alives,
            bytes,
            decoded,
            decode_errors,
            refused_over_budget,
            shown,
            dropped_before_decode,
            dropped_before_show,
            sequence_gaps,
            out_of_order,
            last_sequence,
            width,
            height,
            decode_ms_mean,
            decoder_waited_nanos: _,
            decoded_fps,
            first_frame_ms,
            longest_gap_ms,
            slowest_resume_ms,
        } = stream.counters();
        StreamReport {
            id: stream.id(),
            name: stream.name(),
            peer: stream.peer().to_string(),
            frames_received: received,
            keep_alives,
            frames_decoded: decoded,
            frames_shown: shown,
            frames_dropped: dropped_before_decode + dropped_before_show,
            dropped_before_decode,
            dropped_before_show,
            decode_errors,
            refused_over_budget,
            sequence_gaps,
            out_of_order,
            last_sequence,
            bytes,
            width,
            height,
            decoded_fps,
            decode_ms_mean,
            first_frame_ms,
            longest_gap_ms,
            slowest_resume_ms,
            latency_samples: latency.count(),
            latency_ms_p50: latency.quantile_ms(0.50),
            latency_ms_p95: latency.quantile_ms(0.95),
            latency_ms_p99: latency.quantile_ms(0.99),
            latency_basis: if clock.is_some() {
                "measured"
            } else {
                "clock-based"
            },
            clock_offset_ms: clock.map(|clock| clock.offset_ms()),
            clock_error_ms: clock.map(|clock| clock.error_ms()),
            clock_restarts: stream.clock_restarts(),
            quality: encoding.map(|encoding| encoding.quality),
            halvings: encoding.map(|encoding| encoding.halvings),
            limited_by: encoding.map(|encoding| encoding.limit.word()),
        }
    }
}

/// The figures of the whole run at exit.
#[derive(Serialize, Debug)]
pub struct Report {
    /// Every stream's, the listed and the earlier ones.
    #[serde(flatten)]
    pub totals: Totals,
    /// Disconnected streams beyond the [`FINISHED_STREAMS_KEPT`] with the
    /// most frames, counted in the totals above but not listed.
    pub earlier: EarlierStreams,
    pub streams: Vec<StreamReport>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |value: Option<f64>| value.map_or("-".to_owned(), |v| format!("{v:.1}"));
        writeln!(
            f,
            "framewire-receiver: {} frames received, {} decoded, {} shown, {} dropped, {} decode errors, \
             {} refused over the memory budget, {:.1} MB",
            self.totals.frames_received,
            self.totals.frames_decoded,
            self.totals.frames_shown,
            self.totals.frames_dropped,
            self.totals.decode_errors,
            self.totals.refused_over_budget,
            self.totals.bytes as f64 / 1e6
        )?;
        if self.earlier.streams > 0 {
            writeln!(
                f,
                "  {} earlier streams (not listed): {} frames received, {} decoded",
                self.earlier.streams,
                self.earlier.totals.frames_received,
                self.earlier.totals.frames_decoded
            )?;
        }
        for s in &self.streams {
            writeln!(
                f,
                "  stream {} '{}' from {}: {}x{}, {} received, {} decoded, {} shown, {} dropped, \
                 {} decode errors, {} missing from the sender, {:.1} fps, decode {:.2} ms/frame, latency ms p50 {} p95 {} p99 {} {}",
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
                ms(s.latency_ms_p99),
                match (s.clock_offset_ms, s.clock_error_ms) {
                    (Some(offset), Some(error)) => {
                        format!("±{error:.1} (sender clock {offset:+.1} ms)")
                    }
                    _ => s.latency_basis.to_owned(),
                }
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receiver_up_for_months_keeps_only_the_finished_streams_that_matter() {
        let registry = Registry::default();
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let (live, _guard) = registry.open(peer);
        live.note_frame(1);
        let (real, _) = registry.open(peer);
        for sequence in 1..=1000 {
            real.note_frame(sequence);
        }
        real.connection_ended();
        for _ in 0..500 {
            let (churn, _) = registry.open(peer);
            churn.note_frame(1);
            churn.connection_ended();
        }
        let report = registry.report();
        assert_eq!(report.streams.len(), FINISHED_STREAMS_KEPT + 1);
        assert_eq!(report.streams[0].id, live.id(), "connected streams stay");
        assert!(
            report.streams.iter().any(|s| s.id == real.id()),
            "the stream with the most frames stays, however much churn follows it"
        );
        assert_eq!(report.earlier.streams, 501 - FINISHED_STREAMS_KEPT as u64);
        assert_eq!(
            report.totals.frames_received,
            1 + 1000 + 500,
            "nothing lost from the totals"
        );
    }

    #[test]
    fn the_exit_waits_for_every_guard_and_no_longer_than_its_bound() {
        let registry = Arc::new(Registry::default());
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let (_, guard) = registry.open(peer);
        let started = std::time::Instant::now();
        let dropper = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            drop(guard);
        });
        assert!(registry.wait_for_streams_to_end(Duration::from_secs(30)));
        assert!(started.elapsed() >= Duration::from_millis(200));
        dropper.join().unwrap();

        let stuck = Registry::default();
        let (_, _held) = stuck.open(peer);
        assert!(!stuck.wait_for_streams_to_end(Duration::from_millis(100)));
    }
}
