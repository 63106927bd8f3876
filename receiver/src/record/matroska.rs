//! A Matroska (MKV) writer for one MJPEG video track, built to survive a crash.
//!
//! The JPEG frames go in unchanged (codec `V_MJPEG`), each as a keyframe
//! `SimpleBlock` with its own millisecond timestamp, so players run the video
//! at the speed it was captured whatever the frame rate did. The file is laid
//! out like a live stream: the `Segment` starts with an unknown size and every
//! `Cluster` (about a second of frames, kept in memory until then) is written
//! whole, with its size, in one write. A file cut off at any point therefore
//! plays up to its last complete cluster. [`MatroskaWriter::finish`] adds
//! what only the end knows: the `Cues` index, the `SeekHead` pointing at it,
//! the `Duration`, and the `Segment`'s size, written into space reserved at
//! the start. Element IDs and layout follow RFC 9559.

use std::io::{self, Seek, SeekFrom, Write};

/// A cluster is written once it spans this long, or holds this much.
const CLUSTER_MILLIS: u64 = 1000;
const CLUSTER_BYTES: usize = 8 << 20;

/// Room reserved after the `Segment` header for the `SeekHead` written at the end.
const SEEK_HEAD_ROOM: usize = 96;
/// `Duration`: 2-byte ID, 1-byte size, 8-byte float, reserved as a `Void`.
const DURATION_ROOM: usize = 11;

mod id {
    pub const EBML: u32 = 0x1A45_DFA3;
    pub const EBML_VERSION: u32 = 0x4286;
    pub const EBML_READ_VERSION: u32 = 0x42F7;
    pub const EBML_MAX_ID_LENGTH: u32 = 0x42F2;
    pub const EBML_MAX_SIZE_LENGTH: u32 = 0x42F3;
    pub const DOC_TYPE: u32 = 0x4282;
    pub const DOC_TYPE_VERSION: u32 = 0x4287;
    pub const DOC_TYPE_READ_VERSION: u32 = 0x4285;
    pub const SEGMENT: u32 = 0x1853_8067;
    pub const SEEK_HEAD: u32 = 0x114D_9B74;
    pub const SEEK: u32 = 0x4DBB;
    pub const SEEK_ID: u32 = 0x53AB;
    pub const SEEK_POSITION: u32 = 0x53AC;
    pub const INFO: u32 = 0x1549_A966;
    pub const TIMESTAMP_SCALE: u32 = 0x2A_D7B1;
    pub const DURATION: u32 = 0x4489;
    pub const DATE_UTC: u32 = 0x4461;
    pub const TITLE: u32 = 0x7BA9;
    pub const MUXING_APP: u32 = 0x4D80;
    pub const WRITING_APP: u32 = 0x5741;
    pub const TRACKS: u32 = 0x1654_AE6B;
    pub const TRACK_ENTRY: u32 = 0xAE;
    pub const TRACK_NUMBER: u32 = 0xD7;
    pub const TRACK_UID: u32 = 0x73C5;
    pub const TRACK_TYPE: u32 = 0x83;
    pub const FLAG_LACING: u32 = 0x9C;
    pub const CODEC_ID: u32 = 0x86;
    pub const VIDEO: u32 = 0xE0;
    pub const PIXEL_WIDTH: u32 = 0xB0;
    pub const PIXEL_HEIGHT: u32 = 0xBA;
    pub const CLUSTER: u32 = 0x1F43_B675;
    pub const TIMESTAMP: u32 = 0xE7;
    pub const SIMPLE_BLOCK: u32 = 0xA3;
    pub const CUES: u32 = 0x1C53_BB6B;
    pub const CUE_POINT: u32 = 0xBB;
    pub const CUE_TIME: u32 = 0xB3;
    pub const CUE_TRACK_POSITIONS: u32 = 0xB7;
    pub const CUE_TRACK: u32 = 0xF7;
    pub const CUE_CLUSTER_POSITION: u32 = 0xF1;
    pub const VOID: u32 = 0xEC;
}

/// Unix time of Matroska's epoch, 2001-01-01T00:00:00 UTC, in seconds.
const MATROSKA_EPOCH_UNIX_SECONDS: i64 = 978_307_200;

/// What the file says about its one video track.
pub struct VideoTrack<'a> {
    pub width: u32,
    pub height: u32,
    /// The stream's name, kept as the file's title.
    pub title: &'a str,
    /// When the first frame was captured, in microseconds since the Unix epoch.
    pub start_unix_us: u64,
}

/// Writes one segment file. Timestamps are milliseconds from its first frame.
pub struct MatroskaWriter<W: Write + Seek> {
    out: W,
    /// File offset where the `Segment`'s data starts: positions in the
    /// `SeekHead` and `Cues` count from here.
    segment_data_start: u64,
    info_position: u64,
    tracks_position: u64,
    duration_offset: u64,
    cluster: Vec<u8>,
    cluster_start_ms: Option<u64>,
    /// (time of the cluster, its position) for the `Cues`.
    cues: Vec<(u64, u64)>,
    frames: u64,
    last_ms: u64,
}

