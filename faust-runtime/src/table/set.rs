//! Set tables: a set of members per key (Faust's `app.SetTable`), declared with
//! `#[table(kind = "set", name = "..", key = K, value = Member)]`.
//!
//! - `add` / `discard` / `contains` / `members` act on the current event's partition (an error
//!   outside an agent's event, as for a plain table); `len` and `items` cover the partitions
//!   active on this worker.
//! - The changelog is an operation log, as Faust writes it, and not compacted: the key is
//!   `[operation, key]` (Faust JSON), the value the member for `1` (add) and `2` (discard), or
//!   `[[added..], [removed..]]` for `15` (update). Writes are coalesced like a plain table's (see
//!   [`super::pending`]): a flush sends one update record per key with what was added and
//!   removed since the last one. Recovery applies all three operations, so a changelog written
//!   by Python Faust replays into the Rust table.
//! - A durable store keeps each key's whole set (key and member list as Faust JSON), with the
//!   offset of the last changelog record it covers.

use super::changelog::{self, ChangelogCodec};
use super::pending::{FlushHold, Pending};
use super::recovery::RecoveryStats;
use super::runtime::{TableMap, TableRuntime};
use super::slots::{lock, PartitionSlots, Slots};
use super::spec::TableSpec;
use super::store::{Change, Store};
use super::TableKey;
use crate::app::App;
use crate::engine::context;
use crate::error::{Error, Result};
use crate::transport::DeliveryListener;
use std::any::Any;
use std::collections::HashSet;
use std::marker::PhantomData;
use std::sync::Arc;

/// Faust's set changelog operations.
const OP_ADD: i64 = 0x1;
const OP_DISCARD: i64 = 0x2;
const OP_UPDATE: i64 = 0xF;

type Members<M> = HashSet<M, foldhash::fast::RandomState>;

/// A set table declared with `#[table(kind = "set", ..)]`. Implemented by the macro.
pub trait SetTable: Copy + Send + Sync + 'static {
    /// Key type.
    type Key: TableKey;
    /// Member type.
    type Member: TableKey;
    /// The declaration.
    fn __spec() -> &'static TableSpec;
}

/// What was added and removed for one key since the last flush.
struct Delta<M> {
    added: Members<M>,
    removed: Members<M>,
}

impl<M> Default for Delta<M> {
    fn default() -> Self {
        Delta {
            added: Default::default(),
            removed: Default::default(),
        }
    }
}

/// One active partition of a set table.
struct SetPart<K, M> {
    map: TableMap<K, Members<M>>,
    pending: Pending<K>,
    deltas: TableMap<K, Delta<M>>,
}

/// A key's whole set in the store's form: key bytes and member list bytes (`None`: empty).
type Stored = (Vec<u8>, Option<Vec<u8>>);

/// One key and its members, as [`SetTableApi::items`] lists them.
pub type SetItem<T> = (<T as SetTable>::Key, Vec<<T as SetTable>::Member>);

/// A set table's typed state; see the module docs.
pub struct SetState<K, M> {
    name: &'static str,
    changelog: &'static str,
    parts: Slots<SetPart<K, M>>,
    codec: ChangelogCodec,
    store: Arc<dyn Store>,
    stats: RecoveryStats,
}

impl<K: TableKey, M: TableKey> SetState<K, M> {
    fn new(
        name: &'static str,
        changelog: &'static str,
        partitions: i32,
        store: Arc<dyn Store>,
    ) -> Result<Self> {
        Ok(SetState {
            name,
            changelog,
            parts: Slots::new(partitions),
            codec: ChangelogCodec::new()?,
            store,
            stats: RecoveryStats::default(),
        })
    }

    fn with_part<R>(&self, partition: i32, f: impl FnOnce(&mut SetPart<K, M>) -> R) -> Result<R> {
        let slot = self.parts.slot(partition).ok_or_else(|| {
                Error::state(format!(
                    "set table '{}' has {} partitions, but the event being processed is from partition {partition}: \
                     a table is partitioned like the stream that updates it",
                    self.name,
                    self.parts.len()
                ))
            })?;
        match lock(slot).as_mut() {
            Some(h) => Ok(f(&mut h.part)),
            None => Err(self.inactive(partition)),
        }
    }

