//! The dispatcher: the one piece between a transport's consumer and the agents.
//!
//! A transport's consume loop hands every record to [`Dispatcher::dispatch`] (or the synchronous
//! [`Dispatcher::deliver`]), which decodes it once per subscribed agent and adds it to that
//! agent's next batch. Batches go to the agent's stream when they are full and whenever the
//! transport has nothing more to read at once ([`Dispatcher::flush`]): one queue operation and at
//! most one wake-up per batch instead of per event. A full stream buffer makes the consumer wait
//! (backpressure, nothing dropped).
//!
//! Agents acknowledge an event when they ask for the next one; [`Progress`] turns those
//! acknowledgements into the offsets to commit: per partition, the lowest "next offset" over
//! every agent reading it (highest contiguous done + 1), and tells whether every event handed to
//! the agents is done (what a revoke or a stop waits for). Events of a revoked partition that were
//! decoded but not yet handed over are dropped, not processed twice: the partition's next owner
//! reads them from the committed offset.

use crate::error::{Error, Result};
use crate::transport::{CommitOffset, RawMessage, TopicPartition};
use futures::future::BoxFuture;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Per-partition bookkeeping of one agent on one topic: the next offset to commit (last done +
/// 1, `-1` before anything was done) and the next offset handed over to the agent.
#[derive(Debug)]
pub(crate) struct AckTable {
    slots: Box<[AtomicI64]>,
    handed: Box<[AtomicI64]>,
    revoked: Box<[AtomicBool]>,
    /// Set when the agent stopped for good: nothing more will be acknowledged, so waiting for
    /// it is pointless (its offsets stay where they are).
    closed: AtomicBool,
}

impl AckTable {
    pub(crate) fn new(partitions: usize) -> Arc<Self> {
        Arc::new(AckTable {
            slots: (0..partitions.max(1)).map(|_| AtomicI64::new(-1)).collect(),
            handed: (0..partitions.max(1)).map(|_| AtomicI64::new(-1)).collect(),
            revoked: (0..partitions.max(1))
                .map(|_| AtomicBool::new(false))
                .collect(),
            closed: AtomicBool::new(false),
        })
    }

    #[inline]
    pub(crate) fn ack(&self, partition: i32, offset: i64) {
        if let Some(slot) = self.slots.get(partition as usize) {
            slot.store(offset + 1, Ordering::Release);
        }
    }

    /// Records that the event at `offset` was handed over to the agent.
    #[inline]
    pub(crate) fn handed_over(&self, partition: i32, offset: i64) {
        if let Some(slot) = self.handed.get(partition as usize) {
            slot.store(offset + 1, Ordering::Release);
        }
    }

    /// Whether the partition was revoked since it was last assigned.
    #[inline]
    pub(crate) fn is_revoked(&self, partition: i32) -> bool {
        self.revoked
            .get(partition as usize)
            .is_some_and(|r| r.load(Ordering::Acquire))
    }

    /// Whether every event handed over from `partition` is done (or the agent stopped for good).
    fn caught_up(&self, partition: usize) -> bool {
        self.is_closed()
            || self
                .handed
                .get(partition)
                .is_none_or(|h| self.get(partition) >= h.load(Ordering::Acquire))
    }

    /// Marks the agent as stopped for good.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn get(&self, partition: usize) -> i64 {
        self.slots
            .get(partition)
            .map(|s| s.load(Ordering::Acquire))
            .unwrap_or(-1)
    }

    fn reset(&self, partition: usize) {
        if let Some(s) = self.slots.get(partition) {
            s.store(-1, Ordering::Release);
        }
        if let Some(s) = self.handed.get(partition) {
            s.store(-1, Ordering::Release);
        }
        if let Some(r) = self.revoked.get(partition) {
            r.store(false, Ordering::Release);
        }
    }

    fn revoke(&self, partition: usize) {
        if let Some(r) = self.revoked.get(partition) {
            r.store(true, Ordering::Release);
        }
    }
}

