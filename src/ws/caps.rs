//! How many sockets one credential may hold open on a node.
//!
//! Without a cap, one token (a guest's email link is enough) opened 1,000 sockets on a node
//! and could go on to its file limit. Staff devices get a generous cap (a shared front-desk
//! login on several screens, a phone and a tablet each); a guest's token, which only ever
//! drives one stay's page, a small one. The socket past the cap is accepted and closed at once
//! with 4429 (see `protocol::close`), so a browser learns why instead of seeing a failed
//! handshake. The count is per node: behind a balancer the cap holds per node.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use uuid::Uuid;

use crate::domain::Principal;

/// Open sockets per credential on this node.
#[derive(Debug)]
pub struct SocketCaps {
    open: Mutex<HashMap<Uuid, usize>>,
    staff: usize,
    guest: usize,
}

/// One counted socket; dropping it gives the place back.
#[derive(Debug)]
#[must_use = "the place is given back when this is dropped"]
pub struct Held {
    caps: Arc<SocketCaps>,
    key: Uuid,
}

impl SocketCaps {
    /// Caps for staff (and API keys) and for guest tokens; 0 means no cap.
    #[must_use]
    pub fn new(staff: usize, guest: usize) -> Arc<Self> {
        Arc::new(Self {
            open: Mutex::new(HashMap::new()),
            staff,
            guest,
        })
    }

    /// A place for one more socket of `who`, if it has one left.
    pub fn acquire(self: &Arc<Self>, who: &Principal) -> Option<Held> {
        let (key, cap) = match who {
            Principal::Staff { user_id, .. } => (*user_id, self.staff),
            Principal::ApiKey { key_id, .. } => (*key_id, self.staff),
            Principal::Guest { reservation_id, .. } => (*reservation_id, self.guest),
        };
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = open.entry(key).or_default();
        if cap != 0 && *n >= cap {
            if *n == 0 {
                open.remove(&key);
            }
            return None;
        }
        *n += 1;
        Some(Held {
            caps: Arc::clone(self),
            key,
        })
    }

    /// Sockets `key` holds open (for tests).
    #[must_use]
    pub fn open(&self, key: Uuid) -> usize {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut open = self
            .caps
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PropertyId;

    #[test]
    fn a_guest_gets_its_few_places_back_as_sockets_close() {
        let caps = SocketCaps::new(3, 2);
        let guest = Principal::Guest {
            reservation_id: Uuid::new_v4(),
            property: PropertyId::new(),
        };
        let a = caps.acquire(&guest).unwrap();
        let _b = caps.acquire(&guest).unwrap();
        assert!(caps.acquire(&guest).is_none());
        drop(a);
        let _c = caps.acquire(&guest).expect("a place again");
        // Another credential has its own count.
        let other = Principal::Guest {
            reservation_id: Uuid::new_v4(),
            property: PropertyId::new(),
        };
        assert!(caps.acquire(&other).is_some());
        // No cap at all.
        let free = SocketCaps::new(0, 0);
        let held: Vec<_> = (0..100).filter_map(|_| free.acquire(&guest)).collect();
        assert_eq!(held.len(), 100);
        drop(held);
        assert!(free.open.lock().unwrap().is_empty(), "nothing left behind");
    }
}
