//! Transports: where records live. One interface, two implementations: the embedded in-memory broker
//! (`memory://`, the default) and Kafka (`kafka://host:port;host:port`).
//!
//! Nothing above this module knows which transport runs. A transport does four things: manage topics,
//! produce records, run a group consumer that hands each record to a [`Dispatcher`], and commit the
//! offsets the dispatcher reports as done.

use crate::dispatch::Dispatcher;
use crate::error::{Error, Result};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

#[cfg(feature = "kafka")]
pub mod kafka;
pub mod memory;

/// Record headers, in order, as Kafka keeps them (a key may repeat; a value may be null).
pub type Headers = Vec<(String, Option<Bytes>)>;

/// A record on its way to a broker: bytes only, the codecs have already run.
#[derive(Debug, Clone)]
pub struct OutgoingRecord {
    /// Topic name.
    pub topic: String,
    /// Explicit partition; `None` lets the transport choose (murmur2 of the key, or any for no key).
    pub partition: Option<i32>,
    /// Key bytes (`None` = no key).
    pub key: Option<Vec<u8>>,
    /// Value bytes (`None` = tombstone).
    pub value: Option<Vec<u8>>,
    /// Headers.
    pub headers: Headers,
    /// Timestamp in milliseconds since the epoch; `None` = now.
    pub timestamp: Option<i64>,
    /// Producer acknowledgements the topic asks for (`None` = the transport's default).
    pub acks: Option<crate::topic::Acks>,
    /// Delivery guarantee the topic asks for (`None` = at least once).
    pub delivery_guarantee: Option<crate::topic::DeliveryGuarantee>,
}

/// Where a record landed, as acknowledged by the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// Topic name.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
    /// Timestamp in milliseconds since the epoch.
    pub timestamp: i64,
}

/// Lets a transport expose a received record's headers without copying them unless asked.
pub trait HeaderSource {
    /// Copies the headers out.
    fn to_headers(&self) -> Headers;
}

impl HeaderSource for Headers {
    fn to_headers(&self) -> Headers {
        self.clone()
    }
}

/// A received record, borrowed from the transport for the duration of one dispatch.
pub struct RawMessage<'a> {
    /// Topic name.
    pub topic: &'a str,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Timestamp in milliseconds since the epoch (`-1` when the broker gave none).
    pub timestamp: i64,
    /// Key bytes.
    pub key: Option<&'a [u8]>,
    /// Value bytes (`None` = tombstone).
    pub value: Option<&'a [u8]>,
    /// Headers, `None` when the record has none.
    pub headers: Option<&'a (dyn HeaderSource + Sync)>,
}

/// A topic partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: String,
    /// Partition number.
    pub partition: i32,
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.topic, self.partition)
    }
}

/// An offset to commit: the next offset to read for a partition (highest contiguous done + 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitOffset {
    /// Topic name.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset to commit (next to read).
    pub offset: i64,
}

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    /// Topic name.
    pub name: String,
    /// Number of partitions.
    pub partitions: i32,
    /// Replication factor.
    pub replication_factor: i16,
    /// Broker-side topic configuration (`retention.ms`, `cleanup.policy`, ...).
    pub config: BTreeMap<String, String>,
}

/// A topic as the broker describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDescription {
    /// Topic name.
    pub name: String,
    /// Number of partitions.
    pub partitions: i32,
    /// Broker-side configuration the broker reports (may be a subset of all settings).
    pub config: BTreeMap<String, String>,
}

/// What the consumer should do: group, topics, offset reset, commit interval.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// Consumer group id (the app id).
    pub group_id: String,
    /// Topics to subscribe to.
    pub topics: Vec<String>,
    /// Where to start when the group has no committed offset: `true` = earliest, `false` = latest.
    pub from_earliest: bool,
    /// How often done offsets are committed.
    pub commit_interval: Duration,
    /// Whether offsets are committed at all (readers outside agents don't commit).
    pub commit: bool,
}

/// Resolves to the broker's acknowledgement of one send.
#[must_use = "a DeliveryHandle does nothing unless awaited; drop it to ignore the acknowledgement"]
pub struct DeliveryHandle {
    inner: DeliveryInner,
}

enum DeliveryInner {
    Ready(Option<Result<RecordMetadata>>),
    Pending(Pin<Box<dyn Future<Output = Result<RecordMetadata>> + Send>>),
}

impl DeliveryHandle {
    /// A handle that is already resolved.
    pub fn ready(result: Result<RecordMetadata>) -> Self {
        DeliveryHandle {
            inner: DeliveryInner::Ready(Some(result)),
        }
    }
    /// A handle resolved by a future (a transport's delivery report).
    pub fn pending(fut: impl Future<Output = Result<RecordMetadata>> + Send + 'static) -> Self {
        DeliveryHandle {
            inner: DeliveryInner::Pending(Box::pin(fut)),
        }
    }
}

impl Future for DeliveryHandle {
    type Output = Result<RecordMetadata>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().inner {
            DeliveryInner::Ready(r) => Poll::Ready(
                r.take()
                    .unwrap_or_else(|| Err(Error::state("DeliveryHandle polled after completion"))),
            ),
            DeliveryInner::Pending(f) => f.as_mut().poll(cx),
        }
    }
}

impl fmt::Debug for DeliveryHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeliveryHandle")
    }
}

/// Health of a transport, as seen by the app.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransportHealth {
    /// The last broker error seen during the run, if any.
    pub last_error: Option<String>,
    /// Number of broker errors seen during the run.
    pub errors: u64,
}

/// The interface every transport implements.
#[async_trait::async_trait]
pub trait Transport: Send + Sync + 'static {
    /// The broker URL this transport talks to (for messages).
    fn url(&self) -> &str;

    /// Waits until the broker answers, retrying with backoff up to the configured deadline.
    async fn connect(&self) -> Result<()>;

    /// Creates a topic. Fails with [`Error::TopicExists`] if it exists.
    async fn create_topic(&self, topic: &NewTopic) -> Result<()>;

    /// Deletes a topic. Fails with [`Error::UnknownTopic`] if it does not exist.
    async fn delete_topic(&self, name: &str) -> Result<()>;

    /// Lists the topics on the broker.
    async fn list_topics(&self) -> Result<Vec<TopicDescription>>;

    /// Describes one topic, `None` if it does not exist.
    async fn describe_topic(&self, name: &str) -> Result<Option<TopicDescription>>;

    /// Enqueues a record without waiting; the handle resolves on the broker's acknowledgement.
    /// Errors returned here mean nothing was enqueued.
    fn send(&self, record: OutgoingRecord) -> Result<DeliveryHandle>;

    /// Waits until every enqueued record is acknowledged (or the timeout passes).
    async fn flush(&self, timeout: Duration) -> Result<()>;

    /// Runs a group consumer until `dispatcher.is_stopping()` or a fatal dispatch error: subscribes,
    /// hands every record to the dispatcher in partition order, follows rebalances, commits done
    /// offsets on the interval, on revoke and before returning.
    async fn consume(&self, config: ConsumerConfig, dispatcher: Dispatcher) -> Result<()>;

    /// Broker errors seen during the run.
    fn health(&self) -> TransportHealth {
        TransportHealth::default()
    }
}

/// Shared pointer to a transport.
pub type SharedTransport = Arc<dyn Transport>;
