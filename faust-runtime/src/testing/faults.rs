//! The transport a test worker runs on: the embedded broker, behind switches that inject faults.
//!
//! - **Outage** (shared by every worker of one [`crate::testing::TestBroker`]): while the broker is
//!   "down", consumers deliver nothing, commits and admin calls fail with a broker error, new
//!   consumers and `connect` wait for it to come back (up to `broker_connect_timeout`), and sends
//!   are held — accepted, delivered in order once it is back — as a Kafka client queues them.
//! - **Crash** (one worker): from the crash on, nothing the worker does reaches the broker: no
//!   record it sends lands, no offset it commits counts (its final commit included), and it
//!   leaves the group, as a killed process does.

use crate::error::{Error, Result};
use crate::transport::memory::MemoryBroker;
use crate::transport::{
    CommitOffset, Consumer, ConsumerConfig, DeliveryHandle, Enqueued, NewTopic, OutgoingRecord,
    Polled, Rebalance, RecordMetadata, RecordSink, TopicDescription, TopicPartition, Transport,
    TransportHealth,
};
use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{oneshot, watch};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

type Held = (OutgoingRecord, oneshot::Sender<Result<RecordMetadata>>);

/// Whether the broker is reachable, and the sends held while it is not.
pub(crate) struct Outage {
    down: watch::Sender<bool>,
    held: Mutex<VecDeque<Held>>,
}

impl Outage {
    pub(crate) fn new() -> Self {
        Outage {
            down: watch::channel(false).0,
            held: Mutex::new(VecDeque::new()),
        }
    }

    pub(crate) fn is_down(&self) -> bool {
        *self.down.borrow()
    }

    pub(crate) fn cut(&self) {
        self.down.send_replace(true);
    }

    /// Brings the broker back and delivers the held sends, in the order they were made.
    pub(crate) fn restore(&self, broker: &MemoryBroker) {
        let mut held = lock(&self.held);
        self.down.send_replace(false);
        while let Some((record, reply)) = held.pop_front() {
            let result = match broker.enqueue(record) {
                Ok(Enqueued::Queued(h)) => futures::FutureExt::now_or_never(h)
                    .unwrap_or_else(|| Err(Error::state("the embedded broker did not answer"))),
                Ok(Enqueued::Full(_)) => Err(Error::state("the embedded broker is never full")),
                Err(e) => Err(e),
            };
            let _ = reply.send(result);
        }
    }

    async fn wait_up(&self) {
        let mut rx = self.down.subscribe();
        let _ = rx.wait_for(|down| !*down).await;
    }
}

/// What the harness knows about one worker: crashed or not, the partitions it holds.
#[derive(Default)]
pub(crate) struct WorkerLink {
    pub(crate) crashed: AtomicBool,
    pub(crate) assigned: Mutex<BTreeSet<TopicPartition>>,
    pub(crate) commits: AtomicU64,
}

/// The embedded broker as one test worker sees it; see the module docs.
pub(crate) struct FaultyTransport {
    pub(crate) broker: MemoryBroker,
    pub(crate) outage: Arc<Outage>,
    pub(crate) link: Arc<WorkerLink>,
    pub(crate) connect_timeout: Duration,
    errors: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl FaultyTransport {
    pub(crate) fn new(
        broker: MemoryBroker,
        outage: Arc<Outage>,
        link: Arc<WorkerLink>,
        connect_timeout: Duration,
    ) -> Self {
        FaultyTransport {
            broker,
            outage,
            link,
            connect_timeout,
            errors: AtomicU64::new(0),
            last_error: Mutex::new(None),
        }
    }

    fn crashed(&self) -> bool {
        self.link.crashed.load(Ordering::Acquire)
    }

    /// The error of a call made while the broker is down (counted in the worker's health).
    fn unreachable(&self) -> Error {
        let e = Error::broker(self.broker.url(), "unreachable (test outage)");
        self.errors.fetch_add(1, Ordering::Relaxed);
        *lock(&self.last_error) = Some(e.to_string());
        e
    }

    fn check(&self) -> Result<()> {
        if self.outage.is_down() {
            Err(self.unreachable())
        } else {
            Ok(())
        }
    }
}

#[async_trait::async_trait]
impl Transport for FaultyTransport {
    fn url(&self) -> &str {
        self.broker.url()
    }

    async fn connect(&self) -> Result<()> {
        if tokio::time::timeout(self.connect_timeout, self.outage.wait_up())
            .await
            .is_err()
        {
            return Err(Error::broker(
                self.broker.url(),
                format!(
                    "not reachable within {:?} (test outage)",
                    self.connect_timeout
                ),
            ));
        }
        Ok(())
    }

    async fn create_topic(&self, topic: &NewTopic) -> Result<()> {
        self.check()?;
        self.broker.create_topic(topic).await
    }

    async fn delete_topic(&self, name: &str) -> Result<()> {
        self.check()?;
        self.broker.delete_topic(name).await
    }

    async fn list_topics(&self) -> Result<Vec<TopicDescription>> {
        self.check()?;
        self.broker.list_topics().await
    }

    async fn describe_topic(&self, name: &str) -> Result<Option<TopicDescription>> {
        self.check()?;
        self.broker.describe_topic(name).await
    }

    async fn create_partitions(&self, name: &str, total: i32) -> Result<()> {
        self.check()?;
        self.broker.create_partitions(name, total).await
    }

