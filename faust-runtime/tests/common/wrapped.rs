//! The embedded broker with its consumers wrapped: tests put a misbehaving consumer between the
//! runtime and the broker (one that panics, one whose group join never completes, ...).
#![allow(dead_code)]
// The consumer interface returns the runtime's `Result`, whose error type is what it is.
#![allow(clippy::result_large_err)]

use async_trait::async_trait;
use faust_runtime::transport::{
    CommitOffset, Consumer, ConsumerConfig, DeliveryHandle, Enqueued, NewTopic, OutgoingRecord,
    Polled, Rebalance, RecordSink, TopicDescription,
};
use faust_runtime::{MemoryBroker, Result, TopicPartition, Transport};
use std::time::Duration;

/// Wraps every consumer the runtime asks for.
type Wrap = dyn Fn(Box<dyn Consumer>) -> Box<dyn Consumer> + Send + Sync;

/// A [`MemoryBroker`] whose consumers go through `wrap`; everything else is the broker's.
pub struct Wrapped {
    pub broker: MemoryBroker,
    wrap: Box<Wrap>,
}

impl Wrapped {
    pub fn new(
        broker: MemoryBroker,
        wrap: impl Fn(Box<dyn Consumer>) -> Box<dyn Consumer> + Send + Sync + 'static,
    ) -> Wrapped {
        Wrapped {
            broker,
            wrap: Box::new(wrap),
        }
    }
}

#[async_trait]
impl Transport for Wrapped {
    fn url(&self) -> &str {
        self.broker.url()
    }
    async fn connect(&self) -> Result<()> {
        self.broker.connect().await
    }
    async fn create_topic(&self, t: &NewTopic) -> Result<()> {
        self.broker.create_topic(t).await
    }
    async fn delete_topic(&self, n: &str) -> Result<()> {
        self.broker.delete_topic(n).await
    }
    async fn list_topics(&self) -> Result<Vec<TopicDescription>> {
        self.broker.list_topics().await
    }
    async fn describe_topic(&self, n: &str) -> Result<Option<TopicDescription>> {
        self.broker.describe_topic(n).await
    }
    async fn create_partitions(&self, n: &str, total: i32) -> Result<()> {
        self.broker.create_partitions(n, total).await
    }
    fn enqueue(&self, r: OutgoingRecord) -> Result<Enqueued> {
        self.broker.enqueue(r)
    }
    async fn room(&self) {
        self.broker.room().await
    }
    async fn send(&self, r: OutgoingRecord) -> Result<DeliveryHandle> {
        self.broker.send(r).await
    }
    async fn flush(&self, t: Duration) -> Result<()> {
        self.broker.flush(t).await
    }
    async fn consumer(&self, c: ConsumerConfig) -> Result<Box<dyn Consumer>> {
        Ok((self.wrap)(self.broker.consumer(c).await?))
    }
}

/// What a test changes about a consumer: each method gets the real consumer and does what it
/// wants with it (by default, exactly what the consumer does).
#[async_trait]
pub trait Intercept: Send {
    fn poll(&mut self, inner: &mut dyn Consumer, sink: &mut dyn RecordSink) -> Result<Polled> {
        inner.poll(sink)
    }
    async fn ready(&mut self, inner: &mut dyn Consumer) {
        inner.ready().await
    }
    fn poll_rebalance(&mut self, inner: &mut dyn Consumer) -> Option<Rebalance> {
        inner.poll_rebalance()
    }
    async fn rejoin(&mut self, inner: &mut dyn Consumer) -> Result<()> {
        inner.rejoin().await
    }
}

/// A consumer whose `poll`, `ready`, `poll_rebalance` and `rejoin` go through `I`.
pub struct Intercepted<I> {
    pub inner: Box<dyn Consumer>,
    pub by: I,
}

/// Wraps `inner` so that `by` sees its calls.
pub fn intercept<I: Intercept + 'static>(inner: Box<dyn Consumer>, by: I) -> Box<dyn Consumer> {
    Box::new(Intercepted { inner, by })
}

#[async_trait]
impl<I: Intercept> Consumer for Intercepted<I> {
    fn poll(&mut self, sink: &mut dyn RecordSink) -> Result<Polled> {
        self.by.poll(self.inner.as_mut(), sink)
    }
    async fn ready(&mut self) {
        self.by.ready(self.inner.as_mut()).await
    }
    fn poll_rebalance(&mut self) -> Option<Rebalance> {
        self.by.poll_rebalance(self.inner.as_mut())
    }
    async fn assign(&mut self, p: &[(TopicPartition, Option<i64>)]) -> Result<()> {
        self.inner.assign(p).await
    }
    async fn release(&mut self, p: &[TopicPartition]) -> Result<()> {
        self.inner.release(p).await
    }
    async fn commit(&mut self, o: &[CommitOffset], sync: bool) -> Result<()> {
        self.inner.commit(o, sync).await
    }
    async fn committed(&mut self, p: &[TopicPartition]) -> Result<Vec<Option<i64>>> {
        self.inner.committed(p).await
    }
    async fn end_offset(&mut self, p: &TopicPartition) -> Result<i64> {
        self.inner.end_offset(p).await
    }
    fn pause(&mut self, p: &[TopicPartition]) -> Result<()> {
        self.inner.pause(p)
    }
    fn resume(&mut self, p: &[TopicPartition]) -> Result<()> {
        self.inner.resume(p)
    }
    fn polls_on_own_thread(&self) -> bool {
        self.inner.polls_on_own_thread()
    }
    async fn seek(&mut self, p: &TopicPartition, o: i64) -> Result<()> {
        self.inner.seek(p, o).await
    }
    async fn close(self: Box<Self>, f: &[CommitOffset]) -> Result<()> {
        self.inner.close(f).await
    }
    async fn rejoin(&mut self) -> Result<()> {
        self.by.rejoin(self.inner.as_mut()).await
    }
}
