//! The typed handle `#[table]` generates: [`Table`] (the declaration's types) and
//! [`TableApi`] (what `Counts.get(..)`, `Counts.update(..)` reach).

use super::runtime::TableState;
use super::spec::TableSpec;
use crate::app::App;
use crate::engine::context;
use crate::error::{Error, Result};
use serde::{de::DeserializeOwned, Serialize};
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;

/// A key a table can hold: serde both ways (Faust JSON in the changelog), hashable.
pub trait TableKey:
    Serialize + DeserializeOwned + Hash + Eq + Clone + Send + Sync + 'static
{
}
impl<T: Serialize + DeserializeOwned + Hash + Eq + Clone + Send + Sync + 'static> TableKey for T {}

/// A value a table can hold: serde both ways, cloneable (reads return copies).
pub trait TableValue: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {}
impl<T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static> TableValue for T {}

/// A table declared with `#[table]`: its types and spec. Implemented by the macro.
pub trait Table: Copy + Send + Sync + 'static {
    /// Key type.
    type Key: TableKey;
    /// Value type.
    type Value: TableValue;
    /// The declaration.
    fn __spec() -> &'static TableSpec;
    /// The value of a key never written (the declaration's `default`).
    fn __default() -> Self::Value;
}

/// What a table handle does (`Counts.update(word, |n| *n += 1)`), through the running app.
///
/// Reads and writes of one key happen in the partition of the event being processed, and the
/// event is not committed before the changelog holds its writes (writes of one key are coalesced
/// and sent in batches, see [`super::pending`]); so they work inside an agent while it processes
/// an event, and anywhere else are an error. [`TableApi::len`] and
/// [`TableApi::items`] look at every partition active on this worker and work wherever an app
/// is current.
pub struct TableApi<T>(PhantomData<fn() -> T>);

impl<T> TableApi<T> {
    /// The handle of the current app's table.
    pub const UNBOUND: Self = TableApi(PhantomData);
}

type State<T> = TableState<<T as Table>::Key, <T as Table>::Value>;

impl<T: Table> TableApi<T> {
    /// The table name.
    pub fn name(&self) -> &'static str {
        T::__spec().name
    }

    fn state(&self) -> Result<(App, Arc<State<T>>)> {
        let app = App::current()?;
        let state = app
            .core_ref()
            .tables
            .typed::<T::Key, T::Value>(T::__spec().name)
            .ok_or_else(|| {
                Error::state(format!(
                    "table '{}' is not part of app '{}' (not started yet, or its module is not included)",
                    T::__spec().name,
                    app.id()
                ))
            })?;
        Ok((app, state))
    }

    /// Runs `f` on the state (the per-event path: no new reference to the app or the state).
    fn with_state<R>(&self, f: impl FnOnce(&App, &State<T>) -> Result<R>) -> Result<R> {
        App::with_current(|app| {
            app.core_ref()
                .tables
                .with_typed::<State<T>, _>(T::__spec().name, |s| f(app, s))
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
                "table '{}': {what} outside an agent's event: a table lives in the partitions of the events \
                 that update it, so read and write it from an agent while it processes an event",
                T::__spec().name
            ))
        })
    }

    /// The value stored for `key`, if any.
    pub fn get(&self, key: &T::Key) -> Result<Option<T::Value>> {
        let p = self.event_partition("get")?;
        self.with_state(|app, s| {
            let r = s.with_partition(p, |m| m.get(key).cloned())?;
            sensed(app, |x| x.on_table_get(T::__spec().name));
            Ok(r)
        })
    }

    /// The value stored for `key`, or the table's default.
    pub fn get_or_default(&self, key: &T::Key) -> Result<T::Value> {
        Ok(self.get(key)?.unwrap_or_else(T::__default))
    }

    /// Whether `key` has a value.
    pub fn contains_key(&self, key: &T::Key) -> Result<bool> {
        let p = self.event_partition("contains_key")?;
        self.with_state(|app, s| {
            let r = s.with_partition(p, |m| m.contains_key(key))?;
            sensed(app, |x| x.on_table_get(T::__spec().name));
            Ok(r)
        })
    }

    /// Stores `value` for `key`; returns the previous value.
    pub fn insert(&self, key: T::Key, value: T::Value) -> Result<Option<T::Value>> {
        let p = self.event_partition("insert")?;
        self.with_state(|app, s| {
            let r = s.with_part(p, |part| {
                part.touch(&key);
                part.map.insert(key, value)
            })?;
            sensed(app, |x| x.on_table_set(T::__spec().name));
            Ok(r)
        })
    }

    /// Changes the value of `key` in place (starting from the default when it has none) and
    /// stores the result: `Counts.update(word, |n| *n += 1)` is Faust's `counts[word] += 1`.
    /// Returns what `f` returns.
    pub fn update<R>(&self, key: T::Key, f: impl FnOnce(&mut T::Value) -> R) -> Result<R> {
        let p = self.event_partition("update")?;
        self.with_state(|app, s| {
            let r = s.with_part(p, |part| {
                let r = match part.map.get_mut(&key) {
                    Some(v) => f(v),
                    None => f(part.map.entry(key.clone()).or_insert_with(T::__default)),
                };
                part.touch_owned(key);
                r
            })?;
            // Faust's `table[key] += 1`: a read and a write.
            sensed(app, |x| {
                x.on_table_get(T::__spec().name);
                x.on_table_set(T::__spec().name);
            });
            Ok(r)
        })
    }

    /// Deletes `key` (a tombstone in the changelog); returns the value it had.
    pub fn remove(&self, key: &T::Key) -> Result<Option<T::Value>> {
        let p = self.event_partition("remove")?;
        self.with_state(|app, s| {
            let r = s.with_part(p, |part| {
                part.touch(key);
                part.map.remove(key)
            })?;
            sensed(app, |x| x.on_table_del(T::__spec().name));
            Ok(r)
        })
    }

    /// Number of keys in the partitions active on this worker.
    pub fn len(&self) -> Result<usize> {
        let (_, s) = self.state()?;
        let mut n = 0;
        s.each_partition(|m| n += m.len());
        Ok(n)
    }

    /// Whether the partitions active on this worker hold no key.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// A copy of every key and value in the partitions active on this worker.
    pub fn items(&self) -> Result<Vec<(T::Key, T::Value)>> {
        let (_, s) = self.state()?;
        let mut out = Vec::new();
        s.each_partition(|m| out.extend(m.iter().map(|(k, v)| (k.clone(), v.clone()))));
        Ok(out)
    }
}

/// Calls `f` on each sensor of `app` (one branch when there is none).
#[inline]
pub(crate) fn sensed(app: &App, f: impl Fn(&dyn crate::sensor::Sensor)) {
    app.observe().sensors.each(f);
}

/// Makes the typed state of table `T` (what `#[table]` puts in its spec).
pub fn make_table<T: Table>(
    app: &App,
    spec: &'static TableSpec,
    partitions: i32,
    changelog: &'static str,
) -> Result<Arc<dyn super::runtime::TableRuntime>> {
    let store = super::open_store(app, spec, partitions)?;
    Ok(Arc::new(TableState::<T::Key, T::Value>::new(
        spec.name, changelog, partitions, store,
    )?))
}
