//! Who is watching: the number of web viewers (pages and MJPEG clients)
//! against `--max-viewers`, and the frames each one has on its way.
//!
//! A viewer holds a [`Viewer`] place for as long as it watches, and each
//! frame it is being sent is charged to the receiver's memory budget until
//! the next one replaces it, so a crowd of viewers cannot spend more than
//! the budget. A viewer never queues frames: it asks for the newest frame
//! when it is ready for one ([`crate::stream::Stream::newer_than`]), so a
//! slow viewer skips frames for itself alone.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::budget::{Charge, MemoryBudget};

/// The viewer count, its limit, and the figures `/metrics` shows.
pub struct Viewers {
    limit: usize,
    watching: AtomicUsize,
    budget: Arc<MemoryBudget>,
    frames_sent: AtomicU64,
    refused_over_budget: AtomicU64,
    turned_away: AtomicU64,
    bytes_in_flight: AtomicUsize,
}

/// A viewer's place, given back on drop.
pub struct Viewer {
    viewers: Arc<Viewers>,
}

/// A frame on its way to a viewer: its charge to the budget, and its bytes
/// in [`Viewers::bytes_in_flight`], both given back on drop.
pub struct InFlight {
    viewers: Arc<Viewers>,
    bytes: usize,
    _charge: Charge,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.viewers
            .bytes_in_flight
            .fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

impl Viewers {
    pub fn new(limit: usize, budget: Arc<MemoryBudget>) -> Arc<Viewers> {
        Arc::new(Viewers {
            limit,
            watching: AtomicUsize::new(0),
            budget,
            frames_sent: AtomicU64::new(0),
            refused_over_budget: AtomicU64::new(0),
            turned_away: AtomicU64::new(0),
            bytes_in_flight: AtomicUsize::new(0),
        })
    }

    /// A place for one more viewer, unless `--max-viewers` are watching.
    pub fn enter(self: &Arc<Self>) -> Option<Viewer> {
        let entered = self
            .watching
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |watching| {
                (watching < self.limit).then_some(watching + 1)
            });
        match entered {
            Ok(_) => Some(Viewer {
                viewers: self.clone(),
            }),
            Err(_) => {
                self.turned_away.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    pub fn watching(&self) -> usize {
        self.watching.load(Ordering::Acquire)
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Frames sent to viewers so far.
    pub fn frames_sent(&self) -> u64 {
        self.frames_sent.load(Ordering::Relaxed)
    }

    /// Frames not sent to a viewer because the memory budget was spent.
    pub fn refused_over_budget(&self) -> u64 {
        self.refused_over_budget.load(Ordering::Relaxed)
    }

    /// Bytes of frames on their way to viewers now.
    pub fn bytes_in_flight(&self) -> usize {
        self.bytes_in_flight.load(Ordering::Acquire)
    }

    /// Viewers refused because `--max-viewers` were watching.
    pub fn turned_away(&self) -> u64 {
        self.turned_away.load(Ordering::Relaxed)
    }
}

impl Viewer {
    /// Charges a frame of `bytes` on its way to this viewer; `None` (and
    /// counted) when the budget is spent: the viewer skips that frame.
    pub fn charge_frame(&self, bytes: usize) -> Option<InFlight> {
        let viewers = &self.viewers;
        match viewers.budget.charge(bytes) {
            Some(charge) => {
                viewers.frames_sent.fetch_add(1, Ordering::Relaxed);
                viewers.bytes_in_flight.fetch_add(bytes, Ordering::AcqRel);
                Some(InFlight {
                    viewers: viewers.clone(),
                    bytes,
                    _charge: charge,
                })
            }
            None => {
                viewers.refused_over_budget.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        self.viewers.watching.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viewers_beyond_the_limit_are_turned_away_and_places_come_back() {
        let viewers = Viewers::new(2, MemoryBudget::new(1000));
        let first = viewers.enter().unwrap();
        let _second = viewers.enter().unwrap();
        assert!(viewers.enter().is_none());
        assert_eq!(viewers.turned_away(), 1);
        drop(first);
        assert!(viewers.enter().is_some());
    }

    #[test]
    fn frames_in_flight_count_against_the_budget() {
        let budget = MemoryBudget::new(1000);
        let viewers = Viewers::new(4, budget.clone());
        let viewer = viewers.enter().unwrap();
        let charge = viewer.charge_frame(800).unwrap();
        assert_eq!((budget.used(), viewers.bytes_in_flight()), (800, 800));
        assert!(viewer.charge_frame(800).is_none(), "over the budget");
        assert_eq!(viewers.refused_over_budget(), 1);
        drop(charge);
        assert_eq!((budget.used(), viewers.bytes_in_flight()), (0, 0));
        assert_eq!(viewers.frames_sent(), 1);
    }
}
