//! Decoding JPEG frames into pictures, one thread per stream: this file is
//! the per-stream loop.
//!
//! Each stream's decoder takes the newest frame from its slot (frames that
//! were replaced before it got to them are never decoded), checks what the
//! JPEG claims before it spends anything ([`check_claims`], `check.rs`,
//! which walks its headers once for everything after it) and that the
//! memory budget has room for the picture. Then it decodes a colour picture
//! with libjpeg-turbo to its YCbCr planes (`planar.rs`, feature `turbo`: no
//! chroma upsampling or colour conversion on the CPU), cut into bands
//! decoded at once on the shared [`BandPool`] when its restart markers fall
//! on MCU rows (a sliced sender's, or a camera's that writes DRI), and
//! anything else whole with zune-jpeg to RGBA (`whole.rs`), and hands the
//! picture to its [`PictureSink`], if there is one. A frame that does not
//! decode is logged, counted and skipped; the stream goes on. When the
//! connection's slot closes, the decoder finishes the frame it holds and
//! ends, releasing everything. How many frames a second it keeps up with,
//! told to the sender, is [`capacity`]. It does not read sockets or draw.

pub mod capacity;
mod check;
#[cfg(feature = "turbo")]
mod planar;
mod whole;

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use framewire_proto::Frame;
use framewire_proto::band_pool::BandPool;
use framewire_proto::jpeg::Headers;
use framewire_proto::shutdown::StopSignal;
use framewire_proto::slot::SlotReceiver;

use crate::budget::{Charge, MemoryBudget};
use crate::picture::{Picture, Pixels};
use crate::stream::{Newest, Stream, worth_a_log_line};
pub use check::{DecodeError, MAX_SCANS, check_claims, decode_memory};
use whole::decode_whole;

/// The default limit on a decoded picture: 8K UHD, about 33 megapixels.
pub const DEFAULT_MAX_PIXELS: u64 = 7680 * 4320;

/// A frame as the connection received it, with the budget its bytes took.
pub struct Received {
    pub frame: Frame,
    pub charge: Charge,
    /// When it was handed to the decoder.
    pub handed_over: std::time::Instant,
}

/// A decoded picture on its way to a sink, with its share of the budget.
pub struct DecodedFrame {
    pub stream: Arc<Stream>,
    pub picture: Picture,
    /// When the sender captured it, on the receiver's clock (µs since the
    /// Unix epoch; 0: unknown).
    pub capture_time_us: u64,
    /// The picture's memory, given back when the sink drops it.
    pub charge: Charge,
}

/// Where decoded pictures go: the window, or later consumers. Called on the
/// stream's decoder thread; it must hand the frame on, not work on it.
pub trait PictureSink: Send + Sync {
    fn show(&self, frame: DecodedFrame);

    /// Whether it takes YCbCr planes (else the decoder makes RGBA).
    fn wants_planes(&self) -> bool {
        true
    }
}

/// Checks `jpeg` with [`check_claims`] and decodes it whole into `rgba`,
/// resized as needed; returns its size. (The stream's decoder also charges
/// the budget between the two.)
pub fn decode_rgba(
    jpeg: &[u8],
    max_pixels: u64,
    rgba: &mut Vec<u8>,
) -> Result<(u32, u32), DecodeError> {
    let headers = check_claims(jpeg, max_pixels)?;
    decode_whole(jpeg, &headers.info, rgba)
}

/// Checks `jpeg` with [`check_claims`] and decodes it as the stream
/// decoders do: to YCbCr planes where it can (in bands on `pool` when the
/// JPEG's restart markers allow it), else to RGBA.
pub fn decode_picture(
    jpeg: &[u8],
    max_pixels: u64,
    pixels: &mut Pixels,
    pool: &BandPool,
) -> Result<(u32, u32), DecodeError> {
    let headers = check_claims(jpeg, max_pixels)?;
    decode_checked(&headers, pixels, pool, true)
}

/// Decodes the JPEG whose checked `headers` these are into `pixels`
/// (planes if `planes` and the JPEG allows, else RGBA), reusing their
/// buffers where it can.
fn decode_checked(
    headers: &Headers<'_>,
    pixels: &mut Pixels,
    pool: &BandPool,
    planes: bool,
) -> Result<(u32, u32), DecodeError> {
    let (jpeg, header) = (headers.data, &headers.info);
    #[cfg(feature = "turbo")]
    if planes && let Some(chroma_step) = planar::takes(headers) {
        if !matches!(pixels, Pixels::YCbCr(_)) {
            *pixels = Pixels::YCbCr(crate::picture::Planes::default());
        }
        let Pixels::YCbCr(planes) = pixels else {
            unreachable!("just made planes")
        };
        let size = planar::decode(headers, chroma_step, planes, pool)?;
        if size != (header.width, header.height) || !planes.fit(size.0, size.1) {
            return Err(DecodeError::Corrupt(format!(
                "decoded planes do not hold the {}x{} picture its header claims",
                header.width, header.height
            )));
        }
        return Ok(size);
    }
    let _ = (pool, planes); // without libjpeg-turbo every picture is decoded whole
    if !matches!(pixels, Pixels::Rgba(_)) {
        *pixels = Pixels::Rgba(Vec::new());
    }
    let Pixels::Rgba(rgba) = pixels else {
        unreachable!("just made RGBA")
    };
    decode_whole(jpeg, header, rgba)
}

