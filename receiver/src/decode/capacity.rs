//! How many frames a second a stream's decoder keeps up with, told to the
//! sender so it encodes and sends no more than that.
//!
//! Once a [`CHECK_INTERVAL`] the control writer hands a [`DecodeCapacity`]
//! the stream's counters. When the decoder's latest-frame slot replaced
//! frames in that interval (more than [`TOLERATED_DROPS`] of those
//! received) while the decoder was busy at least [`BUSY`] of the time (it
//! had a frame to work on: decoding, or waiting for a core the rest of the
//! machine held), the frames were paid for on the board and on the link
//! for nothing: the limit becomes [`MARGIN`] of the rate the decoder
//! managed. (Frames that replace each other while the decoder mostly waits
//! for frames came in a burst, as after a stall on a slow link: no limit
//! helps there.)
//! After [`CALM_CHECKS`] intervals without drops a limit is raised by
//! [`PROBE_GAIN`] (the machine may have room again), and lifted once the
//! sender stays well below it (then something else holds it back). Drops
//! while the decoder was not busy hold a limit where it is: a burst is no
//! reason to lower it, nor a sign of room. A limit is only ever sent when
//! it changes.

use std::time::Instant;

use crate::stream::Counters;

/// How often the counters are looked at.
pub const CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);
/// Replaced frames up to this share of those received are no reason for a
/// limit (a hiccup of the machine).
pub const TOLERATED_DROPS: f64 = 0.05;
/// The share of an interval the decoder must have been decoding for its
/// drops to mean it cannot keep up.
pub const BUSY: f64 = 0.8;
/// The limit's share of the rate the decoder managed.
pub const MARGIN: f64 = 0.95;
/// Intervals without drops before a limit is raised.
pub const CALM_CHECKS: u32 = 3;
/// A raise of the limit.
pub const PROBE_GAIN: f64 = 1.1;
/// A sender below this share of its limit is held back by something else:
/// the limit is lifted.
pub const UNUSED_LIMIT: f64 = 0.7;

/// A change to tell the sender.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Change {
    /// No more than this many frames a second.
    Limit(f64),
    /// No limit.
    Lift,
}

/// The limit and what the last check saw.
#[derive(Debug, Default)]
pub struct DecodeCapacity {
    last: Option<(Instant, Counters)>,
    limit: Option<f64>,
    calm_checks: u32,
}

impl DecodeCapacity {
    /// The limit in force (frames a second), if any.
    pub fn limit(&self) -> Option<f64> {
        self.limit
    }

