//! How many small messages an admitted sender may send: keep-alives (clock
//! replies among them) and renames each have a rate per connection, and a
//! sender far over it breaks the protocol.
//!
//! An honest sender sends a keep-alive a second while it has no frame,
//! answers the receiver's clock probes (about 20 a second during a burst
//! of probes), and keeps one name for its whole life. A peer that sends
//! many more costs the receiver time for nothing; [`crate::net`] closes
//! its connection and penalises its address as for a wrong token. Frames
//! with a picture have no such rate (an unpaced sender may send hundreds a
//! second); they pay with the memory budget and their decoder's slot. This
//! module only counts; it does not close anything.

use std::time::Instant;

use framewire_proto::rate::MessageRate;

/// Keep-alives a second, on average, that a sender may send.
pub const KEEP_ALIVE_RATE: f64 = 30.0;
/// Keep-alives back to back at most.
pub const KEEP_ALIVE_BURST: u32 = 60;
/// Name changes a second, on average, that a sender may make.
pub const RENAME_RATE: f64 = 0.2;
/// Name changes back to back at most.
pub const RENAME_BURST: u32 = 3;

/// What a sender sent too many of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flood {
    KeepAlives,
    Renames,
}

impl Flood {
    /// Why the connection is closed, for the log.
    pub fn reason(self) -> String {
        match self {
            Flood::KeepAlives => format!(
                "it sent keep-alives faster than {KEEP_ALIVE_RATE} a second (a sender sends one a \
                 second, and answers to clock probes)"
            ),
            Flood::Renames => format!(
                "it renamed its stream more than {RENAME_BURST} times in a row, faster than once \
                 in {} s",
                1.0 / RENAME_RATE
            ),
        }
    }
}

/// One connection's rates.
pub struct SenderRates {
    keep_alives: MessageRate,
    renames: MessageRate,
}

impl Default for SenderRates {
    fn default() -> SenderRates {
        SenderRates {
            keep_alives: MessageRate::new(KEEP_ALIVE_RATE, KEEP_ALIVE_BURST),
            renames: MessageRate::new(RENAME_RATE, RENAME_BURST),
        }
    }
}

impl SenderRates {
    /// A keep-alive came at `now`.
    pub fn keep_alive(&mut self, now: Instant) -> Result<(), Flood> {
        if self.keep_alives.allow(now) {
            Ok(())
        } else {
            Err(Flood::KeepAlives)
        }
    }

    /// The stream's name changed at `now`.
    pub fn renamed(&mut self, now: Instant) -> Result<(), Flood> {
        if self.renames.allow(now) {
            Ok(())
        } else {
            Err(Flood::Renames)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn an_honest_sender_stays_within_its_rates_and_a_flood_does_not() {
        let start = Instant::now();
        let mut honest = SenderRates::default();
        // A probe burst answered (8 at 50 ms), then a keep-alive a second
        // and a probe every 2 s, for ten minutes; one name.
        for i in 0..8 {
            assert_eq!(
                honest.keep_alive(start + Duration::from_millis(50 * i)),
                Ok(())
            );
        }
        for s in 1..600 {
            assert_eq!(honest.keep_alive(start + Duration::from_secs(s)), Ok(()));
        }
        assert_eq!(honest.renamed(start), Ok(()));
        let mut flooding = SenderRates::default();
        let at = |i: u64| start + Duration::from_micros(100 * i);
        let first_refused = (0..10_000).find(|i| flooding.keep_alive(at(*i)).is_err());
        assert!(first_refused.is_some_and(|i| i < 100), "{first_refused:?}");
        let mut renaming = SenderRates::default();
        let refused = (0..10).find(|i| renaming.renamed(at(*i)).is_err());
        assert_eq!(refused, Some(u64::from(RENAME_BURST)));
    }
}
