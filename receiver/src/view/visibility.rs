//! Who can see what: a tile is visible when the grid shows it (or it is
//! the one shown alone) and the window itself is neither minimised nor
//! covered. Every change of either tells each tile's stream, which pauses
//! or resumes its sender ([`crate::stream::pause`]; not with
//! `--record`, which needs the frames). It draws nothing.

use super::App;
use super::scene::shows;

impl App {
    pub(super) fn is_visible(&self, index: usize) -> bool {
        shows(self.selected, index)
    }

    /// Tells each tile's stream whether anybody can see it, which pauses
    /// or resumes its sender: called whenever that may have changed.
    pub(super) fn hide_unseen(&self) {
        for (index, tile) in self.tiles.iter().enumerate() {
            let unseen = self.window_hidden || !self.is_visible(index);
            tile.stream.pause().set_hidden(self.pause_hidden && unseen);
        }
    }

    /// Looks again whether the window can be seen at all (after an event
    /// that may have minimised, covered or restored it).
    pub(super) fn note_window_visibility(&mut self, occluded: Option<bool>) {
        let Some(window) = &self.window else {
            return;
        };
        if let Some(occluded) = occluded {
            self.occluded = occluded;
        }
        let size = window.inner_size();
        let minimised = window.is_minimized() == Some(true) || size.width == 0 || size.height == 0;
        let hidden = minimised || self.occluded;
        if hidden != self.window_hidden {
            log::info!(
                "the window is {}",
                if hidden {
                    "hidden (minimised or covered)"
                } else {
                    "visible again"
                }
            );
            self.window_hidden = hidden;
            self.hide_unseen();
        }
    }
}
