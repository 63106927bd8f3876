//! JPEG encoding of raw pictures with mozjpeg.
//!
//! The encoder feeds mozjpeg the YCbCr planes directly (its raw-data
//! interface), so no colour conversion happens on the board, and uses
//! mozjpeg's fastest profile: baseline, no trellis, no optimised Huffman
//! tables. mozjpeg's own defaults (progressive, trellis) make files about 45 %
//! smaller but cost ~25x the time per frame, which no live stream can afford.
//! Encoding never panics outward: libjpeg errors become `Err`.

use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

use anyhow::{Context, anyhow};
use framewire_proto::Frame;
use framewire_proto::slot::SlotSender;
use mozjpeg::{ColorSpace, Compress};

use crate::capture::{ChromaSampling, Pacer, Picture, PlanarImage, Source};
use crate::stats::SenderStats;
use framewire_proto::shutdown::StopSignal;

/// Where and how the encode stage runs.
pub struct EncodeStage<'a> {
    pub encoder: JpegEncoder,
    pub stream_name: String,
    /// Stop after this many pictures (`--frames`).
    pub frame_limit: Option<u64>,
    /// Paces sources that have no clock of their own.
    pub pacer: Pacer,
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
        let mut taken = 0;
        while !self.stop.is_stopped() && self.frame_limit.is_none_or(|limit| taken < limit) {
            if source.needs_pacing() {
                self.pacer.wait();
            }
            let started = Instant::now();
            let raw = source.next_frame()?;
            taken += 1;
            let captured = Instant::now();
            SenderStats::add(&self.stats.captured, 1);
            SenderStats::add(
                &self.stats.capture_nanos,
                (captured - started).as_nanos() as u64,
            );
            let (jpeg, width, height) = match raw.picture {
                Picture::Planar(image) => match self.encoder.encode(&image) {
                    Ok(jpeg) => (jpeg.into(), image.width, image.height),
                    Err(error) => {
                        log::warn!("frame {} skipped: {error:#}", raw.sequence);
                        SenderStats::add(&self.stats.encode_errors, 1);
                        continue;
                    }
                },
                Picture::Jpeg {
                    data,
                    width,
                    height,
                } => (data, width, height),
            };
            SenderStats::add(&self.stats.encoded, 1);
            SenderStats::add(
                &self.stats.encode_nanos,
                captured.elapsed().as_nanos() as u64,
            );
            let frame = Frame {
                image: jpeg,
                sequence: raw.sequence,
                capture_time_us: raw.capture_time_us,
                width,
                height,
                stream_name: self.stream_name.clone(),
            };
            if output.put(frame).is_err() {
                break; // the transport is gone
            }
        }
        Ok(())
    }
}

pub struct JpegEncoder {
    quality: u8,
}

impl JpegEncoder {
    /// An encoder at `quality` (1-100; 80 is a good default for live video).
    pub fn new(quality: u8) -> JpegEncoder {
        JpegEncoder {
            quality: quality.clamp(1, 100),
        }
    }

    /// Encodes a picture into a baseline JPEG with the picture's subsampling.
    pub fn encode(&self, image: &PlanarImage) -> anyhow::Result<Vec<u8>> {
        let quality = self.quality;
        panic::catch_unwind(AssertUnwindSafe(|| encode_planes(image, quality))).map_err(
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

fn encode_planes(image: &PlanarImage, quality: u8) -> anyhow::Result<Vec<u8>> {
    let mut compress = Compress::new(ColorSpace::JCS_YCbCr);
    // The fastest profile resets every setting, quality included: set it first.
    compress.set_fastest_defaults();
    compress.set_optimize_coding(false);
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
        let red = crate::capture::pattern::rgb_to_ycbcr([255, 0, 0]);
        let blue = crate::capture::pattern::rgb_to_ycbcr([0, 0, 255]);
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
    }

    #[test]
    fn a_picture_with_missing_rows_is_an_error_not_a_panic() {
        let mut image = PlanarImage::new(64, 64, ChromaSampling::Yuv420);
        image.planes[0].truncate(10);
        let error = JpegEncoder::new(80).encode(&image).unwrap_err();
        assert!(error.to_string().contains("64x64"), "{error}");
    }
}