    fn inactive(&self, partition: i32) -> Error {
        Error::state(format!(
            "set table '{}': partition {partition} is not active on this worker (not assigned, or its recovery failed)",
            self.name
        ))
    }

    /// Loads `partition` from the store: its part and the changelog offset to read from.
    fn load(&self, partition: i32) -> Result<(SetPart<K, M>, i64)> {
        let mut map: TableMap<K, Members<M>> = TableMap::default();
        self.store.load(partition, &mut |k, v| {
            let bad = |e: String| {
                Error::state(format!(
                    "set table '{}' store, partition {partition}: an entry does not decode: {e}",
                    self.name
                ))
            };
            let key: K = self.codec.decode(k).map_err(bad)?;
            let members: Vec<M> = self.codec.decode(v).map_err(bad)?;
            map.insert(key, members.into_iter().collect());
            Ok(())
        })?;
        let from = self
            .store
            .last_offset(partition)?
            .map(|o| o + 1)
            .unwrap_or(0);
        let part = SetPart {
            map,
            pending: Pending::default(),
            deltas: TableMap::default(),
        };
        Ok((part, from))
    }

    /// Applies one changelog record (see [`TableRuntime::apply`]); by the follower
    /// (`standby_only`) only to a standby copy the record is new to. Returns whether it was
    /// applied.
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
                "set table '{}': changelog record {}[{partition}]@{offset} cannot be applied: {what}: {e}",
                self.name, self.changelog
            ))
        };
        let kb = key.ok_or_else(|| {
            bad(
                "it has no key",
                "a set changelog record always has one".into(),
            )
        })?;
        let (op, k): (i64, K) = self
            .codec
            .decode(kb)
            .map_err(|e| bad("the key is not [operation, key]", e))?;
        let vb =
            value.ok_or_else(|| bad("it has no value", "a set operation always has one".into()))?;
        let applied = self.parts.apply(
            partition,
            offset,
            standby_only,
            || self.inactive(partition),
            |part| -> Result<Option<Stored>> {
                let set = part.map.entry(k.clone()).or_default();
                match op {
                    OP_ADD => {
                        let m: M = self
                            .codec
                            .decode(vb)
                            .map_err(|e| bad("the member does not decode", e))?;
                        set.insert(m);
                    }
                    OP_DISCARD => {
                        let m: M = self
                            .codec
                            .decode(vb)
                            .map_err(|e| bad("the member does not decode", e))?;
                        set.remove(&m);
                    }
                    OP_UPDATE => {
                        let (added, removed): (Vec<M>, Vec<M>) = self
                            .codec
                            .decode(vb)
                            .map_err(|e| bad("the value is not [added, removed]", e))?;
                        set.extend(added);
                        for m in &removed {
                            set.remove(m);
                        }
                    }
                    other => {
                        return Err(bad(
                            "unknown operation",
                            format!(
                                "{other} (Faust's set operations are 1 add, 2 discard, 15 update)"
                            ),
                        ))
                    }
                }
                let stored = if self.store.is_durable() {
                    Some(self.stored(&k, part.map.get(&k))?)
                } else {
                    None
                };
                if part.map.get(&k).is_some_and(|s| s.is_empty()) {
                    part.map.remove(&k);
                }
                Ok(stored)
            },
        )?;
        let Some(stored) = applied else {
            return Ok(false);
        };
        if let Some((sk, sv)) = stored {
            let change: [Change<'_>; 1] = [(&sk, sv.as_deref())];
            self.store.apply(partition, &change, offset)?;
        }
        Ok(true)
    }

    fn encode<T: serde::Serialize>(&self, what: &str, v: &T) -> Result<Vec<u8>> {
        self.codec.encode(self.name, what, v)
    }

    /// The store's form of one key's set: key and member list, Faust JSON.
    fn stored(&self, key: &K, members: Option<&Members<M>>) -> Result<Stored> {
        let k = self.encode("key", key)?;
        let v = match members {
            Some(m) if !m.is_empty() => {
                Some(self.encode("member", &m.iter().collect::<Vec<&M>>())?)
            }
            _ => None,
        };
        Ok((k, v))
    }

    fn flush_pending(&self, app: &App, mask: Option<u64>) {
        type Record = (Vec<u8>, Vec<u8>, Option<Stored>);
        for (p, slot) in self.parts.iter() {
            if mask.is_some_and(|m| p >= 64 || m & (1 << p) == 0) {
                continue;
            }
            let mut records: Vec<Record> = Vec::new();
            let mut failed: Option<String> = None;
            let holds = {
                let mut guard = lock(slot);
                let Some(part) = guard.as_mut().map(|h| &mut h.part) else {
                    continue;
                };
                if part.pending.is_empty() {
                    continue;
                }
                let SetPart {
                    map,
                    pending,
                    deltas,
                } = part;
                let durable = self.store.is_durable();
                pending.take(|k| {
                    let Some(d) = deltas.remove(k) else {
                        return;
                    };
                    let added: Vec<&M> = d.added.iter().collect();
                    let removed: Vec<&M> = d.removed.iter().collect();
                    let encoded = self.encode("key", &(OP_UPDATE, k)).and_then(|kb| {
                        let vb = self.encode("member", &(added, removed))?;
                        let stored = if durable {
                            Some(self.stored(k, map.get(k))?)
                        } else {
                            None
                        };
                        Ok((kb, vb, stored))
                    });
                    match encoded {
                        Ok(r) => records.push(r),
                        Err(e) => {
                            failed.get_or_insert(e.to_string());
                        }
                    }
                })
            };
            let expected = records.len() + usize::from(failed.is_some());
            let hold: Arc<FlushHold> = Arc::new(
                FlushHold::new(self.changelog, expected, holds)
                    .noting_offsets(self.parts.written(p)),
            );
            if let Some(reason) = failed {
                tracing::error!(table = self.name, partition = p, error = %reason,
                    "a set table write cannot be encoded for the changelog");
                hold.delivered(0, &Err(Error::config(reason)));
            }
            for (k, v, stored) in records {
                let callback: Option<crate::transport::SendCallback> = stored.map(|(sk, sv)| {
                    let store = self.store.clone();
                    Box::new(move |r: &Result<crate::transport::RecordMetadata>| {
                        if let Ok(meta) = r {
                            store.delivered(meta.partition, meta.offset, &sk, sv.as_deref());
                        }
                    }) as crate::transport::SendCallback
                });
                let listener: Arc<dyn DeliveryListener> = hold.clone();
                if let Err(e) = changelog::send(
                    app,
                    self.changelog,
                    p as i32,
                    k,
                    Some(v),
                    (listener, 0),
                    callback,
                ) {
                    tracing::error!(table = self.name, partition = p, error = %e,
                        "a changelog record could not be handed to the producer");
                }
            }
        }
    }
}

