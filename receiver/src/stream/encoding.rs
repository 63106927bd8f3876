//! How the sender made a stream's latest frame, as it says in the frame:
//! the JPEG quality, how many times the picture was halved and what holds
//! it below the sender's ceiling; kept packed in one atomic of the stream.
//! A peer's nonsense is clamped on the way in.

use std::sync::atomic::Ordering;

use framewire_proto::Limit;

use super::Stream;

/// How the sender made a stream's latest frame, as it says: the JPEG
/// quality (0: a camera's JPEG, passed through), how many times the
/// picture was halved, and what holds it below the sender's ceiling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encoding {
    pub quality: u8,
    pub halvings: u8,
    pub limit: Limit,
}

impl Encoding {
    /// From a frame's fields; `None` when the sender told nothing (v1).
    /// A peer's nonsense is clamped: quality to 100, halvings to 15, an
    /// unknown limit reads as none.
    pub fn of(quality: u32, halvings: u32, limit: i32) -> Option<Encoding> {
        let limit = Limit::try_from(limit).unwrap_or(Limit::None);
        (quality > 0 || halvings > 0 || limit != Limit::None).then(|| Encoding {
            quality: quality.min(100) as u8,
            halvings: halvings.min(15) as u8,
            limit,
        })
    }

    fn pack(self) -> u32 {
        1 << 24
            | u32::from(self.quality)
            | u32::from(self.halvings) << 8
            | (self.limit as u32) << 16
    }

    fn unpack(packed: u32) -> Option<Encoding> {
        (packed != 0).then(|| Encoding {
            quality: packed as u8,
            halvings: (packed >> 8) as u8 & 0x0F,
            limit: Limit::try_from(((packed >> 16) & 0xFF) as i32).unwrap_or(Limit::None),
        })
    }

    /// E.g. "quality 40, 1/2 size (link)" or "camera JPEG (ceiling)".
    pub fn describe(&self) -> String {
        let picture = if self.quality == 0 {
            "camera JPEG".to_owned()
        } else if self.halvings == 0 {
            format!("quality {}, full size", self.quality)
        } else {
            format!("quality {}, 1/{} size", self.quality, 1u32 << self.halvings)
        };
        format!("{picture} ({})", self.limit.word())
    }
}

impl Stream {
    /// How the sender made the latest frame (`None`: it did not say).
    pub fn note_encoding(&self, encoding: Option<Encoding>) {
        self.encoding
            .store(encoding.map_or(0, Encoding::pack), Ordering::Relaxed);
    }

    /// How the sender made the latest frame, if it said.
    pub fn encoding(&self) -> Option<Encoding> {
        Encoding::unpack(self.encoding.load(Ordering::Relaxed))
    }
}
