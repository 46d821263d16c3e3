//! The in-memory store: keeps nothing beyond the table's own map, so every assignment replays
//! the partition's whole changelog (Faust's `memory://` store).

use super::store::{Change, LoadSink, Store};
use crate::error::Result;

/// See the module docs.
#[derive(Debug, Default, Clone, Copy)]
pub struct MemoryStore;

impl Store for MemoryStore {
    fn kind(&self) -> &'static str {
        "memory"
    }
    fn is_durable(&self) -> bool {
        false
    }
    fn last_offset(&self, _partition: i32) -> Result<Option<i64>> {
        Ok(None)
    }
    fn load(&self, _: i32, _: LoadSink<'_>) -> Result<()> {
        Ok(())
    }
    fn apply(&self, _: i32, _: &[Change<'_>], _: i64) -> Result<()> {
        Ok(())
    }
    fn delivered(&self, _: i32, _: i64, _: &[u8], _: Option<&[u8]>) {}
    fn flush(&self) -> Result<()> {
        Ok(())
    }
}
