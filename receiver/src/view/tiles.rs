//! The window's tiles: which stream shows where, whether it is live, and the
//! figures its overlay shows.
//!
//! A tile belongs to a stream *name*, so a sender that reconnects comes back
//! to its own tile. A stream stops being live when no frame has come for
//! [`stale_after`] its usual frame interval (the [`crate::stream::liveness`]
//! rules, which the web page follows too). Everything here is plain
//! state and arithmetic, tested without a display; the GPU textures are
//! only carried along.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::budget::Charge;
use crate::picture::Picture;
use crate::stream::Stream;
use crate::stream::liveness::{Status, status};

use super::renderer::GpuImage;

/// The most tiles the grid shows (4x4).
pub const MAX_TILES: usize = 16;
/// Where a new stream goes.
#[derive(Debug, PartialEq)]
pub enum Placement {
    /// Its name's tile (its earlier connection is gone or has gone quiet).
    Return(usize),
    /// A new tile at the end.
    Add,
    /// All tiles are taken: this disconnected one makes room.
    Replace(usize),
    /// All tiles are taken by live streams.
    NoRoom,
}

/// Chooses the tile for a stream called `name`, given each tile's name and
/// whether its stream is still live.
pub fn place<'a>(tiles: impl Iterator<Item = (&'a str, Status)> + Clone, name: &str) -> Placement {
    if let Some(index) = tiles
        .clone()
        .position(|(tile_name, status)| tile_name == name && status != Status::Live)
    {
        return Placement::Return(index);
    }
    if tiles.clone().count() < MAX_TILES {
        return Placement::Add;
    }
    match tiles
        .clone()
        .position(|(_, status)| status == Status::Disconnected)
    {
        Some(index) => Placement::Replace(index),
        None => Placement::NoRoom,
    }
}

/// What a tile shows.
pub struct Tile {
    pub name: String,
    pub stream: Arc<Stream>,
    /// The picture on screen, at its native size, kept for snapshots.
    pub picture: Picture,
    /// The picture's share of the memory budget.
    pub picture_charge: Option<Charge>,
    pub capture_time_us: u64,
    pub texture: Option<GpuImage>,
    /// Uploaded but not presented yet.
    pub unshown: bool,
    pub last_frame_at: Instant,
    /// Smoothed time between frames.
    pub frame_interval: Duration,
    pub overlay: Option<TextTexture>,
    pub marker: Option<TextTexture>,
    pub figures: Figures,
}

/// A label on the GPU and the text it shows, so it is redrawn only on change.
pub struct TextTexture {
    pub text: String,
    /// The largest scale and width it was drawn for.
    pub fitted_to: (u32, u32),
    pub image: GpuImage,
}

/// The overlay's figures, measured between two refreshes.
#[derive(Default)]
pub struct Figures {
    pub text: Vec<String>,
    shown: u64,
    shown_then: u64,
    bytes_then: u64,
    /// Capture→display latencies (ms) since the last refresh.
    latencies_ms: Vec<f64>,
}

impl Tile {
    pub fn new(stream: Arc<Stream>, now: Instant) -> Tile {
        Tile {
            name: stream.name(),
            figures: Figures {
                bytes_then: stream.counters().bytes,
                ..Figures::default()
            },
            stream,
            picture: Picture::default(),
            picture_charge: None,
            capture_time_us: 0,
            texture: None,
            unshown: false,
            last_frame_at: now,
            frame_interval: Duration::from_millis(33),
            overlay: None,
            marker: None,
        }
    }

    /// A frame arrived: note when, to know the stream's rhythm.
    pub fn note_frame(&mut self, now: Instant) {
        let interval = now.saturating_duration_since(self.last_frame_at);
        // An exponential average over about 8 frames; a long gap (the
        // stream was stale) is not taken as its rhythm.
        if interval < Duration::from_secs(5) {
            self.frame_interval = self.frame_interval.mul_f64(0.875) + interval.mul_f64(0.125);
        }
        self.last_frame_at = now;
    }

    pub fn status(&self, now: Instant) -> Status {
        status(
            now.saturating_duration_since(self.last_frame_at),
            self.frame_interval,
            self.stream.is_connected(),
            self.stream.pause().pausing(now),
        )
    }

    /// The uploaded frame was presented at Unix time `now_us`.
    pub fn note_shown(&mut self, now_us: u64) {
        self.unshown = false;
        self.figures.shown += 1;
        self.stream.note_shown();
        if self.capture_time_us != 0 && now_us >= self.capture_time_us {
            if self.figures.latencies_ms.len() >= 1000 {
                self.figures.latencies_ms.clear(); // refreshes stopped: do not grow
            }
            let latency_ms = (now_us - self.capture_time_us) as f64 / 1000.0;
            self.figures.latencies_ms.push(latency_ms);
        }
    }

    /// Recomputes the overlay's lines over the `elapsed` since the last time.
    pub fn refresh_figures(&mut self, elapsed: Duration) {
        let counters = self.stream.counters();
        let seconds = elapsed.as_secs_f64().max(1e-3);
        let figures = &mut self.figures;
        let fps = (figures.shown - figures.shown_then) as f64 / seconds;
        figures.shown_then = figures.shown;
        let bytes = counters.bytes;
        let kbits = bytes.saturating_sub(figures.bytes_then) as f64 * 8.0 / 1000.0 / seconds;
        figures.bytes_then = bytes;
        let latency = match (median(&mut figures.latencies_ms), self.stream.clock()) {
            (None, _) => "latency -".to_owned(),
            (Some(ms), Some(clock)) => format!("latency {ms:.1} ±{:.1} ms", clock.error_ms()),
            (Some(ms), None) => format!("latency {ms:.1} ms (clock)"),
        };
        figures.latencies_ms.clear();
        let dropped = counters.sequence_gaps + counters.dropped();
        // How the sender made the picture, when it says (a v2 sender).
        let encoding = self.stream.encoding().map_or(String::new(), |encoding| {
            format!("  {}", encoding.describe())
        });
        figures.text = vec![
            format!(
                "{}  {}x{}{encoding}",
                self.name, self.picture.width, self.picture.height
            ),
            format!("{fps:.0} fps  {latency}  {kbits:.0} kbit/s  dropped {dropped}"),
        ];
    }
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(values[values.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reconnecting_sender_returns_to_its_own_tile() {
        let live = Status::Live;
        let gone = Status::Disconnected;
        let quiet = Status::Stale(Duration::from_secs(3));
        let tiles = [("porch", gone), ("garden", live)];
        assert_eq!(place(tiles.into_iter(), "porch"), Placement::Return(0));
        assert_eq!(place(tiles.into_iter(), "attic"), Placement::Add);
        // The old connection has not timed out yet but has gone quiet.
        let tiles = [("porch", live), ("garden", quiet)];
        assert_eq!(place(tiles.into_iter(), "garden"), Placement::Return(1));
        // Two live senders with one name get a tile each.
        assert_eq!(place(tiles.into_iter(), "porch"), Placement::Add);
    }

    #[test]
    fn a_full_grid_gives_a_disconnected_tile_away_but_never_a_live_one() {
        let names: Vec<String> = (0..MAX_TILES).map(|i| format!("cam{i}")).collect();
        let mut statuses = vec![Status::Live; MAX_TILES];
        let tiles = || names.iter().map(String::as_str).zip(statuses.clone());
        assert_eq!(place(tiles(), "new"), Placement::NoRoom);
        statuses[5] = Status::Disconnected;
        let tiles = || names.iter().map(String::as_str).zip(statuses.clone());
        assert_eq!(place(tiles(), "new"), Placement::Replace(5));
    }
}