    fn enqueue(&self, record: OutgoingRecord) -> Result<Enqueued> {
        if self.crashed() {
            return Err(Error::Delivery {
                topic: record.topic.to_string(),
                reason: "the worker crashed (test fault)".into(),
            });
        }
        if self.outage.is_down() {
            let mut held = lock(&self.outage.held);
            // Checked again under the lock: a restore in between has emptied the list.
            if self.outage.is_down() {
                let (tx, rx) = oneshot::channel();
                let topic = record.topic.to_string();
                held.push_back((record, tx));
                return Ok(Enqueued::Queued(DeliveryHandle::pending(async move {
                    rx.await.unwrap_or_else(|_| {
                        Err(Error::Delivery {
                            topic,
                            reason: "the test broker was dropped during an outage".into(),
                        })
                    })
                })));
            }
        }
        self.broker.enqueue(record)
    }

    async fn room(&self) {}

    async fn flush(&self, timeout: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.outage.is_down() && !lock(&self.outage.held).is_empty() {
            if tokio::time::timeout_at(deadline, self.outage.wait_up())
                .await
                .is_err()
            {
                return Err(Error::state(format!(
                    "{} records were still held by the test outage after {timeout:?}",
                    lock(&self.outage.held).len()
                )));
            }
        }
        Ok(())
    }

    async fn consumer(&self, config: ConsumerConfig) -> Result<Box<dyn Consumer>> {
        if tokio::time::timeout(self.connect_timeout, self.outage.wait_up())
            .await
            .is_err()
        {
            return Err(self.unreachable());
        }
        let inner = self.broker.consumer(config).await?;
        Ok(Box::new(FaultyConsumer {
            inner,
            outage: self.outage.clone(),
            link: self.link.clone(),
            url: self.broker.url().to_string(),
        }))
    }

    fn health(&self) -> TransportHealth {
        TransportHealth {
            last_error: lock(&self.last_error).clone(),
            errors: self.errors.load(Ordering::Relaxed),
        }
    }
}

/// A group member of the embedded broker behind the fault switches.
struct FaultyConsumer {
    inner: Box<dyn Consumer>,
    outage: Arc<Outage>,
    link: Arc<WorkerLink>,
    url: String,
}

impl FaultyConsumer {
    fn crashed(&self) -> bool {
        self.link.crashed.load(Ordering::Acquire)
    }

    /// Neither records nor rebalances get through (crashed, or the broker is down).
    fn cut_off(&self) -> bool {
        self.crashed() || self.outage.is_down()
    }

    fn track(&self, r: &Rebalance) {
        if let Rebalance::Revoked(tps) | Rebalance::Lost(tps) = r {
            let mut held = lock(&self.link.assigned);
            for tp in tps {
                held.remove(tp);
            }
        }
    }
}

#[async_trait::async_trait]
impl Consumer for FaultyConsumer {
    fn poll(&mut self, sink: &mut dyn RecordSink) -> Result<Polled> {
        if self.cut_off() {
            return Ok(Polled::Idle);
        }
        let polled = self.inner.poll(sink)?;
        if let Polled::Rebalance(r) = &polled {
            self.track(r);
        }
        Ok(polled)
    }

    async fn ready(&mut self) {
        if self.crashed() {
            return futures::future::pending().await;
        }
        if self.outage.is_down() {
            return self.outage.wait_up().await;
        }
        let mut down = self.outage.down.subscribe();
        tokio::select! {
            _ = self.inner.ready() => {}
            _ = down.wait_for(|d| *d) => {}
        }
    }

    fn poll_rebalance(&mut self) -> Option<Rebalance> {
        if self.cut_off() {
            return None;
        }
        let r = self.inner.poll_rebalance()?;
        self.track(&r);
        Some(r)
    }

    async fn assign(&mut self, partitions: &[(TopicPartition, Option<i64>)]) -> Result<()> {
        self.inner.assign(partitions).await?;
        lock(&self.link.assigned).extend(partitions.iter().map(|(tp, _)| tp.clone()));
        Ok(())
    }

    async fn release(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        {
            let mut held = lock(&self.link.assigned);
            for tp in partitions {
                held.remove(tp);
            }
        }
        self.inner.release(partitions).await
    }

    async fn commit(&mut self, offsets: &[CommitOffset], sync: bool) -> Result<()> {
        if self.crashed() {
            return Ok(());
        }
        if self.outage.is_down() {
            return Err(Error::broker(&self.url, "unreachable (test outage)"));
        }
        self.inner.commit(offsets, sync).await?;
        self.link.commits.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn committed(&mut self, partitions: &[TopicPartition]) -> Result<Vec<Option<i64>>> {
        if self.outage.is_down() {
            return Err(Error::broker(&self.url, "unreachable (test outage)"));
        }
        self.inner.committed(partitions).await
    }

    async fn end_offset(&mut self, partition: &TopicPartition) -> Result<i64> {
        if self.outage.is_down() {
            return Err(Error::broker(&self.url, "unreachable (test outage)"));
        }
        self.inner.end_offset(partition).await
    }

    fn pause(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.inner.pause(partitions)
    }

    fn resume(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.inner.resume(partitions)
    }

    fn polls_on_own_thread(&self) -> bool {
        self.inner.polls_on_own_thread()
    }

    async fn seek(&mut self, partition: &TopicPartition, offset: i64) -> Result<()> {
        self.inner.seek(partition, offset).await
    }

    async fn close(self: Box<Self>, finals: &[CommitOffset]) -> Result<()> {
        lock(&self.link.assigned).clear();
        if self.crashed() {
            // A killed process commits nothing more; the group sees it gone.
            return self.inner.close(&[]).await;
        }
        if self.outage.is_down() {
            // The final commit cannot reach the broker; the member times out of the group.
            return self.inner.close(&[]).await;
        }
        self.inner.close(finals).await
    }

    async fn rejoin(&mut self) -> Result<()> {
        self.inner.rejoin().await
    }
}
