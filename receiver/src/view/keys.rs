//! The window's keys: which key does what, as a pure mapping from a key to
//! an [`Action`] (tested without a display). Carrying an action out is the
//! window's business.

use winit::keyboard::{Key, NamedKey};

/// The keys, for `--help` and the README.
pub const KEYS_HELP: &str = "Keys in the window: 1-9 show one stream alone, 0 or Tab the grid; \
I toggles the overlay (name, size, fps, latency, kbit/s, drops); S saves the shown stream \
(or all) as PNG in --snapshot-dir; Space pauses; F or F11 fullscreen; Q or Esc quits.";

/// What a key press asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Quit,
    Grid,
    /// Show the tile of this index (0-based) alone.
    Solo(usize),
    ToggleOverlay,
    Snapshot,
    TogglePause,
    ToggleFullscreen,
}

/// The action of `key`, if it has one (letters in either case).
pub fn action_of(key: &Key) -> Option<Action> {
    let character = match key {
        Key::Character(text) => text.to_ascii_lowercase(),
        _ => String::new(),
    };
    Some(match (key, character.as_str()) {
        (Key::Named(NamedKey::Escape), _) | (_, "q") => Action::Quit,
        (Key::Named(NamedKey::Tab), _) | (_, "0") => Action::Grid,
        (_, digit @ ("1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9")) => {
            Action::Solo(digit.parse::<usize>().ok()? - 1)
        }
        (_, "i") => Action::ToggleOverlay,
        (_, "s") => Action::Snapshot,
        (Key::Named(NamedKey::Space), _) => Action::TogglePause,
        (Key::Named(NamedKey::F11), _) | (_, "f") => Action::ToggleFullscreen,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(text: &str) -> Key {
        Key::Character(text.into())
    }

    #[test]
    fn every_key_of_the_help_does_what_it_says() {
        assert_eq!(action_of(&letter("q")), Some(Action::Quit));
        assert_eq!(action_of(&Key::Named(NamedKey::Escape)), Some(Action::Quit));
        assert_eq!(action_of(&letter("0")), Some(Action::Grid));
        assert_eq!(action_of(&Key::Named(NamedKey::Tab)), Some(Action::Grid));
        assert_eq!(action_of(&letter("1")), Some(Action::Solo(0)));
        assert_eq!(action_of(&letter("9")), Some(Action::Solo(8)));
        assert_eq!(
            action_of(&letter("I")),
            Some(Action::ToggleOverlay),
            "either case"
        );
        assert_eq!(action_of(&letter("s")), Some(Action::Snapshot));
        assert_eq!(
            action_of(&Key::Named(NamedKey::Space)),
            Some(Action::TogglePause)
        );
        assert_eq!(
            action_of(&Key::Named(NamedKey::F11)),
            Some(Action::ToggleFullscreen)
        );
        assert_eq!(action_of(&letter("f")), Some(Action::ToggleFullscreen));
        assert_eq!(action_of(&letter("x")), None);
        assert_eq!(action_of(&Key::Named(NamedKey::Enter)), None);
    }
}
