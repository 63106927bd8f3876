//! The one policy for a poisoned lock, on both ends: take the state as it
//! is. A panic in any thread already ends either program (its `main`
//! installs a hook that exits with status 101), so a poisoned lock is only
//! ever met on the way out, and the way out (the exit report, the last
//! pictures, the sender's final counters) should still run. Every critical
//! section behind these locks leaves the state whole between statements
//! that can panic, so what is read is a state that was once true.
//!
//! ```
//! use std::sync::Mutex;
//! use framewire_proto::lock::lock;
//!
//! let count = Mutex::new(1);
//! *lock(&count) += 1;
//! assert_eq!(*lock(&count), 2);
//! ```

use std::sync::{Mutex, MutexGuard};

/// `mutex`'s guard, even if a thread panicked while it held it.
pub fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
