//! A value built from files and rebuilt when they change.
//!
//! Change detection is a `stat` per file (size and modification time) every interval — no
//! inotify, so it works the same on Kubernetes Secret volumes (whose files are swapped through
//! symlinks; `metadata` follows them) and on plain files. A rebuild that fails (a rotation caught
//! half-written: new certificate, old key) keeps the current value and is tried again on the next
//! tick; the failure is logged once per distinct file state.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::TlsError;

/// What identifies the files' content without reading them: (size, mtime) per path, `None` for
/// a file that cannot be stat'ed.
pub type Fingerprint = Vec<Option<(u64, Option<SystemTime>)>>;

type Build<T> = Box<dyn Fn() -> Result<T, TlsError> + Send + Sync>;

/// The current value and how to rebuild it.
pub struct Reloading<T> {
    what: &'static str,
    paths: Vec<PathBuf>,
    build: Build<T>,
    current: RwLock<Arc<T>>,
    /// The fingerprint of the current value, and of the last state that failed to build.
    seen: Mutex<(Fingerprint, Option<Fingerprint>)>,
    generation: watch::Sender<u64>,
}

impl<T> std::fmt::Debug for Reloading<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloading")
            .field("what", &self.what)
            .field("paths", &self.paths)
            .field("generation", &*self.generation.borrow())
            .finish_non_exhaustive()
    }
}

fn fingerprint(paths: &[PathBuf]) -> Fingerprint {
    paths
        .iter()
        .map(|p| {
            std::fs::metadata(p)
                .ok()
                .map(|m| (m.len(), m.modified().ok()))
        })
        .collect()
}

impl<T: Send + Sync + 'static> Reloading<T> {
    /// Builds the first value (its failure is the caller's start-up error).
    pub fn new(
        what: &'static str,
        paths: Vec<PathBuf>,
        build: impl Fn() -> Result<T, TlsError> + Send + Sync + 'static,
    ) -> Result<Self, TlsError> {
        let seen = fingerprint(&paths);
        let value = build()?;
        Ok(Self {
            what,
            paths,
            build: Box::new(build),
            current: RwLock::new(Arc::new(value)),
            seen: Mutex::new((seen, None)),
            generation: watch::Sender::new(0),
        })
    }

    /// The current value.
    pub fn current(&self) -> Arc<T> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// How many rebuilds succeeded so far.
    pub fn generation(&self) -> u64 {
        *self.generation.borrow()
    }

    /// Bumped on every successful rebuild (tests and callers wait on it instead of sleeping).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// Rebuilds if a file changed; returns whether the value was replaced. Blocking (file
    /// system): call it off the runtime.
    pub fn refresh(&self) -> bool {
        let now = fingerprint(&self.paths);
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.0 == now || seen.1.as_ref() == Some(&now) {
            return false;
        }
        match (self.build)() {
            Ok(value) => {
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(value);
                *seen = (now, None);
                self.generation.send_modify(|g| *g += 1);
                tracing::info!(
                    what = self.what,
                    "TLS files changed; configuration reloaded"
                );
                true
            }
            Err(error) => {
                tracing::warn!(what = self.what, %error,
                    "TLS files changed but do not build; keeping the current configuration");
                seen.1 = Some(now);
                false
            }
        }
    }
}

/// Checks the files every `interval` until `shutdown`.
pub fn spawn_reload<T: Send + Sync + 'static>(
    reloading: Arc<Reloading<T>>,
    interval: Duration,
    shutdown: CancellationToken,
) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(1)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate; the value was just built.
        ticker.tick().await;
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                _ = ticker.tick() => {}
            }
            let reloading = Arc::clone(&reloading);
            if let Err(error) = tokio::task::spawn_blocking(move || reloading.refresh()).await {
                tracing::warn!(%error, "TLS reload task");
            }
        }
    });
}
