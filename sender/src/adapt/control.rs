//! The control law: from what the connection did lately, the rate (bytes a
//! second) the stream may use, or no limit.
//!
//! Ten times a second the transport hands over a [`LinkReading`]. The link
//! is *congested* when the latest-frame slot had to replace a frame (the
//! socket was not ready for it within a frame's time) or when the round
//! trip stands more than [`QUEUE_LIMIT`] above its least of the last
//! [`BASE_DELAY_WINDOW`] (a queue is building somewhere on the path). Then the allowed rate steps down at
//! once to [`BACK_OFF`] of what the link carries: the best delivery rate
//! the kernel measured with data always waiting over the last second, or,
//! without one, the bytes acknowledged over the last second; less still
//! while a long queue drains. Another step down waits [`HOLD`] (or two
//! round trips) to see the first one's effect.
//!
//! When the link has been calm for [`CALM_AFTER_BACK_OFF`] the rate goes
//! back up to [`CRUISE`] of the capacity the last congestion measured, and
//! stays there. After [`PROBE_WAIT`] of calm it probes: [`PROBE`] of the old
//! capacity, then [`PROBE_TOP`], a step every [`PROBE_STEP_WAIT`]. A link
//! still calm at the top has changed: the old capacity is forgotten and the
//! rate grows by [`FAST_GAIN`] every [`FAST_WAIT`] until the stream is at its
//! ceiling (then there is no limit) or the link congests again. On a steady
//! link a cycle (probe, step down, back to cruising) takes about three
//! seconds, so the rate changes about once a second, never every frame,
//! and a probe overshoots the link by at most 15 % for a few tenths of a
//! second; a link that got faster is used to the ceiling within about four
//! seconds.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::tcp_info::TcpInfo;

/// Standing queue delay above which the link counts as congested.
pub const QUEUE_LIMIT: Duration = Duration::from_millis(40);
/// The share of the measured capacity the stream steps down to.
pub const BACK_OFF: f64 = 0.8;
/// No second step down sooner than this (or two round trips) after one.
pub const HOLD: Duration = Duration::from_millis(500);
/// Calm needed after a step down before the climb to the cruising rate.
pub const CALM_AFTER_BACK_OFF: Duration = Duration::from_secs(1);
/// The share of the last measured capacity the stream cruises at.
pub const CRUISE: f64 = 0.9;
/// Calm at the cruising rate before a probe above it.
pub const PROBE_WAIT: Duration = Duration::from_millis(1500);
/// A probe's first step, as a share of the last capacity.
pub const PROBE: f64 = 1.15;
/// A probe's second step; calm there means the link got faster.
pub const PROBE_TOP: f64 = 1.3;
/// Calm between two steps of a probe.
pub const PROBE_STEP_WAIT: Duration = Duration::from_millis(500);
/// Calm needed between two climbs on a link that got faster.
pub const FAST_WAIT: Duration = Duration::from_millis(400);
/// A climb on a link that got faster.
pub const FAST_GAIN: f64 = 2.0;
/// The least rate ever allowed, bytes a second: a few small pictures a
/// second, so the stream goes on and the link can be measured again.
pub const MIN_RATE: f64 = 8_000.0;
/// The span over which the link's capacity is measured.
const CAPACITY_WINDOW: Duration = Duration::from_secs(1);
/// The shortest span that gives a throughput worth trusting.
const MIN_THROUGHPUT_SPAN: Duration = Duration::from_millis(200);
/// The least round trip over this span is the path's own delay: the
/// kernel's minimum holds for minutes, so a path that got longer (a new
/// route, a link with more delay) would read as a standing queue.
const BASE_DELAY_WINDOW: Duration = Duration::from_secs(5);
/// The queue delay at which a step down takes half as much again, so a
/// long queue drains in seconds, not minutes.
const DRAIN_SPAN: Duration = Duration::from_secs(1);

/// What the connection did since the last reading.
#[derive(Clone, Copy, Debug)]
pub struct LinkReading {
    pub at: Instant,
    /// Frames the latest-frame slot replaced since the last reading.
    pub replaced: u64,
    pub tcp: TcpInfo,
}

