//! The capture thread and the JPEG encoder workers, and mozjpeg encoding.
//!
//! One capture thread takes pictures from the source only when an encoder
//! worker is free to take them, so nothing waits in a queue and every
//! picture encoded is the newest the source has; while all workers are
//! busy, a camera's stale frames are given back to the driver. `--workers`
//! encoders run in parallel, each frame tagged with a ticket in capture
//! order, and a finished frame waits for the ones before it, so frames
//! leave in capture order. They go into the transport's latest-frame slot,
//! where a newer frame replaces one the network had no time to send.
//!
//! The encoder feeds mozjpeg the YCbCr planes directly (its raw-data
//! interface), so no colour conversion happens on the board, and uses
//! mozjpeg's fastest profile: baseline, no trellis, no optimised Huffman
//! tables. mozjpeg's own defaults (progressive, trellis) make files about 45 %
//! smaller but cost ~25x the time per frame, which no live stream can afford.
//! Encoding never panics outward: libjpeg errors become `Err`.

use std::panic::{self, AssertUnwindSafe};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use framewire_proto::Frame;
use framewire_proto::shutdown::StopSignal;
use framewire_proto::slot::SlotSender;
use mozjpeg::{ColorSpace, Compress};

use crate::capture::same_frames::SameFrameFilter;
use crate::capture::{ChromaSampling, Pacer, Picture, PlanarImage, RawFrame, Source};
use crate::stats::SenderStats;

/// How often the capture thread, waiting for a free worker, gives a
/// camera's stale frames back.
const DRAIN_INTERVAL: Duration = Duration::from_millis(5);

/// Where and how capture and encoding run.
pub struct EncodeStage<'a> {
    pub encoder: JpegEncoder,
    /// Encoder threads; frames still leave in capture order.
    pub workers: usize,
    pub stream_name: String,
    /// Stop after this many pictures (`--frames`).
    pub frame_limit: Option<u64>,
    /// Paces sources that have no clock of their own.
    pub pacer: Pacer,
    /// `--drop-same-frames`.
    pub same_frames: Option<SameFrameFilter>,
    pub stats: &'a SenderStats,
    pub stop: &'a StopSignal,
}

impl EncodeStage<'_> {
    /// Takes pictures from `source`, encodes each and puts it in `output`,
    /// until stopped, the frame limit is reached or the source fails.
    /// A picture that fails to encode is logged, counted and skipped.
    pub fn run(
        &mut self,
        source: &mut dyn Source,
        output: SlotSender<Frame>,
    ) -> anyhow::Result<()> {
        log::info!("source: {}", source.describe());
        let handoff = Handoff::default();
        let workers = self.workers.max(1);
        handoff.lock().live_workers = workers;
        std::thread::scope(|scope| {
            for _ in 0..workers {
                let (handoff, output) = (&handoff, output.clone());
                let (encoder, stats, stop) = (self.encoder.clone(), self.stats, self.stop);
                let stream_name = self.stream_name.clone();
                scope.spawn(move || {
                    encode_worker(handoff, &encoder, &stream_name, &output, stats, stop)
                });
            }
            drop(output);
            let result = self.capture(source, &handoff);
            handoff.close();
            result
        })
    }

    /// The capture thread: one picture each time a worker is free.
    fn capture(&mut self, source: &mut dyn Source, handoff: &Handoff) -> anyhow::Result<()> {
        let mut taken = 0;
        while !self.stop.is_stopped() && self.frame_limit.is_none_or(|limit| taken < limit) {
            if source.needs_pacing() {
                self.pacer.wait();
            }
            if !handoff.wait_for_free_worker(source, self.stats, self.stop) {
                break; // the workers are gone: the transport ended
            }
            let started = Instant::now();
            let Some(raw) = source.next_frame()? else {
                break;
            };
            SenderStats::add(&self.stats.captured, 1);
            SenderStats::add(
                &self.stats.capture_nanos,
                started.elapsed().as_nanos() as u64,
            );
            if let Some(filter) = &mut self.same_frames
                && !filter.should_send(&raw.picture, Instant::now())
            {
                SenderStats::add(&self.stats.same_skipped, 1);
                continue;
            }
            taken += 1;
            handoff.give(raw);
        }
        Ok(())
    }
}

/// Hands pictures from the capture thread to idle workers and lets
/// finished frames out in the order they were captured.
#[derive(Default)]
struct Handoff {
    state: Mutex<HandoffState>,
    changed: Condvar,
}

#[derive(Default)]
struct HandoffState {
    /// Workers waiting for a picture.
    idle_workers: usize,
    /// Workers that are still running.
    live_workers: usize,
    waiting: Option<RawFrame>,
    closed: bool,
    /// Ticket of the next picture given to a worker.
    next_ticket: u64,
    /// Ticket of the next frame allowed out.
    next_out: u64,
}

