//! The decoders' way into the window: each stream's newest decoded picture
//! waits in the [`Mailbox`] until the event loop takes them all, and the
//! first picture of a batch wakes the loop (once, however many follow). A
//! picture replaced before the window took it is counted as dropped before
//! show. It does not draw.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use framewire_proto::lock::lock;
use winit::event_loop::EventLoopProxy;

use super::Wake;
use crate::decode::{DecodedFrame, PictureSink};

/// The newest decoded picture of each stream, until the window takes them.
#[derive(Default)]
pub struct Mailbox {
    frames: Mutex<Vec<DecodedFrame>>,
    /// Set when a wake-up is on its way, so one is sent per batch.
    wake_pending: AtomicBool,
    /// The window wants RGBA from the decoders, not planes.
    rgba_only: AtomicBool,
}

impl Mailbox {
    /// Leaves `frame`, replacing (and counting) an unshown one of its stream;
    /// true when the window needs waking.
    fn put(&self, frame: DecodedFrame) -> bool {
        {
            let mut frames = lock(&self.frames);
            match frames
                .iter_mut()
                .find(|f| f.stream.id() == frame.stream.id())
            {
                Some(waiting) => {
                    waiting.stream.note_dropped_before_show();
                    *waiting = frame;
                }
                None => frames.push(frame),
            }
        }
        !self.wake_pending.swap(true, Ordering::AcqRel)
    }

    /// From now on the decoders make RGBA (`true`) or planes.
    pub fn set_rgba_only(&self, rgba_only: bool) {
        self.rgba_only.store(rgba_only, Ordering::Relaxed);
    }

    /// Every waiting picture; the next one wakes the loop again.
    pub fn take_all(&self) -> Vec<DecodedFrame> {
        self.wake_pending.store(false, Ordering::Release);
        std::mem::take(&mut *lock(&self.frames))
    }
}

/// The sink the decoders are given: the mailbox and a wake-up for the loop.
pub struct WindowSink {
    pub mailbox: Arc<Mailbox>,
    pub proxy: EventLoopProxy<Wake>,
}

impl PictureSink for WindowSink {
    fn show(&self, frame: DecodedFrame) {
        if self.mailbox.put(frame) {
            let _ = self.proxy.send_event(Wake::FramesReady);
        }
    }

    fn wants_planes(&self) -> bool {
        !self.mailbox.rgba_only.load(Ordering::Relaxed)
    }
}