/// The control's state: the allowed rate and what it has seen.
#[derive(Debug, Default)]
pub struct RateControl {
    /// Bytes a second the stream may use; `None`: no limit.
    allowed: Option<f64>,
    /// (when, bytes acknowledged) over the last [`CAPACITY_WINDOW`].
    acked: VecDeque<(Instant, u64)>,
    /// (when, round trip) over the last [`BASE_DELAY_WINDOW`].
    round_trips: VecDeque<(Instant, Duration)>,
    /// (when, delivery rate) of the readings over the last
    /// [`CAPACITY_WINDOW`] that were not application-limited.
    deliveries: VecDeque<(Instant, u64)>,
    /// What the link carried at the last congestion.
    capacity: Option<f64>,
    last_back_off: Option<Instant>,
    /// The last step down, climb or congestion.
    last_event: Option<Instant>,
}

/// Why the allowed rate changed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Step {
    /// Stepped down: the link carried `capacity` bytes a second.
    Down { capacity: f64 },
    /// Climbed after a calm spell.
    Up,
}

impl RateControl {
    /// No limit, nothing seen.
    pub fn new() -> RateControl {
        RateControl::default()
    }

    /// Bytes a second the stream may use; `None`: no limit.
    pub fn allowed(&self) -> Option<f64> {
        self.allowed
    }

    /// A new connection: its byte counts start again at zero, and its
    /// first reading should not count the old one's silence as calm. The
    /// allowed rate is kept (the link is most likely the same).
    pub fn connection_started(&mut self) {
        self.acked.clear();
        self.round_trips.clear();
        self.deliveries.clear();
        self.last_event = None;
    }

    /// Takes one reading; `ceiling_rate` is what the stream uses at its
    /// ceiling (a climb that reaches it lifts the limit). Returns the step
    /// taken, if any.
    pub fn update(&mut self, reading: &LinkReading, ceiling_rate: f64) -> Option<Step> {
        let now = reading.at;
        self.remember(reading);
        let last_event = *self.last_event.get_or_insert(now);
        let queue_delay = self.queue_delay(&reading.tcp);
        if reading.replaced > 0 || queue_delay > QUEUE_LIMIT {
            self.last_event = Some(now);
            let hold = HOLD.max(2 * reading.tcp.rtt);
            if self.last_back_off.is_some_and(|at| now - at < hold) {
                return None;
            }
            let capacity = self.capacity_now()?;
            let drain = (1.0 - queue_delay.as_secs_f64() / DRAIN_SPAN.as_secs_f64()).max(0.5);
            let target = (BACK_OFF * capacity * drain).max(MIN_RATE);
            if self.allowed.is_some_and(|allowed| target >= allowed * 0.95) {
                return None; // already below it: the queue is draining
            }
            self.allowed = Some(target);
            self.capacity = Some(capacity);
            self.last_back_off = Some(now);
            return Some(Step::Down { capacity });
        }
        let allowed = self.allowed?;
        let (wait, climbed, link_changed) = match self.capacity {
            Some(capacity) => {
                let cruise = CRUISE * capacity;
                let (probe, top) = (PROBE * capacity, PROBE_TOP * capacity);
                if allowed >= top {
                    // Calm this far above the old capacity: the link changed.
                    (PROBE_STEP_WAIT, allowed * FAST_GAIN, true)
                } else if allowed >= probe {
                    (PROBE_STEP_WAIT, top, false)
                } else if allowed >= cruise {
                    (PROBE_WAIT, probe, false)
                } else {
                    (CALM_AFTER_BACK_OFF, cruise, false)
                }
            }
            None => (FAST_WAIT, allowed * FAST_GAIN, false),
        };
        if now - last_event < wait {
            return None;
        }
        if link_changed {
            self.capacity = None;
        }
        self.allowed = (climbed < ceiling_rate).then_some(climbed);
        self.last_event = Some(now);
        Some(Step::Up)
    }

