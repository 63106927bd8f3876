//! A stream's name: the one its sender gives, cleaned here once (control
//! characters and bidirectional overrides replaced, cut to
//! [`MAX_NAME_CHARS`]), so no log line, file name or tile ever shows what
//! a peer typed raw; the peer's address until it gives one. It does not
//! count renames (the connection's flood bounds do).

use super::Stream;
use framewire_proto::lock::lock;

/// Longest stream name kept, in characters; a longer one is cut.
pub const MAX_NAME_CHARS: usize = 64;

impl Stream {
    /// The stream's name (cleaned), or the peer's address if it gave none.
    pub fn name(&self) -> String {
        lock(&self.name).clone()
    }

    /// How logs name the stream: `'porch' (10.0.0.7:40112)`, or just the
    /// address when the sender gave no name.
    pub fn label(&self) -> String {
        let name = self.name();
        let peer = self.peer.to_string();
        if name == peer {
            peer
        } else {
            format!("'{name}' ({peer})")
        }
    }

    /// Takes the name the sender gives its stream, cleaned; true if it
    /// changed. An empty name (the prototype sends none) keeps the address.
    pub fn rename(&self, name: &str) -> bool {
        if name.is_empty() {
            return false;
        }
        let mut current = lock(&self.name);
        // Cheap test first: a sender repeats its name in every frame.
        if current.as_str() == name {
            return false;
        }
        let cleaned = clean_name(name);
        if *current == cleaned {
            return false;
        }
        *current = cleaned;
        true
    }
}

/// `name` as logs, tiles and file names may show it: control characters
/// (CR, LF, ANSI escapes) and bidirectional overrides become `?`, and it is
/// cut to [`MAX_NAME_CHARS`] characters (`…` marks the cut).
pub fn clean_name(name: &str) -> String {
    let mut cleaned: String = name
        .chars()
        .take(MAX_NAME_CHARS)
        .map(|c| {
            let bidi = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}');
            if c.is_control() || bidi { '?' } else { c }
        })
        .collect();
    if name.chars().nth(MAX_NAME_CHARS).is_some() {
        cleaned.push('…');
    }
    cleaned
}
