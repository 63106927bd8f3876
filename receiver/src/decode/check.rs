//! What a JPEG claims, checked before anything is spent on it: from its
//! headers (walked once, [`Headers`], and handed on to the decoder) and its
//! length alone, its size is under the pixel limit, its image data is long
//! enough to cover that many pixels (a 230-byte "8K picture" is a truncated
//! frame, not 132 MB of zeros), and a progressive one has at most
//! [`MAX_SCANS`] scans; and what decoding it will take of the memory
//! budget. It decodes nothing.

use framewire_proto::jpeg::{Headers, JpegError, JpegInfo};

/// The most scans a progressive JPEG may have (encoders write 6 to 12; each
/// scan is another pass over the whole picture).
pub const MAX_SCANS: usize = 32;

/// Pixels one byte of image data can cover at the very least: a baseline
/// JPEG spends at least 2 bits on every 8x8 block (a DC code and an end of
/// block), a progressive one at least 1 bit per block of its first scan,
/// which may cover a quarter-size chroma plane only.
const BASELINE_PIXELS_PER_BYTE: u64 = 64 * 8 / 2;
const PROGRESSIVE_PIXELS_PER_BYTE: u64 = 64 * 8 * 4;

/// Why one frame could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error(transparent)]
    Header(#[from] JpegError),
    #[error("image of {width}x{height} pixels is above the limit of {limit} pixels")]
    TooLarge { width: u32, height: u32, limit: u64 },
    #[error(
        "truncated: {bytes} bytes of image data cannot cover {width}x{height} pixels \
         (at least {needed} are needed)"
    )]
    Truncated {
        width: u32,
        height: u32,
        bytes: usize,
        needed: usize,
    },
    #[error("progressive JPEG with more than {MAX_SCANS} scans")]
    TooManyScans,
    #[error(
        "{width}x{height} pixels need {needed} MB, and the receiver's memory budget \
         (--max-memory) has no room for them now"
    )]
    OverBudget {
        width: u32,
        height: u32,
        needed: u64,
    },
    #[error("JPEG data is corrupt: {0}")]
    Corrupt(String),
}

/// Checks, from the headers and the length alone, that `jpeg` can be the
/// picture its header claims: not above `max_pixels`, with enough image data
/// for that many pixels, and not too many progressive scans. Returns its
/// headers, walked once here, for the decoder and the band cutter.
pub fn check_claims(jpeg: &[u8], max_pixels: u64) -> Result<Headers<'_>, DecodeError> {
    let headers = Headers::parse(jpeg)?;
    let header = headers.info;
    let pixels = header.width as u64 * header.height as u64;
    if pixels > max_pixels {
        return Err(DecodeError::TooLarge {
            width: header.width,
            height: header.height,
            limit: max_pixels,
        });
    }
    if let Some(error) = &headers.broken {
        return Err(error.clone().into());
    }
    let image_data = headers.image_data();
    let per_byte = match header.progressive {
        true => PROGRESSIVE_PIXELS_PER_BYTE,
        false => BASELINE_PIXELS_PER_BYTE,
    };
    let needed = pixels.div_ceil(per_byte) as usize;
    if image_data.len() < needed {
        return Err(DecodeError::Truncated {
            width: header.width,
            height: header.height,
            bytes: image_data.len(),
            needed,
        });
    }
    // In image data 0xFF is always followed by 0x00 or a restart marker, so
    // FF DA is a start of scan (or, at worst, a table's bytes: counted too).
    if header.progressive
        && image_data
            .windows(2)
            .filter(|pair| pair == &[0xff, 0xda])
            .count()
            > MAX_SCANS
    {
        return Err(DecodeError::TooManyScans);
    }
    Ok(headers)
}

/// The memory a decode of `header` takes: the RGBA picture, plus the
/// coefficients a progressive decoder keeps for the whole picture (or a few
/// rows of working space for a baseline one).
pub fn decode_memory(header: &JpegInfo) -> (usize, usize) {
    let pixels = header.width as usize * header.height as usize;
    let working = match header.progressive {
        true => pixels * 2 * header.components.max(1) as usize,
        false => pixels / 4,
    };
    (pixels * 4, working)
}