impl<K: TableKey, M: TableKey> TableRuntime for SetState<K, M> {
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

/// The web views see each key's members as a JSON list.
impl<K: TableKey, M: TableKey> super::view::TableView for SetState<K, M> {
    fn lookup_json(&self, key: &str) -> std::result::Result<Option<serde_json::Value>, String> {
        let k: K = serde_json::from_str(key)
            .or_else(|_| serde_json::from_value(serde_json::Value::String(key.to_string())))
            .map_err(|e| format!("'{key}' is not a key of set table '{}': {e}", self.name))?;
        let mut found = None;
        self.parts.each(false, |p| {
            if found.is_none() {
                found = p
                    .map
                    .get(&k)
                    .map(|m| serde_json::to_value(m.iter().collect::<Vec<&M>>()));
            }
        });
        found.transpose().map_err(|e| e.to_string())
    }

    fn items_json(&self, limit: usize) -> (usize, Vec<(serde_json::Value, serde_json::Value)>) {
        let mut n = 0;
        let mut out = Vec::new();
        self.parts.each(false, |p| {
            n += p.map.len();
            for (k, m) in p.map.iter().take(limit.saturating_sub(out.len())) {
                let list: Vec<&M> = m.iter().collect();
                if let (Ok(k), Ok(v)) = (serde_json::to_value(k), serde_json::to_value(list)) {
                    out.push((k, v));
                }
            }
        });
        (n, out)
    }
}

/// What a set table handle does: see the module docs.
pub struct SetTableApi<T>(PhantomData<fn() -> T>);

impl<T> SetTableApi<T> {
    /// The handle of the current app's table.
    pub const UNBOUND: Self = SetTableApi(PhantomData);
}

type State<T> = SetState<<T as SetTable>::Key, <T as SetTable>::Member>;

impl<T: SetTable> SetTableApi<T> {
    /// The table name.
    pub fn name(&self) -> &'static str {
        T::__spec().name
    }

