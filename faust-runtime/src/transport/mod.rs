//! Transports: where records live. One interface, two implementations: the embedded in-memory broker
//! (`memory://`, the default) and Kafka (`kafka://host:port;host:port`).
//!
//! Nothing above this module knows which transport runs, and this module knows nothing above it. A
//! transport does only what needs the broker: manage topics (admin), produce records with delivery
//! reports, and give out group [`Consumer`]s that poll records, report rebalances as values,
//! commit, pause, resume and seek. The consume / commit / rebalance / drain protocol is the
//! runtime's (`crate::engine`), written once for every transport.

use crate::error::{Error, Result};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

pub mod credentials;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod memory;
mod options;
pub mod reader;

pub use options::{Acks, DeliveryGuarantee, KafkaSettings};

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Record headers, in order, as Kafka keeps them (a key may repeat; a value may be null).
pub type Headers = Vec<(String, Option<Bytes>)>;

/// Told of the outcome of one send, with the token it was given (the runtime uses it to complete
/// the event a record was sent for).
pub trait DeliveryListener: Send + Sync + 'static {
    /// The broker acknowledged (`Ok`) or refused (`Err`) the record sent with `token`.
    fn delivered(&self, token: u64, result: &Result<RecordMetadata>);
}

/// A callback run once with the outcome of a send.
pub type SendCallback = Box<dyn FnOnce(&Result<RecordMetadata>) + Send + 'static>;

/// Who is told when a record is delivered: a listener with its token, and a user callback.
#[derive(Default)]
pub struct DeliveryNotice {
    /// The listener and its token.
    pub listener: Option<(Arc<dyn DeliveryListener>, u64)>,
    /// A user callback.
    pub callback: Option<SendCallback>,
    /// The app's sensors, told of the outcome (set by the app when it has sensors). Boxed: a
    /// notice travels with every record, and most apps have no sensors.
    pub(crate) probe: Option<Box<crate::sensor::SendProbe>>,
}

impl DeliveryNotice {
    /// Whether nobody is to be told.
    pub fn is_empty(&self) -> bool {
        self.listener.is_none() && self.callback.is_none() && self.probe.is_none()
    }

    /// Tells everyone the outcome (once).
    pub fn notify(self, result: &Result<RecordMetadata>) {
        if let Some((l, token)) = self.listener {
            l.delivered(token, result);
        }
        if let Some(cb) = self.callback {
            cb(result);
        }
        if let Some(p) = self.probe {
            p.finish(result);
        }
    }
}

impl fmt::Debug for DeliveryNotice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeliveryNotice")
            .field("listener", &self.listener.as_ref().map(|(_, t)| *t))
            .field("callback", &self.callback.is_some())
            .field("probe", &self.probe.is_some())
            .finish()
    }
}

/// A record on its way to a broker: bytes only, the codecs have already run. A clone has the
/// same bytes and an empty [`DeliveryNotice`].
#[derive(Debug)]
pub struct OutgoingRecord {
    /// Topic name.
    pub topic: std::borrow::Cow<'static, str>,
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
    pub acks: Option<Acks>,
    /// Delivery guarantee the topic asks for (`None` = at least once).
    pub delivery_guarantee: Option<DeliveryGuarantee>,
    /// Who to tell when the broker answers (besides the returned handle).
    pub notice: DeliveryNotice,
}

impl Clone for OutgoingRecord {
    fn clone(&self) -> Self {
        OutgoingRecord {
            topic: self.topic.clone(),
            partition: self.partition,
            key: self.key.clone(),
            value: self.value.clone(),
            headers: self.headers.clone(),
            timestamp: self.timestamp,
            acks: self.acks,
            delivery_guarantee: self.delivery_guarantee,
            notice: DeliveryNotice::default(),
        }
    }
}

impl OutgoingRecord {
    /// A record for `topic` with the given key and value and every other field unset.
    pub fn new(
        topic: impl Into<std::borrow::Cow<'static, str>>,
        key: Option<Vec<u8>>,
        value: Option<Vec<u8>>,
    ) -> Self {
        OutgoingRecord {
            topic: topic.into(),
            partition: None,
            key,
            value,
            headers: Vec::new(),
            timestamp: None,
            acks: None,
            delivery_guarantee: None,
            notice: DeliveryNotice::default(),
        }
    }
}

/// What [`Transport::enqueue`] did with a record.
#[derive(Debug)]
pub enum Enqueued {
    /// Handed to the producer; the handle resolves on the broker's answer.
    Queued(DeliveryHandle),
    /// The producer's queue is full: the record is given back; wait for [`Transport::room`] and
    /// try again.
    Full(OutgoingRecord),
}

