//! The stages of framewire's receiver, as a library: the
//! `framewire-receiver` binary wires them together, and the benchmarks
//! measure them one by one.
//!
//! [`server`] accepts senders and reads their frames, [`decode`] turns JPEG
//! into RGBA on a thread per stream, [`view`] shows pictures in a window,
//! [`snapshot`] saves them as PNG, and [`stats`] counts and reports. Nothing
//! here parses a command line.

pub mod access;
pub mod decode;
pub mod progress;
pub mod server;
pub mod snapshot;
pub mod stats;
pub mod view;