/// What a sink did with one record.
pub(crate) enum Deliver {
    /// Queued.
    Sent,
    /// The agent's buffer is full: await this to queue it.
    Wait(BoxFuture<'static, Result<()>>),
    /// The record cannot be processed and the policy says stop.
    Fatal(Error),
}

/// One agent's typed entry point (decodes and batches).
pub(crate) trait Sink: Send {
    fn deliver(&mut self, msg: &RawMessage<'_>) -> Deliver;
    /// Hands over what is batched.
    fn flush(&mut self) -> Deliver {
        Deliver::Sent
    }
    fn acks(&self) -> Arc<AckTable>;
}

/// A full stream buffer: await it before handing the dispatcher the next record.
#[must_use = "the record is only fully handed over once this is awaited"]
pub struct Backpressure(BoxFuture<'static, Result<()>>);

impl std::future::Future for Backpressure {
    type Output = Result<()>;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<()>> {
        self.0.as_mut().poll(cx)
    }
}

impl std::fmt::Debug for Backpressure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Backpressure")
    }
}

fn combine(waits: Vec<BoxFuture<'static, Result<()>>>) -> Backpressure {
    Backpressure(Box::pin(async move {
        for w in waits {
            w.await?;
        }
        Ok(())
    }))
}

struct RouteProgress {
    topic: String,
    partitions: usize,
    committed: Box<[AtomicI64]>,
    assigned: Box<[AtomicBool]>,
    tables: Vec<Arc<AckTable>>,
}

impl RouteProgress {
    fn done(&self, p: usize) -> i64 {
        self.tables.iter().map(|t| t.get(p)).min().unwrap_or(-1)
    }
    fn caught_up(&self, p: usize) -> bool {
        self.tables.iter().all(|t| t.caught_up(p))
    }
    /// Partition `p` is one of `only`, or assigned when `only` is `None`.
    fn selected(&self, p: usize, only: Option<&[TopicPartition]>) -> bool {
        match only {
            Some(tps) => tps
                .iter()
                .any(|tp| tp.topic == self.topic && tp.partition as usize == p),
            None => self.assigned[p].load(Ordering::Acquire),
        }
    }
}

/// Shared view of what was delivered and acknowledged, usable from any thread (e.g. a rebalance
/// callback): which offsets can be committed, and whether in-flight work is finished.
#[derive(Clone)]
pub struct Progress {
    routes: Arc<Vec<RouteProgress>>,
}

impl Progress {
    fn route(&self, topic: &str) -> Option<&RouteProgress> {
        self.routes.iter().find(|r| r.topic == topic)
    }

    /// Marks partitions as assigned to this consumer; forgets earlier acknowledgements for them.
    pub fn assign(&self, tps: &[TopicPartition]) {
        for tp in tps {
            if let Some(r) = self.route(&tp.topic) {
                let p = tp.partition as usize;
                if p < r.partitions {
                    r.committed[p].store(-1, Ordering::Release);
                    for t in &r.tables {
                        t.reset(p);
                    }
                    r.assigned[p].store(true, Ordering::Release);
                }
            }
        }
    }

    /// Marks partitions as no longer assigned.
    pub fn unassign(&self, tps: &[TopicPartition]) {
        for tp in tps {
            if let Some(r) = self.route(&tp.topic) {
                if let Some(a) = r.assigned.get(tp.partition as usize) {
                    a.store(false, Ordering::Release);
                }
                for t in &r.tables {
                    t.revoke(tp.partition as usize);
                }
            }
        }
    }

    /// Offsets that advanced since the last call, for the assigned partitions (or for `only`).
    pub fn committable(&self, only: Option<&[TopicPartition]>) -> Vec<CommitOffset> {
        let mut out = Vec::new();
        for r in self.routes.iter() {
            for p in 0..r.partitions {
                if !r.selected(p, only) {
                    continue;
                }
                let done = r.done(p);
                if done >= 0 && done > r.committed[p].load(Ordering::Acquire) {
                    r.committed[p].store(done, Ordering::Release);
                    out.push(CommitOffset {
                        topic: r.topic.clone(),
                        partition: p as i32,
                        offset: done,
                    });
                }
            }
        }
        out
    }

    /// Whether every record delivered from these partitions (all assigned ones when `None`) has
    /// been acknowledged by every agent.
    pub fn caught_up(&self, only: Option<&[TopicPartition]>) -> bool {
        self.routes
            .iter()
            .all(|r| (0..r.partitions).all(|p| !r.selected(p, only) || r.caught_up(p)))
    }