    /// Looks at the stream's `counters` at `now`; returns the change to
    /// send, if any.
    pub fn check(&mut self, now: Instant, counters: Counters) -> Option<Change> {
        let (then, before) = self.last.replace((now, counters))?;
        let seconds = (now - then).as_secs_f64();
        if seconds <= 0.0 {
            return None;
        }
        let received = counters.received.saturating_sub(before.received) as f64;
        let replaced = counters
            .dropped_before_decode
            .saturating_sub(before.dropped_before_decode) as f64;
        let decoded_fps = counters.decoded.saturating_sub(before.decoded) as f64 / seconds;
        // A wait is counted when it ends: one that began before this
        // interval may make it more than the interval.
        let waited = counters
            .decoder_waited_nanos
            .saturating_sub(before.decoder_waited_nanos) as f64
            / 1e9;
        let busy = (1.0 - waited / seconds).max(0.0);
        let dropping = replaced > 1.0 && replaced > TOLERATED_DROPS * received;
        if dropping && busy >= BUSY && decoded_fps > 0.0 {
            self.calm_checks = 0;
            let limit = MARGIN * decoded_fps;
            if self.limit.is_some_and(|current| limit >= current * MARGIN) {
                return None; // close to the limit already: the sender is adjusting
            }
            self.limit = Some(limit);
            return Some(Change::Limit(limit));
        }
        let current = self.limit?;
        if dropping {
            self.calm_checks = 0;
            return None;
        }
        self.calm_checks += 1;
        if self.calm_checks < CALM_CHECKS {
            return None;
        }
        self.calm_checks = 0;
        if received / seconds < UNUSED_LIMIT * current {
            self.limit = None;
            return Some(Change::Lift);
        }
        let raised = current * PROBE_GAIN;
        self.limit = Some(raised);
        Some(Change::Limit(raised))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Counters after a second of a sender at `sent` fps into a decoder
    /// that manages `decodes` fps, from `before`: it waits for frames the
    /// rest of the second.
    fn after(before: Counters, sent: u64, decodes: u64) -> Counters {
        let decoded = sent.min(decodes);
        Counters {
            received: before.received + sent,
            decoded: before.decoded + decoded,
            dropped_before_decode: before.dropped_before_decode + (sent - decoded),
            decoder_waited_nanos: before.decoder_waited_nanos + 1_000_000_000
                - decoded * 1_000_000_000 / decodes,
            ..before
        }
    }

    #[test]
    fn frames_that_came_in_a_burst_to_an_idle_decoder_set_no_limit() {
        let mut capacity = DecodeCapacity::default();
        let start = Instant::now();
        let counters = Counters::default();
        capacity.check(start, counters);
        // Ten frames at once after a stall, three decoded in 30 ms.
        let burst = Counters {
            received: 10,
            decoded: 3,
            dropped_before_decode: 7,
            decoder_waited_nanos: 970_000_000,
            ..counters
        };
        assert_eq!(capacity.check(start + Duration::from_secs(1), burst), None);
        assert_eq!(capacity.limit(), None);
    }

    #[test]
    fn a_decoder_that_falls_behind_sets_a_limit_near_what_it_manages() {
        let mut capacity = DecodeCapacity::default();
        let start = Instant::now();
        let mut counters = Counters::default();
        assert_eq!(
            capacity.check(start, counters),
            None,
            "the first look only counts"
        );
        counters = after(counters, 60, 20);
        let change = capacity.check(start + Duration::from_secs(1), counters);
        assert_eq!(change, Some(Change::Limit(19.0)));
        // The sender now sends 19 fps, which the decoder keeps up with:
        // after three calm seconds the limit is raised, not sent again.
        let mut changes = Vec::new();
        for second in 2..=4 {
            counters = after(counters, 19, 20);
            changes.push(capacity.check(start + Duration::from_secs(second), counters));
        }
        assert_eq!(changes[..2], [None, None]);
        let Some(Change::Limit(raised)) = changes[2] else {
            panic!("{changes:?}")
        };
        assert!((raised - 20.9).abs() < 1e-9, "{raised}");
    }

    #[test]
    fn bursts_hold_the_limit_and_a_starved_decoder_lowers_it() {
        let mut capacity = DecodeCapacity::default();
        let start = Instant::now();
        let mut counters = Counters::default();
        capacity.check(start, counters);
        counters = after(counters, 60, 20);
        capacity.check(start + Duration::from_secs(1), counters);
        assert_eq!(capacity.limit(), Some(19.0));
        let burst = |counters: Counters, waited_nanos| Counters {
            received: counters.received + 19,
            decoded: counters.decoded + 15,
            dropped_before_decode: counters.dropped_before_decode + 4,
            decoder_waited_nanos: counters.decoder_waited_nanos + waited_nanos,
            ..counters
        };
        for second in 2..=6 {
            // 19 received, 4 of them replaced, while the decoder waited
            // 0.85 s for frames: they came in bursts.
            counters = burst(counters, 850_000_000);
            let change = capacity.check(start + Duration::from_secs(second), counters);
            assert_eq!(change, None, "second {second}");
        }
        assert_eq!(capacity.limit(), Some(19.0));
        // The same drops while the decoder always had a frame, decoding
        // or waiting for a core the rest of the machine held: it manages 15.
        counters = burst(counters, 0);
        let change = capacity.check(start + Duration::from_secs(7), counters);
        assert_eq!(change, Some(Change::Limit(15.0 * MARGIN)));
    }

    #[test]
    fn a_hiccup_is_no_reason_and_an_unused_limit_is_lifted() {
        let mut capacity = DecodeCapacity::default();
        let start = Instant::now();
        let mut counters = Counters::default();
        capacity.check(start, counters);
        counters = after(counters, 30, 29);
        assert_eq!(
            capacity.check(start + Duration::from_secs(1), counters),
            None
        );
        counters = after(counters, 60, 20);
        capacity.check(start + Duration::from_secs(2), counters);
        assert_eq!(capacity.limit(), Some(19.0));
        let mut last = None;
        for second in 3..=5 {
            counters = after(counters, 5, 20); // held back elsewhere
            last = capacity.check(start + Duration::from_secs(second), counters);
        }
        assert_eq!(last, Some(Change::Lift));
        assert_eq!(capacity.limit(), None);
    }
}