impl<W: Write + Seek> MatroskaWriter<W> {
    /// Writes the headers; frames follow with [`write_frame`](Self::write_frame).
    pub fn create(mut out: W, track: &VideoTrack) -> io::Result<Self> {
        let mut header = Vec::new();
        element(&mut header, id::EBML, &{
            let mut ebml = Vec::new();
            uint_element(&mut ebml, id::EBML_VERSION, 1);
            uint_element(&mut ebml, id::EBML_READ_VERSION, 1);
            uint_element(&mut ebml, id::EBML_MAX_ID_LENGTH, 4);
            uint_element(&mut ebml, id::EBML_MAX_SIZE_LENGTH, 8);
            element(&mut ebml, id::DOC_TYPE, b"matroska");
            uint_element(&mut ebml, id::DOC_TYPE_VERSION, 4);
            uint_element(&mut ebml, id::DOC_TYPE_READ_VERSION, 2);
            ebml
        });
        write_id(&mut header, id::SEGMENT);
        header.extend_from_slice(&UNKNOWN_SIZE);
        let segment_data_start = header.len() as u64;
        void(&mut header, SEEK_HEAD_ROOM);

        let info_position = header.len() as u64 - segment_data_start;
        let app = concat!("framewire-receiver ", env!("CARGO_PKG_VERSION"));
        let mut info = Vec::new();
        uint_element(&mut info, id::TIMESTAMP_SCALE, 1_000_000); // 1 ms
        let duration_in_info = info.len();
        void(&mut info, DURATION_ROOM);
        let since_epoch_us = track.start_unix_us as i64 - MATROSKA_EPOCH_UNIX_SECONDS * 1_000_000;
        element(
            &mut info,
            id::DATE_UTC,
            &since_epoch_us.saturating_mul(1000).to_be_bytes(),
        );
        element(&mut info, id::TITLE, track.title.as_bytes());
        element(&mut info, id::MUXING_APP, app.as_bytes());
        element(&mut info, id::WRITING_APP, app.as_bytes());
        let info_header_length = element(&mut header, id::INFO, &info) - info.len();
        let duration_offset =
            segment_data_start + info_position + (info_header_length + duration_in_info) as u64;

        let tracks_position = header.len() as u64 - segment_data_start;
        let mut entry = Vec::new();
        uint_element(&mut entry, id::TRACK_NUMBER, 1);
        uint_element(&mut entry, id::TRACK_UID, 1);
        uint_element(&mut entry, id::TRACK_TYPE, 1); // video
        uint_element(&mut entry, id::FLAG_LACING, 0);
        element(&mut entry, id::CODEC_ID, b"V_MJPEG");
        element(&mut entry, id::VIDEO, &{
            let mut video = Vec::new();
            uint_element(&mut video, id::PIXEL_WIDTH, track.width.into());
            uint_element(&mut video, id::PIXEL_HEIGHT, track.height.into());
            video
        });
        let mut tracks = Vec::new();
        element(&mut tracks, id::TRACK_ENTRY, &entry);
        element(&mut header, id::TRACKS, &tracks);

        out.write_all(&header)?;
        out.flush()?;
        Ok(MatroskaWriter {
            out,
            segment_data_start,
            info_position,
            tracks_position,
            duration_offset,
            cluster: Vec::new(),
            cluster_start_ms: None,
            cues: Vec::new(),
            frames: 0,
            last_ms: 0,
        })
    }

