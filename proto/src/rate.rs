//! How often a peer may make us do something: a token bucket for messages
//! ([`MessageRate`]) and a throttle for the log lines a peer causes
//! ([`LogThrottle`]).
//!
//! Both ends use them where the other end's messages arrive, so that what a
//! flooding or buggy peer costs is bounded by time, not by how fast its
//! socket is: the sender reads control messages no faster than a rate, the
//! receiver closes a sender or a page that sends many more small messages
//! than an honest one does, and neither writes more than a line every few
//! seconds about what a peer keeps doing. They keep no clock of their own:
//! every call is given the time, so tests drive them with made-up instants.
//! They do not decide what happens to a message over the rate.

use std::time::{Duration, Instant};

/// A token bucket: `per_second` messages a second on average, `burst` at
/// once after a quiet spell.
#[derive(Clone, Debug)]
pub struct MessageRate {
    per_second: f64,
    burst: f64,
    tokens: f64,
    refilled: Option<Instant>,
}

impl MessageRate {
    /// A full bucket.
    pub fn new(per_second: f64, burst: u32) -> MessageRate {
        let burst = f64::from(burst.max(1));
        MessageRate {
            per_second: per_second.max(f64::MIN_POSITIVE),
            burst,
            tokens: burst,
            refilled: None,
        }
    }

    fn refill(&mut self, now: Instant) {
        if let Some(last) = self.refilled
            && now > last
        {
            let earned = (now - last).as_secs_f64() * self.per_second;
            self.tokens = (self.tokens + earned).min(self.burst);
        }
        if self.refilled.is_none_or(|last| now > last) {
            self.refilled = Some(now);
        }
    }

    /// Takes one message's token at `now`: false when the rate is spent.
    pub fn allow(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// How long from `now` until a message may go: zero while a token is
    /// left. Takes nothing.
    pub fn wait(&mut self, now: Instant) -> Duration {
        self.refill(now);
        if self.tokens >= 1.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - self.tokens) / self.per_second)
        }
    }
}

/// Lets a kind of log line through at most once per interval; the lines
/// held back meanwhile are counted and said with the next one.
#[derive(Clone, Debug)]
pub struct LogThrottle {
    interval: Duration,
    last: Option<Instant>,
    held_back: u64,
}

impl LogThrottle {
    pub fn new(interval: Duration) -> LogThrottle {
        LogThrottle {
            interval,
            last: None,
            held_back: 0,
        }
    }

    /// Whether a line goes to the log at `now`: `Some(n)` with the number of
    /// lines held back since the last one, `None` to hold this one back.
    pub fn allow(&mut self, now: Instant) -> Option<u64> {
        if self
            .last
            .is_some_and(|last| now.saturating_duration_since(last) < self.interval)
        {
            self.held_back += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.held_back))
    }
}

/// " (and 12 more like it)" after a line that stood for others, else "".
pub fn held_back_note(held_back: u64) -> String {
    match held_back {
        0 => String::new(),
        n => format!(" (and {n} more like it since the last such line)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_gives_its_burst_then_its_rate() {
        let start = Instant::now();
        let mut rate = MessageRate::new(10.0, 5);
        let allowed = (0..100).filter(|_| rate.allow(start)).count();
        assert_eq!(allowed, 5, "the burst, then nothing at the same instant");
        assert_eq!(rate.wait(start), Duration::from_millis(100));
        // One second later: ten more, never more than the burst.
        let later = start + Duration::from_secs(1);
        assert_eq!((0..100).filter(|_| rate.allow(later)).count(), 5);
        let spread: usize = (1..=100)
            .filter(|i| rate.allow(later + Duration::from_millis(10 * i)))
            .count();
        // Ten a second over one second (the tenth may fall on either side
        // of the second's end by a rounding of the time).
        assert!((9..=10).contains(&spread), "{spread}");
    }

    #[test]
    fn time_going_backwards_earns_nothing() {
        let start = Instant::now() + Duration::from_secs(10);
        let mut rate = MessageRate::new(1.0, 1);
        assert!(rate.allow(start));
        assert!(!rate.allow(start - Duration::from_secs(5)));
        assert!(!rate.allow(start));
        assert!(rate.allow(start + Duration::from_secs(1)));
    }

    #[test]
    fn a_throttle_counts_what_it_held_back() {
        let start = Instant::now();
        let mut throttle = LogThrottle::new(Duration::from_secs(5));
        assert_eq!(throttle.allow(start), Some(0));
        for i in 1..=9 {
            assert_eq!(throttle.allow(start + Duration::from_millis(400 * i)), None);
        }
        assert_eq!(throttle.allow(start + Duration::from_secs(5)), Some(9));
        assert!(held_back_note(9).contains("9 more"));
        assert_eq!(held_back_note(0), "");
    }
}
