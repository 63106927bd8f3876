//! Banded JPEGs: one standard baseline JPEG cut into horizontal bands by its
//! restart markers, so that each end can work on the bands in parallel.
//!
//! The sender encodes a picture's bands separately (same tables, each band a
//! whole number of MCU rows) and [`join`]s them into one JPEG whose restart
//! interval (DRI) is one band, with an RSTn marker between bands: a restart
//! resets exactly what a separate encode starts from (the DC predictions and
//! the bit buffer), so any JPEG decoder reads the joined file, and it holds
//! the same coefficients as an unbanded encode of the picture. The receiver
//! [`split`]s any baseline JPEG whose restart interval falls on MCU-row
//! boundaries (ours, and cameras' that write DRI) into intervals and makes
//! each run of intervals a small JPEG of its own ([`Banded::band_into`]), which a
//! decoder turns into that band's rows of the picture. Everything here
//! works on the marker structure only; nothing decodes entropy-coded data.

use crate::jpeg::{Headers, JpegError};

/// Why band JPEGs cannot be joined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    #[error(transparent)]
    Jpeg(#[from] JpegError),
    #[error("band {0} is not a single-scan baseline JPEG")]
    NotBaseline(usize),
    #[error("band {0} has other tables or components than the first band")]
    DifferentTables(usize),
    #[error("band {index} is {height} rows high; every band but the last must be {expected}")]
    BandHeight {
        index: usize,
        height: u32,
        expected: u32,
    },
    #[error("a band of {0} MCUs is longer than a restart interval can be (65535)")]
    IntervalTooLong(u32),
    #[error("band {0} already has restart markers")]
    HasRestarts(usize),
    #[error("no bands to join")]
    Empty,
}

/// The frame header facts banding needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Geometry {
    width: u32,
    height: u32,
    /// Pixel rows of one MCU row (8 or 16 for the common samplings).
    mcu_rows: u32,
    mcus_per_row: u32,
}

/// A JPEG's parts as banding sees them.
struct Parts<'a> {
    /// SOI through the start-of-scan segment, without any DRI segment.
    segments: Vec<SegmentBytes<'a>>,
    geometry: Geometry,
    /// The restart interval in MCUs; 0 without DRI.
    restart_interval: u32,
    /// The entropy-coded data of the one scan, up to its end marker.
    scan: &'a [u8],
    /// Where in `scan` each restart marker (RSTn) starts.
    restarts: Vec<usize>,
    /// Frame header code: 0xC0 or 0xC1 for the baseline this handles.
    baseline: bool,
}

/// One header segment: its marker code and its payload.
#[derive(Clone, Copy)]
struct SegmentBytes<'a> {
    code: u8,
    body: &'a [u8],
}

const SOF0: u8 = 0xc0;
const SOF1: u8 = 0xc1;
const DRI: u8 = 0xdd;
const SOS: u8 = 0xda;

/// The parts of a band to join (our own encoder's): `None` when it has no
/// frame header banding can use.
fn parts_of(jpeg: &[u8]) -> Result<Option<Parts<'_>>, JpegError> {
    match Headers::parse(jpeg) {
        Ok(Headers {
            broken: Some(error),
            ..
        }) => Err(error),
        Ok(headers) => Ok(parts(&headers)),
        Err(JpegError::NoFrameHeader | JpegError::EmptyImage { .. }) => Ok(None),
        Err(error) => Err(error),
    }
}

/// The JPEG's parts as banding sees them, from its headers (walked once,
/// by the caller); `None` for a JPEG banding cannot cut.
fn parts<'a>(headers: &Headers<'a>) -> Option<Parts<'a>> {
    let jpeg = headers.data;
    let mut segments = Vec::new();
    let mut geometry = None;
    let mut baseline = false;
    let mut restart_interval = 0;
    let mut scan_start = None;
    for segment in &headers.segments {
        match segment.code {
            0xc0..=0xc3 | 0xc5..=0xc7 | 0xc9..=0xcb | 0xcd..=0xcf => {
                baseline = matches!(segment.code, SOF0 | SOF1);
                geometry = frame_geometry(segment.body);
            }
            DRI => {
                let interval = segment.body.get(..2)?;
                restart_interval = u16::from_be_bytes([interval[0], interval[1]]) as u32;
                continue;
            }
            0xd9 => return None,
            _ => {}
        }
        segments.push(SegmentBytes {
            code: segment.code,
            body: segment.body,
        });
        if segment.code == SOS {
            // The body is a slice of `jpeg`: the scan starts where it ends.
            scan_start =
                Some(segment.body.as_ptr() as usize - jpeg.as_ptr() as usize + segment.body.len());
        }
    }
    let (Some(geometry), Some(scan_start)) = (geometry, scan_start) else {
        return None;
    };
    let scan = &jpeg[scan_start.min(jpeg.len())..];
    let (end, restarts) = read_scan(scan);
    Some(Parts {
        segments,
        geometry,
        restart_interval,
        scan: &scan[..end],
        restarts,
        baseline,
    })
}

