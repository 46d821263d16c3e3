//! A persistent store on [`redb`] (a pure-Rust, crash-safe embedded B-tree database): one file
//! per table, `{table_dir}/{table}.redb`, a tree per partition and the offset of the last
//! changelog record each partition holds.
//!
//! The store holds exactly a prefix of the changelog: a change enters it when its changelog
//! record is delivered (with that record's offset) or replayed during recovery, never before.
//! Changes are buffered and committed together (one durable transaction) every commit interval,
//! on revoke and at stop; a worker killed in between loses only the buffer, which the next
//! recovery replays from the changelog (everything after the stored offset).

use super::store::{Change, LoadSink, Store};
use crate::error::{Error, Result};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableError};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const OFFSETS: TableDefinition<'static, i32, i64> = TableDefinition::new("changelog-offsets");

/// One change waiting to be committed.
struct Pending {
    partition: i32,
    offset: i64,
    key: Vec<u8>,
    value: Option<Vec<u8>>,
}

/// See the module docs.
pub struct RedbStore {
    path: PathBuf,
    db: Database,
    pending: Mutex<Vec<Pending>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn tree_name(partition: i32) -> String {
    format!("partition-{partition}")
}

impl RedbStore {
    /// Opens (or creates) the store file at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::config(format!(
                    "cannot create the table directory {}: {e}",
                    dir.display()
                ))
            })?;
        }
        let db = Database::create(path).map_err(|e| {
            Error::config(format!(
                "cannot open the table store {}: {e}",
                path.display()
            ))
        })?;
        Ok(RedbStore {
            path: path.to_path_buf(),
            db,
            pending: Mutex::new(Vec::new()),
        })
    }

    fn err(&self, what: &str, e: impl std::fmt::Display) -> Error {
        Error::state(format!("table store {}: {what}: {e}", self.path.display()))
    }

    fn queue(&self, partition: i32, offset: i64, key: &[u8], value: Option<&[u8]>) {
        lock(&self.pending).push(Pending {
            partition,
            offset,
            key: key.to_vec(),
            value: value.map(<[u8]>::to_vec),
        });
    }
}

impl Store for RedbStore {
    fn kind(&self) -> &'static str {
        "redb"
    }

    fn is_durable(&self) -> bool {
        true
    }

    fn last_offset(&self, partition: i32) -> Result<Option<i64>> {
        let txn = self.db.begin_read().map_err(|e| self.err("read", e))?;
        let table = match txn.open_table(OFFSETS) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(self.err("read offsets", e)),
        };
        let got = table
            .get(partition)
            .map_err(|e| self.err("read offsets", e))?;
        Ok(got.map(|v| v.value()))
    }

    fn load(&self, partition: i32, each: LoadSink<'_>) -> Result<()> {
        let name = tree_name(partition);
        let def: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new(&name);
        let txn = self.db.begin_read().map_err(|e| self.err("read", e))?;
        let table = match txn.open_table(def) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(()),
            Err(e) => return Err(self.err("read a partition", e)),
        };
        for row in table.iter().map_err(|e| self.err("read a partition", e))? {
            let (k, v) = row.map_err(|e| self.err("read a partition", e))?;
            each(k.value(), v.value())?;
        }
        Ok(())
    }

    fn apply(&self, partition: i32, changes: &[Change<'_>], offset: i64) -> Result<()> {
        for (k, v) in changes {
            self.queue(partition, offset, k, *v);
        }
        Ok(())
    }

    fn delivered(&self, partition: i32, offset: i64, key: &[u8], value: Option<&[u8]>) {
        self.queue(partition, offset, key, value);
    }

    fn flush(&self) -> Result<()> {
        let batch = std::mem::take(&mut *lock(&self.pending));
        if batch.is_empty() {
            return Ok(());
        }
        let txn = self.db.begin_write().map_err(|e| self.err("write", e))?;
        {
            let mut offsets = txn
                .open_table(OFFSETS)
                .map_err(|e| self.err("write offsets", e))?;
            let mut parts: Vec<i32> = batch.iter().map(|p| p.partition).collect();
            parts.sort_unstable();
            parts.dedup();
            for p in parts {
                let name = tree_name(p);
                let def: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new(&name);
                let mut tree = txn
                    .open_table(def)
                    .map_err(|e| self.err("write a partition", e))?;
                let mut last = None;
                for c in batch.iter().filter(|c| c.partition == p) {
                    match &c.value {
                        Some(v) => {
                            tree.insert(c.key.as_slice(), v.as_slice())
                                .map_err(|e| self.err("write", e))?;
                        }
                        None => {
                            tree.remove(c.key.as_slice())
                                .map_err(|e| self.err("write", e))?;
                        }
                    }
                    last = Some(last.map_or(c.offset, |l: i64| l.max(c.offset)));
                }
                if let Some(o) = last {
                    let before = offsets
                        .get(p)
                        .map_err(|e| self.err("read offsets", e))?
                        .map(|v| v.value());
                    if before.is_none_or(|b| o > b) {
                        offsets
                            .insert(p, o)
                            .map_err(|e| self.err("write offsets", e))?;
                    }
                }
            }
        }
        txn.commit().map_err(|e| self.err("commit", e))
    }
}