    /// Waits (asynchronously) until [`Progress::caught_up`] or the timeout passes; returns
    /// whether it caught up.
    pub async fn wait_caught_up(&self, only: Option<&[TopicPartition]>, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.caught_up(only) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Waits by blocking the calling thread (for synchronous rebalance callbacks).
    pub fn wait_caught_up_blocking(
        &self,
        only: Option<&[TopicPartition]>,
        timeout: Duration,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.caught_up(only) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

struct Route {
    topic: String,
    sinks: Vec<Box<dyn Sink>>,
}

/// Hands records from a transport's consumer to the agents; see the module docs.
pub struct Dispatcher {
    routes: Vec<Route>,
    progress: Progress,
    last: usize,
    stop: watch::Receiver<bool>,
    drain_timeout: Duration,
}

/// Builds a [`Dispatcher`]: one route per topic, one sink per agent reading it.
pub(crate) struct DispatcherBuilder {
    routes: Vec<PendingRoute>,
}

/// A route being built: topic, partition count, sinks.
type PendingRoute = (String, usize, Vec<Box<dyn Sink>>);

impl DispatcherBuilder {
    pub(crate) fn new() -> Self {
        DispatcherBuilder { routes: Vec::new() }
    }

    pub(crate) fn add(&mut self, topic: &str, partitions: usize, sink: Box<dyn Sink>) {
        match self.routes.iter_mut().find(|(t, _, _)| t == topic) {
            Some((_, _, sinks)) => sinks.push(sink),
            None => self
                .routes
                .push((topic.to_string(), partitions, vec![sink])),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    pub(crate) fn build(self, stop: watch::Receiver<bool>, drain_timeout: Duration) -> Dispatcher {
        let mut routes = Vec::new();
        let mut progress = Vec::new();
        for (topic, partitions, sinks) in self.routes {
            let n = partitions.max(1);
            progress.push(RouteProgress {
                topic: topic.clone(),
                partitions: n,
                committed: (0..n).map(|_| AtomicI64::new(-1)).collect(),
                assigned: (0..n).map(|_| AtomicBool::new(false)).collect(),
                tables: sinks.iter().map(|s| s.acks()).collect(),
            });
            routes.push(Route { topic, sinks });
        }
        Dispatcher {
            routes,
            progress: Progress {
                routes: Arc::new(progress),
            },
            last: 0,
            stop,
            drain_timeout,
        }
    }
}

impl Dispatcher {
    /// The topics to subscribe to.
    pub fn topics(&self) -> Vec<String> {
        self.routes.iter().map(|r| r.topic.clone()).collect()
    }

    /// The shared progress view (offsets to commit, in-flight work).
    pub fn progress(&self) -> Progress {
        self.progress.clone()
    }

    /// Whether the app asked the consumer to stop.
    pub fn is_stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Resolves when the app asks the consumer to stop. The future does not borrow the
    /// dispatcher, so it can be selected on while records are dispatched.
    pub fn stopping(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.stop.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    }

    /// How long [`Dispatcher::drain`] waits for agents to finish in-flight events.
    pub fn drain_timeout(&self) -> Duration {
        self.drain_timeout
    }

    /// Hands one record to every agent reading its topic, in order, waiting only when an agent's
    /// buffer is full. An error means the worker must stop (error policy `stop`, agents gone);
    /// nothing past the failed record may be committed.
    pub async fn dispatch(&mut self, msg: &RawMessage<'_>) -> Result<()> {
        match self.deliver(msg)? {
            None => Ok(()),
            Some(wait) => wait.await,
        }
    }

    /// Like [`Dispatcher::dispatch`] without waiting: the record is taken (the message may be
    /// released at once); if an agent's buffer is full, the returned [`Backpressure`] must be
    /// awaited before the next record.
    pub fn deliver(&mut self, msg: &RawMessage<'_>) -> Result<Option<Backpressure>> {
        let idx = if self
            .routes
            .get(self.last)
            .is_some_and(|r| r.topic == msg.topic)
        {
            self.last
        } else {
            match self.routes.iter().position(|r| r.topic == msg.topic) {
                Some(i) => {
                    self.last = i;
                    i
                }
                None => {
                    tracing::warn!(
                        topic = msg.topic,
                        "record from a topic no agent reads; ignored"
                    );
                    return Ok(None);
                }
            }
        };
        let progress = &self.progress.routes[idx];
        let p = msg.partition as usize;
        if msg.partition < 0 || p >= progress.partitions {
            return Err(Error::UnknownPartition {
                topic: msg.topic.to_string(),
                partition: msg.partition,
                partitions: progress.partitions as i32,
            });
        }
        let mut waits = Vec::new();
        for sink in self.routes[idx].sinks.iter_mut() {
            match sink.deliver(msg) {
                Deliver::Sent => {}
                Deliver::Wait(fut) => waits.push(fut),
                Deliver::Fatal(e) => return Err(e),
            }
        }
        Ok(match waits.len() {
            0 => None,
            1 => waits.pop().map(Backpressure),
            _ => Some(combine(waits)),
        })
    }

    /// Hands every batched event over to its agent. Call whenever nothing more can be read at
    /// once (before waiting for the broker); [`Dispatcher::revoke`] and [`Dispatcher::drain`]
    /// flush by themselves.
    pub async fn flush(&mut self) -> Result<()> {
        for r in &mut self.routes {
            for sink in r.sinks.iter_mut() {
                match sink.flush() {
                    Deliver::Sent => {}
                    Deliver::Wait(fut) => fut.await?,
                    Deliver::Fatal(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// Offsets that advanced since the last call (for the periodic commit).
    pub fn take_commits(&self) -> Vec<CommitOffset> {
        self.progress.committable(None)
    }

    /// Waits until in-flight events of `tps` are done (up to the drain timeout) and returns their
    /// offsets to commit; then forgets the partitions. Call on revoke.
    pub async fn revoke(&mut self, tps: &[TopicPartition]) -> Vec<CommitOffset> {
        if let Err(e) = self.flush().await {
            tracing::warn!(error = %e, "could not hand over batched events before a revoke");
        }
        if !self
            .progress
            .wait_caught_up(Some(tps), self.drain_timeout)
            .await
        {
            tracing::warn!(
                ?tps,
                "revoked partitions still have unfinished events after {:?}; committing what is done",
                self.drain_timeout
            );
        }
        let out = self.progress.committable(Some(tps));
        self.progress.unassign(tps);
        out
    }

    /// Stops delivering: closes every agent's stream (agents finish what is queued), waits for
    /// them up to the drain timeout and returns the final offsets to commit. Call once, on stop.
    pub async fn drain(&mut self) -> Vec<CommitOffset> {
        if let Err(e) = self.flush().await {
            tracing::warn!(error = %e, "could not hand over batched events while draining");
        }
        for r in &mut self.routes {
            r.sinks.clear();
        }
        if !self.progress.wait_caught_up(None, self.drain_timeout).await {
            tracing::warn!(
                "agents did not finish their queued events within {:?}; committing what is done",
                self.drain_timeout
            );
        }
        self.progress.committable(None)
    }
}

/// What a test sink calls for every record.
type OnRecord = Arc<dyn Fn(&RawMessage<'_>) -> Result<()> + Send + Sync>;

/// A sink for transport tests: calls a function for every record, then acknowledges it.
struct TestSink {
    acks: Arc<AckTable>,
    on_record: OnRecord,
}

impl Sink for TestSink {
    fn deliver(&mut self, msg: &RawMessage<'_>) -> Deliver {
        match (self.on_record)(msg) {
            Ok(()) => {
                self.acks.ack(msg.partition, msg.offset);
                Deliver::Sent
            }
            Err(e) => Deliver::Fatal(e),
        }
    }
    fn acks(&self) -> Arc<AckTable> {
        self.acks.clone()
    }
}

impl Dispatcher {
    /// A dispatcher for transport tests: for each `(topic, partitions)`, one sink that calls
    /// `on_record` for every record and acknowledges it at once (an error stops the consumer).
    /// Not part of the stable API.
    #[doc(hidden)]
    pub fn for_test(
        topics: &[(&str, usize)],
        stop: watch::Receiver<bool>,
        drain_timeout: Duration,
        on_record: impl Fn(&RawMessage<'_>) -> Result<()> + Send + Sync + 'static,
    ) -> Dispatcher {
        let on_record: OnRecord = Arc::new(on_record);
        let mut b = DispatcherBuilder::new();
        for (topic, partitions) in topics {
            let sink = TestSink {
                acks: AckTable::new(*partitions),
                on_record: on_record.clone(),
            };
            b.add(topic, *partitions, Box::new(sink));
        }
        b.build(stop, drain_timeout)
    }
}

#[cfg(test)]
mod tests;
