//! A table's state in one app: per partition, the in-memory map of what the partition holds
//! (present only while the partition is active on this worker), its durable [`Store`], and the
//! recovery counters shown in health.

use super::changelog::{self, ChangelogCodec};
use super::pending::{FlushHold, Pending};
use super::recovery::RecoveryStats;
use super::slots::{lock, PartitionSlots, Slot, Slots};
use super::store::{Change, Store};
use crate::app::App;
use crate::error::{Error, Result};
use crate::transport::DeliveryListener;
use serde::{de::DeserializeOwned, Serialize};
use std::any::Any;
use std::hash::Hash;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

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
    /// Sends the writes not in the changelog yet (see [`super::pending`]); the consume driver
    /// asks for it before it commits or waits for events to finish.
    fn flush_changelog(&self, app: &App) {
        self.flush_changelog_of(app, None);
    }
    /// Like [`TableRuntime::flush_changelog`], for the partitions in `mask` (bit `p` for
    /// partition `p`; `None`: all).
    fn flush_changelog_of(&self, _app: &App, _mask: Option<u64>) {}
    /// The typed state, for the handles.
    fn as_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
    /// The web views' reads.
    fn view(&self) -> &dyn super::view::TableView;
    /// The partitions' slots, for the standby protocol (`None`: the table keeps no standby
    /// copies); see [`super::standby`].
    fn slots(&self) -> Option<&dyn PartitionSlots> {
        None
    }
    /// Keeps `partition` as a standby copy (loaded from the store when not in memory; an
    /// active partition keeps its map): the changelog follower brings it up to date.
    fn follow(&self, partition: i32) -> Result<()> {
        let _ = partition;
        Err(Error::state(format!(
            "table '{}' keeps no standby copies",
            self.name()
        )))
    }
    /// Applies a changelog record read by the follower, if `partition` is still a standby
    /// copy here and the record is new to it; returns whether it was applied.
    fn apply_followed(
        &self,
        partition: i32,
        offset: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Result<bool> {
        let _ = (partition, offset, key, value);
        Ok(false)
    }
}

/// A partition's map. Hashed with foldhash (seeded per map, several times faster than std's
/// SipHash on short keys): every read and write of a table hashes its key.
pub(crate) type TableMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// One partition active on this worker: its map and the writes not in the changelog yet.
pub(crate) struct Part<K, V> {
    /// What the partition holds.
    pub(crate) map: TableMap<K, V>,
    /// Written keys waiting for the next flush.
    pub(crate) pending: Pending<K>,
}

impl<K: Hash + Eq + Clone, V> Part<K, V> {
    /// `key` was written (to `map`) while processing the current event.
    #[inline]
    pub(crate) fn touch(&mut self, key: &K) {
        self.pending.touch(key);
    }

    /// Like [`Part::touch`], with an owned key.
    #[inline]
    pub(crate) fn touch_owned(&mut self, key: K) {
        self.pending.touch_owned(key);
    }
}

/// A table's typed state; see the module docs.
pub struct TableState<K, V> {
    pub(crate) name: &'static str,
    pub(crate) changelog: &'static str,
    parts: Slots<Part<K, V>>,
    codec: ChangelogCodec,
    store: Arc<dyn Store>,
    stats: RecoveryStats,
    /// Per partition, the earliest time a window may close (windowed tables): `i64::MIN` =
    /// unknown, look at every window on the next update.
    expiry: Box<[AtomicI64]>,
    /// Per partition, the latest event time a windowed update saw.
    latest: Box<[AtomicI64]>,
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
            parts: Slots::new(partitions),
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

    /// Loads `partition` from the store: its part and the changelog offset to read from.
    fn load(&self, partition: i32) -> Result<(Part<K, V>, i64)> {
        let mut map = TableMap::default();
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
        let part = Part {
            map,
            pending: Pending::default(),
        };
        Ok((part, from))
    }

    /// Every partition held here, active or standby, in turn (global tables' reads).
    pub(crate) fn each_held_partition(&self, mut f: impl FnMut(&TableMap<K, V>)) {
        self.parts.each(true, |part| f(&part.map));
    }

    /// What `f` answers for the first partition held here (active or standby) that it answers
    /// for, `first` tried before the others (global tables' reads: a key lives in the
    /// partition of the events that wrote it).
    pub(crate) fn find_held<R>(
        &self,
        first: Option<i32>,
        mut f: impl FnMut(&TableMap<K, V>) -> Option<R>,
    ) -> Option<R> {
        let first = first.and_then(|p| usize::try_from(p).ok());
        let order = first
            .into_iter()
            .chain((0..self.parts.len()).filter(|p| Some(*p) != first));
        for p in order {
            let Some(slot) = self.parts.slot(p as i32) else {
                continue;
            };
            if let Some(r) = lock(slot).as_ref().and_then(|h| f(&h.part.map)) {
                return Some(r);
            }
        }
        None
    }

