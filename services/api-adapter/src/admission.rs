//! Per-DFSP admission: at most `FSPIOP_MAX_IN_FLIGHT_PER_FSP` requests of one sender in flight.
//!
//! The adapter's capacity (`FSPIOP_MAX_CONCURRENT_REQUESTS`, the producer's queue) is shared by
//! every DFSP. Without a per-DFSP bound, one DFSP that floods the API — many requests, or requests
//! that hold their place with slow bodies — takes all of it and the others' requests wait behind
//! its own. With it, that DFSP's excess is answered at once with 503 / 2003 and `Retry-After`,
//! and the rest of the capacity stays with the others.
//!
//! The key is the **authenticated** sender (the principal): keying by a `FSPIOP-Source` nobody
//! vouched for would let a stranger use up a victim's share. The admission is therefore taken as
//! soon as the sender is known — right after the header checks with mTLS, a gateway, or no
//! authentication at all; after the signature verified where JWS is what authenticates.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use ferroloop_core::error::{ErrorCode, FspiopError};

/// In-flight requests per sender.
#[derive(Debug)]
pub struct Admission {
    limit: usize,
    in_flight: Mutex<HashMap<String, usize>>,
}

/// One admitted request; dropping it (the request ended, however) frees the place.
#[derive(Debug)]
pub struct Admitted {
    admission: Arc<Admission>,
    fsp: String,
}

impl Admission {
    /// `limit` requests per sender (at least 1).
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit: limit.max(1),
            in_flight: Mutex::new(HashMap::new()),
        })
    }

    /// A place for one request of `fsp`, or `None` when `fsp` has `limit` in flight.
    pub fn try_admit(self: &Arc<Self>, fsp: &str) -> Option<Admitted> {
        let mut in_flight = self.lock();
        let count = in_flight.entry(fsp.to_owned()).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(Admitted {
            admission: Arc::clone(self),
            fsp: fsp.to_owned(),
        })
    }

    /// Requests of `fsp` in flight.
    pub fn in_flight(&self, fsp: &str) -> usize {
        self.lock().get(fsp).copied().unwrap_or(0)
    }

    /// Senders with requests in flight (entries go when their count returns to 0, so the map
    /// holds only senders with requests in flight).
    pub fn senders(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        // Counts stay consistent even if a holder panicked: each update is one statement.
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut in_flight = self.admission.lock();
        if let Some(count) = in_flight.get_mut(&self.fsp) {
            *count -= 1;
            if *count == 0 {
                in_flight.remove(&self.fsp);
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

    #[test]
    fn each_sender_has_its_own_limit_and_places_come_back() {
        let admission = Admission::new(2);
        let a1 = admission.try_admit("a").unwrap();
        let a2 = admission.try_admit("a").unwrap();
        assert!(admission.try_admit("a").is_none());
        // Another sender is not affected.
        let b = admission.try_admit("b").unwrap();
        assert_eq!((admission.in_flight("a"), admission.in_flight("b")), (2, 1));
        drop(a1);
        let a3 = admission.try_admit("a").unwrap();
        drop((a2, a3, b));
        assert_eq!(admission.senders(), 0, "no entry outlives its requests");
        // Names compare exactly.
        let _upper = admission.try_admit("A").unwrap();
        assert_eq!(admission.in_flight("a"), 0);
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
