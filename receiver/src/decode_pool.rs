//! The threads that decode the bands of one picture at once, shared by
//! every stream (`--decode-threads`).
//!
//! Each stream keeps its own decoder thread, which reads the headers, checks
//! the claims and charges the budget; when a picture can be cut into bands,
//! that thread hands the bands to this pool and waits for them. However many
//! streams there are, only `--decode-threads` threads decode bands, so 16
//! streams on a 2-core machine do not start 32 threads fighting for two
//! cores; bands of different streams simply take turns. A pool of one
//! thread (or none) means every picture is decoded whole, on its stream's
//! thread, as before banding existed.

/// Where bands are decoded.
pub struct DecodePool {
    /// `None`: no banding; every picture is decoded whole.
    pool: Option<rayon::ThreadPool>,
}

impl DecodePool {
    /// A pool of `threads` band decoders; 0 or 1 decodes every picture
    /// whole. Falls back to whole pictures if the threads cannot start.
    pub fn new(threads: usize) -> DecodePool {
        if threads <= 1 {
            return DecodePool::whole_pictures();
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|index| format!("band decoder {index}"))
            .build();
        match pool {
            Ok(pool) => DecodePool { pool: Some(pool) },
            Err(error) => {
                log::warn!("no band decoders ({error}); pictures are decoded whole");
                DecodePool::whole_pictures()
            }
        }
    }

    /// No band threads: each picture is decoded whole where it is asked.
    pub fn whole_pictures() -> DecodePool {
        DecodePool { pool: None }
    }

    /// How many bands a picture may be cut into.
    pub fn threads(&self) -> usize {
        self.pool
            .as_ref()
            .map_or(1, rayon::ThreadPool::current_num_threads)
    }

    /// Runs `work` on every job on the pool's threads and returns the
    /// results in the jobs' order; the calling thread waits.
    pub fn run_all<J, R>(&self, jobs: Vec<J>, work: impl Fn(J) -> R + Sync) -> Vec<R>
    where
        J: Send,
        R: Send,
    {
        use rayon::prelude::*;
        match &self.pool {
            Some(pool) => pool.install(|| jobs.into_par_iter().map(&work).collect()),
            None => jobs.into_iter().map(work).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_run_on_the_pools_threads_and_come_back_in_order() {
        let pool = DecodePool::new(2);
        assert_eq!(pool.threads(), 2);
        let results = pool.run_all((0..50).collect(), |job: u32| {
            let name = std::thread::current().name().unwrap_or("").to_owned();
            (job * 2, name)
        });
        let doubled: Vec<u32> = results.iter().map(|(value, _)| *value).collect();
        assert_eq!(doubled, (0..50).map(|job| job * 2).collect::<Vec<_>>());
        assert!(
            results
                .iter()
                .all(|(_, name)| name.starts_with("band decoder"))
        );
    }

    #[test]
    fn a_pool_of_one_runs_jobs_where_they_are_asked() {
        let pool = DecodePool::new(1);
        assert_eq!(pool.threads(), 1);
        let here = std::thread::current().id();
        let ran_here = pool.run_all(vec![(); 3], |()| std::thread::current().id() == here);
        assert_eq!(ran_here, vec![true; 3]);
    }
}
