//! framewire's wire format, shared by the sender and the receiver.
//!
//! A stream is a sequence of messages, each a 4-byte big-endian length followed
//! by that many bytes of a protobuf [`Frame`] (see `frame.proto` and the
//! README's protocol section). This crate holds the generated [`Frame`] type,
//! the framing [`codec`] over async readers and writers, and the small pieces
//! both binaries' pipelines share: the [`slot`] that joins stages without
//! queueing, the [`shutdown`] signal, [`jpeg`] header helpers and the [`auth`] token. It does no
//! networking and no image coding itself.

pub mod auth;
pub mod codec;
pub mod jpeg;
pub mod shutdown;
pub mod slot;

/// Types generated from `frame.proto` by prost at build time.
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/framewire.v1.rs"));
}

pub use pb::Frame;

impl Frame {
    /// A frame without an image: tells the receiver the stream is alive while
    /// there is nothing new to show.
    pub fn keep_alive(stream_name: &str) -> Frame {
        Frame {
            stream_name: stream_name.to_owned(),
            capture_time_us: unix_time_us(),
            ..Frame::default()
        }
    }

    /// The first message of a connection to a receiver that wants a token:
    /// a keep-alive carrying it.
    pub fn hello(stream_name: &str, token: &str) -> Frame {
        Frame {
            auth_token: token.to_owned(),
            ..Frame::keep_alive(stream_name)
        }
    }

    /// True when the frame carries no image (a keep-alive).
    pub fn is_keep_alive(&self) -> bool {
        self.image.is_empty()
    }
}

/// Now, in microseconds since the Unix epoch: the clock `capture_time_us` uses.
pub fn unix_time_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since_epoch| since_epoch.as_micros() as u64)
}
