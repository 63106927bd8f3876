//! Threads that help work through the bands of one picture, shared by every
//! picture that asks, on either end (the sender's encoders, the receiver's
//! stream decoders).
//!
//! The thread that has a picture does not hand it off and wait: it works
//! through the bands itself, taking the next unclaimed band each time, and
//! asks the pool's helpers to do the same. A helper that wakes while bands
//! are left takes some; one that wakes too late (or is busy with another
//! picture) finds none and goes back to sleep. The asking thread waits only
//! for bands a helper has already taken, never for a helper to arrive, so a
//! picture never takes longer than its own thread would alone (plus the
//! hand-over of a band), and with idle helpers it takes a fraction of that.
//! Measured on the development VM, handing whole halves to a thread started
//! per frame left many frames no faster: the new thread was put on the busy
//! core and began only after the first half was done. (On that VM a woken
//! helper still often lands on the asking thread's core after an idle
//! spell, the other vCPU being halted; a paced stream then gains less than
//! an unpaced one. Claiming bands keeps that case as fast as one thread.)
//! The helpers are started once; however many pictures ask at once, no more
//! than the pool's threads help.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::lock::lock;

/// What a helper is given: part of a picture, or the end of the pool.
enum Task {
    Help(Box<dyn FnOnce() + Send>),
    End,
}

/// A fixed set of helper threads.
pub struct BandPool {
    queue: Arc<Queue>,
    helpers: usize,
}

#[derive(Default)]
struct Queue {
    tasks: Mutex<VecDeque<Task>>,
    ready: Condvar,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, VecDeque<Task>> {
        lock(&self.tasks)
    }
}

impl BandPool {
    /// A pool whose pictures are worked on by `threads` threads at most:
    /// the asking thread and `threads - 1` helpers, named `name N`. Fewer
    /// helpers if the system will not start them.
    pub fn new(threads: usize, name: &str) -> BandPool {
        let queue = Arc::new(Queue::default());
        let mut helpers = 0;
        for index in 0..threads.saturating_sub(1) {
            let queue = queue.clone();
            let started = std::thread::Builder::new()
                .name(format!("{name} {index}"))
                .spawn(move || help(&queue));
            match started {
                Ok(_) => helpers += 1,
                Err(error) => {
                    log::warn!(
                        "{name}: {helpers} helper threads, not {}: {error}",
                        threads - 1
                    );
                    break;
                }
            }
        }
        BandPool { queue, helpers }
    }

    /// How many threads may work on one picture (the asking one included).
    pub fn threads(&self) -> usize {
        self.helpers + 1
    }