/// Runs a decoder under a panic guard: zune-jpeg 0.4 panicked on some
/// corrupt progressive JPEGs (found by the receiver_decode fuzz target), and
/// a decoder may again; a bad frame must not take the stream's decoder (or
/// a band decoder) down, so a panic is one more decode error.
fn guarded<T>(decode: impl FnOnce() -> Result<T, DecodeError>) -> Result<T, DecodeError> {
    panic::catch_unwind(AssertUnwindSafe(decode)).unwrap_or_else(|_| {
        Err(DecodeError::Corrupt(
            "the JPEG decoder gave up on it".into(),
        ))
    })
}

/// Everything a stream's decoder needs besides its input.
#[derive(Clone)]
pub struct DecoderContext {
    pub max_pixels: u64,
    pub sink: Option<Arc<dyn PictureSink>>,
    pub budget: Arc<MemoryBudget>,
    /// Decoded frames over all streams, for `--frames`.
    pub decoded_total: Arc<AtomicU64>,
    pub frame_limit: Option<u64>,
    /// Keep each stream's newest JPEG, for the web's viewers (`--http`) and
    /// for a snapshot on exit.
    pub keep_newest: bool,
    /// Where the bands of banded pictures are decoded.
    pub pool: Arc<BandPool>,
    pub stop: StopSignal,
}

/// The decoder's picture buffer, with the budget it holds for its size.
#[derive(Default)]
struct Scratch {
    pixels: Pixels,
    charge: Option<Charge>,
}

impl DecoderContext {
    /// Decodes frames from `input` until the connection's slot closes and is
    /// empty, then returns, having let go of everything it held.
    pub fn run(&self, input: SlotReceiver<Received>, stream: Arc<Stream>) {
        let mut scratch = Scratch::default();
        loop {
            let waiting = std::time::Instant::now();
            let Some(received) = input.take_blocking() else {
                break;
            };
            // Until the frame came: the time the thread then waits for a
            // core is time it had work.
            stream.note_decoder_waited(received.handed_over.saturating_duration_since(waiting));
            let started = std::time::Instant::now();
            match self.decode(&received.frame.image, &mut scratch) {
                Ok((width, height, charge)) => {
                    let capture_time_us = stream.receiver_time(received.frame.capture_time_us);
                    stream.note_decoded(width, height, capture_time_us, started.elapsed());
                    if self.keep_newest {
                        let newest = Newest {
                            jpeg: received.frame.image,
                            version: 0,
                            sequence: received.frame.sequence,
                            capture_time_us,
                            width,
                            height,
                        };
                        stream.keep_newest(newest, received.charge);
                    }
                    match &self.sink {
                        Some(sink) => sink.show(DecodedFrame {
                            stream: stream.clone(),
                            picture: Picture {
                                width,
                                height,
                                pixels: std::mem::take(&mut scratch.pixels),
                            },
                            capture_time_us,
                            charge,
                        }),
                        None => scratch.charge = Some(charge), // the buffer is kept for the next frame
                    }
                    let total = self.decoded_total.fetch_add(1, Ordering::Relaxed) + 1;
                    if self.frame_limit.is_some_and(|limit| total >= limit) {
                        self.stop.stop();
                    }
                }
                Err(error) => {
                    let (count, what) = match error {
                        DecodeError::OverBudget { .. } => {
                            (stream.note_refused_over_budget(), "refused")
                        }
                        _ => (stream.note_decode_error(), "skipped"),
                    };
                    if worth_a_log_line(count) {
                        log::warn!(
                            "stream {}: frame {} {what} ({count} so far): {error}",
                            stream.label(),
                            received.frame.sequence
                        );
                    }
                }
            }
        }
    }

