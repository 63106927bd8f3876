//! The stages of framewire's receiver, as a library: the
//! `framewire-receiver` binary wires them together, and the benchmarks
//! measure them one by one.
//!
//! In the order a frame travels: [`access`] and [`admission`] decide who may
//! connect and what a peer costs before it is admitted (the [`places`] it
//! may hold meanwhile); [`server`] accepts
//! senders and reads their frames into a [`stream`] each (its counters,
//! lifecycle and the sender's [`clock`] offset, probed over the v2
//! back-channel; [`capacity`] tells the sender the rate its decoder keeps
//! up with), charging the memory [`budget`] and closing a sender that sends
//! far more small messages than a sender does ([`flood`]); [`decode`] turns JPEG into a
//! [`picture`] on a thread per stream (the bands of one picture at once,
//! with helper threads all streams share) and hands it to a sink: `view`
//! (feature `window`, on by default) shows it in a window, and [`pause`]s
//! the senders of tiles nobody can see; [`record`] writes
//! streams to MKV files as received, [`snapshot`] saves pictures as PNG and
//! [`files`] names what they write ([`full_frame`]: a snapshot of a
//! reduced stream asks the sender for one frame at its best). [`report`] lists the streams and makes
//! the exit report ([`latency`] is its histogram), [`progress`] logs a line
//! per stream now and then, [`cli`] turns the command line into settings
//! and [`exit`] ends it all within a bound. Every connection, a sender's or
//! a web page's, is a task on the [`tasks`] executor, one thread per core.

pub mod access;
pub mod admission;
pub mod budget;
pub mod capacity;
pub mod cli;
pub mod clock;
pub mod decode;
pub mod exit;
pub mod files;
pub mod flood;
pub mod full_frame;
pub mod latency;
pub mod liveness;
pub mod pause;
pub mod picture;
pub mod places;
pub mod progress;
pub mod record;
pub mod report;
pub mod server;
pub mod snapshot;
pub mod stream;
pub mod tasks;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(feature = "window")]
pub mod view;
pub mod web;
