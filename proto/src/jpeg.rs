//! Small JPEG helpers both ends need without decoding a picture.
//!
//! [`read_header`] walks a JPEG's marker segments up to its frame header
//! (SOF) and reports the image size, so a receiver can refuse a non-JPEG or
//! an absurdly large image before spending time or memory on decoding it.
//! [`complete_length`] finds where a JPEG ends (its EOI marker), which splits
//! an MJPEG file into frames; [`header_segments`] lists the marker segments
//! before the image data, for repairs. [`Headers`] walks them once for a
//! frame on its way to a decoder, so the checks, the band cutter and the
//! decoder each read what they need from one walk. None decodes the
//! entropy-coded data.

/// What the frame header of a JPEG says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JpegInfo {
    pub width: u32,
    pub height: u32,
    /// 1 for greyscale, 3 for colour.
    pub components: u8,
    pub progressive: bool,
}

/// Why bytes are not a usable JPEG.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JpegError {
    #[error("not a JPEG: it starts with {0} instead of the JPEG start marker FF D8")]
    NotJpeg(String),
    #[error("JPEG ends inside its headers (after {0} bytes)")]
    Truncated(usize),
    #[error("JPEG has no frame header (SOF) before its image data")]
    NoFrameHeader,
    #[error("JPEG frame header says {width}x{height} pixels, which is empty")]
    EmptyImage { width: u32, height: u32 },
    #[error("JPEG has no end marker (EOI) in its {0} bytes: it is truncated")]
    NoEnd(usize),
}

/// The length of the JPEG at the start of `data`, up to and including its
/// end marker (EOI); whatever follows (padding, the next frame) is not counted.
pub fn complete_length(data: &[u8]) -> Result<usize, JpegError> {
    if !data.starts_with(&[0xff, 0xd8]) {
        return Err(not_jpeg(data));
    }
    let mut position = 2;
    let mut in_scan = false;
    while position + 1 < data.len() {
        if data[position] != 0xff {
            if !in_scan {
                return Err(JpegError::NoFrameHeader);
            }
            position += 1;
            continue;
        }
        let code = data[position + 1];
        match code {
            // Stuffed 0xFF, restart markers and fill bytes belong to the scan.
            0x00 | 0xd0..=0xd7 | 0xff => position += if code == 0xff { 1 } else { 2 },
            0xd9 => return Ok(position + 2),
            0x01 => position += 2,
            _ => {
                let length = data
                    .get(position + 2..position + 4)
                    .map(|l| u16::from_be_bytes([l[0], l[1]]) as usize)
                    .ok_or(JpegError::NoEnd(data.len()))?;
                position += 2 + length.max(2);
                in_scan = code == 0xda;
            }
        }
    }
    Err(JpegError::NoEnd(data.len()))
}

/// Reads the frame header of the JPEG in `data` (the segments after it
/// are not looked at).
pub fn read_header(data: &[u8]) -> Result<JpegInfo, JpegError> {
    for segment in header_segments(data) {
        let segment = segment?;
        match segment.code {
            code if is_frame_header(code) => return frame_info(&segment, data.len()),
            0xda | 0xd9 => return Err(JpegError::NoFrameHeader),
            _ => {}
        }
    }
    Err(JpegError::NoFrameHeader)
}

/// A JPEG's headers, walked once: every marker segment from the one after
/// SOI through the first start of scan (or end), what the frame header
/// says, and where the image data begins.
#[derive(Debug, Clone)]
pub struct Headers<'a> {
    /// The whole JPEG.
    pub data: &'a [u8],
    pub info: JpegInfo,
    /// The frame header segment (SOFn).
    pub frame: Segment<'a>,
    /// Every segment, as [`header_segments`] gives them.
    pub segments: Vec<Segment<'a>>,
    /// Offset of the start-of-scan marker, where the image data begins;
    /// the JPEG's length when it has none.
    pub scan_start: usize,
    /// Why the walk stopped early, after the frame header: a segment cut
    /// short or malformed (`segments` ends before it). What the frame
    /// header claims can still be checked first.
    pub broken: Option<JpegError>,
}