    fn with_state<R>(&self, f: impl FnOnce(&State<T>) -> Result<R>) -> Result<R> {
        App::with_current(|app| {
            app.core_ref()
                .tables
                .with_typed::<State<T>, _>(T::__spec().name, f)
                .unwrap_or_else(|| {
                    Err(Error::state(format!(
                        "table '{}' is not part of app '{}' (not started yet, or its module is not included)",
                        T::__spec().name,
                        app.id()
                    )))
                })
        })?
    }

    fn event_partition(&self, what: &str) -> Result<i32> {
        context::partition().ok_or_else(|| {
            Error::state(format!(
                "set table '{}': {what} outside an agent's event: a table lives in the partitions of the events \
                 that update it, so read and write it from an agent while it processes an event",
                T::__spec().name
            ))
        })
    }

    /// Adds `member` to the set of `key`; returns whether it was new.
    pub fn add(&self, key: T::Key, member: T::Member) -> Result<bool> {
        let p = self.event_partition("add")?;
        self.with_state(|s| {
            s.with_part(p, |part| {
                let new = part
                    .map
                    .entry(key.clone())
                    .or_default()
                    .insert(member.clone());
                if new {
                    let d = part.deltas.entry(key.clone()).or_default();
                    d.removed.remove(&member);
                    d.added.insert(member);
                    part.pending.touch_owned(key);
                }
                new
            })
        })
    }

    /// Removes `member` from the set of `key`; returns whether it was there.
    pub fn discard(&self, key: &T::Key, member: &T::Member) -> Result<bool> {
        let p = self.event_partition("discard")?;
        self.with_state(|s| {
            s.with_part(p, |part| {
                let Some(set) = part.map.get_mut(key) else {
                    return false;
                };
                let was = set.remove(member);
                if set.is_empty() {
                    part.map.remove(key);
                }
                if was {
                    let d = part.deltas.entry(key.clone()).or_default();
                    d.added.remove(member);
                    d.removed.insert(member.clone());
                    part.pending.touch(key);
                }
                was
            })
        })
    }

    /// Whether the set of `key` has `member`.
    pub fn contains(&self, key: &T::Key, member: &T::Member) -> Result<bool> {
        let p = self.event_partition("contains")?;
        self.with_state(|s| {
            s.with_part(p, |part| {
                part.map.get(key).is_some_and(|m| m.contains(member))
            })
        })
    }

    /// A copy of the members of `key` (empty when it has none), in no particular order.
    pub fn members(&self, key: &T::Key) -> Result<Vec<T::Member>> {
        let p = self.event_partition("members")?;
        self.with_state(|s| {
            s.with_part(p, |part| {
                part.map
                    .get(key)
                    .map(|m| m.iter().cloned().collect())
                    .unwrap_or_default()
            })
        })
    }

    /// Number of keys with a non-empty set in the partitions active on this worker.
    pub fn len(&self) -> Result<usize> {
        self.with_state(|s| {
            let mut n = 0;
            s.parts.each(false, |p| n += p.map.len());
            Ok(n)
        })
    }

    /// Whether no key has a member in the partitions active on this worker.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// A copy of every key and its members in the partitions active on this worker.
    pub fn items(&self) -> Result<Vec<SetItem<T>>> {
        self.with_state(|s| {
            let mut out = Vec::new();
            s.parts.each(false, |p| {
                out.extend(
                    p.map
                        .iter()
                        .map(|(k, m)| (k.clone(), m.iter().cloned().collect())),
                )
            });
            Ok(out)
        })
    }
}

/// Makes the typed state of set table `T` (what `#[table(kind = "set", ..)]` puts in its spec).
pub fn make_set_table<T: SetTable>(
    app: &App,
    spec: &'static TableSpec,
    partitions: i32,
    changelog: &'static str,
) -> Result<Arc<dyn TableRuntime>> {
    let store = super::open_store(app, spec, partitions)?;
    Ok(Arc::new(State::<T>::new(
        spec.name, changelog, partitions, store,
    )?))
}
