//! Decoding JPEG frames into RGBA pixels, one thread per stream.
//!
//! Each connection's decoder takes the newest frame from its slot (frames
//! that were replaced before it got to them are never decoded), checks the
//! JPEG header against the pixel limit before decoding anything, decodes with
//! zune-jpeg straight to RGBA, and hands the picture to the view, if there is
//! one. A frame that does not decode is logged, counted and skipped; the
//! stream goes on. It does not read sockets or draw.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use framewire_proto::Frame;
use framewire_proto::jpeg::{JpegError, read_header};
use framewire_proto::shutdown::StopSignal;
use framewire_proto::slot::SlotReceiver;
use zune_jpeg::JpegDecoder;
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;

use crate::stats::StreamStats;

/// The default limit on a decoded picture: 8K UHD, about 33 megapixels.
pub const DEFAULT_MAX_PIXELS: u64 = 7680 * 4320;

/// A decoded picture on its way to the view.
pub struct DecodedFrame {
    pub stream: Arc<StreamStats>,
    pub width: u32,
    pub height: u32,
    /// `width * height` RGBA pixels, row by row.
    pub rgba: Vec<u8>,
    /// When the sender captured it (µs since the Unix epoch; 0: unknown).
    pub capture_time_us: u64,
}

/// Where decoded pictures go (the window), if anywhere.
pub type FrameSink = Arc<dyn Fn(DecodedFrame) + Send + Sync>;

/// Why one frame could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error(transparent)]
    Header(#[from] JpegError),
    #[error("image of {width}x{height} pixels is above the limit of {limit} pixels")]
    TooLarge { width: u32, height: u32, limit: u64 },
    #[error("JPEG data is corrupt: {0}")]
    Corrupt(String),
}

/// Decodes `jpeg` into `rgba` (resized as needed); returns its size.
pub fn decode_rgba(
    jpeg: &[u8],
    max_pixels: u64,
    rgba: &mut Vec<u8>,
) -> Result<(u32, u32), DecodeError> {
    let header = read_header(jpeg)?;
    if header.width as u64 * header.height as u64 > max_pixels {
        return Err(DecodeError::TooLarge {
            width: header.width,
            height: header.height,
            limit: max_pixels,
        });
    }
    let options = DecoderOptions::default()
        .jpeg_set_out_colorspace(ColorSpace::RGBA)
        .set_max_width(header.width as usize)
        .set_max_height(header.height as usize);
    // zune-jpeg 0.4 panicked on some corrupt progressive JPEGs (found by the
    // receiver_decode fuzz target), and a decoder may again: a bad frame must
    // not take the stream's decoder down, so a panic is one more decode error.
    let decoded = panic::catch_unwind(AssertUnwindSafe(|| {
        let mut decoder = JpegDecoder::new_with_options(ZCursor::new(jpeg), options);
        decoder
            .decode_headers()
            .map_err(|error| DecodeError::Corrupt(format!("{error:?}")))?;
        let size = decoder
            .output_buffer_size()
            .ok_or_else(|| DecodeError::Corrupt("no output size".into()))?;
        rgba.resize(size, 0);
        decoder
            .decode_into(rgba)
            .map_err(|error| DecodeError::Corrupt(format!("{error:?}")))?;
        Ok((size, decoder.dimensions()))
    }));
    let (size, dimensions) = decoded.unwrap_or_else(|_| {
        Err(DecodeError::Corrupt(
            "the JPEG decoder gave up on it".into(),
        ))
    })?;
    let (width, height) =
        dimensions.map_or((header.width, header.height), |(w, h)| (w as u32, h as u32));
    // zune-jpeg keeps greyscale JPEGs grey whatever colour space is asked.
    let pixels = width as usize * height as usize;
    match size.checked_div(pixels) {
        Some(4) if size == pixels * 4 => {}
        Some(1) if size == pixels => expand_to_rgba(rgba, pixels, 1),
        Some(3) if size == pixels * 3 => expand_to_rgba(rgba, pixels, 3),
        _ => {
            return Err(DecodeError::Corrupt(format!(
                "decoded {size} bytes for {width}x{height} pixels"
            )));
        }
    }
    Ok((width, height))
}

/// Widens `pixels` grey (1 byte) or RGB (3 bytes) pixels at the start of
/// `buffer` to RGBA in place, working from the end so nothing is overwritten
/// before it is read.
fn expand_to_rgba(buffer: &mut Vec<u8>, pixels: usize, channels: usize) {
    buffer.resize(pixels * 4, 0);
    for index in (0..pixels).rev() {
        let source = index * channels;
        let [r, g, b] = if channels == 1 {
            [buffer[source]; 3]
        } else {
            [buffer[source], buffer[source + 1], buffer[source + 2]]
        };
        buffer[index * 4..index * 4 + 4].copy_from_slice(&[r, g, b, 255]);
    }
}

/// Everything a stream's decoder needs besides its input.
#[derive(Clone)]
pub struct DecoderContext {
    pub max_pixels: u64,
    pub sink: Option<FrameSink>,
    /// Decoded frames over all streams, for `--frames`.
    pub decoded_total: Arc<AtomicU64>,
    pub frame_limit: Option<u64>,
    /// Keep each stream's newest picture for a snapshot on exit.
    pub keep_last_picture: bool,
    pub stop: StopSignal,
}