    /// The round trip now less the path's own: the least of the kernel's
    /// minimum and the round trips of the last [`BASE_DELAY_WINDOW`],
    /// whichever is larger.
    fn queue_delay(&self, tcp: &TcpInfo) -> Duration {
        let recent = self.round_trips.iter().map(|(_, rtt)| *rtt).min();
        let base = recent.map_or(tcp.min_rtt, |recent| recent.max(tcp.min_rtt));
        tcp.rtt.saturating_sub(base)
    }

    fn remember(&mut self, reading: &LinkReading) {
        let now = reading.at;
        self.acked.push_back((now, reading.tcp.bytes_acked));
        if reading.tcp.rtt > Duration::ZERO {
            self.round_trips.push_back((now, reading.tcp.rtt));
        }
        if !reading.tcp.app_limited && reading.tcp.delivery_rate > 0 {
            self.deliveries.push_back((now, reading.tcp.delivery_rate));
        }
        forget_older(&mut self.acked, now, CAPACITY_WINDOW);
        forget_older(&mut self.deliveries, now, CAPACITY_WINDOW);
        forget_older(&mut self.round_trips, now, BASE_DELAY_WINDOW);
    }

    /// What the link carries, bytes a second, while congested: the best
    /// delivery rate measured with data always waiting, else the bytes
    /// acknowledged over the last second. `None` until there is a reading
    /// to go on.
    fn capacity_now(&self) -> Option<f64> {
        if let Some(best) = self.deliveries.iter().map(|(_, rate)| *rate).max() {
            return Some(best as f64);
        }
        match (self.acked.front(), self.acked.back()) {
            (Some((first, first_bytes)), Some((last, last_bytes)))
                if *last - *first >= MIN_THROUGHPUT_SPAN =>
            {
                Some((last_bytes - first_bytes) as f64 / (*last - *first).as_secs_f64())
            }
            _ => None,
        }
    }
}