    /// Adds a JPEG frame at `time_ms`; times never go back (a smaller one is
    /// taken as the previous time).
    pub fn write_frame(&mut self, time_ms: u64, jpeg: &[u8]) -> io::Result<()> {
        let time_ms = time_ms.max(self.last_ms);
        if self.cluster_start_ms.is_some_and(|start| {
            time_ms - start >= CLUSTER_MILLIS || self.cluster.len() + jpeg.len() > CLUSTER_BYTES
        }) {
            self.write_cluster()?;
        }
        let start = *self.cluster_start_ms.get_or_insert(time_ms);
        // Within a cluster of at most CLUSTER_MILLIS, the offset fits an i16.
        let relative = (time_ms - start) as i16;
        write_id(&mut self.cluster, id::SIMPLE_BLOCK);
        write_size(&mut self.cluster, 4 + jpeg.len() as u64);
        self.cluster.push(0x81); // track 1
        self.cluster.extend_from_slice(&relative.to_be_bytes());
        self.cluster.push(0x80); // keyframe
        self.cluster.extend_from_slice(jpeg);
        self.frames += 1;
        self.last_ms = time_ms;
        Ok(())
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Writes the frames held in memory as a complete cluster now (the
    /// stream paused: do not keep them at risk).
    pub fn write_cluster(&mut self) -> io::Result<()> {
        let Some(start_ms) = self.cluster_start_ms.take() else {
            return Ok(());
        };
        let position = self.out.stream_position()? - self.segment_data_start;
        let mut head = Vec::with_capacity(24);
        uint_element(&mut head, id::TIMESTAMP, start_ms);
        let mut whole = Vec::with_capacity(head.len() + self.cluster.len() + 12);
        write_id(&mut whole, id::CLUSTER);
        write_size(&mut whole, (head.len() + self.cluster.len()) as u64);
        whole.extend_from_slice(&head);
        whole.append(&mut self.cluster);
        self.out.write_all(&whole)?;
        self.out.flush()?;
        self.cues.push((start_ms, position));
        Ok(())
    }

    /// Completes the file: the last cluster, the index, the duration (the
    /// last frame is taken to last as long as the average frame) and the
    /// segment's size. Returns the output and the duration in milliseconds.
    pub fn finish(mut self) -> io::Result<(W, f64)> {
        self.write_cluster()?;
        let cues_position = self.out.stream_position()? - self.segment_data_start;
        let mut cues = Vec::new();
        for (time, position) in &self.cues {
            let mut positions = Vec::new();
            uint_element(&mut positions, id::CUE_TRACK, 1);
            uint_element(&mut positions, id::CUE_CLUSTER_POSITION, *position);
            let mut point = Vec::new();
            uint_element(&mut point, id::CUE_TIME, *time);
            element(&mut point, id::CUE_TRACK_POSITIONS, &positions);
            element(&mut cues, id::CUE_POINT, &point);
        }
        let mut cues_element = Vec::new();
        element(&mut cues_element, id::CUES, &cues);
        self.out.write_all(&cues_element)?;
        let end = self.out.stream_position()?;

        let mut seek_head = Vec::new();
        for (target, position) in [
            (id::INFO, self.info_position),
            (id::TRACKS, self.tracks_position),
            (id::CUES, cues_position),
        ] {
            let mut seek = Vec::new();
            element(&mut seek, id::SEEK_ID, &target.to_be_bytes());
            element(&mut seek, id::SEEK_POSITION, &position.to_be_bytes());
            element(&mut seek_head, id::SEEK, &seek);
        }
        let mut reserved = Vec::new();
        element(&mut reserved, id::SEEK_HEAD, &seek_head);
        let room_left = SEEK_HEAD_ROOM - reserved.len();
        void(&mut reserved, room_left);
        self.out.seek(SeekFrom::Start(self.segment_data_start))?;
        self.out.write_all(&reserved)?;

        let average_ms = match self.frames {
            0 | 1 => 0.0,
            frames => self.last_ms as f64 / (frames - 1) as f64,
        };
        let duration_ms = self.last_ms as f64 + average_ms;
        let mut duration = Vec::new();
        element(&mut duration, id::DURATION, &duration_ms.to_be_bytes());
        self.out.seek(SeekFrom::Start(self.duration_offset))?;
        self.out.write_all(&duration)?;

        let mut segment_size = [0u8; 8];
        segment_size[0] = 0x01;
        segment_size[1..].copy_from_slice(&(end - self.segment_data_start).to_be_bytes()[1..]);
        self.out
            .seek(SeekFrom::Start(self.segment_data_start - 8))?;
        self.out.write_all(&segment_size)?;
        self.out.seek(SeekFrom::Start(end))?;
        self.out.flush()?;
        Ok((self.out, duration_ms))
    }
}

/// An 8-byte size with every value bit set: "unknown", until `finish`.
const UNKNOWN_SIZE: [u8; 8] = [0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];

fn write_id(out: &mut Vec<u8>, id: u32) {
    let bytes = id.to_be_bytes();
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(3);
    out.extend_from_slice(&bytes[first..]);
}

/// An EBML variable-length size in the fewest bytes (all-ones is reserved).
fn write_size(out: &mut Vec<u8>, size: u64) {
    let length = (1..=8)
        .find(|&length| size < (1u64 << (7 * length)) - 1)
        .unwrap_or(8);
    let marked = size | (1u64 << (7 * length));
    out.extend_from_slice(&marked.to_be_bytes()[8 - length..]);
}

/// Appends a whole element; returns the bytes appended.
fn element(out: &mut Vec<u8>, id: u32, body: &[u8]) -> usize {
    let before = out.len();
    write_id(out, id);
    write_size(out, body.len() as u64);
    out.extend_from_slice(body);
    out.len() - before
}

fn uint_element(out: &mut Vec<u8>, id: u32, value: u64) {
    let bytes = value.to_be_bytes();
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(7);
    element(out, id, &bytes[first..]);
}

/// A `Void` element of exactly `length` bytes (at least 2): space to fill later.
fn void(out: &mut Vec<u8>, length: usize) {
    let end = out.len() + length;
    write_id(out, id::VOID);
    if length <= 128 {
        write_size(out, (length - 2) as u64);
    } else {
        // A fixed 8-byte size keeps the arithmetic simple for big gaps.
        out.push(0x01);
        out.extend_from_slice(&((length - 9) as u64).to_be_bytes()[1..]);
    }
    out.resize(end, 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_the_fewest_bytes_and_avoid_the_unknown_pattern() {
        let encoded = |size| {
            let mut out = Vec::new();
            write_size(&mut out, size);
            out
        };
        assert_eq!(encoded(0), [0x80]);
        assert_eq!(encoded(126), [0xFE]);
        assert_eq!(encoded(127), [0x40, 0x7F]); // 0xFF would mean unknown
        assert_eq!(encoded(300), [0x41, 0x2C]);
    }
}
