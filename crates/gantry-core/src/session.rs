//! The session: one database, and the checkpoints run against it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use gantry_crypto::{KeyFile, Sealer};
use gantry_store::Store;

use crate::error::{GantryError, Result};
use crate::progress::{NoProgress, Progress, SharedProgress};
use crate::settings::Config;

/// A Gantry session: the database every checkpoint reads and writes, and how work is run.
///
/// Open one with [`Session::builder`] (or [`Session::open`] to resume an existing
/// database); each checkpoint is a method returning a typed report.
pub struct Session {
    pub(crate) store: Store,
    pub(crate) config: Option<crate::settings::Config>,
    pub(crate) progress: SharedProgress,
    pub(crate) sidecar: Option<gantry_store::PixelSidecar>,
    pub(crate) sealing: Option<Sealing>,
    /// Patients' identities, with the data generation they were collected at.
    pub(crate) prepared: Option<(u64, Arc<crate::prepared::Prepared>)>,
    /// Bumped whenever the original headers may have changed (ingest).
    pub(crate) generation: u64,
    /// Whether ingest follows symbolic links that leave its roots.
    pub(crate) follow_links: bool,
    /// Which copy ingest keeps of a SOP Instance UID two different files hold.
    pub(crate) uid_conflict: crate::settings::UidConflict,
    /// The part of the dump this session works on (`None`: all of it).
    pub(crate) shard: Option<crate::shard::Shard>,
    pool: Option<Arc<rayon::ThreadPool>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("database", &self.store.path())
            .finish_non_exhaustive()
    }
}

/// Key of the project secret in the store's meta table.
const SECRET_KEY: &str = "project.secret";
/// Key of the session's shard (`i/N`) in the store's meta table.
const SHARD_KEY: &str = "shard";

/// Key of the loaded configuration's text in the store's meta table.
pub(crate) const CONFIG_KEY: &str = "config.yaml";
/// Key of the loaded configuration's path in the store's meta table.
pub(crate) const CONFIG_PATH_KEY: &str = "config.path";

/// Key of the sealing key's identifier in the store's meta table: once set, anonymize
/// refuses to change an instance whose originals are not sealed for that key.
pub(crate) const SEALING_KEY_ID: &str = "sealing.key_id";

/// The key (and password) a session seals with. Never stored in the database.
pub(crate) struct Sealing {
    pub key: KeyFile,
    pub sealer: Sealer,
}

/// Builds a [`Session`]; see [`Session::builder`].
#[must_use]
pub struct SessionBuilder {
    database: PathBuf,
    progress: SharedProgress,
    threads: Option<usize>,
    secret: Option<crate::pseudonym::Secret>,
    follow_links: bool,
    uid_conflict: crate::settings::UidConflict,
    shard: Option<crate::shard::Shard>,
}

impl Session {
    /// A builder with the defaults: database `gantry.db` in the current folder, no progress
    /// reporting, all cores.
    pub fn builder() -> SessionBuilder {
        SessionBuilder {
            database: PathBuf::from("gantry.db"),
            progress: Arc::new(NoProgress),
            threads: None,
            secret: None,
            follow_links: false,
            uid_conflict: Default::default(),
            shard: None,
        }
    }

    /// The shard this session works on (`None`: the whole dump). Ingest indexes only the
    /// files of its patients; export describes it in `dataset.json` for `gantry merge`.
    pub fn shard(&self) -> Option<crate::shard::Shard> {
        self.shard
    }

    /// Opens (or resumes) the session stored in `database`.
    pub fn open(database: impl AsRef<Path>) -> Result<Session> {
        Session::builder().database(database).open()
    }

    /// The database file.
    pub fn database(&self) -> &Path {
        self.store.path()
    }

    /// Read access to the underlying store, for queries the session does not wrap.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Makes everything done so far durable in the database file itself.
    ///
    /// Every checkpoint already commits its work as it goes, so a crash loses at most the
    /// batch in flight; `save` also folds the write-ahead log into the main file.
    pub fn save(&mut self) -> Result<()> {
        self.store.checkpoint()?;
        Ok(())
    }

    /// Streams every instance through `work` in parallel, a batch at a time, and hands each
    /// batch's results (in row order) to `write` on this thread. While one batch is being
    /// written, the next is already being worked on. Memory holds two batches.
    pub(crate) fn for_each_instance<T: Send>(
        &mut self,
        stage: &str,
        work: impl Fn(&gantry_store::StoredInstance) -> T + Sync,
        write: impl FnMut(&mut Store, Vec<(gantry_store::StoredInstance, T)>) -> Result<()>,
    ) -> Result<()> {
        self.for_each_instance_in(stage, 256, work, write)
    }

