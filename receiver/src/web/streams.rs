//! The streams as the web shows them: each under a *key*, its name made
//! safe for a URL path (`/streams/{key}.mjpg`), and its liveness.
//!
//! A key belongs to a name, not to a connection, so a sender that
//! reconnects keeps its URL, as it keeps its window tile. Of the streams
//! with one key, the connected ones are listed (the second under
//! `key-2`, and so on, in the order they connected); when none is
//! connected, the newest of them stands for the name, disconnected.

use std::sync::Arc;
use std::time::Duration;

use crate::report::Registry;
use crate::stream::Stream;
use crate::stream::liveness::{Status, status};

/// One stream under its key.
pub struct Listed {
    pub key: String,
    pub stream: Arc<Stream>,
}

/// `name` as a URL path segment: ASCII letters, digits, `-`, `_` and `.`
/// stay; a run of anything else becomes one `-`. Never empty.
pub fn key_of(name: &str) -> String {
    let mut key = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '.') {
            key.push(c);
        } else if !key.ends_with('-') {
            key.push('-');
        }
    }
    let key = key.trim_matches('-');
    match key {
        "" | "." | ".." => "stream".to_owned(),
        key => key.to_owned(),
    }
}

/// Every stream the web shows, in the order their names first connected.
pub fn listing(registry: &Registry) -> Vec<Listed> {
    let streams = registry.all(); // oldest first
    let mut listed: Vec<Listed> = Vec::new();
    let mut groups: Vec<(String, Vec<Arc<Stream>>)> = Vec::new();
    for stream in streams {
        let key = key_of(&stream.name());
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, group)) => group.push(stream),
            None => groups.push((key, vec![stream])),
        }
    }
    for (key, group) in groups {
        let connected: Vec<&Arc<Stream>> = group.iter().filter(|s| s.is_connected()).collect();
        if connected.is_empty() {
            if let Some(newest) = group.last() {
                listed.push(Listed {
                    key,
                    stream: newest.clone(),
                });
            }
            continue;
        }
        for (index, stream) in connected.into_iter().enumerate() {
            let key = match index {
                0 => key.clone(),
                n => format!("{key}-{}", n + 1),
            };
            listed.push(Listed {
                key,
                stream: stream.clone(),
            });
        }
    }
    listed
}

/// The stream listed under `key`, if any.
pub fn find(registry: &Registry, key: &str) -> Option<Arc<Stream>> {
    listing(registry)
        .into_iter()
        .find(|listed| listed.key == key)
        .map(|listed| listed.stream)
}

/// Whether `stream` is live, stale, paused or disconnected, by the window's rule:
/// its usual frame interval is its mean decoded frame rate's.
pub fn status_of(stream: &Stream) -> Status {
    let counters = stream.counters();
    let interval = match counters.decoded_fps {
        fps if fps > 0.0 => Duration::from_secs_f64(1.0 / fps),
        _ => Duration::from_millis(33),
    };
    status(
        stream.since_last_decoded(),
        interval,
        stream.is_connected(),
        stream.pause().pausing(std::time::Instant::now()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_safe_in_a_path_whatever_the_name() {
        assert_eq!(key_of("porch"), "porch");
        assert_eq!(key_of("back garden/cam #2"), "back-garden-cam-2");
        assert_eq!(key_of("127.0.0.1:40112"), "127.0.0.1-40112");
        assert_eq!(key_of("../../etc/passwd"), "..-..-etc-passwd");
        assert_eq!(key_of(".."), "stream");
        assert_eq!(key_of("Küche"), "K-che");
        assert_eq!(key_of("???"), "stream");
    }

    #[test]
    fn a_reconnecting_sender_keeps_its_key_and_twins_are_numbered() {
        let registry = Registry::default();
        let peer = "127.0.0.1:9".parse().unwrap();
        let (first, _a) = registry.open(peer);
        first.rename("porch");
        first.connection_ended();
        let (again, _b) = registry.open(peer);
        again.rename("porch");
        let (twin, _c) = registry.open(peer);
        twin.rename("porch");
        let (garden, _d) = registry.open(peer);
        garden.rename("garden");
        garden.connection_ended();
        let listed: Vec<(String, u64)> = listing(&registry)
            .into_iter()
            .map(|l| (l.key, l.stream.id()))
            .collect();
        assert_eq!(
            listed,
            [
                ("porch".to_owned(), again.id()),
                ("porch-2".to_owned(), twin.id()),
                ("garden".to_owned(), garden.id()),
            ]
        );
        assert_eq!(find(&registry, "porch-2").unwrap().id(), twin.id());
        assert!(find(&registry, "nothing").is_none());
    }
}