/// Drops the readings of `history` taken more than `window` before `now`.
fn forget_older<T>(history: &mut VecDeque<(Instant, T)>, now: Instant, window: Duration) {
    while history.front().is_some_and(|(at, _)| now - *at > window) {
        history.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A link that carries `rate` bytes a second behind a queue as deep as
    /// a home router's (seconds of data), fed `offered` bytes a second.
    struct SimulatedLink {
        rate: f64,
        queued: f64,
        acked: f64,
    }

    impl SimulatedLink {
        fn new(rate: f64) -> SimulatedLink {
            SimulatedLink {
                rate,
                queued: 0.0,
                acked: 0.0,
            }
        }

        /// 100 ms of offering `offered` bytes a second: the reading.
        fn tick(&mut self, at: Instant, offered: f64) -> LinkReading {
            let tick = 0.1;
            self.queued += offered * tick;
            let carried = self.queued.min(self.rate * tick);
            self.queued -= carried;
            self.acked += carried;
            let queue_delay = self.queued / self.rate;
            // The socket holds one frame's worth at most: what exceeds the
            // link by more than that is replaced in the slot.
            let replaced = u64::from(queue_delay > 0.3);
            LinkReading {
                at,
                replaced,
                tcp: TcpInfo {
                    rtt: Duration::from_secs_f64(0.002 + queue_delay),
                    min_rtt: Duration::from_millis(2),
                    bytes_acked: self.acked as u64,
                    unsent_bytes: 0,
                    delivery_rate: self.rate as u64,
                    app_limited: self.queued == 0.0,
                },
            }
        }
    }

    /// Runs `seconds` of a stream wanting `ceiling` bytes a second over
    /// `link`; returns the allowed rate after each tick and the steps.
    fn run(
        control: &mut RateControl,
        link: &mut SimulatedLink,
        start: Instant,
        seconds: f64,
        ceiling: f64,
    ) -> (Vec<f64>, Vec<Step>) {
        let mut rates = Vec::new();
        let mut steps = Vec::new();
        for tick in 0..(seconds * 10.0) as u32 {
            let at = start + Duration::from_millis(100 * u64::from(tick));
            let offered = control.allowed().unwrap_or(ceiling).min(ceiling);
            let reading = link.tick(at, offered);
            if let Some(step) = control.update(&reading, ceiling) {
                steps.push(step);
            }
            rates.push(control.allowed().unwrap_or(ceiling).min(ceiling));
        }
        (rates, steps)
    }

    const CEILING: f64 = 1_800_000.0; // 720p30 at quality 80: ~14 Mbit/s

    #[test]
    fn a_slow_link_is_met_within_a_second_and_its_queue_stays_short() {
        let mut control = RateControl::new();
        let mut link = SimulatedLink::new(250_000.0); // 2 Mbit/s
        let (rates, _) = run(&mut control, &mut link, Instant::now(), 30.0, CEILING);
        assert!(
            rates[10] < 250_000.0,
            "stepped down within a second: {rates:?}"
        );
        let after_settling = &rates[50..];
        let mean = after_settling.iter().sum::<f64>() / after_settling.len() as f64;
        assert!(
            (150_000.0..250_000.0).contains(&mean),
            "uses most of the link, not more: {mean}"
        );
        assert!(
            link.queued / link.rate < 0.2,
            "{} s queued",
            link.queued / link.rate
        );
    }

    #[test]
    fn a_steady_link_changes_the_rate_about_once_a_second_not_every_frame() {
        let mut control = RateControl::new();
        let mut link = SimulatedLink::new(250_000.0);
        let start = Instant::now();
        run(&mut control, &mut link, start, 10.0, CEILING);
        let (_, steps) = run(
            &mut control,
            &mut link,
            start + Duration::from_secs(10),
            60.0,
            CEILING,
        );
        // A cycle is three steps (cruise, probe, step down) in about 3 s.
        assert!(
            steps.len() <= 75,
            "{} changes in 60 s: {steps:?}",
            steps.len()
        );
        let downs = steps
            .iter()
            .filter(|step| matches!(step, Step::Down { .. }))
            .count();
        assert!(downs >= 10, "it goes on probing: {steps:?}");
    }

    #[test]
    fn a_link_that_gets_faster_is_used_to_the_ceiling_within_five_seconds() {
        let mut control = RateControl::new();
        let mut link = SimulatedLink::new(250_000.0);
        let start = Instant::now();
        run(&mut control, &mut link, start, 20.0, CEILING);
        assert!(control.allowed().is_some());
        link.rate = 6_250_000.0; // 50 Mbit/s
        let (rates, _) = run(
            &mut control,
            &mut link,
            start + Duration::from_secs(20),
            10.0,
            CEILING,
        );
        assert!(
            rates[50..].iter().all(|rate| *rate == CEILING),
            "at the ceiling after 5 s: {rates:?}"
        );
        assert_eq!(control.allowed(), None, "no limit left");
    }

    #[test]
    fn a_fast_link_never_limits_the_stream() {
        let mut control = RateControl::new();
        let mut link = SimulatedLink::new(6_250_000.0);
        let (_, steps) = run(&mut control, &mut link, Instant::now(), 30.0, CEILING);
        assert_eq!(steps, vec![]);
        assert_eq!(control.allowed(), None);
    }

    #[test]
    fn a_path_that_gets_longer_is_not_taken_for_a_queue_for_long() {
        let mut control = RateControl::new();
        let start = Instant::now();
        let mut steps = 0;
        for tick in 0..200u64 {
            let reading = LinkReading {
                at: start + Duration::from_millis(100 * tick),
                replaced: 0,
                tcp: TcpInfo {
                    // 200 ms more from the start, while the kernel's
                    // minimum remembers the old path.
                    rtt: Duration::from_millis(202),
                    min_rtt: Duration::from_millis(2),
                    bytes_acked: 50_000 * tick,
                    delivery_rate: 500_000,
                    ..TcpInfo::default()
                },
            };
            steps += usize::from(control.update(&reading, CEILING).is_some());
        }
        assert_eq!(control.allowed(), None, "back at the ceiling");
        assert!(steps < 15, "{steps} steps");
    }

    #[test]
    fn a_reading_without_acknowledgements_yet_changes_nothing() {
        let mut control = RateControl::new();
        let reading = LinkReading {
            at: Instant::now(),
            replaced: 3,
            tcp: TcpInfo::default(),
        };
        assert_eq!(control.update(&reading, CEILING), None);
        assert_eq!(control.allowed(), None);
    }
}
