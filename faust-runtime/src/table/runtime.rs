//! A table's state in one app: per partition, the in-memory map of what the partition holds
//! (present only while the partition is active on this worker), its durable [`Store`], and the
//! recovery counters shown in health.

use super::changelog::{self, ChangelogCodec};
use super::recovery::RecoveryStats;
use super::store::{Change, Store};
use crate::app::App;
use crate::error::{Error, Result};
use serde::{de::DeserializeOwned, Serialize};
use std::any::Any;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// What the app needs of a table whatever its types: recovery, activation, health.
pub trait TableRuntime: Send + Sync + 'static {
    /// Table name.
    fn name(&self) -> &'static str;
    /// Changelog topic.
    fn changelog(&self) -> &'static str;
    /// Partition count.
    fn partitions(&self) -> i32;
    /// Makes `partition` active with what its store holds; returns the changelog offset to
    /// replay from.
    fn activate(&self, partition: i32) -> Result<i64>;
    /// Drops `partition` from memory (it moved to another worker), flushing its store.
    fn deactivate(&self, partition: i32);
    /// Applies one changelog record read during recovery.
    fn apply(
        &self,
        partition: i32,
        offset: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Result<()>;
    /// The recovery counters.
    fn stats(&self) -> &RecoveryStats;
    /// The store's kind, for messages.
    fn store_kind(&self) -> &'static str;
    /// Makes what was written durable.
    fn flush(&self) -> Result<()>;
    /// The typed state, for the handles.
    fn as_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
    /// The web views' reads.
    fn view(&self) -> &dyn super::view::TableView;
}

/// One partition's map, `None` while the partition is not active here.
type Slot<K, V> = Mutex<Option<HashMap<K, V>>>;