impl DecoderContext {
    /// Decodes frames from `input` until the connection's slot closes and is empty.
    pub fn run(&self, input: SlotReceiver<Frame>, stream: Arc<StreamStats>) {
        let mut rgba = Vec::new();
        while let Some(frame) = input.take_blocking() {
            let started = std::time::Instant::now();
            match decode_rgba(&frame.image, self.max_pixels, &mut rgba) {
                Ok((width, height)) => {
                    stream.note_decoded(width, height, frame.capture_time_us, started.elapsed());
                    if let Some(sink) = &self.sink {
                        let rgba = match self.keep_last_picture {
                            true => rgba.clone(),
                            false => std::mem::take(&mut rgba),
                        };
                        sink(DecodedFrame {
                            stream: stream.clone(),
                            width,
                            height,
                            rgba,
                            capture_time_us: frame.capture_time_us,
                        });
                    }
                    if self.keep_last_picture
                        && let Ok(mut last) = stream.last_picture.lock()
                    {
                        // Swap, not copy: the old picture's buffer takes the next decode.
                        std::mem::swap(&mut last.rgba, &mut rgba);
                        (last.width, last.height) = (width, height);
                    }
                    let total = self.decoded_total.fetch_add(1, Ordering::Relaxed) + 1;
                    if self.frame_limit.is_some_and(|limit| total >= limit) {
                        self.stop.stop();
                    }
                }
                Err(error) => {
                    let errors = stream.decode_errors.fetch_add(1, Ordering::Relaxed) + 1;
                    if errors <= 5 || errors.is_multiple_of(100) {
                        log::warn!(
                            "stream {}: frame {} skipped ({errors} so far): {error}",
                            stream.label(),
                            frame.sequence
                        );
                    }
                }
            }
        }
        // Release: whoever sees the flag also sees this decoder's counters and picture.
        stream.decoder_finished.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use framewire_proto::slot::latest_slot;

    use super::*;
    use crate::stats::Registry;

    /// A JPEG start and frame header claiming `width` x `height`, and nothing else.
    fn tiny_header_claiming(width: u16, height: u16) -> Vec<u8> {
        let mut jpeg = vec![0xff, 0xd8, 0xff, 0xc0, 0x00, 0x11, 8];
        jpeg.extend_from_slice(&height.to_be_bytes());
        jpeg.extend_from_slice(&width.to_be_bytes());
        jpeg.extend_from_slice(&[3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
        jpeg
    }

    /// A grey JPEG of `width` x `height` pixels, all at `level`.
    fn grey_jpeg(width: usize, height: usize, level: u8) -> Vec<u8> {
        let mut compress = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_GRAYSCALE);
        compress.set_size(width, height);
        let mut started = compress.start_compress(Vec::new()).unwrap();
        started
            .write_scanlines(&vec![level; width * height])
            .unwrap();
        started.finish().unwrap()
    }

    #[test]
    fn the_exit_waits_for_a_closed_stream_to_decode_the_frame_it_still_holds() {
        let registry = Registry::default();
        let peer = "127.0.0.1:9".parse().unwrap();
        let _live = registry.open(peer); // never decodes: not waited for
        let closed = registry.open(peer);
        let (frames_out, frames_in) = latest_slot();
        let frame = Frame {
            image: grey_jpeg(64, 48, 100).into(),
            ..Default::default()
        };
        assert!(frames_out.put(frame).is_ok());
        drop(frames_out);
        closed.connected.store(false, Ordering::Relaxed);
        let context = DecoderContext {
            max_pixels: DEFAULT_MAX_PIXELS,
            sink: None,
            decoded_total: Default::default(),
            frame_limit: None,
            keep_last_picture: true,
            stop: StopSignal::new(),
        };
        let decoder_stream = closed.clone();
        let decoder = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300)); // a busy machine
            context.run(frames_in, decoder_stream);
        });
        let waited = std::time::Instant::now();
        registry.wait_for_closed_streams_to_decode(Duration::from_secs(60));
        assert!(
            waited.elapsed() < Duration::from_secs(30),
            "live streams are not waited for"
        );
        assert_eq!(closed.decoded.load(Ordering::Relaxed), 1);
        assert_eq!(closed.last_picture.lock().unwrap().width, 64);
        decoder.join().unwrap();
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
        let jpeg = grey_jpeg(24, 16, 200);
        let mut rgba = Vec::new();
        assert_eq!(
            decode_rgba(&jpeg, DEFAULT_MAX_PIXELS, &mut rgba).unwrap(),
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
        let jpeg = include_bytes!("zune-panic.jpg");
        let mut rgba = Vec::new();
        let error = decode_rgba(jpeg, DEFAULT_MAX_PIXELS, &mut rgba).unwrap_err();
        assert!(matches!(error, DecodeError::Corrupt(_)), "{error:?}");
        // The buffer is still usable for the next frame.
        let good = grey_jpeg(8, 8, 9);
        assert_eq!(
            decode_rgba(&good, DEFAULT_MAX_PIXELS, &mut rgba).unwrap(),
            (8, 8)
        );
    }

    #[test]
    fn text_is_not_a_jpeg() {
        let error = decode_rgba(b"hello", DEFAULT_MAX_PIXELS, &mut Vec::new()).unwrap_err();
        assert!(error.to_string().starts_with("not a JPEG"), "{error}");
    }
}