/// The MCU layout from a frame header's body, for an interleaved scan.
fn frame_geometry(body: &[u8]) -> Option<Geometry> {
    let height = u16::from_be_bytes([*body.get(1)?, *body.get(2)?]) as u32;
    let width = u16::from_be_bytes([*body.get(3)?, *body.get(4)?]) as u32;
    let components = *body.get(5)? as usize;
    let factors = body.get(6..6 + 3 * components)?;
    let (mut h_max, mut v_max) = (1, 1);
    for component in factors.chunks_exact(3) {
        let (h, v) = ((component[1] >> 4) as u32, (component[1] & 0x0f) as u32);
        if !(1..=4).contains(&h) || !(1..=4).contains(&v) {
            return None;
        }
        (h_max, v_max) = (h_max.max(h), v_max.max(v));
    }
    if width == 0 || height == 0 || components == 0 {
        return None;
    }
    // A one-component scan is not interleaved: its MCU is one 8x8 block.
    let (mcu_width, mcu_rows) = match components {
        1 => (8, 8),
        _ => (8 * h_max, 8 * v_max),
    };
    Some(Geometry {
        width,
        height,
        mcu_rows,
        mcus_per_row: width.div_ceil(mcu_width),
    })
}

/// Where the entropy-coded data at the start of `scan` ends (at the first
/// marker that is neither a stuffed 0xFF, a fill byte nor a restart), and
/// where its restart markers are. One pass, 0xFF bytes found with memchr.
fn read_scan(scan: &[u8]) -> (usize, Vec<usize>) {
    let (mut restarts, mut position) = (Vec::new(), 0);
    while let Some(offset) = memchr::memchr(0xff, &scan[position..]) {
        let marker = position + offset;
        match scan.get(marker + 1) {
            Some(0x00) => position = marker + 2,
            Some(0xd0..=0xd7) => {
                restarts.push(marker);
                position = marker + 2;
            }
            Some(0xff) => position = marker + 1,
            _ => return (marker, restarts),
        }
    }
    (scan.len(), restarts)
}

impl<'a> Parts<'a> {
    /// The scan's restart intervals: its entropy-coded data cut at each RSTn.
    fn intervals(&self) -> Vec<&'a [u8]> {
        let (scan, mut start) = (self.scan, 0);
        let mut pieces: Vec<&'a [u8]> = self
            .restarts
            .iter()
            .map(|&marker| {
                let piece = &scan[start..marker];
                start = marker + 2;
                piece
            })
            .collect();
        pieces.push(&scan[start..]);
        pieces
    }
}

