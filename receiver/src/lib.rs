//! The stages of framewire's receiver, as a library: the
//! `framewire-receiver` binary wires them together, and the benchmarks
//! measure them one by one.
//!
//! [`server`] accepts senders and reads their frames, [`access`] decides who
//! may connect, [`decode`] turns JPEG into RGBA on a thread per stream,
//! `view` (feature `window`, on by default) shows pictures in a window,
//! [`record`] writes streams to MKV files as received, [`snapshot`] saves
//! pictures as PNG, [`files`] names what they write, [`stats`] counts and reports, and
//! [`progress`] logs a line per stream now and then. Nothing here parses a
//! command line.

pub mod access;
pub mod decode;
pub mod files;
pub mod progress;
pub mod record;
pub mod server;
pub mod snapshot;
pub mod stats;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(feature = "window")]
pub mod view;