    /// Checks and decodes one JPEG into the scratch buffer; returns its size
    /// and the charge for its pixels.
    fn decode(
        &self,
        jpeg: &[u8],
        scratch: &mut Scratch,
    ) -> Result<(u32, u32, Charge), DecodeError> {
        let headers = check_claims(jpeg, self.max_pixels)?;
        let header = headers.info;
        let (picture_bytes, working_bytes) = decode_memory(&header);
        let over_budget = || DecodeError::OverBudget {
            width: header.width,
            height: header.height,
            needed: (picture_bytes + working_bytes) as u64 / 1_000_000,
        };
        let charge = match scratch.charge.take() {
            Some(charge) if charge.bytes() >= picture_bytes => charge,
            too_small => {
                drop(too_small);
                self.budget.charge(picture_bytes).ok_or_else(over_budget)?
            }
        };
        let _working = self.budget.charge(working_bytes).ok_or_else(over_budget)?;
        let planes = self.sink.as_ref().is_none_or(|sink| sink.wants_planes());
        match decode_checked(&headers, &mut scratch.pixels, &self.pool, planes) {
            Ok((width, height)) => Ok((width, height, charge)),
            Err(error) => {
                scratch.charge = Some(charge);
                Err(error)
            }
        }
    }
}

#[cfg(test)]
mod tests {

    use framewire_proto::slot::latest_slot;

    use super::*;

