//! [`TestBroker`]: the embedded broker a test runs its workers on, with the faults it can inject
//! and what a test reads back (records on topics, committed offsets).

use crate::app::{App, AppBuilder};
use crate::error::{Error, Result};
use crate::testing::faults::{FaultyTransport, Outage, WorkerLink};
use crate::testing::landed::Landed;
use crate::testing::worker::TestWorker;
use crate::transport::memory::MemoryBroker;
use crate::transport::{Enqueued, OutgoingRecord, RecordMetadata, TopicPartition, Transport};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// An embedded broker for tests, shared by the workers started on it (which form one consumer
/// group per app id, as processes on one Kafka cluster would).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> faust_runtime::Result<()> {
/// use faust_runtime::testing::TestBroker;
/// let broker = TestBroker::new();
/// broker.create_topic("greetings", 2).await?;
/// broker.send("greetings", Some("k"), "\"hi\"").await?;
/// let landed = broker.records("greetings")?;
/// assert_eq!(landed.len(), 1);
/// assert_eq!(landed[0].value_json::<String>()?, "hi");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TestBroker {
    broker: MemoryBroker,
    outage: Arc<Outage>,
}

impl Default for TestBroker {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for TestBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestBroker")
            .field("down", &self.outage.is_down())
            .finish()
    }
}

impl TestBroker {
    /// A new, empty broker of this test's own.
    pub fn new() -> Self {
        TestBroker {
            broker: MemoryBroker::new(),
            outage: Arc::new(Outage::new()),
        }
    }

    /// The embedded broker underneath (without the fault switches).
    pub fn memory(&self) -> &MemoryBroker {
        &self.broker
    }

    /// Builds the app `builder` describes on this broker and starts it: one worker (group
    /// member). Start several from the same builder function for a group of several workers.
    pub async fn start(&self, builder: AppBuilder) -> Result<TestWorker> {
        let worker = self.build(builder)?;
        worker.app().start().await?;
        Ok(worker)
    }

    /// Builds the app on this broker without starting it (to start it yourself, e.g. during an
    /// outage).
    pub fn build(&self, builder: AppBuilder) -> Result<TestWorker> {
        let link = Arc::new(WorkerLink::default());
        let mut connect_timeout = None;
        let builder = builder.configure(|s| connect_timeout = Some(s.broker_connect_timeout));
        let transport = FaultyTransport::new(
            self.broker.clone(),
            self.outage.clone(),
            link.clone(),
            connect_timeout.unwrap_or_default(),
        );
        let app: App = builder.transport(Arc::new(transport)).build()?;
        Ok(TestWorker::new(app, link))
    }

    /// Takes the broker away: nothing is delivered, commits and admin calls fail, sends are
    /// held until [`TestBroker::restore`].
    pub fn cut(&self) {
        self.outage.cut();
    }

    /// Brings the broker back: held sends land, in order; consumers go on where they were.
    pub fn restore(&self) {
        self.outage.restore(&self.broker);
    }

    /// Whether the broker is cut off.
    pub fn is_down(&self) -> bool {
        self.outage.is_down()
    }

    /// Creates a topic (fails if it exists).
    pub async fn create_topic(&self, name: &str, partitions: i32) -> Result<()> {
        self.broker
            .create_topic(&crate::transport::NewTopic {
                name: name.into(),
                partitions,
                replication_factor: 1,
                config: BTreeMap::new(),
            })
            .await
    }

    /// Writes one record of raw bytes (placed by key like a Kafka producer) and returns where it
    /// landed. Bytes are sent as given, so this is also how a test writes a poison record:
    /// `broker.send("orders", None, b"{not json").await`.
    pub async fn send(
        &self,
        topic: &str,
        key: Option<&str>,
        value: impl AsRef<[u8]>,
    ) -> Result<RecordMetadata> {
        let record = OutgoingRecord::new(
            topic.to_string(),
            key.map(|k| k.as_bytes().to_vec()),
            Some(value.as_ref().to_vec()),
        );
        self.write(record).await
    }

    /// Writes one record to an explicit partition.
    pub async fn send_to(
        &self,
        topic: &str,
        partition: i32,
        key: Option<&str>,
        value: impl AsRef<[u8]>,
    ) -> Result<RecordMetadata> {
        let mut record = OutgoingRecord::new(
            topic.to_string(),
            key.map(|k| k.as_bytes().to_vec()),
            Some(value.as_ref().to_vec()),
        );
        record.partition = Some(partition);
        self.write(record).await
    }

    /// Writes `value` as JSON (Faust's default value serializer) with a string key.
    pub async fn send_json<V: serde::Serialize>(
        &self,
        topic: &str,
        key: Option<&str>,
        value: &V,
    ) -> Result<RecordMetadata> {
        let bytes = serde_json::to_vec(value)
            .map_err(|e| Error::config(format!("value does not serialize to JSON: {e}")))?;
        self.send(topic, key, bytes).await
    }

    async fn write(&self, record: OutgoingRecord) -> Result<RecordMetadata> {
        match self.broker.enqueue(record)? {
            Enqueued::Queued(h) => h.await,
            Enqueued::Full(_) => Err(Error::state("the embedded broker is never full")),
        }
    }

    /// Every record on `topic`, partition by partition, in offset order.
    pub fn records(&self, topic: &str) -> Result<Vec<Landed>> {
        let partitions = self.partitions(topic)?;
        let mut out = Vec::new();
        for p in 0..partitions {
            for (offset, timestamp, r) in self.broker.records(topic, p, 0)? {
                out.push(Landed {
                    topic: topic.to_string(),
                    partition: p,
                    offset,
                    timestamp,
                    key: r.key,
                    value: r.value,
                    headers: r.headers,
                });
            }
        }
        Ok(out)
    }

    /// Number of partitions of `topic`.
    pub fn partitions(&self, topic: &str) -> Result<i32> {
        match futures::FutureExt::now_or_never(self.broker.describe_topic(topic)) {
            Some(Ok(Some(d))) => Ok(d.partitions),
            Some(Ok(None)) => Err(Error::UnknownTopic(topic.to_string())),
            Some(Err(e)) => Err(e),
            None => Err(Error::state("the embedded broker did not answer")),
        }
    }

    /// The end offset (records written) of each partition of `topic`.
    pub fn end_offsets(&self, topic: &str) -> Result<Vec<i64>> {
        (0..self.partitions(topic)?)
            .map(|p| self.broker.end_offset(topic, p))
            .collect()
    }

    /// The offset `group` committed on each partition of `topic` (`None`: nothing yet).
    pub fn committed(&self, group: &str, topic: &str) -> Result<Vec<Option<i64>>> {
        Ok((0..self.partitions(topic)?)
            .map(|p| self.broker.committed(group, topic, p))
            .collect())
    }

    /// Records of `topic` that `group` has not committed yet (its lag).
    pub fn lag(&self, group: &str, topic: &str) -> Result<i64> {
        let ends = self.end_offsets(topic)?;
        let committed = self.committed(group, topic)?;
        Ok(ends
            .iter()
            .zip(committed)
            .map(|(end, c)| end - c.unwrap_or(0))
            .sum())
    }

    /// The members of `group` and the partitions each holds.
    pub fn group_members(&self, group: &str) -> Vec<BTreeSet<TopicPartition>> {
        self.broker.group_members(group).into_values().collect()
    }
}
