//! `--drop-same-frames`: skipping pictures identical to the one before.
//!
//! A static scene through an HDMI grabber or a screen capture repeats the
//! same picture for minutes; sending it again costs bandwidth and, for raw
//! formats, an encode on the board. The filter lets a picture through when
//! it differs from the previous one, and at least once per heartbeat
//! interval anyway, so the receiver always knows the stream is alive and
//! shows the current picture after it connects.

use std::time::{Duration, Instant};

use super::Picture;

pub struct SameFrameFilter {
    heartbeat: Duration,
    previous: Option<Picture>,
    last_passed: Option<Instant>,
}

impl SameFrameFilter {
    /// A filter that lets an unchanged picture through every `heartbeat`.
    pub fn new(heartbeat: Duration) -> SameFrameFilter {
        SameFrameFilter {
            heartbeat,
            previous: None,
            last_passed: None,
        }
    }

    /// True when `picture`, taken at `now`, should be sent.
    pub fn should_send(&mut self, picture: &Picture, now: Instant) -> bool {
        let unchanged = self
            .previous
            .as_ref()
            .is_some_and(|previous| same_picture(previous, picture));
        let heartbeat_due = self
            .last_passed
            .is_none_or(|last| now.duration_since(last) >= self.heartbeat);
        if unchanged && !heartbeat_due {
            return false;
        }
        if !unchanged {
            self.previous = Some(picture.clone());
        }
        self.last_passed = Some(now);
        true
    }
}

fn same_picture(a: &Picture, b: &Picture) -> bool {
    match (a, b) {
        (Picture::Jpeg { data: a, .. }, Picture::Jpeg { data: b, .. }) => a == b,
        (Picture::Planar(a), Picture::Planar(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn jpeg(content: &'static [u8]) -> Picture {
        Picture::Jpeg {
            data: Bytes::from_static(content),
            width: 16,
            height: 16,
        }
    }

    #[test]
    fn identical_frames_are_skipped_but_one_goes_out_every_heartbeat() {
        let start = Instant::now();
        let mut filter = SameFrameFilter::new(Duration::from_secs(1));
        let at = |ms| start + Duration::from_millis(ms);
        assert!(filter.should_send(&jpeg(b"a"), at(0)));
        // The same picture at 30 fps: skipped until a second has passed.
        let sent: Vec<u64> = (1..=70)
            .map(|frame| frame * 33)
            .filter(|&ms| filter.should_send(&jpeg(b"a"), at(ms)))
            .collect();
        assert_eq!(sent, [1023, 2046]);
        // A change goes out at once.
        assert!(filter.should_send(&jpeg(b"b"), at(2050)));
        assert!(!filter.should_send(&jpeg(b"b"), at(2080)));
        assert!(filter.should_send(&jpeg(b"a"), at(2100)));
    }

    #[test]
    fn raw_pictures_are_compared_by_their_pixels() {
        use crate::capture::pattern::PatternSource;
        let start = Instant::now();
        let mut filter = SameFrameFilter::new(Duration::from_secs(1));
        let picture = Picture::Planar(PatternSource::still(64, 48));
        assert!(filter.should_send(&picture, start));
        assert!(!filter.should_send(&picture.clone(), start + Duration::from_millis(10)));
        let Picture::Planar(mut changed) = picture else {
            unreachable!()
        };
        changed.planes[0][100] ^= 1;
        assert!(filter.should_send(&Picture::Planar(changed), start + Duration::from_millis(20)));
    }
}
