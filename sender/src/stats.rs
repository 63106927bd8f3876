//! The sender's counters and its periodic log line.
//!
//! Stages bump lock-free counters through [`SenderStats`]' methods, one
//! per thing that happens (the counters themselves are private); a reporter thread turns their change over
//! each interval into one line (fps captured and sent, frames dropped,
//! kbit/s, encode ms per frame, and the quality and size the adaptation
//! chose) so a user can see at a glance whether the board keeps up, and
//! that a paused stream costs it nothing.
//! Nothing here affects the stream.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use framewire_proto::shutdown::StopSignal;
use framewire_proto::slot::DropCounter;

use crate::adapt::Adaptation;

/// What the sender did so far, counted by the stage that did it.
#[derive(Default)]
pub struct SenderStats {
    captured: AtomicU64,
    capture_nanos: AtomicU64,
    encoded: AtomicU64,
    encode_nanos: AtomicU64,
    encode_errors: AtomicU64,
    sent: AtomicU64,
    bytes_sent: AtomicU64,
    /// Camera frames given back unread because a newer one was ready.
    camera_skipped: AtomicU64,
    /// Camera frames refused as damaged, truncated or not a picture.
    camera_rejected: AtomicU64,
    /// Times the camera was opened again after it went away.
    camera_reopens: AtomicU64,
    /// Pictures not sent because they repeat the previous one (`--drop-same-frames`).
    same_skipped: AtomicU64,
    /// Frames dropped because they waited out an outage in the slot.
    stale_on_connect: AtomicU64,
    /// Pictures not taken because the link or the receiver takes fewer a
    /// second than the source delivers.
    rate_skipped: AtomicU64,
}

/// The counters at one moment.
#[derive(Clone, Copy, Default)]
struct Snapshot {
    captured: u64,
    capture_nanos: u64,
    encoded: u64,
    encode_nanos: u64,
    sent: u64,
    bytes_sent: u64,
    dropped: u64,
}

impl SenderStats {
    /// The capture thread took a picture from the source in `took`.
    pub fn captured(&self, took: Duration) {
        add(&self.captured, 1);
        add(&self.capture_nanos, took.as_nanos() as u64);
    }

    /// An encoder made a frame in `took`.
    pub fn encoded(&self, took: Duration) {
        add(&self.encoded, 1);
        add(&self.encode_nanos, took.as_nanos() as u64);
    }

    /// A picture did not encode.
    pub fn encode_failed(&self) {
        add(&self.encode_errors, 1);
    }

    /// A frame of `bytes` (with its framing) went to the receiver;
    /// keep-alives count as bytes only.
    pub fn sent(&self, bytes: u64, keep_alive: bool) {
        if !keep_alive {
            add(&self.sent, 1);
        }
        add(&self.bytes_sent, bytes);
    }

    /// `count` camera frames were given back unread, a newer one being ready.
    pub fn camera_skipped(&self, count: u64) {
        add(&self.camera_skipped, count);
    }

    /// A camera frame was refused as damaged; returns how many so far.
    pub fn camera_rejected(&self) -> u64 {
        add(&self.camera_rejected, 1)
    }

    /// The camera was opened again after it went away.
    pub fn camera_reopened(&self) {
        add(&self.camera_reopens, 1);
    }

    /// A picture was not sent: it repeats the previous one.
    pub fn same_skipped(&self) {
        add(&self.same_skipped, 1);
    }

    /// A frame waited out an outage in the slot and was dropped.
    pub fn stale_on_connect(&self) {
        add(&self.stale_on_connect, 1);
    }

    /// A picture was not taken: the link or the receiver takes fewer.
    pub fn rate_skipped(&self) {
        add(&self.rate_skipped, 1);
    }

    fn snapshot(&self, drops: &DropCounter) -> Snapshot {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Snapshot {
            captured: get(&self.captured),
            capture_nanos: get(&self.capture_nanos),
            encoded: get(&self.encoded),
            encode_nanos: get(&self.encode_nanos),
            sent: get(&self.sent),
            bytes_sent: get(&self.bytes_sent),
            dropped: drops.get() + get(&self.stale_on_connect),
        }
    }

    /// Logs one line per `interval` until `stop`, then a summary of the whole run.
    pub fn report_until_stopped(
        &self,
        drops: &DropCounter,
        adaptation: &Adaptation,
        interval: Duration,
        stop: &StopSignal,
    ) {
        let start = Instant::now();
        let mut previous = (start, Snapshot::default());
        while !stop.is_stopped() {
            std::thread::sleep(Duration::from_millis(100));
            if previous.0.elapsed() < interval {
                continue;
            }
            let now = (Instant::now(), self.snapshot(drops));
            log::info!(
                "{}; {}",
                describe(&previous.1, &now.1, now.0 - previous.0),
                adaptation.describe()
            );
            previous = now;
        }
        let total = self.snapshot(drops);
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        log::info!(
            "done: {} frames captured, {} sent, {} dropped, {} encode errors; {}",
            total.captured,
            total.sent,
            total.dropped,
            get(&self.encode_errors),
            describe(&Snapshot::default(), &total, start.elapsed())
        );
        let camera = [
            (get(&self.camera_skipped), "stale camera frames skipped"),
            (get(&self.camera_rejected), "bad camera frames dropped"),
            (get(&self.camera_reopens), "camera reopens"),
            (get(&self.same_skipped), "repeated frames skipped"),
            (
                get(&self.rate_skipped),
                "frames left out to meet the link's or the receiver's rate",
            ),
        ];
        if camera.iter().any(|(count, _)| *count > 0) {
            let parts: Vec<String> = camera
                .iter()
                .map(|(count, what)| format!("{count} {what}"))
                .collect();
            log::info!("camera: {}", parts.join(", "));
        }
    }
}

/// Adds `amount` to `counter`; returns the new count.
fn add(counter: &AtomicU64, amount: u64) -> u64 {
    counter.fetch_add(amount, Ordering::Relaxed) + amount
}

/// One line about what happened between two snapshots.
fn describe(before: &Snapshot, after: &Snapshot, elapsed: Duration) -> String {
    let seconds = elapsed.as_secs_f64().max(1e-9);
    let per_frame_ms = |nanos: u64, frames: u64| nanos as f64 / 1e6 / frames.max(1) as f64;
    format!(
        "captured {:.1} fps, sent {:.1} fps, dropped {}, {:.0} kbit/s, encode {:.2} ms/frame (capture {:.2} ms)",
        (after.captured - before.captured) as f64 / seconds,
        (after.sent - before.sent) as f64 / seconds,
        after.dropped - before.dropped,
        (after.bytes_sent - before.bytes_sent) as f64 * 8.0 / 1000.0 / seconds,
        per_frame_ms(
            after.encode_nanos - before.encode_nanos,
            after.encoded - before.encoded
        ),
        per_frame_ms(
            after.capture_nanos - before.capture_nanos,
            after.captured - before.captured
        ),
    )
}
