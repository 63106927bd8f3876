//! How far a sender's clock is from ours, estimated NTP-style from clock
//! probes over the back-channel (protocol v2).
//!
//! Each probe gives four timestamps: we write it at `t1` (our clock), the
//! sender reads it at `t2` and writes its reply at `t3` (its clock), we read
//! the reply at `t4`. Whatever the delays, the sender's offset from us lies
//! between `t3 - t4` and `t2 - t1`, an interval as wide as the probe's round
//! trip. [`ClockSync`] keeps the samples of a sliding window, widens each
//! interval by how far the clocks may have drifted since it was taken, and
//! intersects them: the quickest way out and the quickest way back may come
//! from different probes, so the intersection is tighter than any one sample.
//! The estimate is its middle and the error bound half its width. (Should the
//! intervals not meet, the clocks drift faster than allowed: the single
//! sample with the smallest bound is used.) A new sample whose interval
//! cannot meet the estimate's (allowing generously for drift) means a clock
//! was stepped on one side: the estimate starts again from it, with a burst
//! of probes unless the last step was under a minute ago (a sender whose
//! replies flip is probed at the steady rate). It does no I/O; the connection
//! feeds it and the stream holds it.

use std::collections::VecDeque;

use framewire_proto::ClockReply;

/// Probes sent 50 ms apart at the start and after a restart, so an
/// estimate is there before the first frames are decoded.
pub const BURST_PROBES: u32 = 8;
pub const BURST_GAP_US: u64 = 50_000;
/// Probes after the burst: enough to follow drift and catch a step soon.
pub const STEADY_GAP_US: u64 = 2_000_000;
/// A step within this long of the last one brings no burst: a clock that
/// steps back and forth (or a sender whose replies flip) is followed at
/// the steady rate, not probed 20 times a second.
const QUIET_AFTER_STEP_US: u64 = 60_000_000;
/// Samples older than this are forgotten.
const WINDOW_US: u64 = 60_000_000;
/// Most samples kept (a minute of steady probes and a burst).
const MAX_SAMPLES: usize = 40;
/// Probes whose answer we still accept; older ones are forgotten.
const OUTSTANDING_PROBES: usize = 16;
/// How fast two free-running crystal clocks may drift apart, for the error
/// bound shown (parts per million; a board without network time may be
/// tens of ppm off).
const DRIFT_PPM: u64 = 100;
/// How far a clock may move before we call it a step: a slewing NTP
/// daemon moves at most 500 ppm; 2 ms cover timestamp granularity.
const STEP_DRIFT_PPM: u64 = 500;
const STEP_SLACK_US: u64 = 2_000;
/// A reply that claims a longer round trip or a wilder offset than these
/// is nonsense (or a peer playing games), not a sample.
const MAX_ROUND_TRIP_US: i128 = 60_000_000;
const MAX_OFFSET_US: i128 = 100 * 365 * 24 * 3600 * 1_000_000;

/// The sender's clock minus ours, and how wrong that may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockEstimate {
    pub offset_us: i64,
    pub error_us: u64,
}

impl ClockEstimate {
    pub fn offset_ms(&self) -> f64 {
        self.offset_us as f64 / 1000.0
    }

    pub fn error_ms(&self) -> f64 {
        self.error_us as f64 / 1000.0
    }
}

/// What latency figures rest on, as they are labelled: `±0.3` (ms) with a
/// measured offset, `(clock-based)` without one (a v1 sender, or before
/// its first reply), where the figures are only as good as the two clocks.
pub fn basis_label(estimate: Option<ClockEstimate>) -> String {
    match estimate {
        Some(estimate) => format!("±{:.1}", estimate.error_ms()),
        None => "(clock-based)".to_owned(),
    }
}

/// What a reply did to the estimate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Update {
    /// Not a sample: an unknown probe or impossible times.
    Ignored,
    /// The first estimate of this connection.
    First,
    /// A sample that agrees with the estimate (which may have improved).
    Refined,
    /// A sample that contradicts the estimate: a clock was stepped, the
    /// estimate starts again from it.
    Restarted,
}

