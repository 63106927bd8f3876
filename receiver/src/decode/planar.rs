//! libjpeg-turbo decoding to YCbCr planes, whole or in bands.
//!
//! The planes come out as the JPEG holds them: no chroma upsampling and no
//! colour conversion (the window's shader does both, and a headless receiver
//! needs neither), which is most of what a decoder spends besides the
//! entropy decoding. A JPEG whose restart intervals fall on MCU-row
//! boundaries is cut into bands ([`framewire_proto::bands`]); the shared
//! [`BandPool`] decodes them at once and the bands' rows are laid one
//! under the other. Because planes are not upsampled, a band needs nothing
//! from its neighbours: the planes are exactly those of a whole decode.
//! Only three-component YCbCr pictures with 4:2:0, 4:2:2 or 4:4:4 chroma
//! take this path ([`takes`]); the caller decodes anything else to RGBA.
//! libjpeg reports errors by unwinding (the mozjpeg crate's handler), which
//! the caller's panic guard turns into a decode error.

use framewire_proto::band_pool::BandPool;
use framewire_proto::bands::{self, Banded};
use framewire_proto::jpeg::Headers;
use mozjpeg::{ColorSpace, CompInfoExt, Decompress};

use super::DecodeError;
use crate::picture::Planes;

/// Pictures are cut into bands of at least this many pixels: below it a
/// thread's hand-off costs more than it saves.
const MIN_BAND_PIXELS: usize = 64 * 1024;

/// Whether the JPEG of `headers` is a picture this path decodes: a
/// baseline, extended or progressive Huffman frame of 8-bit samples, three
/// components, the luma sampled 1 or 2 times the chroma's each way, the
/// chroma 1x1. Returns the luma pixels per chroma sample (across, down).
pub fn takes(headers: &Headers<'_>) -> Option<(u32, u32)> {
    let frame = headers.frame;
    if !matches!(frame.code, 0xc0..=0xc2) {
        return None;
    }
    let body = frame.body;
    if body.first() != Some(&8) || body.get(5) != Some(&3) {
        return None;
    }
    let factors: Vec<u8> = body.get(6..15)?.chunks_exact(3).map(|c| c[1]).collect();
    let (h, v) = ((factors[0] >> 4) as u32, (factors[0] & 0x0f) as u32);
    let chroma_plain = factors[1] == 0x11 && factors[2] == 0x11;
    (chroma_plain && (1..=2).contains(&h) && (1..=2).contains(&v)).then_some((h, v))
}

/// Decodes the JPEG of the checked `headers` (which [`takes`] took) into
/// `planes`: in bands on `pool` when its restart markers allow it, else
/// whole.
pub fn decode(
    headers: &Headers<'_>,
    chroma_step: (u32, u32),
    planes: &mut Planes,
    pool: &BandPool,
) -> Result<(u32, u32), DecodeError> {
    planes.chroma_step = chroma_step;
    let area = headers.info.width as usize * headers.info.height as usize;
    let most = (area / MIN_BAND_PIXELS).min(pool.threads());
    for plane in &mut planes.planes {
        plane.clear();
    }
    if most > 1
        && let Some(banded) = bands::split_headers(headers)
        && banded.intervals() > 1
    {
        return decode_banded(&banded, most, planes, pool);
    }
    let (size, strides) = decode_into(headers.data, &mut planes.planes)?;
    planes.strides = strides;
    Ok(size)
}

/// One JPEG (a whole picture or a band) appended to `planes`; returns its
/// size and the planes' strides.
fn decode_into(
    jpeg: &[u8],
    planes: &mut [Vec<u8>; 3],
) -> Result<((u32, u32), [usize; 3]), DecodeError> {
    super::guarded(|| {
        let decompress = Decompress::with_markers(&[])
            .from_mem(jpeg)
            .map_err(|error| DecodeError::Corrupt(error.to_string()))?;
        if decompress.color_space() != ColorSpace::JCS_YCbCr {
            return Err(DecodeError::Corrupt(
                "not YCbCr (an Adobe RGB JPEG?)".into(),
            ));
        }
        let mut raw = decompress
            .raw()
            .map_err(|error| DecodeError::Corrupt(error.to_string()))?;
        let size = (raw.width() as u32, raw.height() as u32);
        let strides: Vec<usize> = raw.components().iter().map(|c| c.row_stride()).collect();
        let [luma, blue, red] = planes;
        raw.read_raw_data(&mut [luma, blue, red]);
        raw.finish()
            .map_err(|error| DecodeError::Corrupt(error.to_string()))?;
        Ok((size, [strides[0], strides[1], strides[2]]))
    })
}

/// The bands decoded at once, then laid one under the other.
fn decode_banded(
    banded: &Banded<'_>,
    most: usize,
    planes: &mut Planes,
    pool: &BandPool,
) -> Result<(u32, u32), DecodeError> {
    // Twice as many bands as threads: a helper that starts late still
    // finds bands to take.
    let count = (2 * most).min(banded.intervals());
    let ranges: Vec<_> = (0..count)
        .map(|band| band * banded.intervals() / count..(band + 1) * banded.intervals() / count)
        .collect();
    let mut spare = SPARE.take();
    let jobs: Vec<BandBuffers> = ranges
        .into_iter()
        .map(|intervals| {
            let mut buffers = spare.pop().unwrap_or_default();
            banded.band_into(intervals, &mut buffers.jpeg);
            buffers
        })
        .collect();
    let decoded = pool.run_all(jobs, |mut buffers| {
        buffers.planes.iter_mut().for_each(Vec::clear);
        (decode_into(&buffers.jpeg, &mut buffers.planes), buffers)
    });
    let mut strides = None;
    let mut failure = None;
    for (result, buffers) in decoded {
        match result {
            Ok(((width, _), band_strides))
                if width == banded.width()
                    && strides.is_none_or(|strides| strides == band_strides) =>
            {
                strides = Some(band_strides);
                for (plane, band_plane) in planes.planes.iter_mut().zip(&buffers.planes) {
                    plane.extend_from_slice(band_plane);
                }
            }
            Ok(_) => failure = Some(DecodeError::Corrupt("its bands do not fit together".into())),
            Err(error) => failure = Some(error),
        }
        spare.push(buffers);
    }
    SPARE.set(spare);
    planes.strides = strides.unwrap_or_default();
    match failure {
        Some(error) => Err(error),
        None => Ok((banded.width(), banded.height())),
    }
}

/// One band's JPEG and its decoded planes.
#[derive(Default)]
struct BandBuffers {
    jpeg: Vec<u8>,
    planes: [Vec<u8>; 3],
}

thread_local! {
    /// Each stream decoder's band buffers, reused picture after picture: a
    /// fresh buffer of a few hundred KB costs its page faults every time.
    static SPARE: std::cell::Cell<Vec<BandBuffers>> = const { std::cell::Cell::new(Vec::new()) };
}
