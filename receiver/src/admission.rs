//! What a peer that has not proved anything yet may cost: the gate before
//! admission.
//!
//! A connection the allow-list let through is *pending* until its TLS
//! handshake and its first message (with the token, when one is set) are
//! done. Pending connections have a budget of their own, in total and per
//! address (IPv6 by /64, which one host usually has), separate from the
//! sender slots: a crowd of silent sockets can hold only pending places,
//! never an admitted sender's, and when every pending place is held a new
//! connection takes the oldest place of the address holding the most (its
//! connection is closed), so squatters from a few addresses cannot keep a
//! sender with the token out either. The gate also keeps the log readable and
//! guessing slow: refusals are logged once per address per
//! [`SUMMARY_INTERVAL`] with a count of the ones in between, and every wrong
//! token makes that address wait longer before its next answer. Its state
//! (a few bytes per recently seen address, bounded) is behind the methods of
//! [`Gate`]. It does not read sockets; the server asks it.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// How many connections may be pending at once.
#[derive(Clone, Copy, Debug)]
pub struct PendingLimits {
    pub total: usize,
    pub per_address: usize,
}

impl Default for PendingLimits {
    fn default() -> Self {
        PendingLimits {
            total: 64,
            per_address: 8,
        }
    }
}

/// The gate: pending places, refusal summaries, wrong-token penalties.
pub struct Gate {
    limits: PendingLimits,
    state: Mutex<GateState>,
}

#[derive(Default)]
struct GateState {
    pending: usize,
    addresses: HashMap<IpAddr, AddressRecord>,
    /// Every pending place, oldest first.
    places: VecDeque<Place>,
    next_place: u64,
}

/// A pending place as the gate knows it.
struct Place {
    id: u64,
    key: IpAddr,
    /// Told when the place is taken away.
    evict: smol::channel::Sender<()>,
}

/// What the gate remembers of one address (or IPv6 /64).
#[derive(Clone, Copy)]
struct AddressRecord {
    pending: usize,
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
            pending: 0,
            seen: now,
            summary_from: None,
            logged_refusals: 0,
            unlogged_refusals: 0,
            wrong_tokens: 0,
            last_wrong_token: None,
        }
    }
}

/// A pending place, given back on drop, or taken away for a newer
/// connection when every place is held ([`Pending::evicted`]).
pub struct Pending {
    gate: Arc<Gate>,
    id: u64,
    evicted: smol::channel::Receiver<()>,
}

impl Pending {
    /// Returns when the place has gone to a newer connection: the
    /// connection holding it is then closed.
    pub async fn evicted(&self) {
        let _ = self.evicted.recv().await;
    }
}

/// Why the gate turns a connection away before it is pending.
#[derive(Debug, PartialEq, Eq)]
pub enum Full {
    Total(usize),
    ThisAddress(usize),
}

impl std::fmt::Display for Full {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Full::Total(limit) => {
                write!(f, "{limit} connections are already waiting to be admitted")
            }
            Full::ThisAddress(limit) => write!(
                f,
                "{limit} connections from this address are already waiting to be admitted"
            ),
        }
    }
}

/// The key an address is counted under: IPv4 (mapped ones too) as it is,
/// IPv6 by its /64.
fn key_of(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !(u64::MAX as u128)).into()),
        v4 => v4,
    }
}

impl Gate {
    pub fn new(limits: PendingLimits) -> Arc<Gate> {
        Arc::new(Gate {
            limits,
            state: Mutex::new(GateState::default()),
        })
    }

