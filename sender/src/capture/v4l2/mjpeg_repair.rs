//! Making camera MJPEG frames into JPEGs every decoder shows.
//!
//! Many UVC cameras and USB grabbers deliver frames that are not quite valid
//! JPEGs: the buffer runs on past the end marker (EOI) with zeros or stale
//! bytes, the frame is cut short (no EOI) when USB bandwidth runs out, or the
//! frame leaves out its Huffman tables (DHT) because the MJPEG (AVI1) format
//! says decoders must assume the standard ones. [`repair`] trims the
//! padding, refuses garbage and tiny or truncated frames (unless asked to
//! close truncated ones), and inserts the standard tables of ITU T.81
//! Annex K.3 when the frame has none, so that strict decoders such as the
//! prototype's Qt one show every frame.

use std::sync::LazyLock;

use bytes::{BufMut, Bytes, BytesMut};
use framewire_proto::jpeg::{self, JpegError};

/// Frames shorter than this are camera hiccups, not pictures (the smallest
/// real JPEG of a one-colour 16x16 picture is about 300 bytes).
pub const MIN_FRAME_BYTES: usize = 128;

/// Why a camera frame is not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("frame of {0} bytes is too small to be a picture")]
    Tiny(usize),
    #[error("frame is truncated: no end marker (EOI) in its {0} bytes")]
    Truncated(usize),
    #[error("frame is not a usable JPEG: {0}")]
    Garbage(JpegError),
}

/// A frame that can be sent, and what was done to it.
#[derive(Debug, Clone)]
pub struct Repaired {
    pub jpeg: Bytes,
    pub width: u32,
    pub height: u32,
    /// Bytes after the end marker that were cut off.
    pub trimmed_bytes: usize,
    /// The standard Huffman tables were inserted.
    pub inserted_tables: bool,
    /// An end marker was appended to a truncated frame (`--allow-truncated`).
    pub closed_truncated: bool,
}

/// Checks and repairs one MJPEG frame; copies it once, out of the camera's
/// buffer, whatever it needs.
pub fn repair(frame: &[u8], allow_truncated: bool) -> Result<Repaired, Rejected> {
    if frame.len() < MIN_FRAME_BYTES {
        return Err(Rejected::Tiny(frame.len()));
    }
    let headers = jpeg::Headers::parse(frame).map_err(Rejected::Garbage)?;
    if let Some(error) = headers.broken {
        return Err(Rejected::Garbage(error));
    }
    let header = headers.info;
    let has_tables = headers.segments.iter().any(|segment| segment.code == 0xc4);
    let scan_start = headers
        .segments
        .iter()
        .find(|segment| segment.code == 0xda)
        .map(|segment| segment.offset)
        .ok_or(Rejected::Garbage(JpegError::NoFrameHeader))?;
    let (end, closed_truncated) = match jpeg::complete_length(frame) {
        Ok(length) => (length, false),
        Err(JpegError::NoEnd(length)) if allow_truncated => (length, true),
        Err(JpegError::NoEnd(length)) => return Err(Rejected::Truncated(length)),
        Err(other) => return Err(Rejected::Garbage(other)),
    };
    let tables: &[u8] = if has_tables {
        &[]
    } else {
        &STANDARD_TABLES_SEGMENT
    };
    let mut jpeg = BytesMut::with_capacity(end + tables.len() + 2);
    jpeg.put_slice(&frame[..scan_start]);
    jpeg.put_slice(tables);
    jpeg.put_slice(&frame[scan_start..end]);
    if closed_truncated {
        jpeg.put_slice(&[0xff, 0xd9]);
    }
    Ok(Repaired {
        jpeg: jpeg.freeze(),
        width: header.width,
        height: header.height,
        trimmed_bytes: frame.len() - end,
        inserted_tables: !has_tables,
        closed_truncated,
    })
}

/// `jpeg` without its Huffman tables (DHT segments), as many UVC cameras
/// send their frames: what [`repair`] undoes. For tests and test cameras.
pub fn without_huffman_tables(jpeg: &[u8]) -> Vec<u8> {
    let tables: Vec<(usize, usize)> = jpeg::header_segments(jpeg)
        .map_while(Result::ok)
        .filter(|segment| segment.code == 0xc4)
        .map(|segment| (segment.offset, segment.body.len() + 4))
        .collect();
    let mut stripped = jpeg.to_vec();
    for (offset, length) in tables.into_iter().rev() {
        stripped.drain(offset..offset + length);
    }
    stripped
}

/// One Huffman table of Annex K.3: its class and id byte, the number of
/// codes of each length 1..=16, and the symbols in code order.
struct HuffmanTable {
    class_and_id: u8,
    counts: [u8; 16],
    symbols: &'static [u8],
}

