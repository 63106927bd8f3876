//! The latest-frame slot that sits between every two pipeline stages.
//!
//! A slot holds at most one value. Putting a value into a full slot replaces
//! the old one, which is counted as a drop: a slow consumer therefore always
//! gets the newest frame, delay never piles up and memory stays flat however
//! slow the far side is. The consumer side can wait in async code or on a
//! plain thread. A slot does not copy or inspect what it carries.
//!
//! ```
//! use framewire_proto::slot::latest_slot;
//!
//! let (frames_out, frames_in) = latest_slot();
//! frames_out.put(1).unwrap();
//! frames_out.put(2).unwrap(); // the consumer was slow: 1 is replaced
//! assert_eq!(frames_in.try_take(), Some(2));
//! assert_eq!(frames_in.dropped(), 1);
//! drop(frames_out);
//! assert_eq!(frames_in.take_blocking(), None, "the producer is gone");
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Creates an empty slot and returns its two ends.
pub fn latest_slot<T>() -> (SlotSender<T>, SlotReceiver<T>) {
    let (tx, rx) = async_channel::bounded(1);
    let drops = Arc::new(AtomicU64::new(0));
    (
        SlotSender {
            tx,
            drops: drops.clone(),
        },
        SlotReceiver { rx, drops },
    )
}

/// The producing end; clone it to feed one slot from several producers.
pub struct SlotSender<T> {
    tx: async_channel::Sender<T>,
    drops: Arc<AtomicU64>,
}

impl<T> Clone for SlotSender<T> {
    fn clone(&self) -> Self {
        SlotSender {
            tx: self.tx.clone(),
            drops: self.drops.clone(),
        }
    }
}

impl<T> SlotSender<T> {
    /// Puts `value` in the slot, replacing (and counting as dropped) a value
    /// the consumer has not taken yet, which is returned as `Ok(Some(old))`.
    /// Gives `value` back as `Err` when the consumer is gone.
    pub fn put(&self, value: T) -> Result<Option<T>, T> {
        match self.tx.force_send(value) {
            Ok(Some(replaced)) => {
                self.drops.fetch_add(1, Ordering::Relaxed);
                Ok(Some(replaced))
            }
            Ok(None) => Ok(None),
            Err(async_channel::SendError(value)) => Err(value),
        }
    }

    /// How many values were replaced before the consumer took them.
    pub fn dropped(&self) -> u64 {
        self.drops.load(Ordering::Relaxed)
    }

    /// A handle that reads the drop count without keeping the slot open.
    pub fn drop_counter(&self) -> DropCounter {
        DropCounter(self.drops.clone())
    }
}

/// Reads how many values a slot dropped, from anywhere, at any time.
#[derive(Clone)]
pub struct DropCounter(Arc<AtomicU64>);

impl DropCounter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The consuming end.
pub struct SlotReceiver<T> {
    rx: async_channel::Receiver<T>,
    drops: Arc<AtomicU64>,
}

impl<T> SlotReceiver<T> {
    /// Waits for the next value; `None` once every sender is gone and the slot is empty.
    pub async fn take(&self) -> Option<T> {
        self.rx.recv().await.ok()
    }

    /// Like [`take`](Self::take), blocking the calling thread.
    pub fn take_blocking(&self) -> Option<T> {
        self.rx.recv_blocking().ok()
    }

    /// The value in the slot, if there is one, without waiting.
    pub fn try_take(&self) -> Option<T> {
        self.rx.try_recv().ok()
    }

    /// How many values were replaced before they were taken.
    pub fn dropped(&self) -> u64 {
        self.drops.load(Ordering::Relaxed)
    }

    /// True once every sender is gone and the last value has been taken.
    pub fn is_finished(&self) -> bool {
        self.rx.is_closed() && self.rx.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_consumer_gets_the_newest_value_and_the_rest_are_counted() {
        let (tx, rx) = latest_slot();
        assert_eq!(tx.put(0), Ok(None));
        for i in 1..10 {
            assert_eq!(tx.put(i), Ok(Some(i - 1)));
        }
        assert_eq!(rx.try_take(), Some(9));
        assert_eq!(rx.try_take(), None);
        assert_eq!(tx.dropped(), 9);
        assert_eq!(rx.dropped(), 9);
        assert_eq!(tx.drop_counter().get(), 9);
    }

    #[test]
    fn the_consumer_sees_the_end_after_the_last_value() {
        let (tx, rx) = latest_slot();
        tx.put("last").unwrap();
        drop(tx);
        assert_eq!(rx.take_blocking(), Some("last"));
        assert_eq!(rx.take_blocking(), None);
    }

    #[test]
    fn put_reports_a_vanished_consumer() {
        let (tx, rx) = latest_slot();
        drop(rx);
        assert_eq!(tx.put(1), Err(1));
    }

    #[test]
    fn an_async_consumer_wakes_for_a_value_put_from_another_thread() {
        let (tx, rx) = latest_slot();
        let producer = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            tx.put(7u32).unwrap();
        });
        assert_eq!(smol::block_on(rx.take()), Some(7));
        producer.join().unwrap();
    }
}
