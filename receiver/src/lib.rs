//! The stages of framewire's receiver, as a library: the
//! `framewire-receiver` binary wires them together, and the benchmarks
//! measure them one by one.
//!
//! [`server`] accepts senders and reads their frames, [`access`] decides who
//! may connect, [`decode`] turns JPEG into RGBA on a thread per stream,
//! `view` (feature `window`, on by default) shows pictures in a window,
//! [`snapshot`] saves them as PNG, [`stats`] counts and reports, and
//! [`progress`] logs a line per stream now and then. Nothing here parses a
//! command line.

pub mod access;
pub mod decode;
pub mod progress;
pub mod server;
pub mod snapshot;
pub mod stats;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(feature = "window")]
pub mod view;