/// A table's typed state; see the module docs.
pub struct TableState<K, V> {
    pub(crate) name: &'static str,
    pub(crate) changelog: &'static str,
    parts: Box<[Slot<K, V>]>,
    codec: ChangelogCodec,
    store: Arc<dyn Store>,
    stats: RecoveryStats,
    /// Per partition, the earliest time a window may close (windowed tables): `i64::MIN` =
    /// unknown, look at every window on the next update.
    expiry: Box<[AtomicI64]>,
    /// Per partition, the latest event time a windowed update saw.
    latest: Box<[AtomicI64]>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<K, V> TableState<K, V>
where
    K: Serialize + DeserializeOwned + Hash + Eq + Clone + Send + 'static,
    V: Serialize + DeserializeOwned + Clone + Send + 'static,
{
    pub(crate) fn new(
        name: &'static str,
        changelog: &'static str,
        partitions: i32,
        store: Arc<dyn Store>,
    ) -> Result<Self> {
        Ok(TableState {
            name,
            changelog,
            parts: (0..partitions.max(0)).map(|_| Mutex::new(None)).collect(),
            codec: ChangelogCodec::new()?,
            store,
            stats: RecoveryStats::default(),
            expiry: (0..partitions.max(0))
                .map(|_| AtomicI64::new(i64::MIN))
                .collect(),
            latest: (0..partitions.max(0))
                .map(|_| AtomicI64::new(i64::MIN))
                .collect(),
        })
    }

    /// Runs `f` on the map of `partition`, which must be active here.
    pub(crate) fn with_partition<R>(
        &self,
        partition: i32,
        f: impl FnOnce(&mut HashMap<K, V>) -> R,
    ) -> Result<R> {
        let slot = usize::try_from(partition)
            .ok()
            .and_then(|p| self.parts.get(p))
            .ok_or_else(|| {
                Error::state(format!(
                    "table '{}' has {} partitions, but the event being processed is from partition {partition}: \
                     a table is partitioned like the stream that updates it (give it as many partitions as that topic, \
                     or repartition the stream with group_by)",
                    self.name,
                    self.parts.len()
                ))
            })?;
        let mut guard = lock(slot);
        match guard.as_mut() {
            Some(map) => Ok(f(map)),
            None => Err(Error::state(format!(
                "table '{}': partition {partition} is not active on this worker (not assigned, or its recovery failed)",
                self.name
            ))),
        }
    }

    fn expiry_slot(&self, partition: i32) -> Option<&AtomicI64> {
        usize::try_from(partition)
            .ok()
            .and_then(|p| self.expiry.get(p))
    }

    /// A window of `partition` closes at `at` (windowed tables).
    pub(crate) fn note_expiry(&self, partition: i32, at: i64) {
        if let Some(e) = self.expiry_slot(partition) {
            let cur = e.load(Ordering::Relaxed);
            if cur != i64::MIN && at < cur {
                e.store(at, Ordering::Relaxed);
            }
        }
    }

    /// Notes event time `t` in `partition`; returns the latest time seen there.
    pub(crate) fn advance(&self, partition: i32, t: i64) -> i64 {
        usize::try_from(partition)
            .ok()
            .and_then(|p| self.latest.get(p))
            .map(|l| l.fetch_max(t, Ordering::Relaxed).max(t))
            .unwrap_or(t)
    }

    /// Whether some window of `partition` may have closed by time `t`.
    pub(crate) fn expiry_due(&self, partition: i32, t: i64) -> bool {
        self.expiry_slot(partition)
            .is_some_and(|e| t >= e.load(Ordering::Relaxed))
    }

    /// The earliest time a window of `partition` closes (`i64::MAX`: none open).
    pub(crate) fn set_expiry(&self, partition: i32, at: i64) {
        if let Some(e) = self.expiry_slot(partition) {
            e.store(at, Ordering::Relaxed);
        }
    }

    /// Every active partition's map in turn.
    pub(crate) fn each_partition(&self, mut f: impl FnMut(&HashMap<K, V>)) {
        for slot in self.parts.iter() {
            if let Some(map) = lock(slot).as_ref() {
                f(map);
            }
        }
    }

    /// Writes `key` → `value` (or its deletion) to the store and the changelog, for the event
    /// being processed in `partition`.
    pub(crate) fn log(&self, app: &App, partition: i32, key: &K, value: Option<&V>) -> Result<()> {
        let k = self.codec.encode(self.name, "key", key)?;
        let v = value
            .map(|v| self.codec.encode(self.name, "value", v))
            .transpose()?;
        let callback: Option<crate::transport::SendCallback> = if self.store.is_durable() {
            let store = self.store.clone();
            let (key, value) = (k.clone(), v.clone());
            Some(Box::new(
                move |r: &Result<crate::transport::RecordMetadata>| {
                    if let Ok(meta) = r {
                        store.delivered(meta.partition, meta.offset, &key, value.as_deref());
                    }
                },
            ))
        } else {
            None
        };
        changelog::send(app, self.changelog, partition, k, v, callback)
    }
}

impl<K, V> TableRuntime for TableState<K, V>
where
    K: Serialize + DeserializeOwned + Hash + Eq + Clone + Send + Sync + 'static,
    V: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    fn name(&self) -> &'static str {
        self.name
    }
    fn changelog(&self) -> &'static str {
        self.changelog
    }
    fn partitions(&self) -> i32 {
        self.parts.len() as i32
    }

    fn activate(&self, partition: i32) -> Result<i64> {
        let Some(slot) = usize::try_from(partition)
            .ok()
            .and_then(|p| self.parts.get(p))
        else {
            return Err(Error::state(format!(
                "table '{}' has no partition {partition}",
                self.name
            )));
        };
        let mut map = HashMap::new();
        self.store.load(partition, &mut |k, v| {
            let key: K = self.codec.decode(k).map_err(|e| {
                Error::state(format!(
                    "table '{}' store, partition {partition}: a key does not decode: {e}",
                    self.name
                ))
            })?;
            let value: V = self.codec.decode(v).map_err(|e| {
                Error::state(format!(
                    "table '{}' store, partition {partition}: a value does not decode: {e}",
                    self.name
                ))
            })?;
            map.insert(key, value);
            Ok(())
        })?;
        let from = self
            .store
            .last_offset(partition)?
            .map(|o| o + 1)
            .unwrap_or(0);
        *lock(slot) = Some(map);
        Ok(from)
    }

    fn deactivate(&self, partition: i32) {
        if let Some(slot) = usize::try_from(partition)
            .ok()
            .and_then(|p| self.parts.get(p))
        {
            *lock(slot) = None;
        }
        if let Err(e) = self.store.flush() {
            tracing::error!(table = self.name, error = %e, "could not flush the table's store");
        }
    }

    fn apply(
        &self,
        partition: i32,
        offset: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Result<()> {
        let bad = |what: &str, e: String| {
            Error::state(format!(
                "table '{}': changelog record {}[{partition}]@{offset} cannot be applied: {what}: {e}",
                self.name, self.changelog
            ))
        };
        let Some(kb) = key else {
            return Err(bad(
                "it has no key",
                "a changelog record always has one".into(),
            ));
        };
        let k: K = self
            .codec
            .decode(kb)
            .map_err(|e| bad("the key does not decode", e))?;
        let v: Option<V> = value
            .map(|vb| {
                self.codec
                    .decode(vb)
                    .map_err(|e| bad("the value does not decode", e))
            })
            .transpose()?;
        self.with_partition(partition, |map| match v {
            Some(v) => {
                map.insert(k, v);
            }
            None => {
                map.remove(&k);
            }
        })?;
        let change: [Change<'_>; 1] = [(kb, value)];
        self.store.apply(partition, &change, offset)
    }

    fn stats(&self) -> &RecoveryStats {
        &self.stats
    }
    fn store_kind(&self) -> &'static str {
        self.store.kind()
    }
    fn flush(&self) -> Result<()> {
        self.store.flush()
    }
    fn as_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
    fn view(&self) -> &dyn super::view::TableView {
        self
    }
}
