//! What changes in the window by itself, with no new frame: a tile going
//! stale or coming back, the overlay's figures and the title refreshed
//! twice a second, a notice running out. [`App::tend`] looks at all of it
//! after each batch of events and says when to look next, so the event
//! loop sleeps until then. It draws nothing itself.

use std::time::Instant;

use super::scene::shows;
use super::tiles::Tile;
use super::{App, FIGURES_INTERVAL};
use crate::stream::liveness::{Status, stale_after};

impl App {
    /// Refreshes overlays, markers and the title when due; returns when the
    /// loop must look again (None: only an event can change anything).
    pub(super) fn tend(&mut self) -> Option<Instant> {
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        let mut soonest = |at: Instant| next = Some(next.map_or(at, |n: Instant| n.min(at)));
        let mut any_live = false;
        for (index, tile) in self.tiles.iter().enumerate() {
            let status = tile.status(now);
            let shown_marker = tile.marker.as_ref().map(|m| &m.text);
            if status.marker().as_ref() != shown_marker && shows(self.selected, index) {
                self.redraw_wanted = true;
            }
            match status {
                Status::Live => {
                    any_live = true;
                    soonest(tile.last_frame_at + stale_after(tile.frame_interval));
                }
                _ => {
                    if let Some(at) = status.next_change(now) {
                        soonest(at);
                    }
                }
            }
        }
        if now >= self.figures_refreshed_at + FIGURES_INTERVAL {
            let elapsed = now - self.figures_refreshed_at;
            self.figures_refreshed_at = now;
            for (index, tile) in self.tiles.iter_mut().enumerate() {
                tile.refresh_figures(elapsed);
                // A live tile's overlay changes with its next frame; a
                // stopped one would not show its new figures otherwise
                // (once: then they stay the same).
                let shown = tile.overlay.as_ref().map(|overlay| &overlay.text);
                if self.overlay_visible
                    && tile.status(now) != Status::Live
                    && shown != Some(&tile.figures.text.join("\n"))
                    && shows(self.selected, index)
                {
                    self.redraw_wanted = true;
                }
            }
            self.refresh_title();
            // A window manager may mark the window minimised only after
            // the focus event that came with it: look again now and then.
            self.note_window_visibility(None);
        }
        if any_live {
            soonest(self.figures_refreshed_at + FIGURES_INTERVAL);
        }
        if let Some(notice) = &self.notice {
            if now >= notice.until {
                self.notice = None;
                self.redraw_wanted = true;
            } else {
                soonest(notice.until);
            }
        }
        next
    }

    pub(super) fn refresh_title(&mut self) {
        let live: Vec<&Tile> = self
            .tiles
            .iter()
            .filter(|t| t.stream.is_connected())
            .collect();
        let title = match live.as_slice() {
            [] => format!("framewire — waiting for senders on {}", self.listening_on),
            [tile] => format!(
                "framewire — {} ({}) {}",
                tile.name,
                tile.stream.peer(),
                tile.figures.text.get(1).map_or("", String::as_str)
            ),
            many => format!("framewire — {} streams", many.len()),
        };
        if title != self.title {
            if let Some(window) = &self.window {
                window.set_title(&title);
            }
            self.title = title;
        }
    }
}