    /// [`Session::for_each_instance`] with batches of `batch` instances (larger batches
    /// amortise a costly per-batch step, such as a file system sync).
    pub(crate) fn for_each_instance_in<T: Send>(
        &mut self,
        stage: &str,
        batch_size: usize,
        work: impl Fn(&gantry_store::StoredInstance) -> T + Sync,
        mut write: impl FnMut(&mut Store, Vec<(gantry_store::StoredInstance, T)>) -> Result<()>,
    ) -> Result<()> {
        use rayon::prelude::*;
        let batch_size = batch_size.max(1);
        type Done<T> = Vec<(gantry_store::StoredInstance, T)>;
        let total = self.store.instance_count()?;
        self.progress.begin(stage, Some(total));
        let process = |batch: Vec<gantry_store::StoredInstance>| -> Done<T> {
            let run = || {
                batch
                    .into_par_iter()
                    .map(|i| {
                        let t = work(&i);
                        (i, t)
                    })
                    .collect()
            };
            match &self.pool {
                Some(pool) => pool.install(run),
                None => run(),
            }
        };
        // Three batches move at once: the next one is read from the database and the
        // last one written to it (this thread, one connection) while the current one is
        // worked on (the pool).
        let mut after = 0;
        let mut pending: Option<Done<T>> = None;
        let mut batch = self.store.instances_after(after, batch_size)?;
        let result = loop {
            if let Some(last) = batch.last() {
                after = last.record.id;
            }
            let store = &mut self.store;
            let previous = pending.take();
            let current = std::mem::take(&mut batch);
            let (done, main) = std::thread::scope(|scope| {
                let worker = (!current.is_empty()).then(|| scope.spawn(|| process(current)));
                let main = (|| -> Result<(u64, Vec<gantry_store::StoredInstance>)> {
                    let n = match previous {
                        Some(done) => {
                            let n = done.len() as u64;
                            write(store, done)?;
                            n
                        }
                        None => 0,
                    };
                    let next = if worker.is_some() {
                        store.instances_after(after, batch_size)?
                    } else {
                        Vec::new()
                    };
                    Ok((n, next))
                })();
                (worker.map(|w| w.join()), main)
            });
            match main {
                Ok((n, next)) => {
                    self.progress.advance(n);
                    batch = next;
                }
                Err(e) => break Err(e),
            }
            match done {
                None => break Ok(()),
                Some(Ok(done)) => pending = Some(done),
                // A panic in `work` is a bug; let it surface as one.
                Some(Err(panic)) => std::panic::resume_unwind(panic),
            }
        };
        self.progress.finish();
        result
    }

    /// The project secret: the one stored with the session, or a new one (stored).
    pub(crate) fn secret(&mut self) -> Result<crate::pseudonym::Secret> {
        if let Some(bytes) = self.store.meta_get(SECRET_KEY)? {
            return crate::pseudonym::Secret::from_bytes(&bytes)
                .ok_or_else(|| GantryError::Secret(crate::error::SecretError::Damaged));
        }
        let secret = crate::pseudonym::Secret::generate()?;
        self.store.meta_set(SECRET_KEY, secret.bytes())?;
        Ok(secret)
    }

    /// The session's own thread pool, when the builder asked for a thread count.
    pub(crate) fn pool_handle(&self) -> Option<Arc<rayon::ThreadPool>> {
        self.pool.clone()
    }
}

impl SessionBuilder {
    /// The database file (created if missing). Default: `gantry.db`.
    pub fn database(mut self, path: impl AsRef<Path>) -> Self {
        self.database = path.as_ref().to_path_buf();
        self
    }

    /// Where progress of long operations goes. Default: nowhere.
    pub fn progress(mut self, progress: impl Progress + 'static) -> Self {
        self.progress = Arc::new(progress);
        self
    }