    /// Runs `work` on every job, on this thread and any helper that comes,
    /// and returns the results in the jobs' order.
    pub fn run_all<J, R>(
        &self,
        jobs: Vec<J>,
        work: impl Fn(J) -> R + Send + Sync + 'static,
    ) -> Vec<R>
    where
        J: Send + 'static,
        R: Send + 'static,
    {
        let count = jobs.len();
        let batch = Arc::new(Batch {
            jobs: jobs.into_iter().map(|job| Mutex::new(Some(job))).collect(),
            next: AtomicUsize::new(0),
            results: Mutex::new((0..count).map(|_| None).collect()),
            finished: Condvar::new(),
            work,
        });
        let helpers = self.helpers.min(count.saturating_sub(1));
        if helpers > 0 {
            let mut tasks = self.queue.lock();
            for _ in 0..helpers {
                let batch = batch.clone();
                tasks.push_back(Task::Help(Box::new(move || batch.work_through())));
            }
            drop(tasks);
            self.queue.ready.notify_all();
        }
        batch.work_through();
        let mut results = batch.lock_results();
        while results.iter().any(Option::is_none) {
            results = batch
                .finished
                .wait(results)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        let results: Vec<std::thread::Result<R>> = results
            .drain(..)
            .map(|result| result.expect("every job ran"))
            .collect();
        // A job that panicked on a helper panics here, as if it ran here.
        results
            .into_iter()
            .map(|result| result.unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    }
}

impl Drop for BandPool {
    fn drop(&mut self) {
        // Helpers end when they find this instead of a task.
        let mut tasks = self.queue.lock();
        for _ in 0..self.helpers {
            tasks.push_back(Task::End);
        }
        drop(tasks);
        self.queue.ready.notify_all();
    }
}

/// A helper's life: take tasks until the pool is dropped.
fn help(queue: &Queue) {
    loop {
        let mut tasks = queue.lock();
        let task = loop {
            match tasks.pop_front() {
                Some(task) => break task,
                None => {
                    tasks = queue
                        .ready
                        .wait(tasks)
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                }
            }
        };
        drop(tasks);
        match task {
            Task::Help(work) => work(),
            Task::End => return,
        }
    }
}

/// One picture's jobs, claimed one at a time.
struct Batch<J, R, F> {
    jobs: Vec<Mutex<Option<J>>>,
    next: AtomicUsize,
    results: Mutex<Vec<Option<std::thread::Result<R>>>>,
    finished: Condvar,
    work: F,
}

impl<J, R, F: Fn(J) -> R> Batch<J, R, F> {
    fn lock_results(&self) -> MutexGuard<'_, Vec<Option<std::thread::Result<R>>>> {
        lock(&self.results)
    }

    /// Takes unclaimed jobs and runs them until none is left.
    fn work_through(&self) {
        loop {
            let index = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(slot) = self.jobs.get(index) else {
                return;
            };
            let job = lock(slot).take().expect("each job is claimed once");
            let result =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (self.work)(job)));
            self.lock_results()[index] = Some(result);
            self.finished.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_runs_once_and_results_keep_their_order() {
        let pool = BandPool::new(3, "test helper");
        assert_eq!(pool.threads(), 3);
        for round in 0..50u32 {
            let results = pool.run_all((0..7).collect(), move |job: u32| job * 10 + round);
            assert_eq!(
                results,
                (0..7).map(|job| job * 10 + round).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn helpers_take_jobs_when_the_asking_thread_is_busy() {
        let pool = BandPool::new(2, "test helper");
        let names = pool.run_all(vec![(); 4], |()| {
            std::thread::sleep(std::time::Duration::from_millis(20));
            std::thread::current().name().unwrap_or("").to_owned()
        });
        assert!(
            names.iter().any(|name| name.starts_with("test helper")),
            "{names:?}"
        );
    }

    #[test]
    fn a_job_that_panics_on_a_helper_panics_in_the_asking_thread_and_the_pool_goes_on() {
        let pool = BandPool::new(2, "test helper");
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.run_all((0..4).collect(), |job: u32| {
                std::thread::sleep(std::time::Duration::from_millis(10));
                assert!(job != 3, "job 3 fails");
                job
            })
        }));
        assert!(caught.is_err());
        assert_eq!(pool.run_all(vec![5, 6], |job: u32| job + 1), vec![6, 7]);
    }

    #[test]
    fn a_pool_of_one_works_alone_and_many_pictures_can_ask_at_once() {
        let alone = BandPool::new(1, "unused");
        assert_eq!(alone.threads(), 1);
        assert_eq!(alone.run_all(vec![1, 2], |job: i32| -job), vec![-1, -2]);
        let shared = Arc::new(BandPool::new(2, "test helper"));
        let askers: Vec<_> = (0..8)
            .map(|asker| {
                let shared = shared.clone();
                std::thread::spawn(move || {
                    shared.run_all((0..5).collect(), move |job: i32| job + asker)
                })
            })
            .collect();
        for (asker, handle) in askers.into_iter().enumerate() {
            assert_eq!(
                handle.join().unwrap(),
                (0..5).map(|job| job + asker as i32).collect::<Vec<_>>()
            );
        }
    }
}
