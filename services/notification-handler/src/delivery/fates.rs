//! What this process knows of the callbacks it hands over with a durable retry (`crate::retry`):
//! still its own, or settled. The retry topic's records ask it before they act, so a callback
//! this process still works on is not sent a second time from its record.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// A tracked callback's fate in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Still this process's (on the wire, waiting for its retry, a slot or its DFSP's circuit),
    /// after `attempts` attempts in all.
    Pending { attempts: u32 },
    /// Not held here after `attempts` attempts: its DFSP's queue (or the queue of all) was full,
    /// so it waits on the retry topic instead, and its record resumes it.
    Deferred { attempts: u32 },
    /// Finished here (delivered, refused, given up, dropped): no record of it is needed.
    Settled,
}

/// The fates of the tracked callbacks, by record id. An entry lives from the hand-over until
/// the callback settles within its batch, or until a record of it finds it settled; so it is
/// bounded by the callbacks in flight and waiting (`CALLBACK_RETRY_QUEUE_CAPACITY`).
#[derive(Debug, Default)]
pub(crate) struct Fates(Mutex<HashMap<Arc<str>, Fate>>);

impl Fates {
    fn map(&self) -> MutexGuard<'_, HashMap<Arc<str>, Fate>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn track(&self, id: &Arc<str>, attempts: u32) {
        self.map()
            .insert(Arc::clone(id), Fate::Pending { attempts });
    }

    /// Records an attempt of a callback still tracked and pending.
    pub(crate) fn attempted(&self, id: &str, attempts: u32) {
        if let Some(fate @ Fate::Pending { .. }) = self.map().get_mut(id) {
            *fate = Fate::Pending { attempts };
        }
    }

    pub(crate) fn defer(&self, id: &str, attempts: u32) {
        if let Some(fate) = self.map().get_mut(id) {
            *fate = Fate::Deferred { attempts };
        }
    }

    pub(crate) fn settle(&self, id: &str) {
        if let Some(fate) = self.map().get_mut(id) {
            *fate = Fate::Settled;
        }
    }

    pub(crate) fn get(&self, id: &str) -> Option<Fate> {
        self.map().get(id).copied()
    }

    pub(crate) fn forget(&self, id: &str) {
        self.map().remove(id);
    }
}
