//! Whether anyone is watching: the transport says when a connection to the
//! receiver is up, when it ends, and when the receiver pauses the stream
//! (nobody there sees it) or resumes it; the pipeline asks before it captures.
//!
//! Nothing is captured or encoded while no receiver is connected or while
//! the receiver has paused the stream (a board on a battery spends nothing
//! on frames nobody sees), and a camera left without a receiver for
//! `--idle-close` is released until one comes back. A paused stream keeps
//! its camera: the receiver resumes it the moment somebody looks, and the
//! next frame must follow within a frame interval or two. The state sits
//! behind one mutex, with a condition variable so the waiting capture
//! thread wakes the moment frames are wanted again.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use framewire_proto::lock::lock;

/// Whether a receiver is connected and wants frames, and since when none has been.
pub struct Audience {
    state: Mutex<Watching>,
    changed: Condvar,
}

struct Watching {
    /// `None` while a receiver is connected; else since when none has been.
    unwatched_since: Option<Instant>,
    /// The connected receiver asked for no frames (Control.pause).
    paused: bool,
}

impl Watching {
    fn wants_frames(&self) -> bool {
        self.unwatched_since.is_none() && !self.paused
    }
}

impl Audience {
    /// Nobody watching yet (the sender has not connected).
    pub fn new() -> Audience {
        Audience {
            state: Mutex::new(Watching {
                unwatched_since: Some(Instant::now()),
                paused: false,
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Watching> {
        lock(&self.state)
    }

    /// A connection to the receiver is up; it wants frames until it pauses.
    pub fn receiver_connected(&self) {
        *self.lock() = Watching {
            unwatched_since: None,
            paused: false,
        };
        self.changed.notify_all();
    }

    /// The connection ended; a second call keeps the first one's time.
    pub fn receiver_gone(&self) {
        let mut state = self.lock();
        state.paused = false;
        if state.unwatched_since.is_none() {
            state.unwatched_since = Some(Instant::now());
        }
    }

    /// The connected receiver paused the stream (nobody sees it) or resumed it.
    pub fn receiver_paused(&self, paused: bool) {
        let mut state = self.lock();
        if state.unwatched_since.is_none() {
            state.paused = paused;
        }
        drop(state);
        self.changed.notify_all();
    }

    /// Whether the connected receiver has paused the stream.
    pub fn is_paused(&self) -> bool {
        self.lock().paused
    }

    /// Whether frames go anywhere now: a receiver is connected and has not paused.
    pub fn wants_frames(&self) -> bool {
        self.lock().wants_frames()
    }

    /// How long no receiver has been connected; `None` while one is
    /// (paused or not: a paused stream keeps its camera).
    pub fn unwatched_for(&self) -> Option<Duration> {
        self.lock().unwatched_since.map(|since| since.elapsed())
    }

    /// Waits up to `timeout` until frames are wanted; true once they are.
    pub fn wait_until_wanted(&self, timeout: Duration) -> bool {
        let state = self.lock();
        let (state, _) = self
            .changed
            .wait_timeout_while(state, timeout, |state| !state.wants_frames())
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state.wants_frames()
    }
}

impl Default for Audience {
    fn default() -> Self {
        Audience::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_counts_unwatched_time_from_the_first_disconnect() {
        let audience = Audience::new();
        assert!(audience.unwatched_for().is_some(), "nobody at first");
        audience.receiver_connected();
        assert_eq!(audience.unwatched_for(), None);
        audience.receiver_gone();
        std::thread::sleep(Duration::from_millis(30));
        audience.receiver_gone(); // a second call does not restart the clock
        assert!(audience.unwatched_for().unwrap() >= Duration::from_millis(30));
    }

    #[test]
    fn a_paused_receiver_wants_no_frames_but_is_still_connected() {
        let audience = Audience::new();
        audience.receiver_paused(true);
        assert!(!audience.is_paused(), "no receiver to pause");
        audience.receiver_connected();
        assert!(audience.wants_frames());
        audience.receiver_paused(true);
        assert!(!audience.wants_frames() && audience.is_paused());
        assert_eq!(audience.unwatched_for(), None, "the camera is kept");
        audience.receiver_paused(false);
        assert!(audience.wants_frames());

        audience.receiver_paused(true);
        audience.receiver_gone();
        audience.receiver_connected();
        assert!(audience.wants_frames(), "a new connection starts unpaused");
    }

    #[test]
    fn a_waiting_thread_wakes_when_a_receiver_connects_or_resumes() {
        let audience = std::sync::Arc::new(Audience::new());
        assert!(!audience.wait_until_wanted(Duration::from_millis(10)));
        let connecting = audience.clone();
        let connector = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            connecting.receiver_connected();
        });
        let started = Instant::now();
        assert!(audience.wait_until_wanted(Duration::from_secs(10)));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "woken, not timed out"
        );
        connector.join().unwrap();

        audience.receiver_paused(true);
        assert!(!audience.wait_until_wanted(Duration::from_millis(10)));
        let resuming = audience.clone();
        let resumer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            resuming.receiver_paused(false);
        });
        let started = Instant::now();
        assert!(audience.wait_until_wanted(Duration::from_secs(10)));
        assert!(started.elapsed() < Duration::from_secs(5));
        resumer.join().unwrap();
    }
}