/// Joins band JPEGs, top to bottom, into one JPEG of the whole picture.
///
/// Every band must be a single-scan baseline JPEG without restart markers,
/// with the same tables and components as the first, and every band but
/// the last as high as the first, a whole number of MCU rows. The result's
/// restart interval is one band, so [`split`] cuts it back into the bands.
///
/// ```
/// use framewire_proto::bands::{join, split};
/// use framewire_proto::jpeg::read_header;
///
/// /// A baseline JPEG's structure, 64 pixels wide, 4:2:0, with `scan` as its
/// /// entropy-coded data (nothing here decodes pixels, so no tables).
/// fn band(height: u16, scan: &[u8]) -> Vec<u8> {
///     let mut jpeg = vec![0xff, 0xd8, 0xff, 0xc0, 0x00, 0x11, 8];
///     jpeg.extend_from_slice(&height.to_be_bytes());
///     jpeg.extend_from_slice(&64u16.to_be_bytes());
///     jpeg.extend_from_slice(&[3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
///     jpeg.extend_from_slice(&[0xff, 0xda, 0x00, 0x0c, 3, 1, 0, 2, 0x11, 3, 0x11, 0, 63, 0]);
///     jpeg.extend_from_slice(scan);
///     jpeg.extend_from_slice(&[0xff, 0xd9]);
///     jpeg
/// }
///
/// let whole = join(&[band(32, &[1, 2]), band(32, &[3]), band(20, &[4, 5])]).unwrap();
/// let header = read_header(&whole).unwrap();
/// assert_eq!((header.width, header.height), (64, 84));
/// let bands = split(&whole).unwrap();
/// assert_eq!((bands.intervals(), bands.rows_per_interval()), (3, 32));
/// ```
pub fn join(bands: &[Vec<u8>]) -> Result<Vec<u8>, JoinError> {
    let first = bands.first().ok_or(JoinError::Empty)?;
    let first_parts = parts_of(first)?.ok_or(JoinError::NotBaseline(0))?;
    let band_height = first_parts.geometry.height;
    let interval = band_height / first_parts.geometry.mcu_rows * first_parts.geometry.mcus_per_row;
    if bands.len() > 1 && band_height % first_parts.geometry.mcu_rows != 0 {
        return Err(JoinError::BandHeight {
            index: 0,
            height: band_height,
            expected: band_height.next_multiple_of(first_parts.geometry.mcu_rows),
        });
    }
    if interval > u16::MAX as u32 {
        return Err(JoinError::IntervalTooLong(interval));
    }
    let last = bands.len() - 1;
    check_band(0, &first_parts, &first_parts, band_height, last == 0)?;
    let mut scans = Vec::with_capacity(bands.len());
    let mut total_height = first_parts.geometry.height;
    scans.push(first_parts.scan);
    for (index, band) in bands.iter().enumerate().skip(1) {
        let parts = parts_of(band)?.ok_or(JoinError::NotBaseline(index))?;
        check_band(index, &parts, &first_parts, band_height, index == last)?;
        total_height += parts.geometry.height;
        scans.push(parts.scan);
    }
    let scan_bytes: usize = scans.iter().map(|scan| scan.len() + 2).sum();
    let mut joined = Vec::with_capacity(first.len() + scan_bytes + 8);
    joined.extend_from_slice(&[0xff, 0xd8]);
    for segment in &first_parts.segments {
        if segment.code == SOS && bands.len() > 1 {
            joined.extend_from_slice(&[0xff, DRI, 0x00, 0x04]);
            joined.extend_from_slice(&(interval as u16).to_be_bytes());
        }
        push_segment(&mut joined, *segment, total_height);
    }
    for (index, scan) in scans.iter().enumerate() {
        if index > 0 {
            joined.extend_from_slice(&[0xff, 0xd0 + ((index - 1) % 8) as u8]);
        }
        joined.extend_from_slice(scan);
    }
    joined.extend_from_slice(&[0xff, 0xd9]);
    Ok(joined)
}

/// Checks that band `index` can follow the first: baseline without
/// restarts, the first's tables, and (unless it is the last) its height.
fn check_band(
    index: usize,
    parts: &Parts<'_>,
    first: &Parts<'_>,
    band_height: u32,
    last: bool,
) -> Result<(), JoinError> {
    if !parts.baseline || parts.restart_interval != 0 {
        return Err(JoinError::NotBaseline(index));
    }
    if !same_tables(first, parts) {
        return Err(JoinError::DifferentTables(index));
    }
    let height = parts.geometry.height;
    if !last && height != band_height {
        return Err(JoinError::BandHeight {
            index,
            height,
            expected: band_height,
        });
    }
    if !parts.restarts.is_empty() {
        return Err(JoinError::HasRestarts(index));
    }
    Ok(())
}

/// Whether two JPEGs' header segments are the same, but for the height.
fn same_tables(first: &Parts<'_>, other: &Parts<'_>) -> bool {
    first.segments.len() == other.segments.len()
        && first.geometry.width == other.geometry.width
        && first
            .segments
            .iter()
            .zip(&other.segments)
            .all(|(a, b)| match a.code {
                SOF0 | SOF1 => {
                    a.body.len() == b.body.len()
                        && a.body.first() == b.body.first()
                        && a.body.get(3..) == b.body.get(3..)
                }
                _ => a.code == b.code && a.body == b.body,
            })
}

/// Appends a header segment, with the frame header's height set to `height`.
fn push_segment(out: &mut Vec<u8>, segment: SegmentBytes<'_>, height: u32) {
    out.extend_from_slice(&[0xff, segment.code]);
    out.extend_from_slice(&(segment.body.len() as u16 + 2).to_be_bytes());
    let body = out.len();
    out.extend_from_slice(segment.body);
    if matches!(segment.code, SOF0 | SOF1) && segment.body.len() >= 3 {
        out[body + 1..body + 3].copy_from_slice(&(height as u16).to_be_bytes());
    }
}