    /// A pending place for a connection from `address`, if its address
    /// has one left. When every place is held, the oldest place of the
    /// address holding the most is taken away for it: silent sockets from a
    /// few addresses, however many they open, cannot keep a sender out.
    pub fn enter(self: &Arc<Self>, address: IpAddr) -> Result<Pending, Full> {
        let key = key_of(address);
        let mut state = self.lock();
        let record = state.record(key, Instant::now());
        if record.pending >= self.limits.per_address {
            return Err(Full::ThisAddress(self.limits.per_address));
        }
        if state.pending >= self.limits.total && !state.evict_one() {
            return Err(Full::Total(self.limits.total));
        }
        state.take(key);
        let id = state.next_place;
        state.next_place += 1;
        let (evict, evicted) = smol::channel::bounded(1);
        state.places.push_back(Place { id, key, evict });
        Ok(Pending {
            gate: self.clone(),
            id,
            evicted,
        })
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
        self.lock().pending
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl GateState {
    /// Counts a place taken by `key`.
    fn take(&mut self, key: IpAddr) {
        self.pending += 1;
        if let Some(record) = self.addresses.get_mut(&key) {
            record.pending += 1;
        }
    }

    /// Gives back place `id` unless it was taken away already.
    fn give_back(&mut self, id: u64) {
        let Some(index) = self.places.iter().position(|place| place.id == id) else {
            return;
        };
        if let Some(place) = self.places.remove(index) {
            self.uncount(place.key);
        }
    }

    fn uncount(&mut self, key: IpAddr) {
        self.pending = self.pending.saturating_sub(1);
        if let Some(record) = self.addresses.get_mut(&key) {
            record.pending = record.pending.saturating_sub(1);
        }
    }

    /// Takes away the oldest place of the address holding the most;
    /// false if there is none.
    fn evict_one(&mut self) -> bool {
        let most = |key: &IpAddr| self.addresses.get(key).map_or(0, |record| record.pending);
        // Reversed: among addresses holding as many, the oldest place's.
        let Some(busiest) = self
            .places
            .iter()
            .rev()
            .map(|place| place.key)
            .max_by_key(most)
        else {
            return false;
        };
        let Some(index) = self.places.iter().position(|place| place.key == busiest) else {
            return false;
        };
        let Some(place) = self.places.remove(index) else {
            return false;
        };
        let _ = place.evict.try_send(());
        self.uncount(place.key);
        true
    }

    /// The record of `key`, made if needed; the stalest idle ones are
    /// forgotten when too many are known.
    fn record(&mut self, key: IpAddr, now: Instant) -> &mut AddressRecord {
        if !self.addresses.contains_key(&key) && self.addresses.len() >= MAX_ADDRESSES {
            let stalest = self
                .addresses
                .iter()
                .filter(|(_, record)| record.pending == 0)
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

impl Drop for Pending {
    fn drop(&mut self) {
        self.gate.lock().give_back(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn when_every_place_is_held_the_busiest_address_gives_its_oldest_up() {
        let gate = Gate::new(PendingLimits {
            total: 4,
            per_address: 2,
        });
        let squatters: Vec<Pending> = ["10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.3"]
            .iter()
            .map(|address| gate.enter(ip(address)).unwrap())
            .collect();
        assert_eq!(gate.pending(), 4);
        let newcomer = gate.enter(ip("10.0.0.9")).expect("a place is freed for it");
        assert_eq!(gate.pending(), 4);
        // 10.0.0.1 held two: its oldest went.
        assert!(squatters[0].evicted.try_recv().is_ok());
        assert!(squatters[1].evicted.try_recv().is_err());
        drop(squatters);
        assert_eq!(
            gate.pending(),
            1,
            "an evicted place is not given back twice"
        );
        drop(newcomer);
        assert_eq!(gate.pending(), 0);
    }

    #[test]
    fn pending_places_are_limited_in_total_and_per_address() {
        let gate = Gate::new(PendingLimits {
            total: 3,
            per_address: 2,
        });
        let a1 = gate.enter(ip("10.0.0.1")).unwrap();
        let _a2 = gate.enter(ip("::ffff:10.0.0.1")).unwrap();
        assert_eq!(gate.enter(ip("10.0.0.1")).err(), Some(Full::ThisAddress(2)));
        let _b = gate.enter(ip("10.0.0.2")).unwrap();
        let c = gate
            .enter(ip("10.0.0.3"))
            .expect("all held: 10.0.0.1, which holds the most, gives its oldest up");
        assert!(a1.evicted.try_recv().is_ok());
        drop(a1);
        assert_eq!(gate.pending(), 3);
        drop(c);
        assert_eq!(gate.pending(), 2);
        assert!(
            gate.enter(ip("10.0.0.1")).is_ok(),
            "a place given back is free again"
        );
    }

    #[test]
    fn ipv6_addresses_of_one_64_share_their_places() {
        let gate = Gate::new(PendingLimits {
            total: 10,
            per_address: 1,
        });
        let _first = gate.enter(ip("2001:db8:1:2::1")).unwrap();
        assert!(gate.enter(ip("2001:db8:1:2::ffff")).is_err());
        assert!(gate.enter(ip("2001:db8:1:3::1")).is_ok());
    }

    #[test]
    fn wrong_tokens_wait_longer_each_time_up_to_a_limit() {
        let gate = Gate::new(PendingLimits::default());
        let waits: Vec<Duration> = (0..12).map(|_| gate.penalise(ip("10.0.0.9"))).collect();
        assert_eq!(waits[0], FIRST_PENALTY);
        assert_eq!(waits[1], FIRST_PENALTY * 2);
        assert_eq!(*waits.last().unwrap(), MAX_PENALTY);
        assert_eq!(gate.penalise(ip("10.0.0.10")), FIRST_PENALTY, "per address");
    }

    #[test]
    fn the_gate_forgets_the_stalest_addresses_beyond_its_bound() {
        let gate = Gate::new(PendingLimits::default());
        for index in 0..(MAX_ADDRESSES as u32 + 100) {
            gate.refused(IpAddr::V4(index.into()), "peer", "test");
        }
        assert_eq!(gate.lock().addresses.len(), MAX_ADDRESSES);
    }
}