/// What one probe says of the offset: it lies in `low_us..=high_us`.
#[derive(Clone, Copy, Debug)]
struct Sample {
    /// t3 - t4 and t2 - t1.
    low_us: i64,
    high_us: i64,
    /// Our clock when the reply arrived.
    at_us: u64,
}

impl Sample {
    /// The interval `now_us` later, widened by a drift of `drift_ppm`.
    fn interval_at(&self, now_us: u64, drift_ppm: u64) -> (i64, i64) {
        let drift = (now_us.saturating_sub(self.at_us) * drift_ppm / 1_000_000) as i64;
        (self.low_us - drift, self.high_us + drift)
    }
}

/// The middle of `low..=high` and the bound that covers it.
fn estimate_of((low, high): (i64, i64)) -> ClockEstimate {
    ClockEstimate {
        offset_us: low + (high - low) / 2,
        error_us: (high - low).unsigned_abs().div_ceil(2),
    }
}

/// The clock estimate of one connection.
#[derive(Default)]
pub struct ClockSync {
    samples: VecDeque<Sample>,
    outstanding: VecDeque<u64>,
    probes_since_restart: u32,
    restarts: u64,
    last_restart_us: Option<u64>,
}

impl ClockSync {
    /// A probe stamped `t1` was written; returns how long to wait before
    /// the next one.
    pub fn probe_sent(&mut self, t1_us: u64) -> u64 {
        if self.outstanding.len() == OUTSTANDING_PROBES {
            self.outstanding.pop_front();
        }
        self.outstanding.push_back(t1_us);
        self.probes_since_restart = self.probes_since_restart.saturating_add(1);
        if self.probes_since_restart < BURST_PROBES {
            BURST_GAP_US
        } else {
            STEADY_GAP_US
        }
    }

    /// A reply read at `t4_us`.
    pub fn reply(&mut self, reply: &ClockReply, t4_us: u64) -> Update {
        let Some(index) = self
            .outstanding
            .iter()
            .position(|t1| *t1 == reply.receiver_send_time_us)
        else {
            return Update::Ignored;
        };
        self.outstanding.remove(index);
        let Some(sample) = sample(reply, t4_us) else {
            return Update::Ignored;
        };
        let update = match self.bounds(t4_us, STEP_DRIFT_PPM) {
            None => Update::First,
            Some((low, high)) => {
                let slack = STEP_SLACK_US as i64;
                if sample.high_us < low - slack || sample.low_us > high + slack {
                    Update::Restarted
                } else {
                    Update::Refined
                }
            }
        };
        if update == Update::Restarted {
            self.samples.clear();
            let stepping = self
                .last_restart_us
                .is_some_and(|last| t4_us.saturating_sub(last) < QUIET_AFTER_STEP_US);
            self.probes_since_restart = if stepping { BURST_PROBES } else { 0 };
            self.restarts += 1;
            self.last_restart_us = Some(t4_us);
        }
        while self.samples.len() >= MAX_SAMPLES
            || self
                .samples
                .front()
                .is_some_and(|old| t4_us.saturating_sub(old.at_us) > WINDOW_US)
        {
            self.samples.pop_front();
        }
        self.samples.push_back(sample);
        update
    }

    /// The estimate at our time `now_us`, if any sample is in the window.
    pub fn estimate(&self, now_us: u64) -> Option<ClockEstimate> {
        self.bounds(now_us, DRIFT_PPM).map(estimate_of)
    }

    /// How many times a clock step restarted the estimate.
    pub fn restarts(&self) -> u64 {
        self.restarts
    }

