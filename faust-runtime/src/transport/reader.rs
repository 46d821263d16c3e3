//! Reading partitions outside any consumer group, from given offsets: what a table's recovery
//! needs to replay its changelog (no group join, nothing committed).

use crate::error::Result;
use crate::transport::{RawMessage, TopicPartition};
use std::time::Duration;

/// A sink for records read by a [`PartitionReader`].
pub type ReadSink<'a> = &'a mut (dyn FnMut(&RawMessage<'_>) + Send);

/// Reads assigned partitions from fixed start offsets; see the module docs.
#[async_trait::async_trait]
pub trait PartitionReader: Send {
    /// Hands the records at hand to `sink` (at most a batch), waiting up to `wait` for the first
    /// to arrive. Returns how many were handed over: `0` means nothing arrived within `wait`.
    async fn read(&mut self, wait: Duration, sink: ReadSink<'_>) -> Result<usize>;

    /// The end offset (next offset to be written) the broker reports for a partition. Only a
    /// hint: some brokers report it too low (see the recovery docs).
    async fn end_offset(&mut self, partition: &TopicPartition) -> Result<i64>;
}
