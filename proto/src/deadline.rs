//! Waiting with a deadline, written once for both ends: a future cut off
//! after a time ([`within`]) or at an instant ([`before`]), and a condition
//! looked at each time an [`Event`] fires until it holds or a deadline
//! passes ([`until`]). What a timeout means (an error, a retry, a log line)
//! is the caller's to say; nothing here sleeps without a future to race.
//!
//! ```
//! use std::time::Duration;
//! use framewire_proto::deadline::within;
//!
//! let quick = smol::block_on(within(Duration::from_secs(1), async { 7 }));
//! assert_eq!(quick, Some(7));
//! let never = smol::block_on(within(Duration::from_millis(10), std::future::pending::<()>()));
//! assert_eq!(never, None);
//! ```

use std::future::Future;
use std::time::{Duration, Instant};

use async_io::Timer;
use event_listener::Event;
use futures_lite::FutureExt;

/// `future`'s output, or `None` if it takes longer than `limit`.
pub async fn within<T>(limit: Duration, future: impl Future<Output = T>) -> Option<T> {
    async { Some(future.await) }
        .or(async {
            Timer::after(limit).await;
            None
        })
        .await
}

/// `future`'s output, or `None` if `deadline` comes first.
pub async fn before<T>(deadline: Instant, future: impl Future<Output = T>) -> Option<T> {
    async { Some(future.await) }
        .or(async {
            Timer::at(deadline).await;
            None
        })
        .await
}

/// What `check` finds, looked at now and after each notification of
/// `event`, or `None` once `deadline` has passed (with no deadline, it
/// waits as long as it takes). The listener is made before each look, so a
/// change notified in between still wakes it.
pub async fn until<T>(
    event: &Event,
    deadline: Option<Instant>,
    mut check: impl FnMut() -> Option<T>,
) -> Option<T> {
    loop {
        let listener = event.listen();
        if let Some(found) = check() {
            return Some(found);
        }
        match deadline {
            Some(deadline) => before(deadline, listener).await?,
            None => listener.await,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    #[test]
    fn until_sees_a_change_notified_from_another_thread_and_gives_up_at_its_deadline() {
        let event = Arc::new(Event::new());
        let flag = Arc::new(AtomicBool::new(false));
        let (setter_event, setter_flag) = (event.clone(), flag.clone());
        let setter = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            setter_flag.store(true, Ordering::Release);
            setter_event.notify(usize::MAX);
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        let seen = smol::block_on(until(&event, Some(deadline), || {
            flag.load(Ordering::Acquire).then_some("set")
        }));
        assert_eq!(seen, Some("set"));
        setter.join().unwrap();

        let soon = Instant::now() + Duration::from_millis(10);
        let none = smol::block_on(until(&event, Some(soon), || None::<()>));
        assert_eq!(none, None);
        assert!(Instant::now() >= soon);
    }
}