impl<'a> Headers<'a> {
    /// Walks the headers of the JPEG in `data`; an error for a JPEG
    /// without a frame header before its image data, or with a segment cut
    /// short or malformed before it (one after it is kept in
    /// [`Headers::broken`]).
    pub fn parse(data: &'a [u8]) -> Result<Headers<'a>, JpegError> {
        let mut frame = None;
        let mut segments = Vec::new();
        let mut scan_start = data.len();
        let mut broken = None;
        for segment in header_segments(data) {
            let segment = match (segment, &frame) {
                (Ok(segment), _) => segment,
                (Err(error), None) => return Err(error),
                (Err(error), Some(_)) => {
                    broken = Some(error);
                    break;
                }
            };
            if frame.is_none() && is_frame_header(segment.code) {
                frame = Some((segment, frame_info(&segment, data.len())?));
            }
            if segment.code == 0xda {
                scan_start = segment.offset;
            }
            segments.push(segment);
        }
        let (frame, info) = frame.ok_or(JpegError::NoFrameHeader)?;
        Ok(Headers {
            data,
            info,
            frame,
            segments,
            scan_start,
            broken,
        })
    }

    /// The image data: from the start-of-scan marker to the end.
    pub fn image_data(&self) -> &'a [u8] {
        &self.data[self.scan_start..]
    }
}

/// Whether `code` is a frame header's (SOF0-SOF15 but DHT, JPG and DAC).
fn is_frame_header(code: u8) -> bool {
    matches!(code, 0xc0..=0xc3 | 0xc5..=0xc7 | 0xc9..=0xcb | 0xcd..=0xcf)
}

/// What the frame header `segment` of a JPEG of `length` bytes says.
fn frame_info(segment: &Segment<'_>, length: usize) -> Result<JpegInfo, JpegError> {
    let header = segment.body.get(..6).ok_or(JpegError::Truncated(length))?;
    let height = u16::from_be_bytes([header[1], header[2]]) as u32;
    let width = u16::from_be_bytes([header[3], header[4]]) as u32;
    if width == 0 || height == 0 {
        return Err(JpegError::EmptyImage { width, height });
    }
    Ok(JpegInfo {
        width,
        height,
        components: header[5],
        progressive: matches!(segment.code, 0xc2 | 0xc6 | 0xca | 0xce),
    })
}

/// One marker segment of a JPEG's headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment<'a> {
    /// The marker code after 0xFF, e.g. 0xC4 for a Huffman table (DHT).
    pub code: u8,
    /// Offset of the segment's 0xFF marker byte in the JPEG.
    pub offset: usize,
    /// The segment's payload, after its length field.
    pub body: &'a [u8],
}

/// The marker segments of the JPEG in `data`, from the one after SOI up to
/// and including the first start of scan (SOS) or end (EOI), where the
/// headers end. Stops after the first error.
pub fn header_segments(data: &[u8]) -> impl Iterator<Item = Result<Segment<'_>, JpegError>> {
    let mut position = 2;
    let mut finished = false;
    std::iter::from_fn(move || {
        if finished {
            return None;
        }
        let next = if data.starts_with(&[0xff, 0xd8]) {
            next_segment(data, &mut position)
        } else {
            Err(not_jpeg(data))
        };
        finished = match &next {
            Ok(segment) => matches!(segment.code, 0xda | 0xd9),
            Err(_) => true,
        };
        Some(next)
    })
}

/// The error for bytes that do not start with the JPEG start marker.
fn not_jpeg(data: &[u8]) -> JpegError {
    let shown: Vec<String> = data.iter().take(4).map(|b| format!("{b:02X}")).collect();
    let shown = if shown.is_empty() {
        "nothing (0 bytes)".to_owned()
    } else {
        shown.join(" ")
    };
    JpegError::NotJpeg(shown)
}

