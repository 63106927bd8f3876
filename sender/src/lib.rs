//! The stages of framewire's sender, as a library: the `framewire-sender`
//! binary wires them together, and the benchmarks measure them one by one.
//!
//! [`capture`] makes pictures (test pattern, files, cameras), [`pipeline`]
//! decides which of them [`encoder`] turns into JPEG frames and in what order, [`transport`] sends frames to a receiver (over [`tls`]
//! when asked), [`audience`] tells the pipeline whether a receiver is
//! connected, [`adapt`] chooses the quality and size (or frame rate) the
//! link and the receiver can take from what [`tcp_info`] and the receiver
//! tell the transport ([`halve`] makes the smaller pictures), and [`stats`]
//! counts what happened. Nothing here parses a command line.

pub mod adapt;
pub mod audience;
pub mod capture;
pub mod encoder;
pub mod halve;
pub mod pipeline;
pub mod stats;
pub mod tcp_info;
pub mod tls;
pub mod transport;