impl Handoff {
    fn lock(&self) -> MutexGuard<'_, HandoffState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Blocks until a worker is idle and no picture is waiting for it,
    /// giving the source's stale frames back meanwhile. False when no
    /// worker is left or the sender stops.
    fn wait_for_free_worker(
        &self,
        source: &mut dyn Source,
        stats: &SenderStats,
        stop: &StopSignal,
    ) -> bool {
        loop {
            {
                let state = self.lock();
                let (state, _) = self
                    .changed
                    .wait_timeout_while(state, DRAIN_INTERVAL, |state| {
                        state.waiting.is_some()
                            || (state.idle_workers == 0 && state.live_workers > 0)
                    })
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                if state.live_workers == 0 || stop.is_stopped() {
                    return false;
                }
                if state.waiting.is_none() && state.idle_workers > 0 {
                    return true;
                }
            }
            SenderStats::add(&stats.camera_skipped, source.discard_stale());
        }
    }

    fn give(&self, frame: RawFrame) {
        self.lock().waiting = Some(frame);
        self.changed.notify_all();
    }

    /// No more pictures: idle workers finish.
    fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }

    /// A worker's wait for its next picture, with its ticket; `None` once closed.
    fn take(&self) -> Option<(RawFrame, u64)> {
        let mut state = self.lock();
        state.idle_workers += 1;
        self.changed.notify_all();
        let mut state = self
            .changed
            .wait_while(state, |state| state.waiting.is_none() && !state.closed)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state.idle_workers -= 1;
        let frame = state.waiting.take()?;
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        Some((frame, ticket))
    }

    /// Waits until every frame captured before `ticket` has left, runs
    /// `send`, and lets the next one go.
    fn in_order(&self, ticket: u64, stop: &StopSignal, send: impl FnOnce()) {
        let mut state = self.lock();
        while state.next_out != ticket && !stop.is_stopped() {
            state = self
                .changed
                .wait_timeout(state, Duration::from_millis(100))
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
        send();
        state.next_out = ticket + 1;
        drop(state);
        self.changed.notify_all();
    }
}

/// One encoder worker: picture in, JPEG frame out, until the handoff closes.
fn encode_worker(
    handoff: &Handoff,
    encoder: &JpegEncoder,
    stream_name: &str,
    output: &SlotSender<Frame>,
    stats: &SenderStats,
    stop: &StopSignal,
) {
    while let Some((raw, ticket)) = handoff.take() {
        let started = Instant::now();
        let encoded = match raw.picture {
            Picture::Planar(image) => match encoder.encode(&image) {
                Ok(jpeg) => Some((jpeg.into(), image.width, image.height)),
                Err(error) => {
                    log::warn!("frame {} skipped: {error:#}", raw.sequence);
                    SenderStats::add(&stats.encode_errors, 1);
                    None
                }
            },
            Picture::Jpeg {
                data,
                width,
                height,
            } => Some((data, width, height)),
        };
        let encode_nanos = started.elapsed().as_nanos() as u64;
        let mut transport_gone = false;
        handoff.in_order(ticket, stop, || {
            let Some((image, width, height)) = encoded else {
                return;
            };
            SenderStats::add(&stats.encoded, 1);
            SenderStats::add(&stats.encode_nanos, encode_nanos);
            let frame = Frame {
                image,
                sequence: raw.sequence,
                capture_time_us: raw.capture_time_us,
                width,
                height,
                stream_name: stream_name.to_owned(),
                ..Frame::default()
            };
            transport_gone = output.put(frame).is_err();
        });
        if transport_gone {
            break;
        }
    }
    handoff.lock().live_workers -= 1;
    handoff.changed.notify_all();
}

/// What the encoder optimises for (`--quality-mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum QualityMode {
    /// mozjpeg's fastest settings: the least CPU per frame.
    #[default]
    Fast,
    /// Optimised Huffman tables: smaller frames for a second pass per frame.
    Small,
}

#[derive(Clone)]
pub struct JpegEncoder {
    quality: u8,
    mode: QualityMode,
}

impl JpegEncoder {
    /// An encoder at `quality` (1-100; 80 is a good default for live video).
    pub fn new(quality: u8) -> JpegEncoder {
        JpegEncoder {
            quality: quality.clamp(1, 100),
            mode: QualityMode::Fast,
        }
    }

    pub fn with_mode(self, mode: QualityMode) -> JpegEncoder {
        JpegEncoder { mode, ..self }
    }

    /// Encodes a picture into a baseline JPEG with the picture's subsampling.
    pub fn encode(&self, image: &PlanarImage) -> anyhow::Result<Vec<u8>> {
        let (quality, mode) = (self.quality, self.mode);
        panic::catch_unwind(AssertUnwindSafe(|| encode_planes(image, quality, mode))).map_err(
            |panic| {
                let reason = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("unknown error");
                anyhow!(
                    "mozjpeg failed on a {}x{} picture: {reason}",
                    image.width,
                    image.height
                )
            },
        )?
    }
}