fn next_segment<'a>(data: &'a [u8], position: &mut usize) -> Result<Segment<'a>, JpegError> {
    loop {
        // A marker is 0xFF, any number of 0xFF fill bytes, then a code.
        let offset = *position;
        if *data.get(offset).ok_or(JpegError::Truncated(data.len()))? != 0xff {
            return Err(JpegError::NoFrameHeader);
        }
        while data.get(*position) == Some(&0xff) {
            *position += 1;
        }
        let code = *data
            .get(*position)
            .ok_or(JpegError::Truncated(data.len()))?;
        *position += 1;
        match code {
            0x01 | 0xd0..=0xd7 => continue, // standalone markers carry no segment
            0xd9 => {
                return Ok(Segment {
                    code,
                    offset,
                    body: &[],
                });
            }
            _ => {}
        }
        let length = data
            .get(*position..*position + 2)
            .ok_or(JpegError::Truncated(data.len()))?;
        let length = u16::from_be_bytes([length[0], length[1]]) as usize;
        let body = data
            .get(*position + 2..*position + length.max(2))
            .ok_or(JpegError::Truncated(data.len()))?;
        *position += length.max(2);
        return Ok(Segment { code, offset, body });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SOI, an APP0 segment, then a baseline SOF0 for 640x480 colour.
    fn minimal_header() -> Vec<u8> {
        let mut jpeg = vec![0xff, 0xd8];
        jpeg.extend_from_slice(&[0xff, 0xe0, 0x00, 0x06, b'J', b'F', b'I', b'F']);
        jpeg.extend_from_slice(&[0xff, 0xff, 0xc0, 0x00, 0x11, 8, 0x01, 0xe0, 0x02, 0x80, 3]);
        jpeg.extend_from_slice(&[1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
        jpeg
    }

    #[test]
    fn reads_size_and_components_from_the_frame_header() {
        let info = read_header(&minimal_header()).unwrap();
        assert_eq!(
            info,
            JpegInfo {
                width: 640,
                height: 480,
                components: 3,
                progressive: false
            }
        );
    }

    #[test]
    fn refuses_a_png_naming_its_first_bytes() {
        let error = read_header(b"\x89PNG\r\n\x1a\n").unwrap_err();
        assert_eq!(
            error.to_string(),
            "not a JPEG: it starts with 89 50 4E 47 instead of the JPEG start marker FF D8"
        );
    }

    #[test]
    fn every_truncation_of_a_header_is_an_error_not_a_panic() {
        let header = minimal_header();
        for cut in 0..header.len() - 9 {
            assert!(read_header(&header[..cut]).is_err(), "cut at {cut}");
        }
    }

    /// The minimal header, a scan header, scan data with a stuffed 0xFF and
    /// a restart marker, then EOI.
    fn minimal_jpeg() -> Vec<u8> {
        let mut jpeg = minimal_header();
        jpeg.extend_from_slice(&[0xff, 0xda, 0x00, 0x04, 0x01, 0x00]);
        jpeg.extend_from_slice(&[0x12, 0xff, 0x00, 0x34, 0xff, 0xd0, 0x56, 0xff, 0xd9]);
        jpeg
    }

    #[test]
    fn complete_length_ends_at_eoi_and_ignores_what_follows() {
        let jpeg = minimal_jpeg();
        let mut stream = jpeg.clone();
        stream.extend_from_slice(&[0; 7]);
        stream.extend_from_slice(&jpeg);
        assert_eq!(complete_length(&stream), Ok(jpeg.len()));
    }

    #[test]
    fn a_jpeg_without_eoi_is_truncated() {
        let jpeg = minimal_jpeg();
        for cut in [jpeg.len() - 1, jpeg.len() - 2, jpeg.len() - 5] {
            assert!(
                matches!(complete_length(&jpeg[..cut]), Err(JpegError::NoEnd(_))),
                "cut {cut}"
            );
        }
        assert!(matches!(
            complete_length(b"RIFF...."),
            Err(JpegError::NotJpeg(_))
        ));
    }

    #[test]
    fn headers_are_walked_to_the_scan_and_a_break_after_the_frame_header_is_kept() {
        let jpeg = minimal_jpeg();
        let headers = Headers::parse(&jpeg).unwrap();
        assert_eq!(headers.info, read_header(&jpeg).unwrap());
        assert_eq!(headers.frame.code, 0xc0);
        assert_eq!(&headers.image_data()[..2], &[0xff, 0xda]);
        assert_eq!(headers.segments.last().map(|s| s.code), Some(0xda));
        assert!(headers.broken.is_none());

        let mut cut = minimal_header();
        cut.extend_from_slice(&[0xff, 0xc4, 0x00]); // a table cut short
        let headers = Headers::parse(&cut).unwrap();
        assert_eq!(headers.info.width, 640, "the frame header is still read");
        assert!(matches!(headers.broken, Some(JpegError::Truncated(_))));
        assert!(headers.image_data().is_empty());
        assert!(Headers::parse(&minimal_header()[..12]).is_err());
    }

    #[test]
    fn a_zero_sized_image_is_refused() {
        let mut header = minimal_header();
        header[16..18].copy_from_slice(&[0, 0]);
        assert!(matches!(
            read_header(&header),
            Err(JpegError::EmptyImage { .. })
        ));
    }
}
