//! The stages of framewire's sender, as a library: the `framewire-sender`
//! binary wires them together, and the benchmarks measure them one by one.
//!
//! [`capture`] makes pictures (test pattern, files), [`encode`] turns them
//! into JPEG frames, [`transport`] sends frames to a receiver (over [`tls`]
//! when asked), and [`stats`] counts what happened. Nothing here parses a command line.

pub mod capture;
pub mod encode;
pub mod stats;
pub mod tls;
pub mod transport;