    /// Applies one changelog record to `partition` (only when it is a standby copy and the
    /// record is new to it, if `standby_only`); returns whether it was applied.
    fn apply_record(
        &self,
        partition: i32,
        offset: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        standby_only: bool,
    ) -> Result<bool> {
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
        let applied = self.parts.apply(
            partition,
            offset,
            standby_only,
            || self.inactive(partition),
            |part| {
                match v {
                    Some(v) => {
                        part.map.insert(k, v);
                    }
                    None => {
                        part.map.remove(&k);
                    }
                }
                Ok(())
            },
        )?;
        if applied.is_none() {
            return Ok(false);
        }
        let change: [Change<'_>; 1] = [(kb, value)];
        self.store.apply(partition, &change, offset)?;
        Ok(true)
    }

    fn slot(&self, partition: i32) -> Result<&Slot<Part<K, V>>> {
        self.parts.slot(partition).ok_or_else(|| {
                Error::state(format!(
                    "table '{}' has {} partitions, but the event being processed is from partition {partition}: \
                     a table is partitioned like the stream that updates it (give it as many partitions as that topic, \
                     or repartition the stream with group_by)",
                    self.name,
                    self.parts.len()
                ))
            })
    }

    fn inactive(&self, partition: i32) -> Error {
        Error::state(format!(
            "table '{}': partition {partition} is not active on this worker (not assigned, or its recovery failed)",
            self.name
        ))
    }

    /// Runs `f` on the map of `partition`, which must be active here.
    pub(crate) fn with_partition<R>(
        &self,
        partition: i32,
        f: impl FnOnce(&mut TableMap<K, V>) -> R,
    ) -> Result<R> {
        self.with_part(partition, |part| f(&mut part.map))
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

    /// Every active partition's map in turn (standby copies left out).
    pub(crate) fn each_partition(&self, mut f: impl FnMut(&TableMap<K, V>)) {
        self.parts.each(false, |part| f(&part.map));
    }

    /// Runs `f` on `partition` (its map and its pending writes), which must be active here.
    pub(crate) fn with_part<R>(
        &self,
        partition: i32,
        f: impl FnOnce(&mut Part<K, V>) -> R,
    ) -> Result<R> {
        let slot = self.slot(partition)?;
        let mut guard = lock(slot);
        match guard.as_mut() {
            Some(h) => Ok(f(&mut h.part)),
            None => Err(self.inactive(partition)),
        }
    }

    /// Sends the pending writes of every active partition to the changelog; see
    /// [`super::pending`].
    pub(crate) fn flush_pending(&self, app: &App, mask: Option<u64>) {
        for (p, slot) in self.parts.iter() {
            if mask.is_some_and(|m| p >= 64 || m & (1 << p) == 0) {
                continue;
            }
            let mut records: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
            let mut failed: Option<String> = None;
            let holds = {
                let mut guard = lock(slot);
                let Some(part) = guard.as_mut().map(|h| &mut h.part) else {
                    continue;
                };
                if part.pending.is_empty() {
                    continue;
                }
                let map = &part.map;
                let codec = &self.codec;
                let name = self.name;
                part.pending.take(|k| {
                    let encoded = codec.encode(name, "key", k).and_then(|kb| {
                        let vb = map
                            .get(k)
                            .map(|v| codec.encode(name, "value", v))
                            .transpose()?;
                        Ok((kb, vb))
                    });
                    match encoded {
                        Ok(r) => records.push(r),
                        Err(e) => {
                            if failed.is_none() {
                                failed = Some(e.to_string());
                            }
                        }
                    }
                })
            };
            if let Some(reason) = &failed {
                tracing::error!(table = self.name, partition = p, error = %reason,
                    "a table write cannot be encoded for the changelog");
            }
            let expected = records.len() + usize::from(failed.is_some());
            let written = self.parts.written(p);
            let hold: Arc<FlushHold> =
                Arc::new(FlushHold::new(self.changelog, expected, holds).noting_offsets(written));
            if let Some(reason) = failed {
                hold.delivered(
                    0,
                    &Err(Error::config(format!(
                        "table '{}': cannot encode a write: {reason}",
                        self.name
                    ))),
                );
            }
            for (k, v) in records {
                let callback: Option<crate::transport::SendCallback> = if self.store.is_durable() {
                    let store = self.store.clone();
                    let (key, value) = (k.clone(), v.clone());
                    Some(Box::new(
                        move |r: &Result<crate::transport::RecordMetadata>| {
                            if let Ok(meta) = r {
                                store.delivered(
                                    meta.partition,
                                    meta.offset,
                                    &key,
                                    value.as_deref(),
                                );
                            }
                        },
                    ))
                } else {
                    None
                };
                let listener: Arc<dyn DeliveryListener> = hold.clone();
                if let Err(e) =
                    changelog::send(app, self.changelog, p as i32, k, v, (listener, 0), callback)
                {
                    tracing::error!(table = self.name, partition = p, error = %e,
                        "a changelog record could not be handed to the producer");
                }
            }
        }
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
        self.parts
            .activate(self.name, partition, || self.load(partition))
    }

    fn deactivate(&self, partition: i32) {
        self.parts.deactivate(partition);
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
        self.apply_record(partition, offset, key, value, false)
            .map(|_| ())
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
    fn flush_changelog_of(&self, app: &App, mask: Option<u64>) {
        self.flush_pending(app, mask);
    }
    fn as_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
    fn view(&self) -> &dyn super::view::TableView {
        self
    }
    fn slots(&self) -> Option<&dyn PartitionSlots> {
        Some(&self.parts)
    }
    fn follow(&self, partition: i32) -> Result<()> {
        self.parts
            .follow(self.name, partition, || self.load(partition))
    }
    fn apply_followed(
        &self,
        partition: i32,
        offset: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Result<bool> {
        self.apply_record(partition, offset, key, value, true)
    }
}
