//! The stages of framewire's receiver, as a library: the
//! `framewire-receiver` binary wires them together, and the benchmarks
//! measure them one by one.
//!
//! In the order a frame travels: [`net`] takes a sender's connection from
//! accept to close (who may connect and what a peer costs before it is
//! admitted, the way in that reads its frames into a [`stream`] each, and
//! the way out that writes the back-channel's control messages: probes
//! for the sender's [`stream::clock`] offset, the rate
//! [`decode::capacity`] of its decoder, [`stream::full_frame`] asks and
//! [`stream::pause`]s), charging the memory
//! [`budget`]; [`decode`] turns JPEG into a [`picture`] on a thread per
//! stream (the bands of one picture at once, with helper threads all
//! streams share) and hands it to a sink: `view` (feature `window`, on by
//! default) shows it in a window and pauses the senders of tiles nobody
//! can see, [`web`] serves it to browsers and tools; [`record`] writes
//! streams to MKV files as received, [`snapshot`] saves pictures as PNG and
//! [`files`] names what they write. [`report`] lists the streams and makes
//! the exit report ([`stream::latency`] is its histogram,
//! [`stream::liveness`] what a tile says of a quiet stream), [`progress`] logs a line per stream now and
//! then, [`cli`] turns the command line into settings and [`exit`] ends it
//! all within a bound. Every connection, a sender's or a web page's, is a
//! task on the [`tasks`] executor, one thread per core. docs/ARCHITECTURE.md
//! draws the same map.

pub mod budget;
pub mod cli;
pub mod decode;
pub mod exit;
pub mod files;
pub mod net;
pub mod picture;
pub mod progress;
pub mod record;
pub mod report;
pub mod snapshot;
pub mod stream;
pub mod tasks;
#[cfg(feature = "window")]
pub mod view;
pub mod web;
