//! The participants' public JWS keys, in memory: the request path reads the current map with one
//! lock-free-in-practice read (an `RwLock` held for an `Arc` clone) and never touches a file or the
//! database (docs/fspiop-api.md#signatures-jws). A background task refreshes the map from one of
//! two sources (`JWS_KEYS_SOURCE`), every `JWS_KEYS_RELOAD_INTERVAL_MS`:
//!
//! - **database** — the keys registered through the admin API (`PUT /participants/{name}/jwsKey`,
//!   table `participant_jws_key`). Each tick reads only the admin change epoch (one primary-key
//!   row); the keys are read again only when it moved, which every admin change — a key rotation
//!   included — does. A rotated key is therefore in use at most one interval after its commit.
//! - **directory** — Mojaloop's layout: one `<fspId>.pem` per participant in
//!   `JWS_VERIFICATION_KEYS_DIRECTORY`, re-read when the listing, a file's size or its
//!   modification time changed (a `stat` per file per tick, off the runtime).
//!
//! A key that is not usable (not PEM RSA ≥ 2048 bits or P-256) is logged and skipped, so one bad
//! entry does not take the other participants' keys away. A source that cannot be read keeps the
//! keys loaded (logged); at start-up it is an error.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use ferroloop_fspiop::jws::VerifyingKey;
use ferroloop_store::{DatabaseArgs, MySqlPool, StoreError};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The keys by FSP id.
pub type Keys = HashMap<String, VerifyingKey>;

/// The current keys, shared by the request path and the refresh task.
#[derive(Debug)]
pub struct KeyStore {
    current: RwLock<Arc<Keys>>,
    /// Bumped on every replacement (tests and operators wait on it instead of sleeping).
    generation: watch::Sender<u64>,
}

impl KeyStore {
    pub fn new(keys: Keys) -> Self {
        Self {
            current: RwLock::new(Arc::new(keys)),
            generation: watch::Sender::new(0),
        }
    }

    /// The current keys.
    pub fn keys(&self) -> Arc<Keys> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    pub fn len(&self) -> usize {
        self.keys().len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys().is_empty()
    }

    /// Notified after every reload.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    fn replace(&self, keys: Keys) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keys);
        self.generation.send_modify(|g| *g += 1);
    }
}

/// Where the keys come from (`JWS_KEYS_SOURCE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KeySourceKind {
    /// `participant_jws_key`, written by the admin API.
    Database,
    /// `<fspId>.pem` files in `JWS_VERIFICATION_KEYS_DIRECTORY`.
    Directory,
}

/// Why the keys could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeySourceError {
    #[error("JWS key directory {0}: {1}")]
    Directory(PathBuf, std::io::Error),
    #[error("JWS keys from the database: {0}")]
    Database(#[from] StoreError),
}

/// A source and what it last saw.
#[derive(Debug)]
pub enum KeySource {
    Directory {
        dir: PathBuf,
        seen: DirectoryFingerprint,
    },
    Database {
        pool: MySqlPool,
        epoch: u64,
    },
}

/// What identifies the directory's content without reading it: (file name, size, mtime).
pub type DirectoryFingerprint = Vec<(String, u64, Option<SystemTime>)>;

impl KeySource {
    /// Opens the directory and loads its keys.
    pub fn directory(dir: PathBuf) -> Result<(Self, Keys), KeySourceError> {
        let seen = fingerprint(&dir).map_err(|e| KeySourceError::Directory(dir.clone(), e))?;
        let keys = read_directory(&dir, &seen);
        Ok((KeySource::Directory { dir, seen }, keys))
    }

    /// Connects (a small pool of its own: one query per interval) and loads the keys.
    pub async fn database(database_url: &str) -> Result<(Self, Keys), KeySourceError> {
        let mut args = DatabaseArgs::for_url(database_url);
        args.database_max_connections = 2;
        let pool = ferroloop_store::connect(&args).await?;
        let mut conn = pool.acquire().await.map_err(StoreError::from)?;
        let (epoch, rows) = ferroloop_store::jws_keys::all_jws_keys(&mut conn).await?;
        drop(conn);
        Ok((KeySource::Database { pool, epoch }, parse_rows(rows)))
    }

    /// New keys if the source changed since it was last read.
    async fn changed(self) -> (Self, Result<Option<Keys>, KeySourceError>) {
        match self {
            KeySource::Directory { dir, seen } => {
                let (task_dir, task_seen) = (dir.clone(), seen.clone());
                let task = tokio::task::spawn_blocking(move || match fingerprint(&task_dir) {
                    Ok(now) if now == task_seen => Ok((None, now)),
                    Ok(now) => Ok((Some(read_directory(&task_dir, &now)), now)),
                    Err(e) => Err(KeySourceError::Directory(task_dir, e)),
                });
                match task.await {
                    Ok(Ok((keys, now))) => (KeySource::Directory { dir, seen: now }, Ok(keys)),
                    Ok(Err(error)) => (KeySource::Directory { dir, seen }, Err(error)),
                    Err(join) => (
                        KeySource::Directory {
                            dir: dir.clone(),
                            seen,
                        },
                        Err(KeySourceError::Directory(
                            dir,
                            std::io::Error::other(join.to_string()),
                        )),
                    ),
                }
            }
            KeySource::Database { pool, epoch } => {
                let result = read_database(&pool, epoch).await;
                match result {
                    Ok(Some((new_epoch, keys))) => (
                        KeySource::Database {
                            pool,
                            epoch: new_epoch,
                        },
                        Ok(Some(keys)),
                    ),
                    Ok(None) => (KeySource::Database { pool, epoch }, Ok(None)),
                    Err(error) => (KeySource::Database { pool, epoch }, Err(error)),
                }
            }
        }
    }
}

async fn read_database(pool: &MySqlPool, seen: u64) -> Result<Option<(u64, Keys)>, KeySourceError> {
    let mut conn = pool.acquire().await.map_err(StoreError::from)?;
    if ferroloop_store::jws_keys::current_epoch(&mut conn).await? == seen {
        return Ok(None);
    }
    let (epoch, rows) = ferroloop_store::jws_keys::all_jws_keys(&mut conn).await?;
    Ok(Some((epoch, parse_rows(rows))))
}

fn parse_rows(rows: Vec<(String, String)>) -> Keys {
    let mut keys = Keys::with_capacity(rows.len());
    for (fsp, pem) in rows {
        match VerifyingKey::from_pem(&pem) {
            Ok(key) => {
                keys.insert(fsp, key);
            }
            Err(reason) => {
                tracing::warn!(participant = %fsp, %reason, "stored JWS public key skipped");
            }
        }
    }
    keys
}

/// Refreshes `store` from `source` every `interval` until `shutdown`.
pub(crate) fn spawn_reload(
    store: Arc<KeyStore>,
    mut source: KeySource,
    interval: Duration,
    shutdown: CancellationToken,
) {
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
            let (next, result) = source.changed().await;
            source = next;
            match result {
                Ok(Some(keys)) => {
                    tracing::info!(keys = keys.len(), "JWS verification keys reloaded");
                    store.replace(keys);
                }
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(%error, "JWS keys unreadable; keeping the keys loaded");
                }
            }
        }
    });
}

fn fingerprint(dir: &Path) -> std::io::Result<DirectoryFingerprint> {
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

fn read_directory(dir: &Path, fingerprint: &DirectoryFingerprint) -> Keys {
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