    /// A JPEG start and frame header claiming `width` x `height`, and nothing else.
    fn tiny_header_claiming(width: u16, height: u16) -> Vec<u8> {
        let mut jpeg = vec![0xff, 0xd8, 0xff, 0xc0, 0x00, 0x11, 8];
        jpeg.extend_from_slice(&height.to_be_bytes());
        jpeg.extend_from_slice(&width.to_be_bytes());
        jpeg.extend_from_slice(&[3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
        jpeg
    }

    /// Grey JPEGs (made with Pillow; see tests/fixtures/README): 64x48 pixels
    /// at level 100, and 24x16 at 200.
    const GREY_64X48: &[u8] = include_bytes!("../../tests/fixtures/grey-64x48-100.jpg");
    const GREY_24X16: &[u8] = include_bytes!("../../tests/fixtures/grey-24x16-200.jpg");

    fn context(budget: Arc<MemoryBudget>) -> DecoderContext {
        DecoderContext {
            max_pixels: DEFAULT_MAX_PIXELS,
            sink: None,
            budget,
            decoded_total: Default::default(),
            frame_limit: None,
            keep_newest: true,
            pool: Arc::new(BandPool::new(2, "band decoder")),
            stop: StopSignal::new(),
        }
    }

    fn received(budget: &Arc<MemoryBudget>, jpeg: Vec<u8>) -> Received {
        Received {
            charge: budget.charge(jpeg.len()).unwrap(),
            handed_over: std::time::Instant::now(),
            frame: Frame {
                image: jpeg.into(),
                ..Default::default()
            },
        }
    }

    #[test]
    fn a_closed_connections_decoder_decodes_what_it_holds_then_ends_and_lets_go() {
        let budget = MemoryBudget::new(10_000_000);
        let stream = Arc::new(Stream::new(0, "127.0.0.1:9".parse().unwrap()));
        let (frames_out, frames_in) = latest_slot();
        assert!(
            frames_out
                .put(received(&budget, GREY_64X48.to_vec()))
                .is_ok()
        );
        drop(frames_out); // the connection ended
        let context = context(budget.clone());
        let decoder_stream = stream.clone();
        std::thread::spawn(move || context.run(frames_in, decoder_stream))
            .join()
            .unwrap();
        assert_eq!(stream.counters().decoded, 1);
        let kept = stream.newest().expect("the last JPEG is kept").jpeg;
        assert_eq!(
            budget.used(),
            kept.len(),
            "only the kept JPEG is still paid for"
        );
        stream.forget_newest();
        assert_eq!(budget.used(), 0, "everything else was let go");
    }

    #[test]
    fn a_frame_the_budget_has_no_room_for_is_refused_before_decoding() {
        // Room for the received JPEG, and one byte less than its picture.
        let budget = MemoryBudget::new(GREY_64X48.len() + 64 * 48 * 4 - 1);
        let stream = Arc::new(Stream::new(0, "127.0.0.1:9".parse().unwrap()));
        let (frames_out, frames_in) = latest_slot();
        assert!(
            frames_out
                .put(received(&budget, GREY_64X48.to_vec()))
                .is_ok()
        );
        drop(frames_out);
        context(budget.clone()).run(frames_in, stream.clone());
        let counters = stream.counters();
        assert_eq!((counters.decoded, counters.refused_over_budget), (0, 1));
        assert_eq!(budget.used(), 0);
    }

    /// A real 8x8 grey JPEG (baseline or progressive) whose frame header is
    /// rewritten to claim 7680x4320.
    fn bomb_claiming_8k(progressive: bool) -> Vec<u8> {
        let (mut bomb, marker) = if progressive {
            (
                include_bytes!("../../tests/fixtures/grey-8x8-50-progressive.jpg").to_vec(),
                0xc2,
            )
        } else {
            (
                include_bytes!("../../tests/fixtures/grey-8x8-50-baseline.jpg").to_vec(),
                0xc0,
            )
        };
        let sof = bomb.windows(2).position(|m| m == [0xff, marker]).unwrap();
        bomb[sof + 5..sof + 9].copy_from_slice(&[0x10, 0xe0, 0x1e, 0x00]);
        bomb
    }

    #[test]
    fn a_tiny_jpeg_claiming_8k_is_truncated_not_a_picture_of_zeros() {
        for progressive in [false, true] {
            let bomb = bomb_claiming_8k(progressive);
            assert!(bomb.len() < 1000);
            let mut rgba = Vec::new();
            let error = decode_rgba(&bomb, DEFAULT_MAX_PIXELS, &mut rgba).unwrap_err();
            assert!(
                matches!(
                    error,
                    DecodeError::Truncated {
                        width: 7680,
                        height: 4320,
                        ..
                    }
                ),
                "{error}"
            );
            assert_eq!(rgba.capacity(), 0, "nothing was allocated");
        }
    }

    #[test]
    fn a_progressive_jpeg_with_too_many_scans_is_refused() {
        let mut progressive = tiny_header_claiming(64, 64);
        progressive[3] = 0xc2;
        for _ in 0..=MAX_SCANS {
            progressive.extend_from_slice(&[0xff, 0xda, 0x00, 0x08, 1, 1, 0, 0, 0, 0]);
            progressive.extend_from_slice(&[0x55; 8]);
        }
        let error = check_claims(&progressive, DEFAULT_MAX_PIXELS).unwrap_err();
        assert!(matches!(error, DecodeError::TooManyScans), "{error}");
    }

    #[test]
    fn a_huge_claimed_size_is_refused_before_decoding() {
        let mut rgba = Vec::new();
        let error = decode_rgba(
            &tiny_header_claiming(60000, 60000),
            DEFAULT_MAX_PIXELS,
            &mut rgba,
        )
        .unwrap_err();
        assert!(matches!(
            error,
            DecodeError::TooLarge {
                width: 60000,
                height: 60000,
                ..
            }
        ));
        assert!(rgba.capacity() == 0, "nothing was allocated");
    }

    #[test]
    fn a_header_without_image_data_is_corrupt_not_a_panic() {
        let mut rgba = Vec::new();
        let error =
            decode_rgba(&tiny_header_claiming(64, 64), DEFAULT_MAX_PIXELS, &mut rgba).unwrap_err();
        assert!(
            matches!(error, DecodeError::Corrupt(_) | DecodeError::Header(_)),
            "{error:?}"
        );
    }

    #[test]
    fn a_greyscale_jpeg_decodes_to_full_rgba() {
        // Found by the receiver_decode fuzz target: zune-jpeg returned one
        // byte per pixel for a grey JPEG although RGBA was asked.
        let mut rgba = Vec::new();
        assert_eq!(
            decode_rgba(GREY_24X16, DEFAULT_MAX_PIXELS, &mut rgba).unwrap(),
            (24, 16)
        );
        assert_eq!(rgba.len(), 24 * 16 * 4);
        for pixel in rgba.chunks_exact(4) {
            assert!(pixel[0].abs_diff(200) <= 2 && pixel[0] == pixel[1] && pixel[1] == pixel[2]);
            assert_eq!(pixel[3], 255);
        }
    }

    #[test]
    fn a_jpeg_that_makes_zune_jpeg_panic_is_a_decode_error() {
        // The receiver_decode fuzz target's find (zune-jpeg 0.4.21, mcu_prog.rs).
        let jpeg = include_bytes!("../../tests/fixtures/zune-panic.jpg");
        let mut rgba = Vec::new();
        let error = decode_rgba(jpeg, DEFAULT_MAX_PIXELS, &mut rgba).unwrap_err();
        assert!(matches!(error, DecodeError::Corrupt(_)), "{error:?}");
        // The buffer is still usable for the next frame.
        assert_eq!(
            decode_rgba(GREY_24X16, DEFAULT_MAX_PIXELS, &mut rgba).unwrap(),
            (24, 16)
        );
    }

    #[test]
    fn text_is_not_a_jpeg() {
        let error = decode_rgba(b"hello", DEFAULT_MAX_PIXELS, &mut Vec::new()).unwrap_err();
        assert!(error.to_string().starts_with("not a JPEG"), "{error}");
    }
}
