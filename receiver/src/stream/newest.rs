//! The newest frame of a stream that decoded, kept as it came (a JPEG,
//! with the budget its bytes hold): what the web's viewers are sent and
//! what is saved on exit, without holding decoded pixels. Viewers wait
//! here for a newer one; the stream's close wakes them. It does not decode.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use event_listener::Event;
use framewire_proto::deadline::until;
use framewire_proto::lock::lock;

use super::{Phase, Stream};
use crate::budget::Charge;

/// The newest frame that decoded, as it came (a JPEG): what the web's
/// viewers are sent and what is saved on exit, without holding decoded
/// pixels.
#[derive(Clone, Debug)]
pub struct Newest {
    pub jpeg: Bytes,
    /// Counts the frames kept so far (from 1): a viewer that has had
    /// `version` waits for a higher one, so it never gets a frame twice.
    pub version: u64,
    pub sequence: u64,
    /// The capture time on the receiver's clock (0: unknown).
    pub capture_time_us: u64,
    pub width: u32,
    pub height: u32,
}

/// The kept frame and the budget it holds.
struct KeptFrame {
    newest: Newest,
    _charge: Charge,
}

/// The kept frame and the event its waiters listen to; a field of
/// [`Stream`].
#[derive(Default)]
pub(super) struct Kept {
    frame: Mutex<Option<KeptFrame>>,
    /// Notified when a newer frame is kept and when the stream closes.
    changed: Event,
}

impl Kept {
    /// Wakes every waiter: the stream has closed.
    pub(super) fn closed(&self) {
        self.changed.notify(usize::MAX);
    }
}

impl Stream {
    /// Keeps the newest frame that decoded (with the budget its bytes
    /// hold), for viewers and for a snapshot on exit, and wakes the viewers
    /// waiting for it. Its version is set here.
    pub fn keep_newest(&self, mut newest: Newest, charge: Charge) {
        let mut kept = lock(&self.newest.frame);
        newest.version = kept.as_ref().map_or(0, |k| k.newest.version) + 1;
        *kept = Some(KeptFrame {
            newest,
            _charge: charge,
        });
        drop(kept);
        self.newest.changed.notify(usize::MAX);
    }

    /// The newest frame that decoded, if one is kept.
    pub fn newest(&self) -> Option<Newest> {
        let kept = lock(&self.newest.frame);
        kept.as_ref().map(|kept| kept.newest.clone())
    }

    /// Waits, up to `timeout`, for a frame newer than `version`; `None` if
    /// none came in time or the stream has closed.
    pub async fn newer_than(&self, version: u64, timeout: Duration) -> Option<Newest> {
        let deadline = Instant::now() + timeout;
        until(&self.newest.changed, Some(deadline), || {
            if let Some(newest) = self.newest().filter(|n| n.version > version) {
                return Some(Some(newest));
            }
            (self.phase() == Phase::Closed).then_some(None)
        })
        .await
        .flatten()
    }

    /// Lets go of the kept frame (and its charge).
    pub fn forget_newest(&self) {
        *lock(&self.newest.frame) = None;
    }
}
