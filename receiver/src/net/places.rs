//! Places for connections that have proved nothing yet, bounded in total
//! and per address, that squatters cannot all hold.
//!
//! A connection takes a [`Place`] before a byte of it is read. Places are
//! limited in total and per address (IPv6 by /64, which one host usually
//! has). When every place is held, a newcomer takes the oldest unproved
//! place of the address holding the most unproved ones, whose connection is
//! then closed ([`Place::evicted`]): silent sockets from a few addresses,
//! however many they open, cannot keep out a peer that proves itself in a
//! moment. A place that has proved itself ([`Place::prove`]: a web request
//! that showed the token) is never taken away; it counts until it is given
//! back. Senders give their place back once admitted; web connections keep
//! theirs for as long as they last. This type neither reads sockets nor
//! logs; its state is behind its methods.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use framewire_proto::lock::lock;

/// How many places there are.
#[derive(Clone, Copy, Debug)]
pub struct PlaceLimits {
    pub total: usize,
    pub per_address: usize,
}

/// Places, held and free.
pub struct Places {
    limits: PlaceLimits,
    state: Mutex<PlacesState>,
}

#[derive(Default)]
struct PlacesState {
    /// Every place held, oldest first.
    held: VecDeque<Held>,
    next_id: u64,
}

/// A held place as [`Places`] knows it.
struct Held {
    id: u64,
    key: IpAddr,
    proved: bool,
    /// Told when the place is taken away.
    evict: smol::channel::Sender<()>,
}

/// A place, given back on drop, or taken away for a newer connection
/// while unproved ([`Place::evicted`]).
pub struct Place {
    places: Arc<Places>,
    id: u64,
    evicted: smol::channel::Receiver<()>,
}

/// Why a connection gets no place.
#[derive(Debug, PartialEq, Eq)]
pub enum Full {
    /// Every place is held by a connection that proved itself.
    Total(usize),
    ThisAddress(usize),
}

impl std::fmt::Display for Full {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Full::Total(limit) => write!(f, "{limit} connections are already open or waiting"),
            Full::ThisAddress(limit) => write!(
                f,
                "{limit} connections from this address are already open or waiting"
            ),
        }
    }
}

/// The key an address is counted under: IPv4 (mapped ones too) as it is,
/// IPv6 by its /64.
pub fn key_of(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !(u64::MAX as u128)).into()),
        v4 => v4,
    }
}

impl Places {
    pub fn new(limits: PlaceLimits) -> Arc<Places> {
        Arc::new(Places {
            limits,
            state: Mutex::new(PlacesState::default()),
        })
    }

    /// A place for a connection from `address`, if its address has one
    /// left; when every place is held, an unproved one is taken away for
    /// it (see the module's note).
    pub fn enter(self: &Arc<Self>, address: IpAddr) -> Result<Place, Full> {
        let key = key_of(address);
        let mut state = self.lock();
        if state.held.iter().filter(|held| held.key == key).count() >= self.limits.per_address {
            return Err(Full::ThisAddress(self.limits.per_address));
        }
        if state.held.len() >= self.limits.total && !state.evict_one() {
            return Err(Full::Total(self.limits.total));
        }
        let id = state.next_id;
        state.next_id += 1;
        let (evict, evicted) = smol::channel::bounded(1);
        state.held.push_back(Held {
            id,
            key,
            proved: false,
            evict,
        });
        Ok(Place {
            places: self.clone(),
            id,
            evicted,
        })
    }

    /// Places held now (for the log and tests).
    pub fn held(&self) -> usize {
        self.lock().held.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PlacesState> {
        lock(&self.state)
    }
}

impl PlacesState {
    /// Takes away the oldest unproved place of the address holding the
    /// most unproved places; false if there is none.
    fn evict_one(&mut self) -> bool {
        let mut unproved: HashMap<IpAddr, usize> = HashMap::new();
        for held in self.held.iter().filter(|held| !held.proved) {
            *unproved.entry(held.key).or_default() += 1;
        }
        // Reversed: among addresses holding as many, the oldest place's.
        let Some(busiest) = self
            .held
            .iter()
            .rev()
            .filter(|held| !held.proved)
            .max_by_key(|held| unproved[&held.key])
            .map(|held| held.key)
        else {
            return false;
        };
        let Some(index) = self
            .held
            .iter()
            .position(|held| !held.proved && held.key == busiest)
        else {
            return false;
        };
        if let Some(held) = self.held.remove(index) {
            let _ = held.evict.try_send(());
        }
        true
    }

