//! mozjpeg encoding, whole or in parallel bands.
//!
//! The encoder feeds mozjpeg the YCbCr planes directly (its raw-data
//! interface), so no colour conversion happens on the board, and uses
//! mozjpeg's fastest profile: baseline, no trellis, no optimised Huffman
//! tables. mozjpeg's own defaults (progressive, trellis) make files about 45 %
//! smaller but cost ~25x the time per frame, which no live stream can afford.
//!
//! With `--slices N` a picture is cut into up to 2N horizontal bands on
//! MCU-row boundaries, the bands are encoded at once by N threads (the
//! encoder's own and a [`BandPool`]'s helpers, each taking the next band
//! as it comes free), and
//! [`framewire_proto::bands::join`] makes them one standard baseline JPEG
//! with a restart marker between bands. The bands share every table and a
//! restart starts the entropy coder afresh exactly as a separate encode
//! does, so the file holds the coefficients of the unsliced encode and
//! every JPEG decoder reads it. Small pictures get fewer bands, and
//! `--quality-mode small` none (each band would get Huffman tables of its
//! own). Encoding never panics outward: libjpeg errors become `Err`.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use anyhow::{Context, anyhow};
use framewire_proto::band_pool::BandPool;
use mozjpeg::{ColorSpace, Compress};

use crate::capture::{ChromaSampling, PlanarImage};

/// A band is worth a thread of its own from about this many pixels up.
const MIN_BAND_PIXELS: usize = 64 * 1024;

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
    settings: Settings,
    /// The threads that encode one picture's bands; `None`: one band.
    pool: Option<Arc<BandPool>>,
}

/// What every band of a picture is encoded with.
#[derive(Clone, Copy)]
struct Settings {
    quality: u8,
    mode: QualityMode,
}

impl JpegEncoder {
    /// An encoder at `quality` (1-100; 80 is a good default for live video),
    /// one band per picture.
    pub fn new(quality: u8) -> JpegEncoder {
        JpegEncoder {
            settings: Settings {
                quality: quality.clamp(1, 100),
                mode: QualityMode::Fast,
            },
            pool: None,
        }
    }

    pub fn with_mode(self, mode: QualityMode) -> JpegEncoder {
        JpegEncoder {
            settings: Settings {
                mode,
                ..self.settings
            },
            ..self
        }
    }

    /// Encodes each picture on up to `slices` threads at once (this one and
    /// `slices - 1` helpers, shared by every clone of this encoder), in
    /// twice as many bands, so that a helper that starts late still finds
    /// bands to take.
    pub fn with_slices(self, slices: usize) -> JpegEncoder {
        JpegEncoder {
            pool: (slices > 1).then(|| Arc::new(BandPool::new(slices, "band encoder"))),
            ..self
        }
    }

    /// Encodes a picture into a baseline JPEG with the picture's subsampling.
    pub fn encode(&self, image: Arc<PlanarImage>) -> anyhow::Result<Vec<u8>> {
        self.encode_at(image, self.settings.quality)
    }

    /// Like [`encode`](Self::encode), at `quality` instead of the encoder's own.
    pub fn encode_at(&self, image: Arc<PlanarImage>, quality: u8) -> anyhow::Result<Vec<u8>> {
        let settings = Settings {
            quality: quality.clamp(1, 100),
            ..self.settings
        };
        let bands = self.band_rows(&image);
        let (width, height) = (image.width as usize, image.height as usize);
        let (Some(pool), true) = (&self.pool, bands.len() > 1) else {
            let whole = Band::of(&image, 0, height);
            return settings.encode_guarded(&whole, Vec::new(), width, height);
        };
        let mut spare = SPARE.take();
        let jobs = bands
            .into_iter()
            .map(|rows| (image.clone(), rows, spare.pop().unwrap_or_default()))
            .collect();
        let encoded = pool.run_all(jobs, move |(image, (top, rows), out)| {
            settings.encode_guarded(&Band::of(&image, top, rows), out, width, height)
        });
        let encoded = encoded.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
        let joined = framewire_proto::bands::join(&encoded);
        spare.extend(encoded);
        SPARE.set(spare);
        joined.context("the encoded bands could not be joined")
    }

