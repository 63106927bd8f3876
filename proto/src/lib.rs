//! framewire's wire format, shared by the sender and the receiver.
//!
//! A stream is a sequence of messages, each a 4-byte big-endian length followed
//! by that many bytes of a protobuf [`Frame`] (see `frame.proto` and the
//! protocol guide, docs/protocol.md); a sender that announces [`Feature::Control`]
//! in its hello also reads [`Control`] messages, framed the same way, from
//! the receiver. This crate holds the generated types,
//! the framing [`codec`] over async readers and writers (a connection read
//! and written at once through [`duplex`]), and the small pieces
//! both binaries' pipelines share: the [`slot`] that joins stages without
//! queueing, the [`shutdown`] signal, [`jpeg`] header helpers, the [`bands`] of
//! a JPEG cut by its restart markers, the [`band_pool`] that works through
//! them, the [`auth`] token, the [`rate`] bounds on what a peer's
//! messages may cost, the few [`unsent`] bytes a socket may hold, the one
//! way to wait with a [`deadline`] and the one policy for a poisoned
//! [`lock`]. It does no
//! networking (beyond that socket option) and no image coding itself.

pub mod auth;
pub mod band_pool;
pub mod bands;
pub mod codec;
pub mod deadline;
pub mod duplex;
pub mod jpeg;
pub mod lock;
pub mod rate;
pub mod shutdown;
pub mod slot;
pub mod unsent;

/// Types generated from `frame.proto` by prost at build time.
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/framewire.v1.rs"));
}

pub use pb::{
    ClockProbe, ClockReply, Control, Feature, Frame, FullFrameRequest, Limit, Pause, RateLimit,
};

impl Limit {
    /// What holds a stream below its sender's ceiling, in a word for logs,
    /// tiles and reports: "ceiling" when nothing does.
    pub fn word(self) -> &'static str {
        match self {
            Limit::None => "ceiling",
            Limit::Link => "link",
            Limit::Receiver => "receiver",
        }
    }
}

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

    /// The first message of every connection: a keep-alive listing the
    /// protocol features the sender speaks, and the token if the receiver
    /// wants one.
    pub fn hello(stream_name: &str, token: Option<&str>) -> Frame {
        Frame {
            auth_token: token.unwrap_or_default().to_owned(),
            features: vec![Feature::Control as i32],
            ..Frame::keep_alive(stream_name)
        }
    }

    /// True when the frame (a hello) announces `feature`.
    pub fn speaks(&self, feature: Feature) -> bool {
        self.features.contains(&(feature as i32))
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
