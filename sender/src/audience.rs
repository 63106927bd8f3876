//! Whether anyone is watching: the transport says when a connection to the
//! receiver is up and when it ends; the pipeline asks before it captures.
//!
//! Nothing is captured or encoded while no receiver is connected (a board
//! on a battery spends nothing on frames nobody gets), and a camera left
//! unwatched for `--idle-close` is released until a receiver comes back.
//! The state is one `Option<Instant>` behind a mutex, with a condition
//! variable so the waiting capture thread wakes the moment a connection is up.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Whether a receiver is connected, and since when none has been.
pub struct Audience {
    /// `None` while a receiver is connected; else since when none has been.
    unwatched_since: Mutex<Option<Instant>>,
    changed: Condvar,
}

impl Audience {
    /// Nobody watching yet (the sender has not connected).
    pub fn new() -> Audience {
        Audience {
            unwatched_since: Mutex::new(Some(Instant::now())),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Instant>> {
        self.unwatched_since
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A connection to the receiver is up.
    pub fn receiver_connected(&self) {
        *self.lock() = None;
        self.changed.notify_all();
    }

    /// The connection ended; a second call keeps the first one's time.
    pub fn receiver_gone(&self) {
        let mut since = self.lock();
        if since.is_none() {
            *since = Some(Instant::now());
        }
    }

    /// How long nobody has been watching; `None` while a receiver is connected.
    pub fn unwatched_for(&self) -> Option<Duration> {
        self.lock().map(|since| since.elapsed())
    }

    /// Waits up to `timeout` for a receiver; true once one is connected.
    pub fn wait_for_receiver(&self, timeout: Duration) -> bool {
        let since = self.lock();
        let (since, _) = self
            .changed
            .wait_timeout_while(since, timeout, |since| since.is_some())
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        since.is_none()
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
    fn a_waiting_thread_wakes_when_a_receiver_connects() {
        let audience = std::sync::Arc::new(Audience::new());
        assert!(!audience.wait_for_receiver(Duration::from_millis(10)));
        let connecting = audience.clone();
        let connector = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            connecting.receiver_connected();
        });
        let started = Instant::now();
        assert!(audience.wait_for_receiver(Duration::from_secs(10)));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "woken, not timed out"
        );
        connector.join().unwrap();
    }
}