/// A baseline JPEG whose restart intervals fall on MCU-row boundaries, cut
/// into those intervals.
pub struct Banded<'a> {
    parts: Parts<'a>,
    intervals: Vec<&'a [u8]>,
    /// Pixel rows one restart interval covers.
    rows_per_interval: u32,
}

impl<'a> Banded<'a> {
    /// How many restart intervals (the finest bands) the picture has.
    pub fn intervals(&self) -> usize {
        self.intervals.len()
    }

    /// Pixel rows of one interval (the last may have fewer).
    pub fn rows_per_interval(&self) -> u32 {
        self.rows_per_interval
    }

    pub fn width(&self) -> u32 {
        self.parts.geometry.width
    }

    pub fn height(&self) -> u32 {
        self.parts.geometry.height
    }

    /// The first pixel row and the row count of intervals `range`.
    pub fn rows(&self, range: std::ops::Range<usize>) -> (u32, u32) {
        let top = range.start as u32 * self.rows_per_interval;
        let bottom = (range.end as u32 * self.rows_per_interval).min(self.height());
        (top, bottom.saturating_sub(top))
    }

    /// A JPEG of intervals `range` alone, written into `band` (whose old
    /// contents go and whose memory is reused: a fresh buffer costs its page
    /// faults every frame): the same tables, the frame header cut to those
    /// rows, the restart markers numbered from RST0.
    pub fn band_into(&self, range: std::ops::Range<usize>, band: &mut Vec<u8>) {
        let (_, height) = self.rows(range.clone());
        let pieces = &self.intervals[range];
        let scan_bytes: usize = pieces.iter().map(|piece| piece.len() + 2).sum();
        let header_bytes: usize = self.parts.segments.iter().map(|s| s.body.len() + 4).sum();
        band.clear();
        band.reserve(header_bytes + scan_bytes + 10);
        band.extend_from_slice(&[0xff, 0xd8]);
        let interval = self.parts.restart_interval as u16;
        for segment in &self.parts.segments {
            if segment.code == SOS {
                band.extend_from_slice(&[0xff, DRI, 0x00, 0x04]);
                band.extend_from_slice(&interval.to_be_bytes());
            }
            push_segment(band, *segment, height);
        }
        for (index, piece) in pieces.iter().enumerate() {
            if index > 0 {
                band.extend_from_slice(&[0xff, 0xd0 + ((index - 1) % 8) as u8]);
            }
            band.extend_from_slice(piece);
        }
        band.extend_from_slice(&[0xff, 0xd9]);
    }
}

/// Cuts `jpeg` into its restart intervals, if it is a single-scan baseline
/// JPEG whose restart interval is a whole number of MCU rows and whose scan
/// holds exactly the intervals its size needs; `None` for any other JPEG
/// (decode it whole).
pub fn split(jpeg: &[u8]) -> Option<Banded<'_>> {
    split_headers(&Headers::parse(jpeg).ok()?)
}