/// The AC symbols are the run/size pairs in the order of Annex K.3.3.
const STANDARD_TABLES: [HuffmanTable; 4] = [
    HuffmanTable {
        class_and_id: 0x00, // DC, luma
        counts: [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0],
        symbols: &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
    },
    HuffmanTable {
        class_and_id: 0x10, // AC, luma
        counts: [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d],
        symbols: &[
            0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51,
            0x61, 0x07, 0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1,
            0x15, 0x52, 0xd1, 0xf0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18,
            0x19, 0x1a, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39,
            0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57,
            0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75,
            0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92,
            0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
            0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3,
            0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8,
            0xd9, 0xda, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2,
            0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa,
        ],
    },
    HuffmanTable {
        class_and_id: 0x01, // DC, chroma
        counts: [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0],
        symbols: &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
    },
    HuffmanTable {
        class_and_id: 0x11, // AC, chroma
        counts: [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77],
        symbols: &[
            0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07,
            0x61, 0x71, 0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09,
            0x23, 0x33, 0x52, 0xf0, 0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25,
            0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38,
            0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56,
            0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74,
            0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
            0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5,
            0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba,
            0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6,
            0xd7, 0xd8, 0xd9, 0xda, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2,
            0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa,
        ],
    },
];

/// One DHT marker segment holding all four standard tables.
static STANDARD_TABLES_SEGMENT: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let body: Vec<u8> = STANDARD_TABLES
        .iter()
        .flat_map(|table| {
            std::iter::once(table.class_and_id)
                .chain(table.counts)
                .chain(table.symbols.iter().copied())
        })
        .collect();
    let mut segment = vec![0xff, 0xc4];
    segment.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
    segment.extend_from_slice(&body);
    segment
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::pattern::PatternSource;
    use crate::encoder::JpegEncoder;

    fn camera_jpeg() -> Vec<u8> {
        JpegEncoder::new(80)
            .encode(PatternSource::still(320, 240).into())
            .unwrap()
    }

    fn decode_rgb(jpeg: &[u8]) -> Vec<u8> {
        let mut rgb = mozjpeg::Decompress::new_mem(jpeg).unwrap().rgb().unwrap();
        rgb.read_scanlines::<[u8; 3]>().unwrap().concat()
    }

    #[test]
    fn the_standard_tables_are_the_ones_libjpeg_writes() {
        let tables: Vec<u8> = jpeg::header_segments(&camera_jpeg())
            .map(Result::unwrap)
            .filter(|segment| segment.code == 0xc4)
            .flat_map(|segment| segment.body.to_vec())
            .collect();
        assert_eq!(tables, STANDARD_TABLES_SEGMENT[4..]);
    }

    #[test]
    fn a_frame_without_huffman_tables_decodes_to_the_same_pixels_after_repair() {
        let original = camera_jpeg();
        let stripped = without_huffman_tables(&original);
        assert!(stripped.len() + 400 < original.len(), "the tables are gone");
        let repaired = repair(&stripped, false).unwrap();
        assert!(repaired.inserted_tables);
        assert_eq!((repaired.width, repaired.height), (320, 240));
        assert_eq!(decode_rgb(&repaired.jpeg), decode_rgb(&original));
        // A frame that has its tables is copied as it is.
        let untouched = repair(&original, false).unwrap();
        assert!(!untouched.inserted_tables);
        assert_eq!(untouched.jpeg, original);
    }

    #[test]
    fn padding_after_the_end_marker_is_trimmed() {
        let original = camera_jpeg();
        let mut padded = original.clone();
        padded.resize(original.len() * 3, 0);
        let repaired = repair(&padded, false).unwrap();
        assert_eq!(repaired.jpeg, original);
        assert_eq!(repaired.trimmed_bytes, original.len() * 2);
        // v4l2loopback's stale tail: a second JPEG's bytes after the first.
        let mut stale = original.clone();
        stale.extend_from_slice(&original);
        assert_eq!(repair(&stale, false).unwrap().jpeg, original);
    }

    #[test]
    fn truncated_frames_are_refused_unless_allowed() {
        let original = camera_jpeg();
        let cut = &original[..original.len() * 2 / 3];
        assert_eq!(
            repair(cut, false).unwrap_err(),
            Rejected::Truncated(cut.len())
        );
        let closed = repair(cut, true).unwrap();
        assert!(closed.closed_truncated);
        assert!(closed.jpeg.ends_with(&[0xff, 0xd9]));
        assert_eq!(decode_rgb(&closed.jpeg).len(), 320 * 240 * 3);
    }

    #[test]
    fn tiny_and_garbage_frames_are_classified() {
        assert_eq!(
            repair(&[0xff, 0xd8, 0xff, 0xd9], false).unwrap_err(),
            Rejected::Tiny(4)
        );
        assert_eq!(repair(&[], true).unwrap_err(), Rejected::Tiny(0));
        let zeros = vec![0u8; 4096];
        assert!(matches!(
            repair(&zeros, true),
            Err(Rejected::Garbage(JpegError::NotJpeg(_)))
        ));
        let original = camera_jpeg();
        // Headers cut off before the picture data: nothing to show.
        assert!(matches!(
            repair(&original[..200], true),
            Err(Rejected::Garbage(_))
        ));
        let mut noise: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
        noise[..2].copy_from_slice(&[0xff, 0xd8]);
        assert!(matches!(repair(&noise, true), Err(Rejected::Garbage(_))));
    }
}
