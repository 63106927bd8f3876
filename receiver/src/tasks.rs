//! The executor every connection's task runs on, senders' and web pages'
//! alike: one thread per core, started on the first [`spawn`], so a task
//! that is busy (a peer whose messages keep coming) leaves the other cores
//! to the rest. smol's global executor runs on one thread.
//!
//! Fairness between tasks on one thread is the tasks' own business: a
//! reader that handles a message yields before the next ([`crate::net`],
//! [`crate::web`]). This module does not decide what runs; it only runs it.

use std::future::Future;
use std::sync::Once;

use smol::{Executor, Task};

static EXECUTOR: Executor<'static> = Executor::new();

/// Runs `future` on the receiver's executor.
pub fn spawn<T: Send + 'static>(future: impl Future<Output = T> + Send + 'static) -> Task<T> {
    static STARTED: Once = Once::new();
    STARTED.call_once(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        for index in 0..cores {
            let started = std::thread::Builder::new()
                .name(format!("tasks-{index}"))
                .spawn(|| smol::block_on(EXECUTOR.run(std::future::pending::<()>())));
            if let Err(error) = started {
                log::error!("cannot start an executor thread: {error}");
            }
        }
    });
    EXECUTOR.spawn(future)
}
