//! Per-DFSP admission: at most `FSPIOP_MAX_IN_FLIGHT_PER_FSP` requests of one sender in flight.
//!
//! The adapter's capacity (`FSPIOP_MAX_CONCURRENT_REQUESTS`, the producer's queue) is shared by
//! every DFSP. Without a per-DFSP bound, one DFSP that floods the API — many requests, or requests
//! that hold their place with slow bodies — takes all of it and the others' requests wait behind
//! its own. With it, that DFSP's excess is answered at once with 503 / 2003 and `Retry-After`,
//! and the rest of the capacity stays with the others.
//!
//! The key is the **authenticated** sender (the principal: the source and how it was
//! established): keying by a `FSPIOP-Source` nobody vouched for would let a stranger use up a
//! victim's share. The admission is therefore taken as soon as the sender is known — right after
//! the header checks with mTLS, a gateway, or no authentication at all; after the signature
//! verified where JWS is what authenticates. Requests whose source nobody established (a GET
//! where only signatures authenticate: FSPIOP GETs are unsigned) count apart from the same name's
//! authenticated ones, so a stranger naming a victim can at most crowd the victim's unsigned
//! requests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use ferroloop_core::error::{ErrorCode, FspiopError};
use ferroloop_messaging::{Authentication, Principal};

/// A sender: its name and how it was established.
type Key = (Authentication, String);

/// In-flight requests per sender.
#[derive(Debug)]
pub struct Admission {
    limit: usize,
    in_flight: Mutex<HashMap<Key, usize>>,
}

/// One admitted request; dropping it (the request ended, however) frees the place.
#[derive(Debug)]
pub struct Admitted {
    admission: Arc<Admission>,
    key: Key,
}

impl Admission {
    /// `limit` requests per sender (at least 1).
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit: limit.max(1),
            in_flight: Mutex::new(HashMap::new()),
        })
    }

    /// A place for one request of `sender`, or `None` when it has `limit` in flight.
    pub fn try_admit(self: &Arc<Self>, sender: &Principal) -> Option<Admitted> {
        let key = (sender.authenticated_by, sender.fsp.clone());
        let mut in_flight = self.lock();
        let count = in_flight.entry(key.clone()).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(Admitted {
            admission: Arc::clone(self),
            key,
        })
    }

    /// Requests of `sender` in flight.
    pub fn in_flight(&self, sender: &Principal) -> usize {
        let key = (sender.authenticated_by, sender.fsp.clone());
        self.lock().get(&key).copied().unwrap_or(0)
    }

    /// Senders with requests in flight (entries go when their count returns to 0, so the map
    /// holds only senders with requests in flight).
    pub fn senders(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, usize>> {
        // Counts stay consistent even if a holder panicked: each update is one statement.
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut in_flight = self.admission.lock();
        if let Some(count) = in_flight.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                in_flight.remove(&self.key);
            }
        }
    }
}

/// 503 / 2003 for a sender over its limit.
pub fn busy(fsp: &str) -> FspiopError {
    FspiopError::with_detail(
        ErrorCode::SERVICE_CURRENTLY_UNAVAILABLE,
        format!("Too many requests in flight from {fsp}; retry later"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mtls(fsp: &str) -> Principal {
        Principal::new(fsp, Authentication::Mtls)
    }

    #[test]
    fn each_sender_has_its_own_limit_and_places_come_back() {
        let admission = Admission::new(2);
        let a = mtls("a");
        let a1 = admission.try_admit(&a).unwrap();
        let a2 = admission.try_admit(&a).unwrap();
        assert!(admission.try_admit(&a).is_none());
        // Another sender is not affected.
        let b = admission.try_admit(&mtls("b")).unwrap();
        assert_eq!(
            (admission.in_flight(&a), admission.in_flight(&mtls("b"))),
            (2, 1)
        );
        drop(a1);
        let a3 = admission.try_admit(&a).unwrap();
        drop((a2, a3, b));
        assert_eq!(admission.senders(), 0, "no entry outlives its requests");
        // Names compare exactly.
        let _upper = admission.try_admit(&mtls("A")).unwrap();
        assert_eq!(admission.in_flight(&a), 0);
    }

    /// A source nobody established does not use up the places of the same name's authenticated
    /// requests.
    #[test]
    fn unauthenticated_requests_count_apart() {
        let admission = Admission::new(1);
        let signed = Principal::new("a", Authentication::Jws);
        let claimed = Principal::new("a", Authentication::None);
        let _stranger = admission.try_admit(&claimed).unwrap();
        assert!(admission.try_admit(&claimed).is_none());
        assert!(admission.try_admit(&signed).is_some());
    }

    #[test]
    fn busy_is_503_2003() {
        let e = busy("payerfsp");
        assert_eq!(e.http_status(), 503);
        assert_eq!(
            e.description(),
            "Service currently unavailable - Too many requests in flight from payerfsp; retry later"
        );
    }
}
