//! A table's partitions on this worker, whatever a partition holds: for each, nothing, the
//! active partition, or a standby copy (see [`super::standby`]), with the changelog offset up
//! to which recovery and the standby follower have read it.
//!
//! Every kind of table keeps its partitions in [`Slots`], so activation (a standby copy becomes
//! active as it is; otherwise the store is loaded), following and the offsets are one protocol.

use crate::error::{Error, Result};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// One partition held here.
pub(crate) struct Held<P> {
    /// What the partition holds (a table's map and its pending writes).
    pub(crate) part: P,
    /// The changelog offset after the last record read into `part` (by recovery or the standby
    /// follower; the worker's own writes are not counted).
    pub(crate) next: i64,
    /// Whether this is a standby copy: another worker owns the partition.
    pub(crate) standby: bool,
}

/// One partition's slot: `None` while the partition is not held here.
pub(crate) type Slot<P> = Mutex<Option<Held<P>>>;

/// The partitions of one table; see the module docs.
pub(crate) struct Slots<P> {
    slots: Box<[Slot<P>]>,
    /// Whether partitions not owned here are kept as standby copies.
    keep_standby: AtomicBool,
    /// Bumped whenever a partition becomes or stops being a standby copy.
    generation: AtomicU64,
    /// Per partition, the changelog offset after this worker's last delivered write (noted
    /// only while standby copies are kept).
    written: Box<[Arc<AtomicI64>]>,
}

/// What the standby protocol needs of a table's partitions, whatever they hold.
pub trait PartitionSlots: Send + Sync {
    /// Keeps partitions not owned here as standby copies from now on.
    fn keep_standby(&self);
    /// Whether partitions not owned here are kept as standby copies.
    fn keeps_standby(&self) -> bool;
    /// The standby copies and the changelog offset each is to be read from.
    fn followed(&self) -> Vec<(i32, i64)>;
    /// Changes whenever a partition becomes or stops being a standby copy.
    fn generation(&self) -> u64;
    /// Drops `partition` from memory if it is a standby copy (it cannot follow its changelog).
    fn deactivate_standby(&self, partition: i32);
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<P> Slots<P> {
    pub(crate) fn new(partitions: i32) -> Self {
        let n = partitions.max(0) as usize;
        Slots {
            slots: (0..n).map(|_| Mutex::new(None)).collect(),
            keep_standby: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            written: (0..n).map(|_| Arc::new(AtomicI64::new(0))).collect(),
        }
    }

    /// Partition count.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// The slot of `partition`, if the table has it.
    pub(crate) fn slot(&self, partition: i32) -> Option<&Slot<P>> {
        usize::try_from(partition)
            .ok()
            .and_then(|p| self.slots.get(p))
    }

    /// Every slot, with its partition number.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, &Slot<P>)> {
        self.slots.iter().enumerate()
    }

    /// Runs `f` on each active partition (standby copies too, if `standby`).
    pub(crate) fn each(&self, standby: bool, mut f: impl FnMut(&P)) {
        for slot in self.slots.iter() {
            if let Some(h) = lock(slot).as_ref().filter(|h| standby || !h.standby) {
                f(&h.part);
            }
        }
    }

    /// Where the offsets of the worker's delivered writes to `partition` go, while standby
    /// copies are kept.
    pub(crate) fn written(&self, partition: usize) -> Option<Arc<AtomicI64>> {
        if !self.keep_standby.load(Ordering::Relaxed) {
            return None;
        }
        self.written.get(partition).cloned()
    }

    fn no_partition(table: &str, partition: i32) -> Error {
        Error::state(format!("table '{table}' has no partition {partition}"))
    }

    /// Makes `partition` active: a standby copy as it is, otherwise what `load` gives (the part
    /// and the changelog offset to read from). Returns the offset recovery reads from.
    pub(crate) fn activate(
        &self,
        table: &str,
        partition: i32,
        load: impl FnOnce() -> Result<(P, i64)>,
    ) -> Result<i64> {
        let slot = self
            .slot(partition)
            .ok_or_else(|| Self::no_partition(table, partition))?;
        {
            let mut guard = lock(slot);
            if let Some(h) = guard.as_mut().filter(|h| h.standby) {
                h.standby = false;
                self.generation.fetch_add(1, Ordering::Relaxed);
                return Ok(h.next);
            }
        }
        let (part, next) = load()?;
        *lock(slot) = Some(Held {
            part,
            next,
            standby: false,
        });
        Ok(next)
    }

    /// Keeps `partition` as a standby copy: an active one keeps what it holds (followed from
    /// after the worker's own writes), an absent one is what `load` gives.
    pub(crate) fn follow(
        &self,
        table: &str,
        partition: i32,
        load: impl FnOnce() -> Result<(P, i64)>,
    ) -> Result<()> {
        let slot = self
            .slot(partition)
            .ok_or_else(|| Self::no_partition(table, partition))?;
        {
            let mut guard = lock(slot);
            if let Some(h) = guard.as_mut() {
                if !h.standby {
                    let written = self.written[partition as usize].load(Ordering::Acquire);
                    h.next = h.next.max(written);
                    h.standby = true;
                    self.generation.fetch_add(1, Ordering::Relaxed);
                }
                return Ok(());
            }
        }
        let (part, next) = load()?;
        let mut guard = lock(slot);
        if guard.is_none() {
            *guard = Some(Held {
                part,
                next,
                standby: true,
            });
            self.generation.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Drops `partition` from memory.
    pub(crate) fn deactivate(&self, partition: i32) {
        if let Some(slot) = self.slot(partition) {
            if lock(slot).take().is_some_and(|h| h.standby) {
                self.generation.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Applies the changelog record at `offset` of `partition` with `f`: always during
    /// recovery; by the follower (`standby_only`) only to a standby copy the record is new to.
    /// `Ok(None)`: not applied. An absent partition is an error during recovery, skipped for
    /// the follower (its copy was dropped meanwhile).
    pub(crate) fn apply<R>(
        &self,
        partition: i32,
        offset: i64,
        standby_only: bool,
        missing: impl FnOnce() -> Error,
        f: impl FnOnce(&mut P) -> Result<R>,
    ) -> Result<Option<R>> {
        let Some(slot) = self.slot(partition) else {
            return if standby_only {
                Ok(None)
            } else {
                Err(missing())
            };
        };
        let mut guard = lock(slot);
        let Some(h) = guard.as_mut() else {
            return if standby_only {
                Ok(None)
            } else {
                Err(missing())
            };
        };
        if standby_only && (!h.standby || offset < h.next) {
            return Ok(None);
        }
        let r = f(&mut h.part)?;
        h.next = h.next.max(offset + 1);
        Ok(Some(r))
    }
}

impl<P: Send> PartitionSlots for Slots<P> {
    fn keep_standby(&self) {
        self.keep_standby.store(true, Ordering::Relaxed);
    }
    fn keeps_standby(&self) -> bool {
        self.keep_standby.load(Ordering::Relaxed)
    }
    fn deactivate_standby(&self, partition: i32) {
        if let Some(slot) = self.slot(partition) {
            let mut guard = lock(slot);
            if guard.as_ref().is_some_and(|h| h.standby) {
                *guard = None;
                self.generation.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    fn followed(&self) -> Vec<(i32, i64)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(p, slot)| {
                lock(slot)
                    .as_ref()
                    .filter(|h| h.standby)
                    .map(|h| (p as i32, h.next))
            })
            .collect()
    }
    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }
}