    /// The first row and the height of each band this encoder cuts the
    /// picture into.
    fn band_rows(&self, image: &PlanarImage) -> Vec<(usize, usize)> {
        let (w, h) = (image.width as usize, image.height as usize);
        let mcu_height = 8 * image.sampling.vertical_factor();
        let mcu_rows = h.div_ceil(mcu_height);
        let mcus_per_row = w.div_ceil(16);
        let worth = (w * h / MIN_BAND_PIXELS).max(1);
        let threads = self.pool.as_ref().map_or(1, |pool| pool.threads());
        let wanted = match self.settings.mode {
            QualityMode::Fast if threads > 1 => (2 * threads).min(worth).min(mcu_rows),
            _ => 1,
        };
        // A restart interval (one band) holds at most 65535 MCUs.
        let most_rows = (u16::MAX as usize / mcus_per_row.max(1)).max(1);
        let rows_per_band = mcu_rows.div_ceil(wanted.max(1)).min(most_rows);
        if rows_per_band >= mcu_rows {
            return vec![(0, h)];
        }
        (0..mcu_rows)
            .step_by(rows_per_band)
            .map(|first_row| {
                let top = first_row * mcu_height;
                (top, (rows_per_band * mcu_height).min(h - top))
            })
            .collect()
    }
}

impl Settings {
    /// One band into `out` (emptied first), with mozjpeg's panics (its
    /// errors unwind) made errors about the `width` x `height` picture it
    /// belongs to.
    fn encode_guarded(
        &self,
        band: &Band<'_>,
        out: Vec<u8>,
        width: usize,
        height: usize,
    ) -> anyhow::Result<Vec<u8>> {
        panic::catch_unwind(AssertUnwindSafe(|| self.encode_band(band, out))).map_err(|panic| {
            let reason = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown error");
            anyhow!("mozjpeg failed on a {width}x{height} picture: {reason}")
        })?
    }

    fn encode_band(&self, band: &Band<'_>, mut out: Vec<u8>) -> anyhow::Result<Vec<u8>> {
        let mut compress = Compress::new(ColorSpace::JCS_YCbCr);
        // The fastest profile resets every setting, quality included: set it first.
        compress.set_fastest_defaults();
        compress.set_optimize_coding(self.mode == QualityMode::Small);
        compress.set_quality(self.quality as f32);
        compress.set_size(band.width, band.height);
        let chroma_pixel = match band.sampling {
            ChromaSampling::Yuv420 => (2, 2),
            ChromaSampling::Yuv422 => (2, 1),
        };
        compress.set_chroma_sampling_pixel_sizes(chroma_pixel, chroma_pixel);
        compress.set_raw_data_in(true);
        out.clear();
        out.reserve(band.width * band.height / 4);
        let mut started = compress
            .start_compress(out)
            .context("mozjpeg could not start")?;
        if !started.write_raw_data(&band.planes) {
            return Err(anyhow!("mozjpeg took fewer rows than the picture has"));
        }
        started
            .finish()
            .context("mozjpeg could not finish the JPEG")
    }
}

