//! Where a table's data lives besides the worker's memory: the [`Store`] interface.
//!
//! A table always serves reads from its in-memory map of each active partition. A store is the
//! durable copy next to it: it receives every change in changelog form (key and value bytes
//! as written to the changelog) once the changelog holds it (delivered, or replayed during
//! recovery), and remembers, per partition, the offset of the last changelog record it holds, so
//! that a restart loads the partition from disk and replays only the newer changelog records. The in-memory store keeps nothing: every assignment replays the whole
//! changelog partition.

use crate::error::Result;

/// One change, in changelog form: key bytes and value bytes (`None` = deleted).
pub type Change<'a> = (&'a [u8], Option<&'a [u8]>);

/// Takes each key and value [`Store::load`] finds.
pub type LoadSink<'a> = &'a mut dyn FnMut(&[u8], &[u8]) -> Result<()>;

/// A table's durable local copy; see the module docs.
pub trait Store: Send + Sync + 'static {
    /// The store's name for messages (`memory`, `redb`).
    fn kind(&self) -> &'static str;

    /// Whether it keeps anything (the in-memory store does not: writes skip it).
    fn is_durable(&self) -> bool;

    /// The offset of the last changelog record this partition holds, if any (recovery
    /// replays from the next one).
    fn last_offset(&self, partition: i32) -> Result<Option<i64>>;

    /// Every key and value this partition holds.
    fn load(&self, partition: i32, each: LoadSink<'_>) -> Result<()>;

    /// Applies changes read from the changelog, up to and including changelog `offset`.
    fn apply(&self, partition: i32, changes: &[Change<'_>], offset: i64) -> Result<()>;

    /// A change made by an agent whose changelog record was delivered at `offset`.
    fn delivered(&self, partition: i32, offset: i64, key: &[u8], value: Option<&[u8]>);

    /// Makes what was written durable (called on revoke and at stop).
    fn flush(&self) -> Result<()>;
}