fn encode_planes(image: &PlanarImage, quality: u8, mode: QualityMode) -> anyhow::Result<Vec<u8>> {
    let mut compress = Compress::new(ColorSpace::JCS_YCbCr);
    // The fastest profile resets every setting, quality included: set it first.
    compress.set_fastest_defaults();
    compress.set_optimize_coding(mode == QualityMode::Small);
    compress.set_quality(quality as f32);
    compress.set_size(image.width as usize, image.height as usize);
    let chroma_pixel = match image.sampling {
        ChromaSampling::Yuv420 => (2, 2),
        ChromaSampling::Yuv422 => (2, 1),
    };
    compress.set_chroma_sampling_pixel_sizes(chroma_pixel, chroma_pixel);
    compress.set_raw_data_in(true);
    let estimate = image.width as usize * image.height as usize / 4;
    let mut started = compress
        .start_compress(Vec::with_capacity(estimate))
        .context("mozjpeg could not start")?;
    let planes = [
        image.planes[0].as_slice(),
        image.planes[1].as_slice(),
        image.planes[2].as_slice(),
    ];
    if !started.write_raw_data(&planes) {
        return Err(anyhow!("mozjpeg took fewer rows than the picture has"));
    }
    started
        .finish()
        .context("mozjpeg could not finish the JPEG")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::pattern::{BARS, PatternSource};

    fn decode_rgb(jpeg: &[u8]) -> (usize, usize, Vec<u8>) {
        let decompress = mozjpeg::Decompress::new_mem(jpeg).unwrap();
        let mut rgb = decompress.rgb().unwrap();
        let (w, h) = (rgb.width(), rgb.height());
        let pixels: Vec<[u8; 3]> = rgb.read_scanlines().unwrap();
        (w, h, pixels.concat())
    }

    #[test]
    fn the_pattern_encodes_to_a_baseline_jpeg_with_its_colours() {
        for (w, h) in [(640, 480), (1920, 1080), (1001, 17)] {
            let jpeg = JpegEncoder::new(90)
                .encode(&PatternSource::still(w, h))
                .unwrap();
            let header = framewire_proto::jpeg::read_header(&jpeg).unwrap();
            assert_eq!((header.width, header.height), (w, h));
            assert!(!header.progressive, "fastest profile is baseline");
            let (dw, dh, rgb) = decode_rgb(&jpeg);
            assert_eq!((dw, dh), (w as usize, h as usize));
            if h < 100 {
                continue;
            }
            for (bar, expected) in BARS.iter().enumerate() {
                let x = (bar * 2 + 1) * w as usize / 16;
                let y = h as usize / 3;
                let got = &rgb[(y * w as usize + x) * 3..][..3];
                for channel in 0..3 {
                    let difference = (got[channel] as i32 - expected[channel] as i32).abs();
                    assert!(
                        difference <= 6,
                        "bar {bar} at {w}x{h}: {got:?} vs {expected:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn full_height_chroma_encodes_as_4_2_2_with_its_colours() {
        let mut image = PlanarImage::new(64, 32, ChromaSampling::Yuv422);
        // Top half red, bottom half blue: only full-height chroma keeps the edge sharp.
        let red = crate::capture::raw::rgb_to_ycbcr([255, 0, 0]);
        let blue = crate::capture::raw::rgb_to_ycbcr([0, 0, 255]);
        for (plane, stride) in image.strides.into_iter().enumerate() {
            for (row, line) in image.planes[plane].chunks_exact_mut(stride).enumerate() {
                line.fill(if row < 16 { red[plane] } else { blue[plane] });
            }
        }
        let jpeg = JpegEncoder::new(95).encode(&image).unwrap();
        let (_, _, rgb) = decode_rgb(&jpeg);
        let at = |x: usize, y: usize| &rgb[(y * 64 + x) * 3..][..3];
        assert!(
            at(10, 15)[0] > 200 && at(10, 15)[2] < 60,
            "red above: {:?}",
            at(10, 15)
        );
        assert!(
            at(10, 16)[2] > 200 && at(10, 16)[0] < 60,
            "blue below: {:?}",
            at(10, 16)
        );
    }

    #[test]
    fn quality_trades_size_for_fidelity() {
        let picture = PatternSource::still(640, 480);
        let small = JpegEncoder::new(20).encode(&picture).unwrap();
        let large = JpegEncoder::new(95).encode(&picture).unwrap();
        assert!(small.len() < large.len());
        let optimised = JpegEncoder::new(95)
            .with_mode(QualityMode::Small)
            .encode(&picture)
            .unwrap();
        assert!(optimised.len() < large.len());
    }

    #[test]
    fn a_picture_with_missing_rows_is_an_error_not_a_panic() {
        let mut image = PlanarImage::new(64, 64, ChromaSampling::Yuv420);
        image.planes[0].truncate(10);
        let error = JpegEncoder::new(80).encode(&image).unwrap_err();
        assert!(error.to_string().contains("64x64"), "{error}");
    }
}
