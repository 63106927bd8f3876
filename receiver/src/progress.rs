//! The receiver's progress line: every `--stats-interval` seconds, one log
//! line per connected stream with what happened in that interval (decoded
//! frames per second, frames dropped, capture→decoded latency p50, p95 and
//! p99 with their error bound, bit rate, and the quality and size the
//! sender says it uses and why, or that it is paused), so someone watching
//! the log of a receiver that has been up for weeks sees today's figures,
//! not the average since it started.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use framewire_proto::shutdown::StopSignal;

use crate::report::Registry;
use crate::stream::Stream;
use crate::stream::clock::basis_label;
use crate::stream::latency::LatencyHistogram;

/// One stream's counters at the start of an interval.
struct Mark {
    at: Instant,
    decoded: u64,
    dropped: u64,
    bytes: u64,
    latency: LatencyHistogram,
}

impl Mark {
    fn of(stream: &Stream) -> Mark {
        let counters = stream.counters();
        Mark {
            at: Instant::now(),
            decoded: counters.decoded,
            dropped: counters.dropped(),
            bytes: counters.bytes,
            latency: stream.latency(),
        }
    }
}

/// Logs a line per connected stream every `interval` until `stop`.
pub fn log_until_stopped(registry: &Registry, interval: Duration, stop: &StopSignal) {
    let mut marks: HashMap<u64, Mark> = HashMap::new();
    let mut next = Instant::now() + interval;
    while !stop.is_stopped() {
        std::thread::sleep(Duration::from_millis(100));
        if Instant::now() < next {
            continue;
        }
        next += interval;
        let streams = registry.all();
        marks.retain(|id, _| streams.iter().any(|s| s.id() == *id));
        for stream in streams.iter().filter(|s| s.is_connected()) {
            let now = Mark::of(stream);
            if let Some(before) = marks.get(&stream.id()) {
                log::info!("{}", describe(stream, before, &now));
            }
            marks.insert(stream.id(), now);
        }
    }
}

fn describe(stream: &Stream, before: &Mark, now: &Mark) -> String {
    let seconds = (now.at - before.at).as_secs_f64().max(1e-9);
    let latency = now.latency.since(&before.latency);
    let ms = |quantile| {
        latency
            .quantile_ms(quantile)
            .map_or("-".to_owned(), |v| format!("{v:.1}"))
    };
    let encoding = stream.encoding().map_or(String::new(), |encoding| {
        format!(", {}", encoding.describe())
    });
    let paused = if stream.pause().pausing(now.at).paused {
        ", paused (nobody sees it)"
    } else {
        ""
    };
    format!(
        "stream {} {}: {:.1} fps decoded, {} dropped, latency ms p50 {} p95 {} p99 {} {}, {:.0} kbit/s{encoding}{paused}",
        stream.id(),
        stream.label(),
        (now.decoded - before.decoded) as f64 / seconds,
        now.dropped - before.dropped,
        ms(0.5),
        ms(0.95),
        ms(0.99),
        basis_label(stream.clock()),
        (now.bytes - before.bytes) as f64 * 8.0 / 1000.0 / seconds,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::Encoding;
    use framewire_proto::Limit;

    #[test]
    fn the_line_shows_only_the_interval() {
        let stream = Stream::new(3, "127.0.0.1:9".parse().unwrap());
        let mut before = Mark::of(&stream);
        for _ in 0..100 {
            before.latency.record(100_000); // an old, slow start
        }
        let mut latency = before.latency.clone();
        for _ in 0..30 {
            latency.record(5_000);
        }
        let now = Mark {
            at: before.at + Duration::from_secs(1),
            decoded: 30,
            dropped: 0,
            bytes: 125_000,
            latency,
        };
        let line = describe(&stream, &before, &now);
        assert!(line.contains("30.0 fps decoded"), "{line}");
        assert!(
            line.contains("p50 5.0 p95 5.0 p99 5.0 (clock-based)"),
            "{line}"
        );
        assert!(line.ends_with("1000 kbit/s"), "{line}");
        stream.note_encoding(Encoding::of(40, 1, Limit::Link as i32));
        let line = describe(&stream, &before, &now);
        assert!(
            line.ends_with("1000 kbit/s, quality 40, 1/2 size (link)"),
            "{line}"
        );
        stream.pause().set_hidden(true);
        stream.pause().to_tell(Instant::now());
        let line = describe(&stream, &before, &now);
        assert!(line.ends_with("(link), paused (nobody sees it)"), "{line}");
    }
}
