//! From an allowed rate to encoder settings: the ladder of qualities and
//! picture sizes, and what a frame at each of them is expected to weigh.
//!
//! The ladder runs from the ceiling (`--quality`, full size) down in steps
//! of [`QUALITY_STEP`] to the floor (`--min-quality`), then the same
//! qualities at half the width and height, then at a quarter. A frame's
//! size is predicted from the frames just encoded: JPEG bytes grow about
//! as the square root of the inverse of libjpeg's quantiser scale (on
//! camera-like content at 720p quality 80 to 30 takes a frame from 59 to
//! 30 KB), and each picture size has a figure of its own; a size not seen
//! yet is guessed from its neighbour, on the big side (half size at
//! quality 80 measured 18 KB, 0.3 of the full size). A misprediction only costs one
//! more step: the next frames are measured again. The highest rung whose
//! frames fit the allowed rate at the frame rate is chosen; climbing back
//! to a higher rung needs [`CLIMB_MARGIN`] of room, so the choice does not
//! flap between two rungs on a steady link.

/// Quality between two rungs at the same size.
pub const QUALITY_STEP: u8 = 5;
/// How many times a picture may be halved below the floor.
pub const MAX_HALVINGS: u8 = 2;
/// A halving is not made below this width, in pixels.
pub const MIN_HALVED_WIDTH: u32 = 160;
/// The share of a frame's bytes left after halving its width and height,
/// as guessed for a size not encoded yet: from a bigger size a little
/// more than the 0.3 measured on camera-like content, from a smaller one
/// the pixel ratio (the most it can be), so a guess errs on the big side
/// and a climb to a size not seen yet needs room to spare.
pub const HALVING_FACTOR_DOWN: f64 = 0.35;
pub const HALVING_FACTOR_UP: f64 = 0.25;
/// A higher rung is taken only when its frames fit with this much to spare.
pub const CLIMB_MARGIN: f64 = 1.1;
/// The weight of the newest frame in the running size figure.
const SIZE_SMOOTHING: f64 = 0.2;

/// One rung: what the encoder makes a picture with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rung {
    pub quality: u8,
    /// The picture's width and height are halved this many times first.
    pub halvings: u8,
}

/// The rungs between a ceiling and a floor, top first.
#[derive(Clone, Debug)]
pub struct Ladder {
    rungs: Vec<Rung>,
}

impl Ladder {
    /// The rungs from `ceiling` to `floor` at full size, then at each size
    /// down to `max_halvings` halvings.
    pub fn new(ceiling: u8, floor: u8, max_halvings: u8) -> Ladder {
        let floor = floor.min(ceiling);
        let mut qualities: Vec<u8> = (floor..=ceiling)
            .rev()
            .step_by(QUALITY_STEP.into())
            .collect();
        if qualities.last() != Some(&floor) {
            qualities.push(floor);
        }
        let rungs = (0..=max_halvings)
            .flat_map(|halvings| {
                qualities
                    .iter()
                    .map(move |&quality| Rung { quality, halvings })
            })
            .collect();
        Ladder { rungs }
    }

    pub fn top(&self) -> Rung {
        self.rungs[0]
    }

    /// Whether `rung` is higher on the ladder than `other`.
    pub fn is_above(&self, rung: Rung, other: Rung) -> bool {
        let index = |wanted: Rung| self.rungs.iter().position(|rung| *rung == wanted);
        matches!((index(rung), index(other)), (Some(a), Some(b)) if a < b)
    }

    /// The highest rung at or below `current` whose frames fit `allowed`
    /// bytes a second at `fps`, or above it with [`CLIMB_MARGIN`] to spare;
    /// the lowest rung when none fits.
    /// Rungs at or above `barred` are not climbed to (they just failed).
    pub fn choose(
        &self,
        model: &SizeModel,
        allowed: f64,
        fps: f64,
        current: Rung,
        barred: Option<Rung>,
    ) -> Rung {
        let current_index = self.rungs.iter().position(|rung| *rung == current);
        let first = barred
            .and_then(|barred| self.rungs.iter().position(|rung| *rung == barred))
            .map_or(0, |barred| (barred + 1).min(current_index.unwrap_or(0)));
        for (index, rung) in self.rungs.iter().enumerate().skip(first) {
            let Some(bytes) = model.predict(*rung) else {
                return current;
            };
            let margin = if current_index.is_some_and(|current| index < current) {
                CLIMB_MARGIN
            } else {
                1.0
            };
            if bytes * fps * margin <= allowed {
                return *rung;
            }
        }
        *self.rungs.last().expect("a ladder has rungs")
    }
}

/// The running size of frames at each picture size, as bytes at quality
/// 50, so one figure per size predicts every quality. A size not encoded
/// yet is predicted from the nearest one that was ([`HALVING_FACTOR_DOWN`],
/// [`HALVING_FACTOR_UP`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct SizeModel {
    /// By halvings.
    reference_bytes: [Option<f64>; MAX_HALVINGS as usize + 1],
}

/// A running figure moved `weight` of the way to `newest` (the newest
/// itself when there is none yet).
pub fn smoothed(running: Option<f64>, newest: f64, weight: f64) -> f64 {
    running.map_or(newest, |running| running + weight * (newest - running))
}

