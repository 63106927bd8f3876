//! Following one stream key for a viewer: the next frame newer than the
//! last one it had, across reconnects of the sender.
//!
//! A [`Follower`] keeps the stream it follows and the version it last had.
//! It looks its key up again only when that stream has closed or gone
//! quiet, not for every frame; the stream under its key may then be
//! another (the sender reconnected), and it starts from that stream's
//! newest frame. It never queues: waiting, it gets the newest frame there
//! is when one comes. While it waits, the stream is not paused, whatever
//! the window shows ([`crate::stream::pause`]).

use std::sync::Arc;
use std::time::Duration;

use crate::report::Registry;
use crate::stream::{Newest, Phase, Stream};
use crate::web::streams::find;

/// How often a follower looks again for its key's stream while it has
/// none, or its stream has closed, or no frame came.
const RECHECK: Duration = Duration::from_millis(250);

/// One viewer's place in one stream key.
pub struct Follower {
    pub key: String,
    /// The stream followed, kept while it delivers.
    stream: Option<Arc<Stream>>,
    /// The id of the stream the last frame came from, and its version.
    last: Option<(u64, u64)>,
}

impl Follower {
    pub fn new(key: String) -> Follower {
        Follower {
            key,
            stream: None,
            last: None,
        }
    }

    /// The next frame under the key, newer than the last one returned
    /// (waits as long as it takes). Cancel-safe: dropped before it returns,
    /// it has changed nothing.
    pub async fn next(&mut self, registry: &Arc<Registry>) -> Newest {
        loop {
            let stream = match &self.stream {
                Some(stream) => stream.clone(),
                None => match find(registry, &self.key) {
                    Some(stream) => stream,
                    None => {
                        smol::Timer::after(RECHECK).await;
                        continue;
                    }
                },
            };
            let seen = match self.last {
                Some((id, version)) if id == stream.id() => version,
                _ => 0,
            };
            // Waiting for its frames, the viewer keeps the stream unpaused.
            let watching = stream.pause().web_viewer_waiting();
            let newer = stream.newer_than(seen, RECHECK).await;
            drop(watching);
            match newer {
                Some(newest) => {
                    self.last = Some((stream.id(), newest.version));
                    self.stream = Some(stream);
                    return newest;
                }
                None => {
                    // Closed or quiet: look the key up again next time.
                    self.stream = None;
                    if stream.phase() == Phase::Closed {
                        smol::Timer::after(RECHECK).await;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use framewire_proto::deadline::within;

    use super::*;
    use crate::budget::MemoryBudget;

    fn frame(sequence: u64) -> Newest {
        Newest {
            jpeg: bytes::Bytes::from_static(b"jpeg"),
            version: 0,
            sequence,
            capture_time_us: 0,
            width: 8,
            height: 8,
        }
    }

    #[test]
    fn a_follower_gets_the_newest_frame_once_and_follows_a_reconnect() {
        let registry = Arc::new(Registry::default());
        let budget = MemoryBudget::new(1 << 20);
        let peer = "127.0.0.1:9".parse().unwrap();
        let (first, _a) = registry.open(peer);
        first.rename("porch");
        first.keep_newest(frame(1), budget.charge(4).unwrap());
        first.keep_newest(frame(2), budget.charge(4).unwrap());
        let mut follower = Follower::new("porch".into());
        smol::block_on(async {
            assert_eq!(
                follower.next(&registry).await.sequence,
                2,
                "the newest, not a queue"
            );
            let waited = within(Duration::from_millis(600), follower.next(&registry)).await;
            assert!(waited.is_none(), "nothing new, nothing sent");
            first.connection_ended();
            first.decoder_done();
            let (again, _b) = registry.open(peer);
            again.rename("porch");
            again.keep_newest(frame(1), budget.charge(4).unwrap());
            let next = follower.next(&registry).await;
            assert_eq!(
                (next.sequence, next.version),
                (1, 1),
                "the new connection's frame"
            );
        });
    }
}
