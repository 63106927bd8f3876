//! Whether a stream is live, stale, paused or disconnected, by one rule for
//! the window's tiles and the web page's: a stream stops being live when no
//! frame has come for [`stale_after`] its usual frame interval (half a
//! second at 30 fps); it is then stale, with the time since its last frame,
//! or disconnected once its connection has closed. A stream whose sender
//! was paused (nobody could see it, [`crate::stream::pause`]) is paused, not stale,
//! and stays so after the resume until its next frame has had the same
//! time to come. Plain arithmetic.

use std::time::{Duration, Instant};

use crate::stream::pause::Pausing;

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
    /// Its sender was asked to send nothing: nobody could see it.
    Paused,
    Disconnected,
}

impl Status {
    /// The warning drawn over the picture, if any: "stale 3.2 s" (tenths
    /// for the first 10 s, then whole seconds), "paused" or "disconnected".
    pub fn marker(self) -> Option<String> {
        match self {
            Status::Live => None,
            Status::Stale(since) if since < Duration::from_secs(10) => {
                Some(format!("stale {:.1} s", since.as_secs_f64()))
            }
            Status::Stale(since) => Some(format!("stale {} s", since.as_secs())),
            Status::Paused => Some("paused".into()),
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
pub fn status(
    since_last_frame: Duration,
    frame_interval: Duration,
    connected: bool,
    pausing: Pausing,
) -> Status {
    if !connected {
        return Status::Disconnected;
    }
    if pausing.paused {
        return Status::Paused;
    }
    let stale_after = stale_after(frame_interval);
    let mut quiet = since_last_frame;
    if let Some(since_resumed) = pausing.since_resumed
        && since_resumed < since_last_frame
    {
        // No frame since the resume: its first is on its way, and the
        // quiet time starts there.
        if since_resumed < stale_after {
            return Status::Paused;
        }
        quiet = since_resumed;
    }
    if quiet >= stale_after {
        Status::Stale(quiet)
    } else {
        Status::Live
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME_30FPS: Duration = Duration::from_millis(33);

    const WATCHED: Pausing = Pausing {
        paused: false,
        since_resumed: None,
    };

    #[test]
    fn a_stream_is_flagged_stale_within_a_second_and_disconnected_when_gone() {
        let ms = Duration::from_millis;
        let status = |since, interval, connected| status(since, interval, connected, WATCHED);
        assert_eq!(status(ms(40), FRAME_30FPS, true), Status::Live);
        assert_eq!(status(ms(499), FRAME_30FPS, true), Status::Live);
        assert_eq!(status(ms(500), FRAME_30FPS, true), Status::Stale(ms(500)));
        // A slow stream (2 fps) is not flagged between two of its frames.
        assert_eq!(status(ms(600), ms(500), true), Status::Live);
        assert_eq!(status(ms(1300), ms(500), true), Status::Stale(ms(1300)));
        assert_eq!(status(ms(10), FRAME_30FPS, false), Status::Disconnected);
    }

    #[test]
    fn a_paused_stream_is_paused_not_stale_until_its_first_frame_is_late() {
        let ms = Duration::from_millis;
        let paused = Pausing {
            paused: true,
            since_resumed: None,
        };
        assert_eq!(
            status(ms(60_000), FRAME_30FPS, true, paused),
            Status::Paused
        );
        assert_eq!(
            status(ms(60_000), FRAME_30FPS, false, paused),
            Status::Disconnected
        );
        let resumed = |ago| Pausing {
            paused: false,
            since_resumed: Some(ms(ago)),
        };
        // Resumed 100 ms ago, no frame since: the next one is on its way.
        assert_eq!(
            status(ms(60_000), FRAME_30FPS, true, resumed(100)),
            Status::Paused
        );
        // It never came: stale since the resume, not since the pause.
        assert_eq!(
            status(ms(60_000), FRAME_30FPS, true, resumed(700)),
            Status::Stale(ms(700))
        );
        // It came: the usual rule.
        assert_eq!(
            status(ms(40), FRAME_30FPS, true, resumed(100)),
            Status::Live
        );
    }

    #[test]
    fn markers_count_tenths_then_seconds() {
        let ms = Duration::from_millis;
        assert_eq!(Status::Live.marker(), None);
        assert_eq!(Status::Stale(ms(3240)).marker().unwrap(), "stale 3.2 s");
        assert_eq!(Status::Stale(ms(75_900)).marker().unwrap(), "stale 75 s");
        assert_eq!(Status::Disconnected.marker().unwrap(), "disconnected");
        assert_eq!(Status::Paused.marker().unwrap(), "paused");
        let now = Instant::now();
        assert_eq!(Status::Stale(ms(3240)).next_change(now), Some(now + ms(60)));
        assert_eq!(
            Status::Stale(ms(75_900)).next_change(now),
            Some(now + ms(100))
        );
        assert_eq!(Status::Disconnected.next_change(now), None);
    }
}
