//! A full-quality frame asked of a sender: the window's S key on a stream
//! the sender has reduced (lower quality or size for the link or for this
//! receiver) asks for one frame at the sender's ceiling and full size, so
//! the snapshot is the best picture the camera gives, not what the link
//! allowed.
//!
//! The view asks ([`FullFrame::ask`]); the stream's control writer sends
//! the request ([`FullFrame::asked`] wakes it) and the pump hands over the
//! first frame that comes marked full-quality ([`FullFrame::arrived`]),
//! which the snapshot thread waits for ([`FullFrame::wait`]). Only a frame
//! that arrives after an ask is kept, and only one: the sender's other
//! frames cost nothing here.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use event_listener::Event;
use framewire_proto::deadline::until;

#[derive(Debug, Default)]
enum State {
    #[default]
    Idle,
    /// Asked; `sent` once the control writer has sent the request.
    Asked { sent: bool },
    /// The full-quality JPEG that came.
    Arrived(Bytes),
}

/// One stream's ask for a full-quality frame.
#[derive(Debug, Default)]
pub struct FullFrame {
    state: Mutex<State>,
    changed: Event,
}

impl FullFrame {
    fn lock(&self) -> MutexGuard<'_, State> {
        framewire_proto::lock::lock(&self.state)
    }

    fn set(&self, state: State) {
        *self.lock() = state;
        self.changed.notify(usize::MAX);
    }

    /// Asks for a full-quality frame (forgetting one that came before).
    pub fn ask(&self) {
        self.set(State::Asked { sent: false });
    }

    /// Waits until an ask has to be sent; marks it sent.
    pub async fn asked(&self) {
        until(&self.changed, None, || match &mut *self.lock() {
            State::Asked { sent } if !*sent => {
                *sent = true;
                Some(())
            }
            _ => None,
        })
        .await;
    }

    /// A frame marked full-quality came: kept if one was asked for.
    pub fn arrived(&self, jpeg: &Bytes) {
        let mut state = self.lock();
        if matches!(*state, State::Asked { .. }) {
            *state = State::Arrived(jpeg.clone());
            drop(state);
            self.changed.notify(usize::MAX);
        }
    }

    /// Waits up to `timeout` for the frame asked for; takes it.
    pub async fn wait(&self, timeout: Duration) -> Option<Bytes> {
        let deadline = Instant::now() + timeout;
        let arrived = until(&self.changed, Some(deadline), || {
            let mut state = self.lock();
            match std::mem::take(&mut *state) {
                State::Arrived(jpeg) => Some(jpeg),
                other => {
                    *state = other;
                    None
                }
            }
        })
        .await;
        if arrived.is_none() {
            self.set(State::Idle);
        }
        arrived
    }
}

#[cfg(test)]
mod tests {
    use futures_lite::FutureExt;

    use super::*;

    #[test]
    fn only_a_frame_after_an_ask_is_kept_and_handed_over_once() {
        let full = FullFrame::default();
        full.arrived(&Bytes::from_static(b"unasked"));
        assert_eq!(smol::block_on(full.wait(Duration::from_millis(10))), None);
        full.ask();
        smol::block_on(full.asked());
        full.arrived(&Bytes::from_static(b"first"));
        full.arrived(&Bytes::from_static(b"second"));
        assert_eq!(
            smol::block_on(full.wait(Duration::from_secs(1))),
            Some(Bytes::from_static(b"first"))
        );
        assert_eq!(smol::block_on(full.wait(Duration::from_millis(10))), None);
    }

    #[test]
    fn the_writer_wakes_for_an_ask_made_while_it_waits() {
        let full = std::sync::Arc::new(FullFrame::default());
        let asking = full.clone();
        let asker = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            asking.ask();
        });
        let woken = smol::block_on(
            async {
                full.asked().await;
                true
            }
            .or(async {
                smol::Timer::after(Duration::from_secs(10)).await;
                false
            }),
        );
        assert!(woken);
        asker.join().unwrap();
    }
}
