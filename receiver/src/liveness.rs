//! Whether a stream is live, stale or disconnected, by one rule for the
//! window's tiles and the web page's: a stream stops being live when no
//! frame has come for [`stale_after`] its usual frame interval (half a
//! second at 30 fps); it is then stale, with the time since its last frame,
//! or disconnected once its connection has closed. Plain arithmetic.

use std::time::{Duration, Instant};

/// A stream is stale after this long without a frame, at least.
const STALE_MIN: Duration = Duration::from_millis(500);
/// ... or after this many of its usual frame intervals, if that is longer.
const STALE_INTERVALS: f64 = 2.5;

/// How a tile's stream is doing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Status {
    Live,
    /// No frame for this long.
    Stale(Duration),
    Disconnected,
}

impl Status {
    /// The warning drawn over the picture, if any: "stale 3.2 s" (tenths
    /// for the first 10 s, then whole seconds) or "disconnected".
    pub fn marker(self) -> Option<String> {
        match self {
            Status::Live => None,
            Status::Stale(since) if since < Duration::from_secs(10) => {
                Some(format!("stale {:.1} s", since.as_secs_f64()))
            }
            Status::Stale(since) => Some(format!("stale {} s", since.as_secs())),
            Status::Disconnected => Some("disconnected".into()),
        }
    }

    /// When the marker text changes next, if it does by itself.
    pub fn next_change(self, now: Instant) -> Option<Instant> {
        match self {
            Status::Stale(since) if since < Duration::from_secs(10) => {
                Some(now + Duration::from_millis(100 - (since.as_millis() % 100) as u64))
            }
            Status::Stale(since) => {
                Some(now + Duration::from_millis(1000 - (since.as_millis() % 1000) as u64))
            }
            _ => None,
        }
    }
}

/// How long a stream with `frame_interval` may go without a frame before
/// it is flagged stale.
pub fn stale_after(frame_interval: Duration) -> Duration {
    frame_interval.mul_f64(STALE_INTERVALS).max(STALE_MIN)
}

/// The status of a stream that last delivered `since_last_frame` ago.
pub fn status(since_last_frame: Duration, frame_interval: Duration, connected: bool) -> Status {
    if !connected {
        Status::Disconnected
    } else if since_last_frame >= stale_after(frame_interval) {
        Status::Stale(since_last_frame)
    } else {
        Status::Live
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME_30FPS: Duration = Duration::from_millis(33);

    #[test]
    fn a_stream_is_flagged_stale_within_a_second_and_disconnected_when_gone() {
        let ms = Duration::from_millis;
        assert_eq!(status(ms(40), FRAME_30FPS, true), Status::Live);
        assert_eq!(status(ms(499), FRAME_30FPS, true), Status::Live);
        assert_eq!(status(ms(500), FRAME_30FPS, true), Status::Stale(ms(500)));
        // A slow stream (2 fps) is not flagged between two of its frames.
        assert_eq!(status(ms(600), ms(500), true), Status::Live);
        assert_eq!(status(ms(1300), ms(500), true), Status::Stale(ms(1300)));
        assert_eq!(status(ms(10), FRAME_30FPS, false), Status::Disconnected);
    }

    #[test]
    fn markers_count_tenths_then_seconds() {
        let ms = Duration::from_millis;
        assert_eq!(Status::Live.marker(), None);
        assert_eq!(Status::Stale(ms(3240)).marker().unwrap(), "stale 3.2 s");
        assert_eq!(Status::Stale(ms(75_900)).marker().unwrap(), "stale 75 s");
        assert_eq!(Status::Disconnected.marker().unwrap(), "disconnected");
        let now = Instant::now();
        assert_eq!(Status::Stale(ms(3240)).next_change(now), Some(now + ms(60)));
        assert_eq!(
            Status::Stale(ms(75_900)).next_change(now),
            Some(now + ms(100))
        );
        assert_eq!(Status::Disconnected.next_change(now), None);
    }
}
