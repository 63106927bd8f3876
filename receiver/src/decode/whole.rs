//! Decoding a JPEG whole to RGBA with zune-jpeg, on the calling thread:
//! every picture the planar path does not take (greyscale, CMYK, odd
//! samplings, and every picture without libjpeg-turbo), and the window's
//! snapshots. Greyscale and RGB output is widened to RGBA in place. It does
//! not check claims (the caller has) and catches no panics itself (it runs
//! under [`super::guarded`]).

use framewire_proto::jpeg::JpegInfo;
use zune_jpeg::JpegDecoder;
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;

use super::check::{DecodeError, MAX_SCANS};
use super::guarded;

/// Decodes `jpeg` whole into `rgba`, on the calling thread.
pub(super) fn decode_whole(
    jpeg: &[u8],
    header: &JpegInfo,
    rgba: &mut Vec<u8>,
) -> Result<(u32, u32), DecodeError> {
    let options = options(header.width, header.height);
    let decoded = guarded(|| {
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
    });
    let (size, dimensions) = decoded?;
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

/// zune-jpeg's settings for a picture of at most `width` x `height`.
fn options(width: u32, height: u32) -> DecoderOptions {
    DecoderOptions::default()
        .jpeg_set_out_colorspace(ColorSpace::RGBA)
        .jpeg_set_max_scans(MAX_SCANS)
        .set_max_width(width as usize)
        .set_max_height(height as usize)
}