/// [`split`] for a JPEG whose headers were walked already.
pub fn split_headers<'a>(headers: &Headers<'a>) -> Option<Banded<'a>> {
    if headers.broken.is_some() {
        return None;
    }
    let parts = parts(headers)?;
    let geometry = parts.geometry;
    let interval = parts.restart_interval;
    let scans = parts.segments.iter().filter(|s| s.code == SOS).count();
    if !parts.baseline || scans != 1 || interval == 0 || interval % geometry.mcus_per_row != 0 {
        return None;
    }
    let rows_per_interval = interval / geometry.mcus_per_row * geometry.mcu_rows;
    let expected = geometry.height.div_ceil(rows_per_interval) as usize;
    if parts.restarts.len() + 1 != expected {
        return None;
    }
    let intervals = parts.intervals();
    Some(Banded {
        parts,
        intervals,
        rows_per_interval,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-made baseline header: SOI, SOF0 for `width`x`height` 4:2:0,
    /// then `extra` segments and an SOS; no tables (nothing here decodes).
    fn header(width: u16, height: u16, extra: &[u8]) -> Vec<u8> {
        let mut jpeg = vec![0xff, 0xd8, 0xff, 0xc0, 0x00, 0x11, 8];
        jpeg.extend_from_slice(&height.to_be_bytes());
        jpeg.extend_from_slice(&width.to_be_bytes());
        jpeg.extend_from_slice(&[3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
        jpeg.extend_from_slice(extra);
        jpeg.extend_from_slice(&[0xff, 0xda, 0x00, 0x0c, 3, 1, 0, 2, 0x11, 3, 0x11, 0, 63, 0]);
        jpeg
    }

    fn band(width: u16, height: u16, scan: &[u8]) -> Vec<u8> {
        let mut jpeg = header(width, height, &[]);
        jpeg.extend_from_slice(scan);
        jpeg.extend_from_slice(&[0xff, 0xd9]);
        jpeg
    }

    #[test]
    fn joined_bands_split_back_into_the_same_scans() {
        let scans: [&[u8]; 3] = [&[1, 2, 0xff, 0x00, 3], &[4, 5], &[6]];
        let bands = vec![
            band(64, 32, scans[0]),
            band(64, 32, scans[1]),
            band(64, 20, scans[2]),
        ];
        let joined = join(&bands).unwrap();
        let info = crate::jpeg::read_header(&joined).unwrap();
        assert_eq!((info.width, info.height), (64, 84));
        let banded = split(&joined).expect("our own join splits");
        assert_eq!(banded.intervals(), 3);
        assert_eq!(banded.rows_per_interval(), 32);
        assert_eq!(banded.rows(2..3), (64, 20));
        for (index, scan) in scans.iter().enumerate() {
            assert_eq!(banded.intervals[index], *scan);
        }
        // Two intervals as one band: the restart between them is RST0.
        let mut lower = Vec::new();
        banded.band_into(1..3, &mut lower);
        let parts = parts_of(&lower).unwrap().unwrap();
        assert_eq!(parts.geometry.height, 52);
        assert_eq!(parts.scan, &[4, 5, 0xff, 0xd0, 6]);
        assert_eq!(parts.restart_interval, 8);
    }

    #[test]
    fn one_band_joins_to_itself_without_restarts() {
        let single = band(16, 16, &[9, 9]);
        assert_eq!(join(std::slice::from_ref(&single)).unwrap(), single);
        assert!(split(&single).is_none(), "no DRI: decoded whole");
    }

    #[test]
    fn bands_that_do_not_fit_together_are_refused() {
        let uneven = vec![band(64, 24, &[1]), band(64, 16, &[2])];
        assert!(matches!(join(&uneven), Err(JoinError::BandHeight { .. })));
        let narrower = vec![band(64, 16, &[1]), band(48, 16, &[2])];
        assert_eq!(join(&narrower), Err(JoinError::DifferentTables(1)));
        let restarted = vec![band(64, 16, &[1]), band(64, 16, &[2, 0xff, 0xd0, 3])];
        assert_eq!(join(&restarted), Err(JoinError::HasRestarts(1)));
        assert_eq!(join(&[]), Err(JoinError::Empty));
        assert!(join(&[b"not a jpeg".to_vec()]).is_err());
    }

    #[test]
    fn restarts_off_row_boundaries_or_miscounted_are_not_split() {
        // 64 pixels of 4:2:0 are 4 MCUs a row; an interval of 2 MCUs is half a row.
        let mut half_rows = header(64, 32, &[0xff, 0xdd, 0, 4, 0, 2]);
        half_rows.extend_from_slice(&[1, 0xff, 0xd0, 2, 0xff, 0xd1, 3, 0xff, 0xd2, 4, 0xff, 0xd9]);
        assert!(split(&half_rows).is_none());
        // One row per interval, but three intervals for a picture of two rows.
        let mut miscounted = header(64, 32, &[0xff, 0xdd, 0, 4, 0, 4]);
        miscounted.extend_from_slice(&[1, 0xff, 0xd0, 2, 0xff, 0xd1, 3, 0xff, 0xd9]);
        assert!(split(&miscounted).is_none());
        let mut rows = header(64, 32, &[0xff, 0xdd, 0, 4, 0, 4]);
        rows.extend_from_slice(&[1, 0xff, 0xd0, 2, 0xff, 0xd9]);
        assert_eq!(split(&rows).map(|banded| banded.intervals()), Some(2));
    }

    #[test]
    fn truncated_and_garbage_input_is_never_split() {
        let mut rows = header(64, 32, &[0xff, 0xdd, 0, 4, 0, 4]);
        rows.extend_from_slice(&[1, 0xff, 0xd0, 2, 0xff, 0xd9]);
        for end in 0..rows.len() {
            let _ = split(&rows[..end]);
        }
        assert!(split(&[0xff, 0xd8, 0xff]).is_none());
    }
}
