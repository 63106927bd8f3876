//! Pausing a stream nobody can see: a window tile that is not on screen
//! (another stream shown alone, the window minimised or covered) asks its
//! sender to stop sending frames, so the board captures and encodes
//! nothing for it; keep-alives go on, and the tile says `paused`, not
//! `stale`. The moment the tile can be seen again the sender is told to
//! resume, and its next frame follows within a frame interval or two and
//! a round trip.
//!
//! The window says whether it hides the stream ([`Pause::set_hidden`]; it
//! never does while the receiver records, and a headless receiver has no
//! window to hide anything). A web viewer waiting for the stream's frames
//! ([`Pause::web_viewer_waiting`]) keeps it going whatever the window
//! does, and for [`WEB_VIEWER_HOLD`] after, so a page between two frames
//! does not pause it. The stream's control writer tells the sender each
//! change ([`Pause::to_tell`], woken by [`Pause::changed`]); what it last
//! told is what the tile and the web page show ([`Pause::pausing`]).

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use event_listener::Event;
use framewire_proto::deadline::until;

/// A web viewer that stopped waiting for a frame keeps the stream going
/// this long: it asks for the next one as soon as it has drawn the last,
/// and a page or an MJPEG client on a slow link may take seconds to get
/// one frame.
pub const WEB_VIEWER_HOLD: Duration = Duration::from_secs(5);

/// One stream's pause.
#[derive(Debug, Default)]
pub struct Pause {
    state: Mutex<State>,
    changed: Event,
}

#[derive(Debug, Default)]
struct State {
    /// The window shows the stream nowhere.
    hidden: bool,
    /// Web viewers waiting for one of its frames now.
    web_waiting: usize,
    /// When the last of them stopped waiting.
    web_left_at: Option<Instant>,
    /// What the sender was last told: paused or not.
    told_paused: bool,
    /// When the sender was last told to resume.
    resumed_at: Option<Instant>,
}

impl State {
    /// Whether the sender should be paused at `now`.
    fn wanted(&self, now: Instant) -> bool {
        self.hidden
            && self.web_waiting == 0
            && self
                .web_left_at
                .is_none_or(|left| now >= left + WEB_VIEWER_HOLD)
    }
}

/// Whether a stream is paused, as its liveness needs it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Pausing {
    /// The sender was told to pause and not to resume since.
    pub paused: bool,
    /// Time since it was last told to resume (`None`: never paused).
    pub since_resumed: Option<Duration>,
}

/// A web viewer's wait for a frame; the stream stays unpaused while it lasts.
pub struct WebWait<'a> {
    pause: &'a Pause,
}

impl Drop for WebWait<'_> {
    fn drop(&mut self) {
        let mut state = self.pause.lock();
        state.web_waiting -= 1;
        if state.web_waiting == 0 {
            state.web_left_at = Some(Instant::now());
        }
    }
}

impl Pause {
    fn lock(&self) -> MutexGuard<'_, State> {
        framewire_proto::lock::lock(&self.state)
    }

    /// The window hides the stream (true) or shows it (false).
    pub fn set_hidden(&self, hidden: bool) {
        let mut state = self.lock();
        if state.hidden != hidden {
            state.hidden = hidden;
            drop(state);
            self.changed.notify(usize::MAX);
        }
    }

    /// A web viewer waits for a frame of the stream until the guard drops.
    pub fn web_viewer_waiting(&self) -> WebWait<'_> {
        let mut state = self.lock();
        state.web_waiting += 1;
        let wake = state.told_paused;
        drop(state);
        if wake {
            self.changed.notify(usize::MAX);
        }
        WebWait { pause: self }
    }

    /// What the sender must be told at `now`, if that changed since it was
    /// last told (true: pause); it counts as told.
    pub fn to_tell(&self, now: Instant) -> Option<bool> {
        let mut state = self.lock();
        let wanted = state.wanted(now);
        if wanted == state.told_paused {
            return None;
        }
        state.told_paused = wanted;
        if !wanted {
            state.resumed_at = Some(now);
        }
        Some(wanted)
    }

    /// When [`Pause::to_tell`] changes by itself (a web viewer's hold runs
    /// out), if it will.
    pub fn recheck_at(&self) -> Option<Instant> {
        let state = self.lock();
        let hold_ends = state.web_left_at? + WEB_VIEWER_HOLD;
        (state.hidden && !state.told_paused && state.web_waiting == 0).then_some(hold_ends)
    }

    /// Waits until the sender must be told something new.
    pub async fn changed(&self) {
        until(&self.changed, None, || {
            self.has_news(Instant::now()).then_some(())
        })
        .await;
    }

    fn has_news(&self, now: Instant) -> bool {
        let state = self.lock();
        state.wanted(now) != state.told_paused
    }

    /// Whether the stream is paused, and since when it is not.
    pub fn pausing(&self, now: Instant) -> Pausing {
        let state = self.lock();
        Pausing {
            paused: state.told_paused,
            since_resumed: state.resumed_at.map(|at| now.saturating_duration_since(at)),
        }
    }

    /// When the sender was last told to resume, if ever.
    pub fn resumed_at(&self) -> Option<Instant> {
        self.lock().resumed_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hidden_stream_is_paused_once_and_resumed_once_shown() {
        let pause = Pause::default();
        let now = Instant::now();
        assert_eq!(pause.to_tell(now), None, "shown: nothing to tell");
        pause.set_hidden(true);
        assert_eq!(pause.to_tell(now), Some(true));
        assert_eq!(pause.to_tell(now), None, "told once");
        assert!(pause.pausing(now).paused);
        pause.set_hidden(false);
        let later = now + Duration::from_millis(300);
        assert_eq!(pause.to_tell(later), Some(false));
        assert_eq!(
            pause.pausing(later + Duration::from_millis(50)),
            Pausing {
                paused: false,
                since_resumed: Some(Duration::from_millis(50))
            }
        );
    }

    #[test]
    fn a_web_viewer_keeps_a_hidden_stream_going_and_a_little_after() {
        let pause = Pause::default();
        pause.set_hidden(true);
        let waiting = pause.web_viewer_waiting();
        assert_eq!(pause.to_tell(Instant::now()), None, "watched on the web");
        drop(waiting);
        let left = Instant::now();
        assert_eq!(pause.to_tell(left), None, "between two frames");
        let hold_ends = pause.recheck_at().expect("the hold ends by itself");
        assert!(hold_ends >= left && hold_ends <= left + WEB_VIEWER_HOLD);
        assert_eq!(pause.to_tell(hold_ends), Some(true));
        assert_eq!(pause.recheck_at(), None);

        let _waiting = pause.web_viewer_waiting();
        assert_eq!(pause.to_tell(Instant::now()), Some(false), "a viewer came");
    }

    #[test]
    fn the_control_writer_wakes_when_there_is_something_to_tell() {
        let pause = std::sync::Arc::new(Pause::default());
        let hiding = pause.clone();
        let window = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            hiding.set_hidden(true);
        });
        smol::block_on(pause.changed());
        assert_eq!(pause.to_tell(Instant::now()), Some(true));
        window.join().unwrap();
        let _waiting = pause.web_viewer_waiting();
        smol::block_on(pause.changed()); // returns at once: a resume is due
        assert_eq!(pause.to_tell(Instant::now()), Some(false));
    }
}
