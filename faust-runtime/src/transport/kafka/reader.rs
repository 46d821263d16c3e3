//! A librdkafka consumer assigned partitions directly (no group membership, nothing committed):
//! what table recovery reads changelogs with.

use super::{check_topic_name, Shared};
use crate::error::{Error, Result};
use crate::transport::reader::{PartitionReader, ReadSink};
use crate::transport::{RawMessage, TopicPartition};
use futures::FutureExt;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use std::sync::Arc;
use std::time::Duration;

/// Most records handed over by one read.
const BATCH: usize = 4096;

/// See the module docs.
pub(super) struct KafkaReader {
    shared: Arc<Shared>,
    consumer: Arc<StreamConsumer>,
}

/// A consumer assigned `starts` (partition, first offset to read).
pub(super) fn create(
    shared: &Arc<Shared>,
    starts: &[(TopicPartition, i64)],
) -> Result<KafkaReader> {
    let mut tpl = TopicPartitionList::new();
    for (tp, offset) in starts {
        check_topic_name(&tp.topic)?;
        tpl.add_partition_offset(&tp.topic, tp.partition, Offset::Offset((*offset).max(0)))
            .map_err(|e| Error::config(format!("cannot read {tp} from {offset}: {e}")))?;
    }
    let k = &shared.settings;
    let mut c = shared.base_config();
    // A group id is required by librdkafka's consumer, but nothing joins or commits with it.
    c.set("group.id", "faust-rs-partition-reader")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set(
            "fetch.queue.backoff.ms",
            format!("{}", k.fetch_queue_backoff.as_millis()),
        );
    let consumer: StreamConsumer = c
        .create()
        .map_err(|e| Error::config(format!("cannot create a Kafka partition reader: {e}")))?;
    consumer
        .assign(&tpl)
        .map_err(|e| Error::broker(&shared.url, format!("cannot assign {starts:?}: {e}")))?;
    Ok(KafkaReader {
        shared: shared.clone(),
        consumer: Arc::new(consumer),
    })
}

#[async_trait::async_trait]
impl PartitionReader for KafkaReader {
    async fn read(&mut self, wait: Duration, sink: ReadSink<'_>) -> Result<usize> {
        let url = &self.shared.url;
        let first = match tokio::time::timeout(wait, self.consumer.recv()).await {
            Err(_) => return Ok(0),
            Ok(r) => r.map_err(|e| Error::broker(url, format!("reading a partition: {e}")))?,
        };
        let hand = |m: &rdkafka::message::BorrowedMessage<'_>, sink: &mut ReadSink<'_>| {
            sink(&RawMessage {
                topic: m.topic(),
                partition: m.partition(),
                offset: m.offset(),
                timestamp: m.timestamp().to_millis().unwrap_or(-1),
                key: m.key(),
                value: m.payload(),
                headers: None,
                shared: None,
            })
        };
        let mut sink = sink;
        hand(&first, &mut sink);
        drop(first);
        let mut got = 1;
        while got < BATCH {
            match self.consumer.recv().now_or_never() {
                Some(Ok(m)) => {
                    hand(&m, &mut sink);
                    got += 1;
                }
                Some(Err(e)) => {
                    return Err(Error::broker(url, format!("reading a partition: {e}")));
                }
                None => break,
            }
        }
        Ok(got)
    }

    async fn end_offset(&mut self, partition: &TopicPartition) -> Result<i64> {
        let tp = partition.clone();
        let url = self.shared.url.clone();
        let consumer = self.consumer.clone();
        self.shared
            .blocking(move || {
                consumer
                    .fetch_watermarks(&tp.topic, tp.partition, Duration::from_secs(10))
                    .map(|(_, high)| high)
                    .map_err(|e| Error::broker(url, format!("watermarks of {tp}: {e}")))
            })
            .await
    }
}
