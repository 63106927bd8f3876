//! Whether a web client takes the frames it is handed: a viewer is
//! measured by the frames it did not take, not by bytes.
//!
//! An MJPEG body marks a frame handed out when it gives the connection the
//! frame's parts, and taken when the connection asks for more after them
//! (the frame has left for the kernel, whose unsent bytes are kept few, see
//! `framewire_proto::unsent`). A frame not taken within [`MAX_STALL`]
//! makes [`Uptake::overdue`] return, and the connection is closed: a client
//! that reads a few bytes now and then holds its viewer place for seconds,
//! not for as long as its trickle lasts. The page's WebSocket has acks and
//! pings for the same rule (`socket`). This type neither reads nor writes.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use framewire_proto::lock::lock;

use crate::web::stall::MAX_STALL;

/// How often a connection with no frame out looks again.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// When the frame on its way was handed out, if one is.
#[derive(Default)]
pub struct Uptake {
    handed_at: Mutex<Option<Instant>>,
}

impl Uptake {
    /// A frame was handed to the connection.
    pub fn handed(&self) {
        *self.lock() = Some(Instant::now());
    }

    /// The connection took it.
    pub fn taken(&self) {
        *self.lock() = None;
    }

    /// Returns once a frame has waited [`MAX_STALL`] to be taken.
    pub async fn overdue(&self) {
        loop {
            let due = self.lock().map(|handed| handed + MAX_STALL);
            match due {
                Some(due) if Instant::now() >= due => return,
                Some(due) => smol::Timer::at(due).await,
                None => smol::Timer::after(IDLE_CHECK).await,
            };
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        lock(&self.handed_at)
    }
}

#[cfg(test)]
mod tests {
    use framewire_proto::deadline::within;

    use super::*;

    fn overdue_within(uptake: &Uptake, wait: Duration) -> bool {
        smol::block_on(within(wait, uptake.overdue())).is_some()
    }

    #[test]
    fn a_frame_taken_in_time_is_never_overdue() {
        let uptake = Uptake::default();
        uptake.handed();
        uptake.taken();
        assert!(!overdue_within(&uptake, Duration::from_millis(1500)));
    }

    #[test]
    fn a_frame_not_taken_is_overdue_after_the_bound() {
        let uptake = Uptake::default();
        *uptake.lock() = Some(Instant::now() - MAX_STALL + Duration::from_millis(300));
        assert!(overdue_within(&uptake, Duration::from_secs(2)));
    }
}
