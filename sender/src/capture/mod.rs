//! Frame sources: where pictures come from before they are encoded.
//!
//! Every source implements [`Source`] and runs on the capture thread, handing
//! out [`RawFrame`]s stamped with their capture time: the test pattern
//! ([`pattern`]), a file ([`file`]) or a V4L2 camera ([`v4l2`]). A camera
//! delivers at its own rate; a source without a clock says so and is paced
//! by a [`Pacer`]. Sources do not encode or send anything; the helpers here
//! turn camera buffers into pictures ([`raw`], [`mjpeg_repair`]) and skip
//! repeated ones ([`same_frames`]).

pub mod file;
pub mod pattern;
pub mod same_frames;
pub mod v4l2;

use std::time::{Duration, Instant};

/// How much the chroma planes of a [`PlanarImage`] are subsampled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChromaSampling {
    /// Half width, half height (most video, Y4M `C420*`).
    Yuv420,
    /// Half width, full height (YUYV cameras, Y4M `C422`).
    Yuv422,
}

impl ChromaSampling {
    /// Luma rows per chroma row.
    pub fn vertical_factor(self) -> usize {
        match self {
            ChromaSampling::Yuv420 => 2,
            ChromaSampling::Yuv422 => 1,
        }
    }
}

/// A picture in planar YCbCr (JPEG's full-range BT.601), each plane padded
/// to whole 8x8 blocks as the JPEG encoder's raw-data input needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanarImage {
    pub width: u32,
    pub height: u32,
    pub sampling: ChromaSampling,
    /// Luma, then blue-difference and red-difference chroma.
    pub planes: [Vec<u8>; 3],
    /// Bytes per row of each plane.
    pub strides: [usize; 3],
}

impl PlanarImage {
    /// A mid-grey image of `width` x `height` pixels.
    pub fn new(width: u32, height: u32, sampling: ChromaSampling) -> PlanarImage {
        let (w, h) = (width as usize, height as usize);
        // The sizes libjpeg computes for each component: whole 8x8 blocks of
        // the full-size luma and of the subsampled (rounded up) chroma.
        let luma = (w.div_ceil(8) * 8, h.div_ceil(8) * 8);
        let chroma_rows = h.div_ceil(8 * sampling.vertical_factor()) * 8;
        let chroma = (w.div_ceil(16) * 8, chroma_rows);
        PlanarImage {
            width,
            height,
            sampling,
            planes: [
                vec![128; luma.0 * luma.1],
                vec![128; chroma.0 * chroma.1],
                vec![128; chroma.0 * chroma.1],
            ],
            strides: [luma.0, chroma.0, chroma.0],
        }
    }
}

/// Full-range BT.601 YCbCr, as JPEG (JFIF) defines it, of an RGB colour.
pub fn rgb_to_ycbcr([r, g, b]: [u8; 3]) -> [u8; 3] {
    let (r, g, b) = (r as f32, g as f32, b as f32);
    let y = 0.299 * r + 0.587 * g + 0.114 * b;
    let cb = 128.0 - 0.168_736 * r - 0.331_264 * g + 0.5 * b;
    let cr = 128.0 + 0.5 * r - 0.418_688 * g - 0.081_312 * b;
    [y, cb, cr].map(|v| v.round().clamp(0.0, 255.0) as u8)
}

/// A picture as a source delivers it.
#[derive(Clone, Debug)]
pub enum Picture {
    /// Raw planes, to be encoded.
    Planar(PlanarImage),
    /// A JPEG already (an MJPEG file or camera), passed through as it is.
    Jpeg {
        data: bytes::Bytes,
        width: u32,
        height: u32,
    },
}

/// One picture from a source.
#[derive(Clone, Debug)]
pub struct RawFrame {
    pub picture: Picture,
    /// Counts the source's pictures from 0; gaps downstream are dropped frames.
    pub sequence: u64,
    /// When the picture was taken, in microseconds since the Unix epoch.
    pub capture_time_us: u64,
}

/// Something that produces pictures: the test pattern, a file, a camera.
pub trait Source: Send {
    /// Returns the next picture, blocking until the source has one;
    /// `None` when the sender is stopping.
    fn next_frame(&mut self) -> anyhow::Result<Option<RawFrame>>;

    /// Gives back frames that arrived while nobody took them (the sender
    /// waited for a receiver), so the next one is fresh; returns how many.
    /// Only sources with a clock of their own (cameras) have any.
    fn discard_stale(&mut self) -> u64 {
        0
    }

    /// Lets go of the device while nobody watches (a camera is closed, and
    /// the next [`next_frame`](Self::next_frame) opens it again). Sources
    /// that hold no device have nothing to release.
    fn release(&mut self) {}

    /// A short description for the log, e.g. "test pattern 1280x720".
    fn describe(&self) -> String;

    /// True for sources that make pictures on demand and so need a [`Pacer`].
    fn needs_pacing(&self) -> bool;
}

/// Paces a source that has no clock of its own to a steady frame rate.
///
/// Deadlines are kept on a fixed grid so that small delays do not add up; a
/// source that falls more than a frame behind restarts the grid instead of
/// bursting to catch up. Zero frames per second means no pacing at all.
pub struct Pacer {
    interval: Option<Duration>,
    next_deadline: Option<Instant>,
}

impl Pacer {
    pub fn new(frames_per_second: u32) -> Pacer {
        Pacer {
            interval: (frames_per_second > 0).then(|| Duration::from_secs(1) / frames_per_second),
            next_deadline: None,
        }
    }

    /// Sleeps until the next frame is due.
    pub fn wait(&mut self) {
        let Some(interval) = self.interval else {
            return;
        };
        let now = Instant::now();
        let deadline = match self.next_deadline {
            Some(deadline) if deadline + interval > now => deadline,
            _ => now,
        };
        if deadline > now {
            std::thread::sleep(deadline - now);
        }
        self.next_deadline = Some(deadline + interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planes_are_padded_to_whole_blocks() {
        let image = PlanarImage::new(1920, 1080, ChromaSampling::Yuv420);
        assert_eq!(image.strides, [1920, 960, 960]);
        assert_eq!(image.planes[0].len(), 1920 * 1080);
        assert_eq!(image.planes[1].len(), 960 * 544);
        let full_height = PlanarImage::new(1920, 1080, ChromaSampling::Yuv422);
        assert_eq!(full_height.planes[1].len(), 960 * 1080);
        let odd = PlanarImage::new(1001, 3, ChromaSampling::Yuv420);
        assert_eq!(odd.strides, [1008, 504, 504]);
        assert_eq!(odd.planes[0].len(), 1008 * 8);
    }

    #[test]
    fn the_pacer_keeps_the_asked_rate() {
        let mut pacer = Pacer::new(100);
        let start = Instant::now();
        for _ in 0..11 {
            pacer.wait();
        }
        // Ten intervals of 10 ms: the clock never runs faster than asked.
        assert!(start.elapsed() >= Duration::from_millis(100));
    }
}
