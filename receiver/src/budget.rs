//! The receiver's memory budget (`--max-memory`): one account for
//! everything peers make it hold.
//!
//! Received frames, decoded pictures (while a decoder fills them and while
//! the window keeps them), the recording queues and the pictures kept for
//! snapshots all take a [`Charge`] before the memory is used; the charge
//! gives the bytes back when it is dropped, with what it paid for. A charge
//! that would go over the limit is refused, and the caller drops the frame
//! instead of allocating: however many peers send whatever they like, the
//! receiver's memory for them stays under the limit. This module only
//! counts; it does not allocate or decide what to drop.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The default budget: sixteen 1080p streams, each with a frame being read,
/// one waiting, a picture being decoded and one shown, and a recording
/// queue, fit with room to spare.
pub const DEFAULT_MAX_MEMORY: usize = 1024 * 1024 * 1024;

/// The account all charges are taken from.
#[derive(Debug)]
pub struct MemoryBudget {
    limit: usize,
    used: AtomicUsize,
}

/// Bytes taken from a [`MemoryBudget`], given back on drop.
#[derive(Debug)]
pub struct Charge {
    budget: Arc<MemoryBudget>,
    bytes: usize,
}

impl MemoryBudget {
    /// A budget of `limit` bytes, none of them used.
    pub fn new(limit: usize) -> Arc<MemoryBudget> {
        Arc::new(MemoryBudget {
            limit,
            used: AtomicUsize::new(0),
        })
    }

    /// Takes `bytes` from the budget, or `None` if that would go over it.
    pub fn charge(self: &Arc<Self>, bytes: usize) -> Option<Charge> {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|total| *total <= self.limit)
            })
            .ok()?;
        Some(Charge {
            budget: self.clone(),
            bytes,
        })
    }

    /// Bytes charged now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    pub fn limit(&self) -> usize {
        self.limit
    }
}

impl Charge {
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_stay_under_the_limit_and_come_back_when_dropped() {
        let budget = MemoryBudget::new(1000);
        let first = budget.charge(600).unwrap();
        assert!(budget.charge(500).is_none(), "over the limit");
        let second = budget.charge(400).unwrap();
        assert_eq!(budget.used(), 1000);
        assert!(budget.charge(1).is_none());
        drop(first);
        assert_eq!(budget.used(), 400);
        assert!(budget.charge(usize::MAX).is_none(), "no overflow");
        drop(second);
        assert_eq!(budget.used(), 0);
    }
}