/// Where a record landed, as acknowledged by the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// Topic name (borrowed from the topic's declaration when it has a static name, so that a
    /// delivery report allocates nothing).
    pub topic: std::borrow::Cow<'static, str>,
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
    /// The same key, value and headers as shared buffers, when the transport keeps records
    /// that way (the embedded broker): the runtime can then hand a record over without copying
    /// and decode it where it is processed. `None` for records borrowed from a client library.
    pub shared: Option<&'a SharedRecord>,
}

/// A record's key, value and headers in shared (reference-counted) buffers.
#[derive(Debug, Clone, Default)]
pub struct SharedRecord {
    /// Key bytes.
    pub key: Option<Bytes>,
    /// Value bytes (`None` = tombstone).
    pub value: Option<Bytes>,
    /// Headers.
    pub headers: Headers,
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
}

/// A change of a consumer's assignment, reported by [`Consumer::poll`]. The consumer waits for
/// the runtime to answer it with [`Consumer::assign`] or [`Consumer::release`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rebalance {
    /// These partitions are now this consumer's: nothing of them is delivered until
    /// [`Consumer::assign`] is called for them.
    Assigned(Vec<TopicPartition>),
    /// These partitions are taken away once their work is finished and committed: records of
    /// them may still be delivered until [`Consumer::release`] is called, and are to be ignored.
    Revoked(Vec<TopicPartition>),
    /// These partitions were taken away without a chance to commit (session lost).
    Lost(Vec<TopicPartition>),
}

/// What a consumer wants from the runtime after handing it a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep going.
    Continue,
    /// Stop delivering for now and return from [`Consumer::poll`] (the runtime has to wait).
    Yield,
}

/// Takes the records a [`Consumer`] polls, one at a time, in partition order.
pub trait RecordSink: Send {
    /// One record, borrowed for the duration of the call.
    fn record(&mut self, msg: &RawMessage<'_>) -> Flow;
}

/// What one [`Consumer::poll`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Polled {
    /// This many records were handed to the sink (it may have asked to stop early).
    Records(usize),
    /// Nothing buffered: wait for [`Consumer::ready`].
    Idle,
    /// The assignment changed.
    Rebalance(Rebalance),
}

/// A group consumer: what a transport gives the runtime's consume driver.
#[async_trait::async_trait]
pub trait Consumer: Send {
    /// Hands the records already at hand to `sink` (never waits for the broker), or reports the
    /// next rebalance.
    fn poll(&mut self, sink: &mut dyn RecordSink) -> Result<Polled>;

    /// Resolves when [`Consumer::poll`] has something to return. Cancel-safe.
    async fn ready(&mut self);

    /// A rebalance to handle, if one is known, without delivering records (the runtime asks
    /// while it waits for room to hand records over).
    fn poll_rebalance(&mut self) -> Option<Rebalance>;

    /// Starts delivering newly assigned partitions (an answer to [`Rebalance::Assigned`]), each
    /// from its offset (`None` = the committed offset, else the reset policy).
    async fn assign(&mut self, partitions: &[(TopicPartition, Option<i64>)]) -> Result<()>;

    /// Gives up revoked or lost partitions (an answer to [`Rebalance::Revoked`] / `Lost`).
    async fn release(&mut self, partitions: &[TopicPartition]) -> Result<()>;

    /// Commits offsets (the next offset to read per partition). `sync` waits for the broker.
    async fn commit(&mut self, offsets: &[CommitOffset], sync: bool) -> Result<()>;

    /// The group's committed offset of each partition (`None`: nothing committed).
    async fn committed(&mut self, partitions: &[TopicPartition]) -> Result<Vec<Option<i64>>>;

    /// The end offset (next offset to be written) of a partition.
    async fn end_offset(&mut self, partition: &TopicPartition) -> Result<i64>;

    /// Stops fetching these partitions until resumed.
    fn pause(&mut self, partitions: &[TopicPartition]) -> Result<()>;

    /// Resumes fetching paused partitions.
    fn resume(&mut self, partitions: &[TopicPartition]) -> Result<()>;

    /// Whether the runtime polls this consumer on a thread of its own (under a multi-thread
    /// tokio runtime), beside the agents' tasks instead of taking turns with them on a worker.
    /// Worth it when polling does real work per record (copying it out of a client library's
    /// buffers); not when it hands over bytes the agents share, where the wakes between
    /// threads cost more than the poll. Default: `false`.
    fn polls_on_own_thread(&self) -> bool {
        false
    }