thread_local! {
    /// Each encoder worker's band buffers, reused picture after picture: a
    /// fresh buffer of a few hundred KB costs its page faults every time.
    static SPARE: std::cell::Cell<Vec<Vec<u8>>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Rows `top..top + height` of a picture's planes, `top` on an MCU row.
struct Band<'a> {
    width: usize,
    height: usize,
    sampling: ChromaSampling,
    planes: [&'a [u8]; 3],
}

impl<'a> Band<'a> {
    /// The band's rows of each plane; the last band keeps the planes'
    /// padding rows below the picture.
    fn of(image: &'a PlanarImage, top: usize, height: usize) -> Band<'a> {
        let last = top + height >= image.height as usize;
        let factor = image.sampling.vertical_factor();
        let plane = |index: usize, rows: (usize, usize)| {
            let (stride, data) = (image.strides[index], image.planes[index].as_slice());
            let start = (rows.0 * stride).min(data.len());
            let end = if last {
                data.len()
            } else {
                (rows.1 * stride).min(data.len())
            };
            &data[start..end.max(start)]
        };
        let chroma = (top / factor, (top + height) / factor);
        Band {
            width: image.width as usize,
            height,
            sampling: image.sampling,
            planes: [
                plane(0, (top, top + height)),
                plane(1, chroma),
                plane(2, chroma),
            ],
        }
    }
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
                .encode(PatternSource::still(w, h).into())
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
        let red = crate::capture::rgb_to_ycbcr([255, 0, 0]);
        let blue = crate::capture::rgb_to_ycbcr([0, 0, 255]);
        for (plane, stride) in image.strides.into_iter().enumerate() {
            for (row, line) in image.planes[plane].chunks_exact_mut(stride).enumerate() {
                line.fill(if row < 16 { red[plane] } else { blue[plane] });
            }
        }
        let jpeg = JpegEncoder::new(95).encode(image.clone().into()).unwrap();
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
        let small = JpegEncoder::new(20).encode(picture.clone().into()).unwrap();
        let large = JpegEncoder::new(95).encode(picture.clone().into()).unwrap();
        assert!(small.len() < large.len());
        let optimised = JpegEncoder::new(95)
            .with_mode(QualityMode::Small)
            .encode(picture.clone().into())
            .unwrap();
        assert!(optimised.len() < large.len());
    }

    /// A picture with detail everywhere: diagonal luma stripes and chroma
    /// that changes from block to block, so every band boundary has
    /// something on both sides.
    fn textured(width: u32, height: u32, sampling: ChromaSampling) -> PlanarImage {
        let mut image = PlanarImage::new(width, height, sampling);
        for (plane, stride) in image.strides.into_iter().enumerate() {
            for (row, line) in image.planes[plane].chunks_exact_mut(stride).enumerate() {
                for (x, value) in line.iter_mut().enumerate() {
                    *value =
                        ((x * 7 + row * 13 + plane * 50) % 256) as u8 ^ ((x / 5 + row / 3) as u8);
                }
            }
        }
        image
    }

    fn decode_planes(jpeg: &[u8]) -> Vec<Vec<u8>> {
        let decompress = mozjpeg::Decompress::new_mem(jpeg).unwrap();
        let mut raw = decompress.raw().unwrap();
        let mut planes = vec![Vec::new(), Vec::new(), Vec::new()];
        let mut destinations: Vec<&mut Vec<u8>> = planes.iter_mut().collect();
        raw.read_raw_data(&mut destinations);
        planes
    }

    /// The rows of decoded planes that show the picture (a decoder also
    /// hands out the padding blocks below it, which hold no pixels).
    fn visible(image: &PlanarImage, mut planes: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
        let factor = image.sampling.vertical_factor();
        let rows = [
            image.height as usize,
            (image.height as usize).div_ceil(factor),
            (image.height as usize).div_ceil(factor),
        ];
        for (plane, rows) in rows.into_iter().enumerate() {
            planes[plane].truncate(rows * image.strides[plane]);
        }
        planes
    }

    #[test]
    fn sliced_encodes_decode_to_exactly_the_unsliced_pixels() {
        let sizes = [(1280, 720), (1920, 1080), (1001, 257), (640, 480)];
        for sampling in [ChromaSampling::Yuv420, ChromaSampling::Yuv422] {
            for (w, h) in sizes {
                let image = textured(w, h, sampling);
                let whole = JpegEncoder::new(90).encode(image.clone().into()).unwrap();
                for slices in [2, 3, 4, 7] {
                    let sliced = JpegEncoder::new(90)
                        .with_slices(slices)
                        .encode(image.clone().into())
                        .unwrap();
                    let banded = framewire_proto::bands::split(&sliced).unwrap_or_else(|| {
                        panic!("{w}x{h} {sampling:?} in {slices} slices has no bands")
                    });
                    assert!(banded.intervals() > 1 && banded.intervals() <= 2 * slices);
                    assert_eq!(
                        visible(&image, decode_planes(&sliced)),
                        visible(&image, decode_planes(&whole)),
                        "{w}x{h} {sampling:?} in {slices} slices"
                    );
                    assert_eq!(decode_rgb(&sliced), decode_rgb(&whole));
                }
            }
        }
    }

    #[test]
    fn small_pictures_and_optimised_tables_are_not_sliced() {
        let small = JpegEncoder::new(80)
            .with_slices(4)
            .encode(PatternSource::still(160, 120).into())
            .unwrap();
        assert!(framewire_proto::bands::split(&small).is_none());
        let optimised = JpegEncoder::new(80)
            .with_mode(QualityMode::Small)
            .with_slices(4)
            .encode(PatternSource::still(1280, 720).into())
            .unwrap();
        assert!(framewire_proto::bands::split(&optimised).is_none());
    }

    #[test]
    fn a_picture_with_missing_rows_is_an_error_not_a_panic() {
        let mut image = PlanarImage::new(64, 64, ChromaSampling::Yuv420);
        image.planes[0].truncate(10);
        let error = JpegEncoder::new(80)
            .encode(image.clone().into())
            .unwrap_err();
        assert!(error.to_string().contains("64x64"), "{error}");
        let mut image = PlanarImage::new(1280, 720, ChromaSampling::Yuv420);
        image.planes[1].truncate(1000);
        let error = JpegEncoder::new(80)
            .with_slices(2)
            .encode(image.clone().into())
            .unwrap_err();
        assert!(error.to_string().contains("1280x720"), "{error}");
    }
}