    /// Where the offset lies at `now_us`, with clocks drifting apart by up
    /// to `drift_ppm`: the intersection of the window's intervals or, if
    /// they do not meet (faster drift), the narrowest one.
    fn bounds(&self, now_us: u64, drift_ppm: u64) -> Option<(i64, i64)> {
        let intervals = self
            .samples
            .iter()
            .filter(|s| now_us.saturating_sub(s.at_us) <= WINDOW_US)
            .map(|s| s.interval_at(now_us, drift_ppm));
        let (mut low, mut high, mut narrowest) = (i64::MIN, i64::MAX, None::<(i64, i64)>);
        for (sample_low, sample_high) in intervals {
            low = low.max(sample_low);
            high = high.min(sample_high);
            if narrowest.is_none_or(|(l, h)| sample_high - sample_low < h - l) {
                narrowest = Some((sample_low, sample_high));
            }
        }
        match narrowest {
            None => None, // no sample in the window
            Some(_) if low <= high => Some((low, high)),
            Some(narrowest) => Some(narrowest),
        }
    }
}

/// The sample of one reply, or `None` when its times cannot be right.
fn sample(reply: &ClockReply, t4_us: u64) -> Option<Sample> {
    let [t1, t2, t3, t4] = [
        reply.receiver_send_time_us,
        reply.sender_receive_time_us,
        reply.sender_send_time_us,
        t4_us,
    ]
    .map(i128::from);
    let round_trip = (t4 - t1) - (t3 - t2);
    if t4 < t1 || t3 < t2 || !(0..=MAX_ROUND_TRIP_US).contains(&round_trip) {
        return None;
    }
    let (low, high) = (t3 - t4, t2 - t1);
    if low.abs().max(high.abs()) > MAX_OFFSET_US {
        return None;
    }
    Some(Sample {
        low_us: low as i64,
        high_us: high as i64,
        at_us: t4_us,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sender `offset` ahead, `out` and `back` µs away, that takes
    /// `turn` µs to answer; returns the reply and its arrival time.
    fn exchange(t1: u64, offset: i64, out: u64, turn: u64, back: u64) -> (ClockReply, u64) {
        let t2 = (t1 + out) as i64 + offset;
        let reply = ClockReply {
            receiver_send_time_us: t1,
            sender_receive_time_us: t2 as u64,
            sender_send_time_us: (t2 + turn as i64) as u64,
        };
        (reply, t1 + out + turn + back)
    }

    fn probe(sync: &mut ClockSync, t1: u64, offset: i64, out: u64, back: u64) -> Update {
        sync.probe_sent(t1);
        let (reply, t4) = exchange(t1, offset, out, 30, back);
        sync.reply(&reply, t4)
    }

    const START: u64 = 1_800_000_000_000_000;

    #[test]
    fn symmetric_delays_give_the_offset_with_half_the_round_trip_as_bound() {
        let mut sync = ClockSync::default();
        assert_eq!(sync.estimate(START), None);
        assert_eq!(
            probe(&mut sync, START, 4_000_000, 25_000, 25_000),
            Update::First
        );
        let estimate = sync.estimate(START + 50_030).unwrap();
        assert_eq!(estimate.offset_us, 4_000_000);
        assert_eq!(estimate.error_us, 25_000);
    }

    #[test]
    fn the_quickest_ways_out_and_back_of_different_probes_combine() {
        let mut sync = ClockSync::default();
        let offset = -2_500_000;
        // Asymmetric, varying delays: a queue on the way out, then on the way
        // back; no single probe is quick both ways.
        let paths = [(9_000, 300), (200, 7_000), (3_000, 3_000)];
        for (index, (out, back)) in paths.into_iter().enumerate() {
            let t1 = START + index as u64 * 100_000;
            assert_ne!(probe(&mut sync, t1, offset, out, back), Update::Restarted);
            let now = t1 + out + back + 30;
            let estimate = sync.estimate(now).unwrap();
            assert!(
                estimate.offset_us.abs_diff(offset) <= estimate.error_us,
                "the truth is inside the bound: {estimate:?} after {index}"
            );
        }
        // Out at best 200 µs, back at best 300 µs (+ 100 ppm of 0.3 s drift).
        let estimate = sync.estimate(START + 300_000).unwrap();
        assert!(
            estimate.offset_us.abs_diff(offset) <= 50 + 30,
            "{estimate:?}"
        );
        assert!(estimate.error_us <= 250 + 30, "{estimate:?}");
    }

    #[test]
    fn a_drifting_clock_is_followed_and_old_samples_age_out() {
        let mut sync = ClockSync::default();
        // 30 ppm apart: 60 µs more every 2 s; the loopback-fast first sample
        // must not pin the estimate for ever.
        probe(&mut sync, START, 0, 20, 20);
        let mut last = START;
        for step in 1..=100u64 {
            last = START + step * 2_000_000;
            let offset = (step * 60) as i64;
            assert_eq!(probe(&mut sync, last, offset, 60, 60), Update::Refined);
        }
        let estimate = sync.estimate(last + 150).unwrap();
        assert!(
            estimate.offset_us.abs_diff(6_000) <= estimate.error_us && estimate.error_us < 1_500,
            "{estimate:?}"
        );
        // No probes for longer than the window: no estimate is better than a stale one.
        assert_eq!(sync.estimate(last + WINDOW_US + 1_000_000), None);
    }

    #[test]
    fn a_stepped_clock_restarts_the_estimate_and_a_burst_follows() {
        let mut sync = ClockSync::default();
        for index in 0..BURST_PROBES as u64 + 2 {
            probe(&mut sync, START + index * 50_000, 1_000, 100, 100);
        }
        assert_eq!(sync.probe_sent(START + 1_000_000), STEADY_GAP_US);
        // The sender's clock jumps 3 s ahead (NTP stepping it).
        let t1 = START + 2_000_000;
        assert_eq!(probe(&mut sync, t1, 3_001_000, 100, 100), Update::Restarted);
        assert_eq!(sync.restarts(), 1);
        assert_eq!(sync.estimate(t1 + 300).unwrap().offset_us, 3_001_000);
        assert_eq!(sync.probe_sent(t1 + 500), BURST_GAP_US);
        // Half a millisecond of wander is not a step.
        assert_eq!(
            probe(&mut sync, t1 + 50_000, 3_001_500, 100, 100),
            Update::Refined
        );
    }

    #[test]
    fn a_clock_that_keeps_stepping_is_probed_at_the_steady_rate() {
        let mut sync = ClockSync::default();
        let mut gaps = Vec::new();
        let mut t1 = START;
        for index in 0..40u64 {
            let offset = if index % 2 == 0 {
                10_000_000
            } else {
                -10_000_000
            };
            let gap = sync.probe_sent(t1);
            let (reply, t4) = exchange(t1, offset, 100, 0, 100);
            sync.reply(&reply, t4);
            gaps.push(gap);
            t1 += gap;
        }
        assert!(sync.restarts() >= 38, "{}", sync.restarts());
        let bursts = gaps.iter().filter(|gap| **gap == BURST_GAP_US).count();
        assert!(
            bursts <= 2 * BURST_PROBES as usize,
            "{bursts} probes 50 ms apart: {gaps:?}"
        );
    }

    #[test]
    fn replies_to_no_probe_or_with_impossible_times_are_ignored() {
        let mut sync = ClockSync::default();
        let (reply, t4) = exchange(START, 0, 100, 30, 100);
        assert_eq!(sync.reply(&reply, t4), Update::Ignored, "never probed");
        sync.probe_sent(START);
        assert_eq!(
            sync.reply(&reply, START - 1),
            Update::Ignored,
            "before it was sent"
        );
        sync.probe_sent(START);
        let backwards = ClockReply {
            sender_send_time_us: reply.sender_receive_time_us - 1,
            ..reply
        };
        assert_eq!(sync.reply(&backwards, t4), Update::Ignored);
        sync.probe_sent(START);
        let extreme = ClockReply {
            receiver_send_time_us: START,
            sender_receive_time_us: u64::MAX,
            sender_send_time_us: u64::MAX,
        };
        assert_eq!(sync.reply(&extreme, t4), Update::Ignored);
        sync.probe_sent(START);
        assert_eq!(sync.reply(&reply, t4), Update::First);
        assert_eq!(sync.reply(&reply, t4), Update::Ignored, "answered twice");
        assert_eq!(
            sync.estimate(t4),
            Some(ClockEstimate {
                offset_us: 0,
                error_us: 100
            })
        );
    }
}
