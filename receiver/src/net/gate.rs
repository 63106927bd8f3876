//! What a peer that has not proved anything yet may cost: the gate before
//! admission.
//!
//! A connection the allow-list let through is *pending* until its TLS
//! handshake and its first message (with the token, when one is set) are
//! done. Pending connections hold [`Places`] of their own, separate from the
//! sender slots: a crowd of silent sockets can hold only pending places,
//! never an admitted sender's, and squatters from a few addresses cannot keep
//! a sender with the token out either. The gate also keeps the log readable
//! and guessing slow: refusals are logged once per address per
//! [`SUMMARY_INTERVAL`] with a count of the ones in between, and every wrong
//! token makes that address wait longer before its next answer. Its state (a
//! few bytes per recently seen address, bounded) is behind the methods of
//! [`Gate`]. It does not read sockets; the server asks it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use framewire_proto::lock::lock;

use crate::net::places::{Full, Place, PlaceLimits, Places, key_of};

/// Refusals from one address are summarised over this long, after the
/// first [`LOGGED_PER_INTERVAL`] of them.
pub const SUMMARY_INTERVAL: Duration = Duration::from_secs(10);
pub const LOGGED_PER_INTERVAL: u64 = 5;
/// The wait after a first wrong token; each further one doubles it, up to
/// [`MAX_PENALTY`].
const FIRST_PENALTY: Duration = Duration::from_millis(200);
const MAX_PENALTY: Duration = Duration::from_secs(5);
/// An address without a wrong token for this long starts afresh.
const PENALTY_MEMORY: Duration = Duration::from_secs(60);
/// Addresses remembered at most (each a few dozen bytes); the stalest go.
const MAX_ADDRESSES: usize = 4096;

/// How many connections may be pending at once, by default.
pub const PENDING_LIMITS: PlaceLimits = PlaceLimits {
    total: 64,
    per_address: 8,
};

/// The gate: pending places, refusal summaries, wrong-token penalties.
pub struct Gate {
    pending: Arc<Places>,
    state: Mutex<GateState>,
}

#[derive(Default)]
struct GateState {
    addresses: HashMap<IpAddr, AddressRecord>,
}

/// What the gate remembers of one address (or IPv6 /64).
#[derive(Clone, Copy)]
struct AddressRecord {
    seen: Instant,
    /// The start of the current summary interval, the refusals logged in
    /// it and those not logged.
    summary_from: Option<Instant>,
    logged_refusals: u64,
    unlogged_refusals: u64,
    wrong_tokens: u32,
    last_wrong_token: Option<Instant>,
}

impl AddressRecord {
    fn new(now: Instant) -> AddressRecord {
        AddressRecord {
            seen: now,
            summary_from: None,
            logged_refusals: 0,
            unlogged_refusals: 0,
            wrong_tokens: 0,
            last_wrong_token: None,
        }
    }
}

impl Gate {
    pub fn new(pending: PlaceLimits) -> Arc<Gate> {
        Arc::new(Gate {
            pending: Places::new(pending),
            state: Mutex::new(GateState::default()),
        })
    }

    /// A pending place for a connection from `address`, if its address
    /// has one left; when every place is held, one of the busiest
    /// address's is taken away for it.
    pub fn enter(&self, address: IpAddr) -> Result<Place, Full> {
        self.pending.enter(address)
    }

    /// Logs that `peer` was refused for `reason`: at once the first
    /// [`LOGGED_PER_INTERVAL`] times in a [`SUMMARY_INTERVAL`], then only
    /// counted, and the count is logged with the next refusal after the
    /// interval. `peer` is what the log names (an address with its port).
    pub fn refused(&self, address: IpAddr, peer: &str, reason: &str) {
        let now = Instant::now();
        let line = {
            let mut state = self.lock();
            let record = state.record(key_of(address), now);
            let interval_over = record
                .summary_from
                .is_none_or(|from| now.duration_since(from) >= SUMMARY_INTERVAL);
            if interval_over {
                record.summary_from = Some(now);
                record.logged_refusals = 0;
            }
            if record.logged_refusals < LOGGED_PER_INTERVAL {
                record.logged_refusals += 1;
                Some(std::mem::take(&mut record.unlogged_refusals))
            } else {
                record.unlogged_refusals += 1;
                None
            }
        };
        match line {
            Some(0) => log::warn!("refused {peer}: {reason}"),
            Some(more) => log::warn!(
                "refused {peer}: {reason} (and {more} more refusals from this address in the \
                 last {} s or so)",
                SUMMARY_INTERVAL.as_secs()
            ),
            None => {}
        }
    }

    /// Notes a wrong token, or a protocol violation such as a flood of
    /// small messages, from `address`; returns how long its connection
    /// waits before it is closed (longer with every one in a row).
    pub fn penalise(&self, address: IpAddr) -> Duration {
        let now = Instant::now();
        let mut state = self.lock();
        let record = state.record(key_of(address), now);
        if record
            .last_wrong_token
            .is_some_and(|last| now.duration_since(last) > PENALTY_MEMORY)
        {
            record.wrong_tokens = 0;
        }
        record.wrong_tokens = record.wrong_tokens.saturating_add(1);
        record.last_wrong_token = Some(now);
        FIRST_PENALTY
            .saturating_mul(1 << (record.wrong_tokens - 1).min(16))
            .min(MAX_PENALTY)
    }

    /// Connections pending now (for tests and the log).
    pub fn pending(&self) -> usize {
        self.pending.held()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        lock(&self.state)
    }
}

impl GateState {
    /// The record of `key`, made if needed; the stalest ones are
    /// forgotten when too many are known.
    fn record(&mut self, key: IpAddr, now: Instant) -> &mut AddressRecord {
        if !self.addresses.contains_key(&key) && self.addresses.len() >= MAX_ADDRESSES {
            let stalest = self
                .addresses
                .iter()
                .min_by_key(|(_, record)| record.seen)
                .map(|(key, _)| *key);
            if let Some(stalest) = stalest {
                self.addresses.remove(&stalest);
            }
        }
        let record = self
            .addresses
            .entry(key)
            .or_insert_with(|| AddressRecord::new(now));
        record.seen = now;
        record
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn wrong_tokens_wait_longer_each_time_up_to_a_limit() {
        let gate = Gate::new(PENDING_LIMITS);
        let waits: Vec<Duration> = (0..12).map(|_| gate.penalise(ip("10.0.0.9"))).collect();
        assert_eq!(waits[0], FIRST_PENALTY);
        assert_eq!(waits[1], FIRST_PENALTY * 2);
        assert_eq!(*waits.last().unwrap(), MAX_PENALTY);
        assert_eq!(gate.penalise(ip("10.0.0.10")), FIRST_PENALTY, "per address");
    }

    #[test]
    fn the_gate_forgets_the_stalest_addresses_beyond_its_bound() {
        let gate = Gate::new(PENDING_LIMITS);
        for index in 0..(MAX_ADDRESSES as u32 + 100) {
            gate.refused(IpAddr::V4(index.into()), "peer", "test");
        }
        assert_eq!(gate.lock().addresses.len(), MAX_ADDRESSES);
    }
}