    fn position(&self, id: u64) -> Option<usize> {
        self.held.iter().position(|held| held.id == id)
    }
}

impl Place {
    /// Returns when the place has gone to a newer connection: the
    /// connection holding it is then closed.
    pub async fn evicted(&self) {
        let _ = self.evicted.recv().await;
    }

    /// The connection has proved itself: its place is no longer taken
    /// away for newcomers.
    pub fn prove(&self) {
        let mut state = self.places.lock();
        if let Some(index) = state.position(self.id) {
            state.held[index].proved = true;
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut state = self.places.lock();
        if let Some(index) = state.position(self.id) {
            state.held.remove(index);
        }
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
        let places = Places::new(PlaceLimits {
            total: 4,
            per_address: 2,
        });
        let squatters: Vec<Place> = ["10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.3"]
            .iter()
            .map(|address| places.enter(ip(address)).unwrap())
            .collect();
        assert_eq!(places.held(), 4);
        let newcomer = places
            .enter(ip("10.0.0.9"))
            .expect("a place is freed for it");
        assert_eq!(places.held(), 4);
        // 10.0.0.1 held two: its oldest went.
        assert!(squatters[0].evicted.try_recv().is_ok());
        assert!(squatters[1].evicted.try_recv().is_err());
        drop(squatters);
        assert_eq!(places.held(), 1, "an evicted place is not given back twice");
        drop(newcomer);
        assert_eq!(places.held(), 0);
    }

    #[test]
    fn places_are_limited_in_total_and_per_address() {
        let places = Places::new(PlaceLimits {
            total: 3,
            per_address: 2,
        });
        let a1 = places.enter(ip("10.0.0.1")).unwrap();
        let _a2 = places.enter(ip("::ffff:10.0.0.1")).unwrap();
        assert_eq!(
            places.enter(ip("10.0.0.1")).err(),
            Some(Full::ThisAddress(2))
        );
        let _b = places.enter(ip("10.0.0.2")).unwrap();
        let c = places
            .enter(ip("10.0.0.3"))
            .expect("all held: 10.0.0.1, which holds the most, gives its oldest up");
        assert!(a1.evicted.try_recv().is_ok());
        drop(a1);
        assert_eq!(places.held(), 3);
        drop(c);
        assert_eq!(places.held(), 2);
        assert!(
            places.enter(ip("10.0.0.1")).is_ok(),
            "a place given back is free again"
        );
    }

    #[test]
    fn a_proved_place_is_never_taken_away() {
        let places = Places::new(PlaceLimits {
            total: 3,
            per_address: 3,
        });
        let proved: Vec<Place> = (0..2)
            .map(|_| places.enter(ip("10.0.0.1")).unwrap())
            .collect();
        proved.iter().for_each(Place::prove);
        let squatter = places.enter(ip("10.0.0.2")).unwrap();
        let newcomer = places
            .enter(ip("10.0.0.3"))
            .expect("the one unproved place goes, though its address holds fewer");
        assert!(squatter.evicted.try_recv().is_ok());
        assert!(proved.iter().all(|place| place.evicted.try_recv().is_err()));
        newcomer.prove();
        assert_eq!(
            places.enter(ip("10.0.0.4")).err(),
            Some(Full::Total(3)),
            "every place proved: none to take"
        );
    }

    #[test]
    fn ipv6_addresses_of_one_64_share_their_places() {
        let places = Places::new(PlaceLimits {
            total: 10,
            per_address: 1,
        });
        let _first = places.enter(ip("2001:db8:1:2::1")).unwrap();
        assert!(places.enter(ip("2001:db8:1:2::ffff")).is_err());
        assert!(places.enter(ip("2001:db8:1:3::1")).is_ok());
    }
}
