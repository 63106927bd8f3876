//! A histogram of latencies with fixed memory (about 1.5 % resolution up to
//! 19 hours), so a stream can be measured for months without growing, and
//! the quantiles that the report and the progress line print. It
//! knows nothing about streams.

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
    /// How many times it was emptied by [`LatencyHistogram::restart`].
    restarts: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            counts: vec![0; OCTAVES * SUB_BUCKETS],
            total: 0,
            restarts: 0,
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

    /// Forgets every latency recorded so far (their clock basis changed).
    pub fn restart(&mut self) {
        self.counts.fill(0);
        self.total = 0;
        self.restarts += 1;
    }

    /// The latencies recorded since `earlier`, a copy of this histogram
    /// (all of them, if it was restarted since).
    pub fn since(&self, earlier: &LatencyHistogram) -> LatencyHistogram {
        if self.restarts != earlier.restarts {
            return self.clone();
        }
        LatencyHistogram {
            restarts: self.restarts,
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn an_interval_across_a_restart_holds_only_what_came_after_it() {
        let mut histogram = LatencyHistogram::default();
        for _ in 0..100 {
            histogram.record(4_000_000); // clock-based: 4 s off
        }
        let mark = histogram.clone();
        histogram.restart();
        for _ in 0..10 {
            histogram.record(5_000);
        }
        let interval = histogram.since(&mark);
        assert_eq!(interval.count(), 10);
        assert!((interval.quantile_ms(0.99).unwrap() - 5.0).abs() < 0.1);
    }

    #[test]
    fn an_empty_histogram_has_no_quantiles_and_huge_values_do_not_overflow() {
        let mut histogram = LatencyHistogram::default();
        assert_eq!(histogram.quantile_ms(0.5), None);
        histogram.record(u64::MAX);
        assert!(histogram.quantile_ms(0.5).unwrap() > 1e6);
    }
}