/// How much bigger a frame at `quality` is than at quality 50.
fn quality_weight(quality: u8) -> f64 {
    let quality = f64::from(quality.clamp(1, 100));
    // libjpeg's scale of its quantisation tables, in percent.
    let scale = if quality < 50.0 {
        5000.0 / quality
    } else {
        200.0 - 2.0 * quality
    };
    (100.0 / scale.max(1.0)).sqrt()
}

impl SizeModel {
    /// A frame of `bytes` was encoded at `rung`.
    pub fn encoded(&mut self, bytes: usize, rung: Rung) {
        let reference = bytes as f64 / quality_weight(rung.quality);
        let Some(running) = self.reference_bytes.get_mut(usize::from(rung.halvings)) else {
            return;
        };
        *running = Some(smoothed(*running, reference, SIZE_SMOOTHING));
    }

    /// The expected size of a frame at `rung`; `None` before any frame.
    pub fn predict(&self, rung: Rung) -> Option<f64> {
        let wanted = i32::from(rung.halvings);
        let (measured, reference) = self
            .reference_bytes
            .iter()
            .enumerate()
            .filter_map(|(halvings, bytes)| Some((halvings as i32, (*bytes)?)))
            .min_by_key(|(halvings, _)| (halvings - wanted).abs())?;
        let steps = wanted - measured;
        let factor = if steps >= 0 {
            HALVING_FACTOR_DOWN.powi(steps)
        } else {
            HALVING_FACTOR_UP.powi(steps)
        };
        Some(reference * factor * quality_weight(rung.quality))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rung(quality: u8, halvings: u8) -> Rung {
        Rung { quality, halvings }
    }

    #[test]
    fn the_ladder_runs_from_the_ceiling_to_the_floor_at_each_size() {
        let ladder = Ladder::new(80, 32, 1);
        let qualities = [80, 75, 70, 65, 60, 55, 50, 45, 40, 35, 32];
        let expected: Vec<Rung> = [0, 1]
            .into_iter()
            .flat_map(|h| qualities.iter().map(move |&q| rung(q, h)))
            .collect();
        assert_eq!(ladder.rungs, expected);
        assert_eq!(
            Ladder::new(30, 50, 0).rungs,
            vec![rung(30, 0)],
            "floor above ceiling"
        );
    }

    #[test]
    fn sizes_are_predicted_from_the_frames_just_encoded() {
        let mut model = SizeModel::default();
        assert_eq!(model.predict(rung(80, 0)), None);
        model.encoded(60_000, rung(80, 0));
        let at_30 = model.predict(rung(30, 0)).unwrap();
        assert!((25_000.0..35_000.0).contains(&at_30), "{at_30}");
        let halved = model.predict(rung(80, 1)).unwrap();
        assert!((18_000.0..22_000.0).contains(&halved), "{halved}");
        assert!((model.predict(rung(80, 0)).unwrap() - 60_000.0).abs() < 1.0);
        // Once half-size frames are seen, they are predicted from those.
        model.encoded(30_000, rung(80, 1));
        assert!((model.predict(rung(80, 1)).unwrap() - 30_000.0).abs() < 1.0);
        assert!((model.predict(rung(80, 0)).unwrap() - 60_000.0).abs() < 1.0);
        let quarter = model.predict(rung(80, 2)).unwrap();
        assert!(
            (quarter - 10_500.0).abs() < 1.0,
            "from the half size: {quarter}"
        );
        model = SizeModel::default();
        model.encoded(5_000, rung(80, 2));
        let full = model.predict(rung(80, 0)).unwrap();
        assert!(
            (full - 80_000.0).abs() < 1.0,
            "from the quarter size: {full}"
        );
    }

    #[test]
    fn the_highest_rung_that_fits_is_chosen_and_climbing_needs_room() {
        let ladder = Ladder::new(80, 30, 2);
        let mut model = SizeModel::default();
        model.encoded(60_000, rung(80, 0));
        // 30 fps of 60 KB frames: 1.8 MB/s.
        assert_eq!(
            ladder.choose(&model, 2_000_000.0, 30.0, rung(80, 0), None),
            rung(80, 0)
        );
        // 2 Mbit/s: not even full size at quality 30 fits.
        let slow = ladder.choose(&model, 200_000.0, 30.0, rung(80, 0), None);
        assert!(slow.halvings >= 1, "{slow:?}");
        let bytes = model.predict(slow).unwrap() * 30.0;
        assert!(bytes <= 200_000.0, "{bytes}");
        // Just enough room for the rung above is not enough to climb.
        let above = ladder.rungs[ladder.rungs.iter().position(|r| *r == slow).unwrap() - 1];
        let just = model.predict(above).unwrap() * 30.0 * 1.05;
        assert_eq!(ladder.choose(&model, just, 30.0, slow, None), slow);
        // A rung that just failed is not climbed to, however much room.
        assert_eq!(ladder.choose(&model, 1e9, 30.0, slow, Some(above)), slow);
        // Nothing fits: the lowest rung.
        assert_eq!(
            ladder.choose(&model, 10.0, 30.0, rung(80, 0), None),
            rung(30, 2)
        );
    }
}
