//! Read-only, type-erased reads of a table for the worker's web views (`/table/{name}`,
//! `/table/{name}/{key}`): a key given as JSON text looked up in the partitions active on this
//! worker, and a page of the items they hold. Nothing here writes or needs an event.

use super::runtime::TableState;
use super::{lock, read, TableRuntime, Tables};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;
use std::hash::Hash;
use std::sync::Arc;

/// A table's reads for the web views, whatever its types.
pub trait TableView: Send + Sync {
    /// The value of the key written as `key` (JSON, or plain text taken as a string) in the
    /// partitions active here, as JSON: `Ok(None)` when none of them holds it, `Err` when
    /// `key` is not a key of this table.
    fn lookup_json(&self, key: &str) -> Result<Option<Value>, String>;
    /// How many keys the active partitions hold, and up to `limit` of them with their values.
    fn items_json(&self, limit: usize) -> (usize, Vec<(Value, Value)>);
}

impl<K, V> TableView for TableState<K, V>
where
    K: Serialize + DeserializeOwned + Hash + Eq + Clone + Send + Sync + 'static,
    V: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    fn lookup_json(&self, key: &str) -> Result<Option<Value>, String> {
        let k: K = serde_json::from_str(key)
            .or_else(|_| serde_json::from_value(Value::String(key.to_string())))
            .map_err(|e| format!("'{key}' is not a key of table '{}': {e}", self.name))?;
        let mut found = None;
        self.each_partition(|m| {
            if found.is_none() {
                found = m
                    .get(&k)
                    .map(|v| serde_json::to_value(v).map_err(|e| e.to_string()));
            }
        });
        found.transpose()
    }

    fn items_json(&self, limit: usize) -> (usize, Vec<(Value, Value)>) {
        let mut n = 0;
        let mut out = Vec::new();
        self.each_partition(|m| {
            n += m.len();
            for (k, v) in m.iter().take(limit.saturating_sub(out.len())) {
                if let (Ok(k), Ok(v)) = (serde_json::to_value(k), serde_json::to_value(v)) {
                    out.push((k, v));
                }
            }
        });
        (n, out)
    }
}

impl Tables {
    /// The table named `name`.
    pub(crate) fn find(&self, name: &str) -> Option<Arc<dyn TableRuntime>> {
        read(&self.list).iter().find(|t| t.name() == name).cloned()
    }

    /// Every table, in declaration order.
    pub(crate) fn all(&self) -> Vec<Arc<dyn TableRuntime>> {
        read(&self.list).clone()
    }

    /// The partition numbers active on this worker (those of its assigned topic partitions).
    pub(crate) fn active(&self) -> Vec<i32> {
        lock(&self.assigned).keys().copied().collect()
    }
}
