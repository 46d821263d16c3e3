//! Tables: dicts partitioned like the streams that update them, backed by a compacted changelog
//! topic, recovered on start and moved with their partitions on rebalance (Faust's `app.Table`).
//!
//! ```no_run
//! use faust_runtime::prelude::*;
//!
//! #[topic(name = "words", key = String, value = String, partitions = 4)]
//! struct Words;
//!
//! /// Occurrences of each word.
//! #[table(name = "word-counts", key = String, value = u64, default = 0, partitions = 4)]
//! struct WordCounts;
//!
//! #[agent(Words)]
//! async fn count(mut words: Stream<Words>) -> Result<()> {
//!     while let Some(word) = words.next().await {
//!         // The word is also the record key, so its count lives in the event's partition.
//!         let n = WordCounts.update(word, |n| { *n += 1; *n })?;
//!         tracing::info!(n, "counted");
//!     }
//!     Ok(())
//! }
//! # faust_runtime::main!(id = "word-count");
//! ```
//!
//! - **Partitions.** Partition `p` of a table holds the keys written while processing events of
//!   partition `p` (of any topic the app consumes); it is active on the worker that is assigned
//!   those events. Co-partition the table with its stream: key the stream by the table key
//!   (with `group_by` when it is keyed otherwise) and give both the same partition count.
//! - **Changelog.** See [`changelog`]: `{app_id}-{table}-changelog`, compacted, created at
//!   startup with the table's partitions; writes are coalesced per key and sent in batches
//!   ([`pending`]), and an event is committed only after the records carrying its writes are
//!   delivered.
//! - **Recovery.** See [`recovery`]: on every assignment, before events of the partition reach
//!   an agent. With standby copies ([`standby`], setting `table_standby_replicas`) a worker
//!   keeps the partitions it does not own warm, so taking one over replays little.
//! - **Kinds.** `kind = "set"`: a set of members per key ([`set`]); `kind = "global"`: every
//!   worker holds every partition, readable anywhere ([`global`]); `tumbling` / `hopping`:
//!   values per key and time window ([`window`]).
//! - **Stores.** See [`store`]: the in-memory store (default) replays the whole changelog
//!   partition on assignment; the [`redb_store`] (setting `store = "redb://"`) keeps each
//!   partition on disk with the offset of the last changelog record it holds, so recovery
//!   replays only what is newer.

pub mod changelog;
pub mod global;
mod handle;
pub mod memory;
pub mod pending;
pub mod recovery;
pub mod redb_store;
mod runtime;
pub mod set;
mod slots;
mod spec;
pub mod standby;
pub mod store;
pub mod view;
pub mod window;
mod window_key;
mod window_time;

pub use global::GlobalTableApi;
pub use handle::{make_table, Table, TableApi, TableKey, TableValue};
pub use recovery::TableHealth;
pub use runtime::{TableRuntime, TableState};
pub use set::{make_set_table, SetTable, SetTableApi};
pub use spec::{changelog_topic, MakeTable, TableKind, TableRegistration, TableSpec};
pub use window::{
    make_windowed_table, WindowKey, WindowKind, WindowSpec, WindowTime, WindowedTable,
    WindowedTableApi, WindowedView,
};

