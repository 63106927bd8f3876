//! The stop signal: Ctrl-C, SIGTERM or a frame limit ask every stage of a
//! pipeline to finish what it holds and return.
//!
//! Blocking threads poll [`StopSignal::is_stopped`]; async code awaits
//! [`StopSignal::stopped`]. It only signals: each stage decides how to end.

/// A cloneable flag that can be awaited.
#[derive(Clone)]
pub struct StopSignal {
    // Closing the channel is the signal: every waiting receiver wakes at once.
    sender: async_channel::Sender<()>,
    receiver: async_channel::Receiver<()>,
}

impl StopSignal {
    pub fn new() -> StopSignal {
        let (sender, receiver) = async_channel::bounded(1);
        StopSignal { sender, receiver }
    }

    /// Asks everything to stop; later calls do nothing.
    pub fn stop(&self) {
        self.sender.close();
    }

    pub fn is_stopped(&self) -> bool {
        self.sender.is_closed()
    }

    /// Resolves once [`stop`](Self::stop) has been called.
    pub async fn stopped(&self) {
        // The channel never carries a value, so this returns only when closed.
        let _ = self.receiver.recv().await;
    }
}

impl Default for StopSignal {
    fn default() -> Self {
        StopSignal::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_clone_sees_the_stop_and_waiters_wake() {
        let stop = StopSignal::new();
        let waiter = stop.clone();
        assert!(!waiter.is_stopped());
        let thread = std::thread::spawn(move || smol::block_on(waiter.stopped()));
        stop.stop();
        stop.stop();
        thread.join().unwrap();
        assert!(stop.clone().is_stopped());
    }
}
