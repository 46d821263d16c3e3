//! Global tables: every worker holds every partition (Faust's `app.GlobalTable`), for
//! read-mostly data every event may need (reference data, settings, lookups).
//!
//! ```no_run
//! use faust_runtime::prelude::*;
//!
//! #[topic(name = "prices", key = String, value = f64)]
//! struct Prices;
//!
//! /// The latest price of each product, on every worker.
//! #[table(name = "prices", kind = "global", key = String, value = f64)]
//! struct PriceTable;
//!
//! #[agent(Prices)]
//! async fn keep_prices(mut prices: Events<Prices>) -> Result<()> {
//!     while let Some(ev) = prices.next().await {
//!         PriceTable.insert(ev.key.clone().unwrap_or_default(), ev.value)?;
//!     }
//!     Ok(())
//! }
//!
//! #[timer(interval = "10s")]
//! async fn report() -> Result<()> {
//!     // Reads work anywhere, not only in an agent's event.
//!     tracing::info!(apples = ?PriceTable.get(&"apple".to_string())?, "price");
//!     Ok(())
//! }
//! # faust_runtime::main!(id = "prices");
//! ```
//!
//! - **Recovery.** Every partition of the changelog is recovered at startup, before any agent
//!   runs; the partitions this worker does not own are then followed as standby copies (see
//!   [`super::standby`]), so writes made on other workers reach this one's reads within moments.
//! - **Writes** happen in an agent while it processes an event, like a table's: they go to the
//!   changelog partition of the event, are coalesced and sent in batches, and the event commits
//!   after they are delivered.
//! - **Reads** ([`GlobalTableApi::get`], [`GlobalTableApi::items`], ...) work anywhere an app is
//!   current and see every partition. A key lives in the partition of the events that wrote it;
//!   write each key from one partition (key the stream by it), as with Faust.

use super::handle::{Table, TableApi};
use super::runtime::TableState;
use crate::app::App;
use crate::engine::context;
use crate::error::{Error, Result};
use std::marker::PhantomData;

/// What a global table handle does: see the module docs.
pub struct GlobalTableApi<T>(PhantomData<fn() -> T>);

impl<T> GlobalTableApi<T> {
    /// The handle of the current app's table.
    pub const UNBOUND: Self = GlobalTableApi(PhantomData);
}

type State<T> = TableState<<T as Table>::Key, <T as Table>::Value>;

impl<T: Table> GlobalTableApi<T> {
    /// The table name.
    pub fn name(&self) -> &'static str {
        T::__spec().name
    }

    fn with_state<R>(&self, f: impl FnOnce(&App, &State<T>) -> R) -> Result<R> {
        App::with_current(|app| {
            app.core_ref()
                .tables
                .with_typed::<State<T>, _>(T::__spec().name, |s| f(app, s))
                .ok_or_else(|| {
                    Error::state(format!(
                        "table '{}' is not part of app '{}' (not started yet, or its module is not included)",
                        T::__spec().name,
                        app.id()
                    ))
                })
        })?
    }

    /// The value stored for `key` in any partition, if any; works anywhere an app is current.
    pub fn get(&self, key: &T::Key) -> Result<Option<T::Value>> {
        self.with_state(|app, s| {
            let r = s.find_held(context::partition(), |m| m.get(key).cloned());
            super::handle::sensed(app, |x| x.on_table_get(T::__spec().name));
            r
        })
    }

    /// The value stored for `key`, or the table's default.
    pub fn get_or_default(&self, key: &T::Key) -> Result<T::Value> {
        Ok(self.get(key)?.unwrap_or_else(T::__default))
    }

    /// Whether `key` has a value in any partition.
    pub fn contains_key(&self, key: &T::Key) -> Result<bool> {
        self.with_state(|_, s| {
            s.find_held(context::partition(), |m| m.contains_key(key).then_some(()))
                .is_some()
        })
    }

    /// Stores `value` for `key` in the partition of the event being processed; returns the
    /// previous value there. Only in an agent's event.
    pub fn insert(&self, key: T::Key, value: T::Value) -> Result<Option<T::Value>> {
        TableApi::<T>::UNBOUND.insert(key, value)
    }

    /// Changes the value of `key` in the partition of the event being processed (starting from
    /// the default) and stores the result; returns what `f` returns. Only in an agent's event.
    pub fn update<R>(&self, key: T::Key, f: impl FnOnce(&mut T::Value) -> R) -> Result<R> {
        TableApi::<T>::UNBOUND.update(key, f)
    }

    /// Deletes `key` from the partition of the event being processed (a tombstone in the
    /// changelog); returns the value it had there. Only in an agent's event.
    pub fn remove(&self, key: &T::Key) -> Result<Option<T::Value>> {
        TableApi::<T>::UNBOUND.remove(key)
    }

    /// Number of keys in every partition.
    pub fn len(&self) -> Result<usize> {
        self.with_state(|_, s| {
            let mut n = 0;
            s.each_held_partition(|m| n += m.len());
            n
        })
    }

    /// Whether no partition holds a key.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// A copy of every key and value, from every partition.
    pub fn items(&self) -> Result<Vec<(T::Key, T::Value)>> {
        self.with_state(|_, s| {
            let mut out = Vec::new();
            s.each_held_partition(|m| out.extend(m.iter().map(|(k, v)| (k.clone(), v.clone()))));
            out
        })
    }
}