use crate::app::App;
use crate::error::{Error, Result};
use crate::registry::module_matches;
use crate::transport::TopicPartition;
use std::any::Any;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// The tables of one app and which partitions are active on this worker.
#[derive(Default)]
pub(crate) struct Tables {
    list: RwLock<Vec<Arc<dyn TableRuntime>>>,
    /// By table name; a handful, looked up on every read and write (a list: no hashing).
    typed: RwLock<Vec<(&'static str, Arc<dyn Any + Send + Sync>)>>,
    /// Partition number -> how many assigned topic partitions have it.
    assigned: Mutex<BTreeMap<i32, usize>>,
    /// Unique per started app (0 before start and after stop): the key of the handles'
    /// per-thread cache of typed states.
    epoch: AtomicU64,
}

/// The next [`Tables::epoch`].
static EPOCHS: AtomicU64 = AtomicU64::new(1);

/// How many typed states a thread's cache keeps.
const CACHED_STATES: usize = 8;

/// Weak: a stopped app's tables close (their files unlock) whatever the threads cached.
type CachedState = (u64, *const u8, std::sync::Weak<dyn Any + Send + Sync>);

thread_local! {
    /// Typed states recently used on this thread: (epoch, table name pointer, state). Saves the
    /// handles the lock of the app's table list per read or write.
    static STATES: std::cell::RefCell<Vec<CachedState>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|p| p.into_inner())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Tables {
    /// The typed state of table `name`.
    pub(crate) fn typed<K, V>(&self, name: &str) -> Option<Arc<TableState<K, V>>>
    where
        K: Send + Sync + 'static,
        V: Send + Sync + 'static,
    {
        read(&self.typed)
            .iter()
            .find(|(n, _)| std::ptr::eq(*n, name) || *n == name)
            .map(|(_, a)| a.clone())
            .and_then(|a| a.downcast::<TableState<K, V>>().ok())
    }

    /// Runs `f` on the typed state of table `name` (`None`: no such table in this app), from
    /// this thread's cache when it has it.
    pub(crate) fn with_typed<S, R>(&self, name: &'static str, f: impl FnOnce(&S) -> R) -> Option<R>
    where
        S: Send + Sync + 'static,
    {
        let epoch = self.epoch.load(Ordering::Acquire);
        let key = name.as_ptr();
        let mut f = Some(f);
        if epoch != 0 {
            let hit = STATES
                .try_with(|c| {
                    let c = c.try_borrow().ok()?;
                    let (_, _, a) = c.iter().find(|(e, n, _)| *e == epoch && *n == key)?;
                    let a = a.upgrade()?;
                    let s = a.downcast_ref::<S>()?;
                    f.take().map(|f| f(s))
                })
                .ok()
                .flatten();
            if hit.is_some() {
                return hit;
            }
        }
        let state = read(&self.typed)
            .iter()
            .find(|(n, _)| std::ptr::eq(*n, name) || *n == name)
            .map(|(_, a)| a.clone())?;
        let typed = state.clone().downcast::<S>().ok()?;
        if epoch != 0 {
            let _ = STATES.try_with(|c| {
                // Busy when `f` of an outer call uses another table: not cached then.
                if let Ok(mut c) = c.try_borrow_mut() {
                    c.retain(|(_, _, a)| a.strong_count() > 0);
                    if c.len() >= CACHED_STATES {
                        c.clear();
                    }
                    c.push((epoch, key, Arc::downgrade(&state)));
                }
            });
        }
        f.take().map(|f| f(&typed))
    }

    pub(crate) fn is_empty(&self) -> bool {
        read(&self.list).is_empty()
    }

    /// Health of every table.
    pub(crate) fn health(&self) -> Vec<TableHealth> {
        let active: Vec<i32> = lock(&self.assigned).keys().copied().collect();
        read(&self.list)
            .iter()
            .map(|t| {
                let mine = active
                    .iter()
                    .copied()
                    .filter(|p| *p < t.partitions())
                    .collect();
                t.stats().health(t.as_ref(), mine)
            })
            .collect()
    }

    /// Partitions were assigned: the tables' partitions that become active are recovered
    /// (before the driver hands out any of their records).
    pub(crate) async fn assigned(&self, app: &App, tps: &[TopicPartition]) {
        let fresh: Vec<i32> = {
            let mut assigned = lock(&self.assigned);
            let mut fresh = Vec::new();
            for tp in tps {
                let n = assigned.entry(tp.partition).or_insert(0);
                *n += 1;
                if *n == 1 {
                    fresh.push(tp.partition);
                }
            }
            fresh
        };
        if fresh.is_empty() {
            return;
        }
        let tables: Vec<Arc<dyn TableRuntime>> = read(&self.list).clone();
        let runs = tables.iter().map(|t| {
            let parts: Vec<i32> = fresh
                .iter()
                .copied()
                .filter(|p| *p < t.partitions())
                .collect();
            async move {
                if parts.is_empty() {
                    return Ok(());
                }
                let r = recovery::recover(app, t, &parts).await;
                if r.is_err() {
                    // Half-recovered state is never served: the table refuses these partitions.
                    for &p in &parts {
                        t.deactivate(p);
                    }
                }
                r.map_err(|e| {
                    Error::state(format!(
                        "table '{}' could not recover partitions {parts:?}: {e}",
                        t.name()
                    ))
                })
            }
        });
        for r in futures::future::join_all(runs).await {
            if let Err(e) = r {
                app.fail(e);
            }
        }
    }

    /// Sends every table's writes that are not in the changelog yet (the consume driver asks
    /// before it commits or waits for events to finish; see [`pending`]).
    pub(crate) fn flush_changelog(&self, app: &App) {
        self.flush_changelog_of(app, None);
    }

    /// Like [`Tables::flush_changelog`], for the partitions of `mask` (bit `p` for partition
    /// `p`; `None`: all).
    pub(crate) fn flush_changelog_of(&self, app: &App, mask: Option<u64>) {
        for t in read(&self.list).iter() {
            t.flush_changelog_of(app, mask);
        }
    }

    /// Partitions were revoked (their work finished and committed): the tables' partitions
    /// that no assigned topic partition has any more leave memory, their last writes sent.
    pub(crate) fn revoked(&self, app: &App, tps: &[TopicPartition]) {
        let gone: Vec<i32> = {
            let mut assigned = lock(&self.assigned);
            let mut gone = Vec::new();
            for tp in tps {
                if let Some(n) = assigned.get_mut(&tp.partition) {
                    *n -= 1;
                    if *n == 0 {
                        assigned.remove(&tp.partition);
                        gone.push(tp.partition);
                    }
                }
            }
            gone
        };
        if gone.is_empty() {
            return;
        }
        for t in read(&self.list).iter() {
            t.flush_changelog(app);
            for &p in gone.iter().filter(|p| **p < t.partitions()) {
                if !t.slots().is_some_and(|s| s.keeps_standby()) {
                    t.deactivate(p);
                } else if let Err(e) = t.follow(p) {
                    tracing::error!(table = t.name(), partition = p, error = %e,
                        "a revoked partition cannot be kept as a standby copy");
                    t.deactivate(p);
                }
            }
        }
    }

    /// Flushes every table's store and closes it (at stop, after the producer's last
    /// deliveries): the app's tables are gone afterwards, and their files are unlocked once
    /// a commit of the periodic flusher that may be running is done.
    pub(crate) async fn close(&self) {
        self.epoch.store(0, Ordering::Release);
        let list = std::mem::take(&mut *write(&self.list));
        write(&self.typed).clear();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        for t in list {
            if let Err(e) = t.flush() {
                tracing::error!(table = t.name(), error = %e, "could not flush the table's store");
            }
            while Arc::strong_count(&t) > 1 && std::time::Instant::now() < deadline {
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
        }
    }
}

/// The consume driver's hooks for the tables: recovery on assignment, release on revoke.
pub(crate) fn hooks(
    app: &std::sync::Weak<crate::app::AppCore>,
) -> (
    crate::engine::driver::PartitionHook,
    crate::engine::driver::PartitionHook,
) {
    let on_assign = app.clone();
    let on_revoke = app.clone();
    (
        Arc::new(move |tps: Vec<TopicPartition>| {
            let app = on_assign.upgrade().map(App::from_core);
            Box::pin(async move {
                if let Some(app) = app {
                    app.core_ref().tables.assigned(&app, &tps).await;
                }
            })
        }),
        Arc::new(move |tps: Vec<TopicPartition>| {
            let app = on_revoke.upgrade().map(App::from_core);
            Box::pin(async move {
                if let Some(app) = app {
                    app.core_ref().tables.revoked(&app, &tps);
                }
            })
        }),
    )
}

/// The consume driver's request to send the tables' pending changelog writes.
pub(crate) fn flush_hook(
    app: &std::sync::Weak<crate::app::AppCore>,
) -> crate::engine::driver::FlushHolds {
    let app = app.clone();
    Arc::new(move |mask: Option<u64>| {
        if let Some(core) = app.upgrade() {
            let app = App::from_core(core);
            app.core_ref().tables.flush_changelog_of(&app, mask);
        }
    })
}

/// The tables declared in `modules` (every module when empty).
pub(crate) fn declared(modules: &[String]) -> Result<Vec<&'static TableSpec>> {
    let mut out: Vec<&'static TableSpec> = inventory::iter::<TableRegistration>
        .into_iter()
        .map(|r| r.0)
        .filter(|s| modules.is_empty() || modules.iter().any(|m| module_matches(s.module, m)))
        .collect();
    out.sort_by_key(|s| (s.name, s.type_name));
    for w in out.windows(2) {
        if w[0].name == w[1].name {
            return Err(Error::Registry(format!(
                "table '{}' is declared twice: by `{}` and by `{}`",
                w[0].name, w[0].type_name, w[1].type_name
            )));
        }
    }
    Ok(out)
}

/// At startup: defines and creates each declared table's changelog topic and makes its state.
pub(crate) async fn start(app: &App, modules: &[String]) -> Result<()> {
    let tables = &app.core_ref().tables;
    for spec in declared(modules)? {
        let partitions = spec.partitions.unwrap_or(app.settings().topic_partitions);
        // Faust's app id carries the version (`{id}-v{version}` above 1), and so do its changelogs.
        let name = spec.changelog_topic(&app.group_id());
        let mut topic = app
            .topic::<Vec<u8>, Vec<u8>>(name)
            .partitions(partitions)
            // A set table's changelog is a log of operations (Faust does not compact it).
            .compacting(spec.kind != TableKind::Set);
        if let Some(w) = spec.window {
            // Faust's windowed changelogs: compacted and deleted after the windows expire.
            topic = topic
                .deleting(true)
                .retention(std::time::Duration::from_millis(w.expires_ms.max(0) as u64));
        }
        let topic = topic.build()?;
        app.ensure_declared(topic.spec()).await?;
        let runtime = (spec.__make)(app, spec, partitions, topic.name())?;
        standby::start(app, spec, &runtime).await?;
        write(&tables.typed).push((spec.name, runtime.clone().as_any()));
        write(&tables.list).push(runtime);
        tracing::info!(
            table = spec.name,
            changelog = topic.name(),
            partitions,
            "table ready"
        );
    }
    tables
        .epoch
        .store(EPOCHS.fetch_add(1, Ordering::Relaxed), Ordering::Release);
    spawn_flusher(app, app.settings().commit_interval);
    Ok(())
}

/// The store of a table, as the app's `store` setting says: `memory://` (the default) or
/// `redb://` (a file per table under `table_dir`).
pub(crate) fn open_store(
    app: &App,
    spec: &'static TableSpec,
    _partitions: i32,
) -> Result<Arc<dyn store::Store>> {
    let url = app.settings().store.trim();
    match url {
        "memory://" | "memory" | "" => Ok(Arc::new(memory::MemoryStore)),
        "redb://" | "redb" => {
            let dir = app.settings().table_dir.clone().unwrap_or_else(|| {
                std::path::PathBuf::from(format!("{}-data", app.id()))
                    .join(format!("v{}", app.settings().version))
                    .join("tables")
            });
            let path = dir.join(format!("{}.redb", spec.name));
            Ok(Arc::new(redb_store::RedbStore::open(&path)?))
        }
        other => Err(Error::config(format!(
            "unknown table store '{other}': use memory:// or redb://"
        ))),
    }
}

/// Commits the tables' durable stores every `every` until the app stops.
pub(crate) fn spawn_flusher(app: &App, every: std::time::Duration) {
    // Weak: the stores close (their files unlock) once the app drops its tables at stop.
    let tables: Vec<std::sync::Weak<dyn TableRuntime>> = read(&app.core_ref().tables.list)
        .iter()
        .filter(|t| t.store_kind() != "memory")
        .map(Arc::downgrade)
        .collect();
    if tables.is_empty() {
        return;
    }
    let app = app.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = app.stopping() => return,
            }
            let tables: Vec<Arc<dyn TableRuntime>> =
                tables.iter().filter_map(std::sync::Weak::upgrade).collect();
            let flushed = tokio::task::spawn_blocking(move || {
                for t in &tables {
                    if let Err(e) = t.flush() {
                        tracing::error!(table = t.name(), error = %e, "could not commit the table's store");
                    }
                }
            })
            .await;
            if flushed.is_err() {
                tracing::error!("committing the table stores panicked");
            }
        }
    });
}
