//! The participants' public JWS keys: one `<fspId>.pem` per participant in
//! `JWS_VERIFICATION_KEYS_DIRECTORY` (Mojaloop's layout), loaded at start and re-read when the
//! directory's listing, a file's size or its modification time changed — checked every
//! `JWS_KEYS_RELOAD_INTERVAL_MS` off the runtime (a `stat` per file; keys are parsed only on a
//! change). Readers take the current map with one atomic increment; a reload swaps it whole.
//!
//! A file that is not a usable key (not PEM RSA ≥ 2048 bits or P-256) is logged and skipped, so
//! one bad upload does not take the other participants' keys away.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use ferroloop_fspiop::jws::VerifyingKey;
use tokio_util::sync::CancellationToken;

/// The keys by FSP id.
pub type Keys = HashMap<String, VerifyingKey>;

/// What identifies the directory's content without reading it: (file name, size, mtime).
type Fingerprint = Vec<(String, u64, Option<SystemTime>)>;

#[derive(Debug)]
pub struct KeyStore {
    dir: PathBuf,
    current: RwLock<(Arc<Keys>, Fingerprint)>,
}

impl KeyStore {
    /// Loads every `*.pem` of `dir`; fails only if the directory cannot be read.
    pub fn load(dir: PathBuf) -> std::io::Result<Self> {
        let fingerprint = fingerprint(&dir)?;
        let keys = read_keys(&dir, &fingerprint);
        Ok(Self {
            dir,
            current: RwLock::new((Arc::new(keys), fingerprint)),
        })
    }

    /// The current keys.
    pub fn keys(&self) -> Arc<Keys> {
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard.0),
            Err(poisoned) => Arc::clone(&poisoned.into_inner().0),
        }
    }

    pub fn len(&self) -> usize {
        self.keys().len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys().is_empty()
    }

    /// Re-reads the keys if the directory changed; returns whether it did. Blocking (file
    /// system): call it off the runtime.
    pub fn refresh(&self) -> std::io::Result<bool> {
        let fingerprint = fingerprint(&self.dir)?;
        let unchanged = match self.current.read() {
            Ok(guard) => guard.1 == fingerprint,
            Err(poisoned) => poisoned.into_inner().1 == fingerprint,
        };
        if unchanged {
            return Ok(false);
        }
        let keys = Arc::new(read_keys(&self.dir, &fingerprint));
        tracing::info!(keys = keys.len(), dir = %self.dir.display(), "JWS verification keys reloaded");
        let mut guard = match self.current.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = (keys, fingerprint);
        Ok(true)
    }
}

/// Checks the directory every `interval` until `shutdown`.
pub(crate) fn spawn_reload(store: Arc<KeyStore>, interval: Duration, shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate; the keys were just loaded.
        ticker.tick().await;
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                _ = ticker.tick() => {}
            }
            let store = Arc::clone(&store);
            match tokio::task::spawn_blocking(move || store.refresh()).await {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => {
                    tracing::warn!(%error, "JWS key directory unreadable; keeping the keys loaded")
                }
                Err(error) => tracing::warn!(%error, "JWS key reload task"),
            }
        }
    });
}

fn fingerprint(dir: &Path) -> std::io::Result<Fingerprint> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if !name.ends_with(".pem") {
            continue;
        }
        // A file removed between listing and stat simply drops out.
        let Ok(meta) = std::fs::metadata(entry.path()) else {
            continue;
        };
        if meta.is_file() {
            entries.push((name, meta.len(), meta.modified().ok()));
        }
    }
    entries.sort();
    Ok(entries)
}

fn read_keys(dir: &Path, fingerprint: &Fingerprint) -> Keys {
    let mut keys = Keys::with_capacity(fingerprint.len());
    for (name, _, _) in fingerprint {
        let Some(fsp) = name.strip_suffix(".pem").filter(|f| !f.is_empty()) else {
            continue;
        };
        let path = dir.join(name);
        let parsed = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|pem| VerifyingKey::from_pem(&pem).map_err(|e| e.to_string()));
        match parsed {
            Ok(key) => {
                keys.insert(fsp.to_owned(), key);
            }
            Err(reason) => {
                tracing::warn!(file = %path.display(), %reason, "JWS public key skipped");
            }
        }
    }
    keys
}