    /// Moves the read position of an assigned partition.
    async fn seek(&mut self, partition: &TopicPartition, offset: i64) -> Result<()>;

    /// Commits `finals` (synchronously) and leaves the group.
    async fn close(self: Box<Self>, finals: &[CommitOffset]) -> Result<()>;

    /// Joins the consumer group again with the same subscription: the runtime's answer to a
    /// lost assignment that no new one followed within `group_join_timeout` (a broker that lost
    /// its group state can hold a join for minutes). Partitions still held are revoked first, as
    /// in any rebalance. The default does nothing (a transport whose group membership cannot get
    /// stuck).
    async fn rejoin(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Resolves to the broker's acknowledgement of one send (Faust's `FutureMessage`). Dropping it
/// does not cancel the send.
pub struct DeliveryHandle {
    inner: DeliveryInner,
}

enum DeliveryInner {
    Ready(Option<Result<RecordMetadata>>),
    /// A delivery report to come through a oneshot channel (no boxed future per record).
    Report {
        rx: futures::channel::oneshot::Receiver<Result<RecordMetadata>>,
        topic: std::borrow::Cow<'static, str>,
    },
    Pending(Pin<Box<dyn Future<Output = Result<RecordMetadata>> + Send>>),
}

impl DeliveryHandle {
    /// A handle that is already resolved.
    pub fn ready(result: Result<RecordMetadata>) -> Self {
        DeliveryHandle {
            inner: DeliveryInner::Ready(Some(result)),
        }
    }
    /// A handle resolved by the delivery report sent on `rx` for a record of `topic`; a
    /// dropped sender resolves it with an error saying the producer closed first.
    pub fn report(
        rx: futures::channel::oneshot::Receiver<Result<RecordMetadata>>,
        topic: std::borrow::Cow<'static, str>,
    ) -> Self {
        DeliveryHandle {
            inner: DeliveryInner::Report { rx, topic },
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
            DeliveryInner::Report { rx, topic } => match Pin::new(rx).poll(cx) {
                Poll::Ready(Ok(r)) => Poll::Ready(r),
                Poll::Ready(Err(_)) => Poll::Ready(Err(Error::Delivery {
                    topic: topic.to_string(),
                    reason: "the producer was closed before the broker acknowledged the record"
                        .into(),
                })),
                Poll::Pending => Poll::Pending,
            },
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

    /// Adds partitions to a topic (Kafka's `CreatePartitions`): `total` is the new count.
    async fn create_partitions(&self, name: &str, total: i32) -> Result<()>;

    /// Hands a record to the producer without waiting for the broker; the handle resolves on the
    /// broker's acknowledgement, and the record's notice is told too. A full producer queue gives
    /// the record back ([`Enqueued::Full`]). Errors returned here mean nothing was enqueued.
    fn enqueue(&self, record: OutgoingRecord) -> Result<Enqueued>;

    /// Resolves when the producer queue may have room again (after [`Enqueued::Full`]).
    async fn room(&self);

    /// [`Transport::enqueue`], waiting for [`Transport::room`] while the queue is full.
    async fn send(&self, mut record: OutgoingRecord) -> Result<DeliveryHandle> {
        loop {
            match self.enqueue(record)? {
                Enqueued::Queued(h) => return Ok(h),
                Enqueued::Full(r) => {
                    record = r;
                    self.room().await;
                }
            }
        }
    }

    /// Waits until every enqueued record is acknowledged (or the timeout passes).
    async fn flush(&self, timeout: Duration) -> Result<()>;

    /// A group consumer subscribed to `config.topics`. Joining happens as it is polled.
    async fn consumer(&self, config: ConsumerConfig) -> Result<Box<dyn Consumer>>;

    /// A reader of these partitions from these offsets, outside any group (table recovery).
    async fn partition_reader(
        &self,
        starts: &[(TopicPartition, i64)],
    ) -> Result<Box<dyn reader::PartitionReader>> {
        let _ = starts;
        Err(Error::config(format!(
            "the transport for '{}' cannot read partitions outside a group",
            self.url()
        )))
    }

    /// Broker errors seen during the run.
    fn health(&self) -> TransportHealth {
        TransportHealth::default()
    }

    /// Records handed to the producer and not acknowledged by the broker yet (`0` for a
    /// transport that delivers as it enqueues).
    fn queue_depth(&self) -> usize {
        0
    }
}

/// Shared pointer to a transport.
pub type SharedTransport = Arc<dyn Transport>;