    /// Worker threads for parallel work. Default: one per core.
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads.max(1));
        self
    }

    /// The project secret to use, so that several sessions (machines, shards) derive the
    /// same pseudonyms, UIDs and date shifts. Default: the one stored with the session,
    /// or a new random one. A session that already has a different secret refuses it.
    pub fn secret(mut self, secret: crate::pseudonym::Secret) -> Self {
        self.secret = Some(secret);
        self
    }

    /// Which copy ingest keeps when two files hold one SOP Instance UID with different
    /// content (default: the first indexed); the ingest report names it for each conflict.
    pub fn on_uid_conflict(mut self, policy: crate::settings::UidConflict) -> Self {
        self.uid_conflict = policy;
        self
    }

    /// Makes the session shard `shard` of a partition of the dump by patient (see
    /// [`crate::Shard`]): ingest indexes only that shard's files. The database remembers
    /// it: later opens need not repeat it, and refuse another. A shard of several needs the
    /// project secret all shards share ([`SessionBuilder::secret`]) when its database is
    /// new.
    pub fn shard(mut self, shard: crate::shard::Shard) -> Self {
        self.shard = Some(shard);
        self
    }

    /// Whether ingest follows symbolic links whose target lies outside the folders it was
    /// given. Default: no; such a link is noted in the report and skipped.
    pub fn follow_links(mut self, follow: bool) -> Self {
        self.follow_links = follow;
        self
    }

    /// Opens the session: creates or migrates the database and takes its lock.
    pub fn open(self) -> Result<Session> {
        if let Some(parent) = self.database.parent().filter(|p| !p.as_os_str().is_empty()) {
            gantry_store::create_private_dir_all(parent).map_err(|source| GantryError::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let store = Store::open(&self.database)?;
        let pool = match self.threads {
            Some(n) => Some(Arc::new(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .build()
                    .map_err(|source| GantryError::Threads { threads: n, source })?,
            )),
            None => None,
        };
        let mut store = store;
        if let Some(secret) = &self.secret {
            match store.meta_get(SECRET_KEY)? {
                Some(existing) if existing.as_slice() != secret.bytes() => {
                    return Err(crate::error::SecretError::Different {
                        database: self.database.clone(),
                    }
                    .into());
                }
                Some(_) => {}
                None => store.meta_set(SECRET_KEY, secret.bytes())?,
            }
        }
        let shard = open_shard(&mut store, &self.database, self.shard)?;
        Ok(Session {
            store,
            config: None,
            sidecar: None,
            sealing: None,
            prepared: None,
            generation: 0,
            follow_links: self.follow_links,
            uid_conflict: self.uid_conflict,
            shard,
            progress: self.progress,
            pool,
        })
    }
}

/// The shard of the session in `store`: the one stored, checked against the one given, or
/// the one given, stored.
fn open_shard(
    store: &mut Store,
    database: &Path,
    given: Option<crate::shard::Shard>,
) -> Result<Option<crate::shard::Shard>> {
    let stored = match store.meta_get(SHARD_KEY)? {
        Some(bytes) => Some(
            String::from_utf8_lossy(&bytes)
                .parse::<crate::shard::Shard>()
                .map_err(|e| GantryError::Io {
                    path: database.to_path_buf(),
                    source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                })?,
        ),
        None => None,
    };
    match (stored, given) {
        (Some(stored), Some(given)) if stored != given => Err(GantryError::ShardMismatch {
            database: database.to_path_buf(),
            stored: stored.to_string(),
            given: given.to_string(),
        }),
        (Some(stored), _) => Ok(Some(stored)),
        (None, None) => Ok(None),
        (None, Some(given)) => {
            if given.count > 1 {
                if store.instance_count()? > 0 {
                    return Err(GantryError::ShardOfWholeDatabase {
                        database: database.to_path_buf(),
                        shard: given.to_string(),
                    });
                }
                if store.meta_get(SECRET_KEY)?.is_none() {
                    return Err(GantryError::ShardNeedsSecret {
                        shard: given.to_string(),
                    });
                }
            }
            store.meta_set(SHARD_KEY, given.to_string().as_bytes())?;
            Ok(Some(given))
        }
    }
}

impl Session {
    /// The configuration in force: the one loaded, or the one stored with the session.
    pub fn config(&mut self) -> Result<&Config> {
        if self.config.is_none() {
            let Some(text) = self.store.meta_get(CONFIG_KEY)? else {
                return Err(GantryError::NoConfig);
            };
            let path = self
                .store
                .meta_get(CONFIG_PATH_KEY)?
                .map(|p| PathBuf::from(String::from_utf8_lossy(&p).into_owned()))
                .unwrap_or_else(|| PathBuf::from("(stored config)"));
            let config = Config::parse(&String::from_utf8_lossy(&text), path)?;
            self.config = Some(config);
        }
        match &self.config {
            Some(config) => Ok(config),
            None => Err(GantryError::NoConfig),
        }
    }

    /// The key id this session must seal for, if reversible anonymization is on.
    pub(crate) fn required_key_id(&self) -> Result<Option<String>> {
        Ok(self
            .store
            .meta_get(SEALING_KEY_ID)?
            .map(|b| String::from_utf8_lossy(&b).into_owned()))
    }
}
