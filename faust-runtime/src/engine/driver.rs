//! The consume driver: one per app (and one per reader stream), the only place that runs the
//! consume / commit / rebalance / drain protocol, for every transport.
//!
//! - It polls the transport's [`Consumer`]; each record goes to the partition it belongs to,
//!   which numbers it in its `PartitionTracker` and hands it to every agent subscribed to the
//!   topic (as bytes: each agent decodes it into its own types in its own task). A full agent queue or a full
//!   tracker window makes the driver wait (backpressure); nothing is dropped.
//! - A rebalance is a value it handles in order: on *assigned*, each partition gets a fresh
//!   tracker and the assignment hooks run before any of its records is accepted; on *revoked*,
//!   the partition stops taking records, its queued events are abandoned (left to the next
//!   owner), the events agents hold are waited for (bounded), what is done is committed, the
//!   revocation hooks run, and only then is the partition released.
//! - Done offsets are committed every commit interval, on revoke and once at the end.
//! - On stop, intake ends at once, queued events are abandoned, the events agents hold are
//!   finished (up to the stop deadline), the final offsets are committed and the consumer
//!   leaves the group. Nothing handed out after that is processed.

use super::tracker::{Ack, OnDeliveryError, PartitionTracker};
use crate::error::{Error, Result};
use crate::sensor::{RebalanceKind, Sensor, Sensors};
use crate::transport::{
    CommitOffset, Consumer, Flow, Polled, RawMessage, Rebalance, RecordSink, TopicPartition,
};
use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// What a subscriber did with a record.
pub(crate) enum Deliver {
    /// Queued (or skipped under the topic's policy).
    Sent,
    /// Queued, but the agent's queue is full: await this before accepting more.
    Wait(BoxFuture<'static, Result<()>>),
    /// The record cannot be processed and the policy says stop.
    Fatal(Error),
}

/// One agent's entry point for one topic: decodes records into its types and queues them.
pub(crate) trait Subscriber: Send {
    /// Decodes and queues `msg`; `ack` is this agent's hold on it.
    fn deliver(&mut self, msg: &RawMessage<'_>, ack: Ack) -> Deliver;
    /// Hands what is batched to the agent.
    fn flush(&mut self) -> Deliver;
    /// Drops batched events of revoked partitions (they are abandoned).
    fn purge(&mut self);
    /// Closes the agent's stream: what is batched is abandoned, the agent sees the end once its
    /// queue is empty.
    fn close(&mut self);
}

/// Hooks run when partitions are assigned (before any of their records is accepted) and revoked
/// (after their work is finished and committed).
pub type PartitionHook =
    Arc<dyn Fn(Vec<TopicPartition>) -> BoxFuture<'static, ()> + Send + Sync + 'static>;

/// Told of a topic's partition count when partitions appear that it did not have at start.
pub(crate) type OnPartitions = Arc<dyn Fn(&str, i32) + Send + Sync>;

/// How the driver is told to stop: `Some(deadline)` by which the final commit must be done.
pub(crate) type StopSignal = watch::Receiver<Option<Instant>>;

struct Part {
    tracker: Arc<PartitionTracker>,
    /// Offset of the next record expected; older ones are duplicates of what was handed over.
    next_offset: i64,
}

struct Route {
    topic: String,
    subscribers: Vec<Box<dyn Subscriber>>,
    parts: Vec<Option<Part>>,
}

/// A pattern subscription: the factories of the agents reading it, asked for a subscriber of
/// each matching topic when it is first assigned (see [`crate::pattern`]).
struct PatternRoute {
    pattern: crate::pattern::Pattern,
    factories: Vec<Box<dyn crate::pattern::SubscriberFactory>>,
}

/// Builds a [`Driver`]: one route per topic, one subscriber per agent reading it.
#[derive(Default)]
pub(crate) struct DriverBuilder {
    routes: Vec<Route>,
    patterns: Vec<PatternRoute>,
    /// Hooks subscribers need (isolated partitions), run after the app's own.
    hooks: Vec<(PartitionHook, PartitionHook)>,
}

impl DriverBuilder {
    pub(crate) fn add(&mut self, topic: &str, subscriber: Box<dyn Subscriber>) {
        match self.routes.iter_mut().find(|r| r.topic == topic) {
            Some(r) => r.subscribers.push(subscriber),
            None => self.routes.push(Route {
                topic: topic.to_string(),
                subscribers: vec![subscriber],
                parts: Vec::new(),
            }),
        }
    }

    /// Adds an agent reading every topic matching `pattern`.
    pub(crate) fn add_pattern(
        &mut self,
        pattern: crate::pattern::Pattern,
        factory: Box<dyn crate::pattern::SubscriberFactory>,
    ) {
        match self
            .patterns
            .iter_mut()
            .find(|r| r.pattern.source == pattern.source)
        {
            Some(r) => r.factories.push(factory),
            None => self.patterns.push(PatternRoute {
                pattern,
                factories: vec![factory],
            }),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.routes.is_empty() && self.patterns.is_empty()
    }

    /// What the consumer subscribes to: topic names, then patterns.
    pub(crate) fn topics(&self) -> Vec<String> {
        self.routes
            .iter()
            .map(|r| r.topic.clone())
            .chain(self.patterns.iter().map(|p| p.pattern.source.clone()))
            .collect()
    }

    /// Adds hooks run when partitions are assigned and revoked.
    pub(crate) fn add_hooks(&mut self, assigned: PartitionHook, revoked: PartitionHook) {
        self.hooks.push((assigned, revoked));
    }

    pub(crate) fn build(self, consumer: Box<dyn Consumer>, mut options: DriverOptions) -> Driver {
        for (a, r) in self.hooks {
            options.on_assign.push(a);
            options.on_revoke.push(r);
        }
        Driver {
            consumer: Some(consumer),
            routes: self.routes,
            patterns: self.patterns,
            options,
            joining_since: None,
        }
    }
}

/// How a driver commits and waits.
pub(crate) struct DriverOptions {
    /// Whether offsets are committed (readers outside agents do not).
    pub(crate) commit: bool,
    pub(crate) commit_interval: Duration,
    /// Events one partition may have in flight (handed over, not yet done).
    pub(crate) window: usize,
    /// How long a revoke waits for the events agents hold.
    pub(crate) revoke_timeout: Duration,
    pub(crate) stop: StopSignal,
    pub(crate) on_assign: Vec<PartitionHook>,
    pub(crate) on_revoke: Vec<PartitionHook>,
    /// Called with a topic and its newly seen partition count (partitions added at runtime).
    pub(crate) on_partitions: Option<OnPartitions>,
    pub(crate) on_delivery_error: Option<OnDeliveryError>,
    /// Asks whoever holds events for work it does in batches (a table's changelog writes) to
    /// finish that work now: called before every commit and, repeatedly, while the driver waits
    /// for events to finish (tracker window full, revoke, stop).
    pub(crate) flush_holds: Option<FlushHolds>,
    /// The app's sensors (skipped entirely when there are none).
    pub(crate) sensors: Sensors,
    /// After a lost assignment, how long the driver waits for a new one (even an empty one)
    /// before it has the consumer leave and join the group again; `None`: never (readers).
    pub(crate) join_timeout: Option<Duration>,
    /// Told of every rejoin, with its reason.
    pub(crate) on_rejoin: Option<OnRejoin>,
}

/// See [`DriverOptions::flush_holds`].
/// The argument is the partition numbers to flush as a bit mask (bit `p` for partition `p`), or
/// `None` for every partition.
pub(crate) type FlushHolds = Arc<dyn Fn(Option<u64>) + Send + Sync>;

/// How often a driver waiting for events to finish asks for held work again.
const FLUSH_HOLDS_EVERY: Duration = Duration::from_millis(10);

/// Waits until `cond` holds for `t` or the deadline, asking for held work (`flush`) every
/// [`FLUSH_HOLDS_EVERY`] meanwhile; returns whether `cond` held.
async fn wait_flushing(
    flush: Option<FlushHolds>,
    t: &PartitionTracker,
    deadline: Instant,
    cond: fn(&PartitionTracker) -> bool,
) -> bool {
    let Some(flush) = flush else {
        return t.wait_until(deadline, cond).await;
    };
    loop {
        flush(None);
        let step = (Instant::now() + FLUSH_HOLDS_EVERY).min(deadline);
        if t.wait_until(step, cond).await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
    }
}

/// Told when the driver has its consumer rejoin the group, with the reason.
pub(crate) type OnRejoin = Arc<dyn Fn(&str) + Send + Sync>;

/// How often the consumer lag is refreshed for the sensors (with the periodic commit).
const LAG_EVERY: Duration = Duration::from_secs(5);

/// The consume driver; see the module docs.
pub(crate) struct Driver {
    consumer: Option<Box<dyn Consumer>>,
    routes: Vec<Route>,
    patterns: Vec<PatternRoute>,
    options: DriverOptions,
    /// Since when the consumer waits for a new assignment after losing its partitions.
    joining_since: Option<Instant>,
}

/// The driver's [`RecordSink`]: routes one polled record to its partition and subscribers.
struct Intake<'a> {
    routes: &'a mut [Route],
    last: usize,
    waits: Vec<BoxFuture<'static, Result<()>>>,
    full: Option<Arc<PartitionTracker>>,
    /// Partitions with a quarter of their window in flight (bit `p` for partition `p`; all bits
    /// for a partition above 63): ask for their held work after the poll.
    pressed: u64,
    /// Whether anything holds events for a later flush (tables): without, the pressure check
    /// is skipped.
    holds: bool,
    fatal: Option<Error>,
    sensors: Option<&'a [Arc<dyn Sensor>]>,
}

impl RecordSink for Intake<'_> {
    #[inline]
    fn record(&mut self, msg: &RawMessage<'_>) -> Flow {
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
                None => return Flow::Continue,
            }
        };
        let Route {
            subscribers, parts, ..
        } = &mut self.routes[idx];
        // Not (or no longer) assigned here: a record fetched before a revoke.
        let Some(Some(part)) = usize::try_from(msg.partition)
            .ok()
            .and_then(|p| parts.get_mut(p))
        else {
            return Flow::Continue;
        };
        if msg.offset < part.next_offset {
            return Flow::Continue;
        }
        part.next_offset = msg.offset + 1;
        let seq = part.tracker.begin(msg.offset, subscribers.len() as u32);
        if let Some(sensors) = self.sensors {
            for s in sensors {
                s.on_message_in(part.tracker.partition(), msg.offset);
            }
        }
        let mut flow = Flow::Continue;
        for s in subscribers.iter_mut() {
            match s.deliver(msg, part.tracker.ack(seq)) {
                Deliver::Sent => {}
                Deliver::Wait(w) => {
                    self.waits.push(w);
                    flow = Flow::Yield;
                }
                Deliver::Fatal(e) => {
                    self.fatal = Some(e);
                    return Flow::Yield;
                }
            }
        }
        if !part.tracker.has_room() {
            self.full = Some(part.tracker.clone());
            flow = Flow::Yield;
        } else if self.holds && part.tracker.under_pressure() {
            let p = part.tracker.partition().partition;
            self.pressed |= if (0..64).contains(&p) {
                1 << p
            } else {
                u64::MAX
            };
        }
        flow
    }
}

/// Why the main loop ended.
enum End {
    Stopped,
    Failed(Error),
}

impl Driver {
    /// Whether it should run on a thread of its own ([`Consumer::polls_on_own_thread`]).
    pub(crate) fn polls_on_own_thread(&self) -> bool {
        self.consumer
            .as_ref()
            .is_some_and(|c| c.polls_on_own_thread())
    }

    /// The stop deadline once stopping was asked for.
    fn stopping(&self) -> Option<Instant> {
        *self.options.stop.borrow()
    }

    /// Runs until stopped or failed, then drains, commits and closes the consumer. Returns the
    /// error that ended it, if any.
    pub(crate) async fn run(mut self) -> Result<()> {
        let end = match self.main_loop().await {
            Ok(()) => End::Stopped,
            Err(e) => End::Failed(e),
        };
        let deadline = self
            .stopping()
            .unwrap_or_else(|| Instant::now() + self.options.revoke_timeout);
        // After a record that cannot be processed (policy `stop`), the events before it are
        // finished first: they are good, and a restart would stop at the same record again.
        let finish_queued = matches!(end, End::Failed(_));
        let finals = self.drain(deadline, finish_queued).await;
        let finals = if self.options.commit {
            finals
        } else {
            Vec::new()
        };
        let closed = match self.consumer.take() {
            Some(c) => c.close(&finals).await,
            None => Ok(()),
        };
        match end {
            End::Stopped => closed,
            End::Failed(e) => Err(e),
        }
    }

    async fn main_loop(&mut self) -> Result<()> {
        let mut stop = self.options.stop.clone();
        let mut next_commit = Instant::now() + self.options.commit_interval;
        let mut next_lag = Instant::now();
        loop {
            if self.stopping().is_some() {
                return Ok(());
            }
            if let (Some(since), Some(limit)) = (self.joining_since, self.options.join_timeout) {
                if since.elapsed() >= limit {
                    self.rejoin(&format!(
                        "no partitions were assigned within {limit:?} of losing the assignment \
                         (the broker did not complete the group join)"
                    ))
                    .await;
                }
            }
            if self.options.commit && Instant::now() >= next_commit {
                self.flush_holds();
                self.commit_done(false).await;
                next_commit = Instant::now() + self.options.commit_interval;
                if self.options.sensors.get().is_some() && Instant::now() >= next_lag {
                    self.report_offsets().await;
                    next_lag = Instant::now() + LAG_EVERY;
                }
            }
            let Some(consumer) = self.consumer.as_mut() else {
                return Ok(());
            };
            let mut intake = Intake {
                routes: &mut self.routes,
                last: 0,
                waits: Vec::new(),
                full: None,
                pressed: 0,
                holds: self.options.flush_holds.is_some(),
                fatal: None,
                sensors: self.options.sensors.get(),
            };
            let polled = consumer.poll(&mut intake)?;
            let Intake {
                waits,
                full,
                pressed,
                fatal,
                ..
            } = intake;
            if pressed != 0 {
                // Before the window fills: held events finish while intake goes on.
                self.flush_holds_of(Some(pressed).filter(|m| *m != u64::MAX));
            }
            if let Some(e) = fatal {
                if let Err(flush) = self.flush(&mut stop).await {
                    tracing::warn!(error = %flush, "could not hand over the events before a fatal record");
                }
                return Err(e);
            }
            for w in waits {
                if !self.wait_handing_over(w, &mut stop).await? {
                    return Ok(());
                }
            }
            if let Some(t) = full {
                let far = Instant::now() + Duration::from_secs(3600);
                tokio::select! {
                    _ = wait_flushing(self.options.flush_holds.clone(), &t, far, PartitionTracker::has_room) => {}
                    _ = stop.wait_for(Option::is_some) => return Ok(()),
                }
            }
            match polled {
                Polled::Records(_) => {}
                Polled::Rebalance(r) => self.rebalance(r).await?,
                Polled::Idle => {
                    self.flush(&mut stop).await?;
                    let commit = self.options.commit;
                    let join_deadline = self
                        .joining_since
                        .zip(self.options.join_timeout)
                        .map(|(since, limit)| since + limit);
                    let Some(consumer) = self.consumer.as_mut() else {
                        return Ok(());
                    };
                    tokio::select! {
                        biased;
                        _ = stop.wait_for(Option::is_some) => return Ok(()),
                        _ = tokio::time::sleep_until(next_commit), if commit => {}
                        _ = tokio::time::sleep_until(join_deadline.unwrap_or(next_commit)),
                            if join_deadline.is_some() => {}
                        _ = consumer.ready() => {}
                    }
                }
            }
        }
    }

    /// Has the consumer leave and join its group again (see [`Consumer::rejoin`]). A failure is
    /// logged and the rejoin tried again after the join timeout.
    async fn rejoin(&mut self, why: &str) {
        tracing::warn!("the consumer leaves its group and joins again: {why}");
        if let Some(f) = &self.options.on_rejoin {
            f(why);
        }
        self.joining_since = self.options.join_timeout.map(|_| Instant::now());
        if let Some(c) = self.consumer.as_mut() {
            if let Err(e) = c.rejoin().await {
                tracing::warn!(error = %e, "could not rejoin the consumer group; trying again");
            }
        }
    }

    /// Hands every subscriber's batch to its agent.
    async fn flush(&mut self, stop: &mut StopSignal) -> Result<()> {
        let mut waits = Vec::new();
        for r in &mut self.routes {
            for s in r.subscribers.iter_mut() {
                match s.flush() {
                    Deliver::Sent => {}
                    Deliver::Wait(w) => waits.push(w),
                    Deliver::Fatal(e) => return Err(e),
                }
            }
        }
        for w in waits {
            if !self.wait_handing_over(w, stop).await? {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Waits for a full agent queue to take a batch, handling rebalances meanwhile (a slow agent
    /// must not hold up the group). Returns `false` when stopping began.
    async fn wait_handing_over(
        &mut self,
        mut w: BoxFuture<'static, Result<()>>,
        stop: &mut StopSignal,
    ) -> Result<bool> {
        loop {
            let handed = tokio::select! {
                r = &mut w => Some(r),
                _ = stop.wait_for(Option::is_some) => return Ok(false),
                _ = tokio::time::sleep(Duration::from_millis(20)) => None,
            };
            if let Some(r) = handed {
                r?;
                return Ok(true);
            }
            let next = self.consumer.as_mut().and_then(|c| c.poll_rebalance());
            if let Some(r) = next {
                self.rebalance(r).await?;
            }
        }
    }

    /// Commits what advanced on every assigned partition.
    async fn commit_done(&mut self, sync: bool) {
        let offsets = self.committable(|_| true);
        if offsets.is_empty() {
            return;
        }
        if let Some(c) = self.consumer.as_mut() {
            let started = std::time::Instant::now();
            let r = c.commit(&offsets, sync).await;
            report_commit(&self.options.sensors, &offsets, started, r.as_ref().err());
            if let Err(e) = r {
                tracing::warn!(error = %e, "commit failed; it is retried with the next one");
            }
        }
    }

    /// Tells the sensors each assigned partition's committed and end offsets (its lag).
    async fn report_offsets(&mut self) {
        let parts: Vec<(TopicPartition, i64)> = self
            .routes
            .iter()
            .flat_map(|r| r.parts.iter().flatten())
            .map(|p| (p.tracker.partition().clone(), p.tracker.last_committed()))
            .collect();
        let Some(c) = self.consumer.as_mut() else {
            return;
        };
        for (tp, committed) in parts {
            match c.end_offset(&tp).await {
                Ok(end) => {
                    let committed = (committed >= 0).then_some(committed);
                    self.options
                        .sensors
                        .each(|s| s.on_partition_offsets(&tp, committed, end));
                }
                Err(e) => tracing::debug!(partition = %tp, error = %e, "end offset unknown"),
            }
        }
    }

    fn committable(&self, select: impl Fn(&TopicPartition) -> bool) -> Vec<CommitOffset> {
        let mut out = Vec::new();
        for r in &self.routes {
            for part in r.parts.iter().flatten() {
                let tp = part.tracker.partition();
                if !select(tp) {
                    continue;
                }
                if let Some(offset) = part.tracker.committable() {
                    out.push(CommitOffset {
                        topic: tp.topic.clone(),
                        partition: tp.partition,
                        offset,
                    });
                }
            }
        }
        out
    }

    async fn rebalance(&mut self, r: Rebalance) -> Result<()> {
        if self.options.sensors.get().is_some() {
            let (kind, tps) = match &r {
                Rebalance::Assigned(t) => (RebalanceKind::Assigned, t),
                Rebalance::Revoked(t) => (RebalanceKind::Revoked, t),
                Rebalance::Lost(t) => (RebalanceKind::Lost, t),
            };
            self.options.sensors.each(|s| s.on_rebalance(kind, tps));
        }
        match r {
            Rebalance::Assigned(tps) => self.assigned(tps).await,
            Rebalance::Revoked(tps) => self.revoked(tps, false).await,
            Rebalance::Lost(tps) => self.revoked(tps, true).await,
        }
    }

    /// The index of the route of `topic`, made now when the topic is a new match of a pattern.
    fn route_of(&mut self, topic: &str) -> Option<usize> {
        if let Some(i) = self.routes.iter().position(|r| r.topic == topic) {
            return Some(i);
        }
        let mut subscribers = Vec::new();
        let mut name: Option<&'static str> = None;
        for p in self
            .patterns
            .iter_mut()
            .filter(|p| p.pattern.matches(topic))
        {
            // Named once per matched topic, for the events' `topic` (it lives as long as
            // the process may see the topic again).
            let name = *name.get_or_insert_with(|| Box::leak(topic.to_string().into_boxed_str()));
            subscribers.extend(p.factories.iter_mut().map(|f| f.make(name)));
        }
        if subscribers.is_empty() {
            return None;
        }
        tracing::info!(
            topic,
            "a new topic matches a pattern subscription; reading it"
        );
        self.routes.push(Route {
            topic: topic.to_string(),
            subscribers,
            parts: Vec::new(),
        });
        Some(self.routes.len() - 1)
    }

    async fn assigned(&mut self, tps: Vec<TopicPartition>) -> Result<()> {
        self.joining_since = None;
        for tp in &tps {
            let Some(i) = self.route_of(&tp.topic) else {
                continue;
            };
            let route = &mut self.routes[i];
            let Ok(p) = usize::try_from(tp.partition) else {
                continue;
            };
            if route.parts.len() <= p {
                route.parts.resize_with(p + 1, || None);
                if let Some(f) = &self.options.on_partitions {
                    f(&tp.topic, p as i32 + 1);
                }
            }
            route.parts[p] = Some(Part {
                tracker: PartitionTracker::new(
                    tp.clone(),
                    self.options.window,
                    self.options.on_delivery_error.clone(),
                    self.options.sensors.clone(),
                ),
                next_offset: -1,
            });
        }
        for hook in &self.options.on_assign {
            hook(tps.clone()).await;
        }
        tracing::debug!(?tps, "partitions assigned");
        let starts: Vec<(TopicPartition, Option<i64>)> =
            tps.iter().map(|tp| (tp.clone(), None)).collect();
        match self.consumer.as_mut() {
            Some(c) => c.assign(&starts).await,
            None => Ok(()),
        }
    }

    /// Takes partitions out of service: see the module docs.
    async fn revoked(&mut self, tps: Vec<TopicPartition>, lost: bool) -> Result<()> {
        if lost {
            // A lost assignment is followed by a new one (even an empty one) once the group
            // join completes; the main loop rejoins if it does not.
            self.joining_since = self.options.join_timeout.map(|_| Instant::now());
        }
        let mut trackers = Vec::new();
        for tp in &tps {
            let Some(route) = self.routes.iter_mut().find(|r| r.topic == tp.topic) else {
                continue;
            };
            if let Some(slot) = usize::try_from(tp.partition)
                .ok()
                .and_then(|p| route.parts.get_mut(p))
            {
                if let Some(part) = slot.take() {
                    part.tracker.revoke();
                    trackers.push(part.tracker);
                }
            }
        }
        for r in &mut self.routes {
            for s in r.subscribers.iter_mut() {
                s.purge();
            }
        }
        let deadline = Instant::now() + self.options.revoke_timeout;
        let mut offsets = Vec::new();
        for t in &trackers {
            if !wait_flushing(
                self.options.flush_holds.clone(),
                t,
                deadline,
                PartitionTracker::settled,
            )
            .await
            {
                tracing::warn!(
                    partition = %t.partition(),
                    "revoked partition still has unfinished events after {:?}; committing what is done",
                    self.options.revoke_timeout
                );
            }
            if let Some(offset) = t.committable() {
                offsets.push(CommitOffset {
                    topic: t.partition().topic.clone(),
                    partition: t.partition().partition,
                    offset,
                });
            }
        }
        if let Some(c) = self.consumer.as_mut() {
            if !lost && self.options.commit && !offsets.is_empty() {
                let started = std::time::Instant::now();
                let r = c.commit(&offsets, true).await;
                report_commit(&self.options.sensors, &offsets, started, r.as_ref().err());
                if let Err(e) = r {
                    tracing::warn!(error = %e, ?tps, "commit on revoke failed");
                }
            }
        }
        for hook in &self.options.on_revoke {
            hook(tps.clone()).await;
        }
        tracing::debug!(?tps, lost, "partitions revoked");
        match self.consumer.as_mut() {
            Some(c) => c.release(&tps).await,
            None => Ok(()),
        }
    }

    /// Asks for held work (see [`DriverOptions::flush_holds`]).
    fn flush_holds(&self) {
        self.flush_holds_of(None);
    }

    /// Asks for the held work of the partitions in `mask` (`None`: all).
    fn flush_holds_of(&self, mask: Option<u64>) {
        if let Some(f) = &self.options.flush_holds {
            f(mask);
        }
    }

    /// The trackers of every assigned partition.
    fn trackers(&self) -> Vec<Arc<PartitionTracker>> {
        self.routes
            .iter()
            .flat_map(|r| r.parts.iter().flatten().map(|p| p.tracker.clone()))
            .collect()
    }

    /// Ends intake: abandons queued events (unless `finish_queued`: then they are processed
    /// first), waits for the held ones until `deadline`, and returns the final offsets to commit.
    async fn drain(&mut self, deadline: Instant, finish_queued: bool) -> Vec<CommitOffset> {
        if finish_queued {
            for t in self.trackers() {
                wait_flushing(
                    self.options.flush_holds.clone(),
                    &t,
                    deadline,
                    PartitionTracker::settled,
                )
                .await;
            }
        }
        for r in &mut self.routes {
            for part in r.parts.iter().flatten() {
                part.tracker.revoke();
            }
            for s in r.subscribers.iter_mut() {
                s.close();
            }
        }
        for p in &mut self.patterns {
            for f in p.factories.iter_mut() {
                f.close();
            }
        }
        for t in self.trackers() {
            if !wait_flushing(
                self.options.flush_holds.clone(),
                &t,
                deadline,
                PartitionTracker::settled,
            )
            .await
            {
                tracing::warn!(
                    partition = %t.partition(),
                    "events still unfinished at the stop deadline; committing what is done"
                );
            }
        }
        self.committable(|_| true)
    }
}

/// Tells the sensors how a commit went.
fn report_commit(
    sensors: &Sensors,
    offsets: &[CommitOffset],
    started: std::time::Instant,
    error: Option<&Error>,
) {
    if sensors.get().is_some() {
        let took = started.elapsed();
        sensors.each(|s| s.on_commit(offsets, took, error));
    }
}

/// A subscriber for transport tests: calls a function for every record and finishes it at once
/// (an error stops the driver, the record not done).
struct TestSubscriber<F>(Arc<F>);

impl<F> Subscriber for TestSubscriber<F>
where
    F: Fn(&RawMessage<'_>) -> Result<()> + Send + Sync + 'static,
{
    fn deliver(&mut self, msg: &RawMessage<'_>, ack: Ack) -> Deliver {
        match (self.0)(msg) {
            Ok(()) => {
                drop(ack);
                Deliver::Sent
            }
            Err(e) => {
                ack.abandon();
                Deliver::Fatal(e)
            }
        }
    }
    fn flush(&mut self) -> Deliver {
        Deliver::Sent
    }
    fn purge(&mut self) {}
    fn close(&mut self) {}
}

/// Runs the consume driver over `consumer` for transport tests: `on_record` sees every record
/// of `topics` and each is done when it returns `Ok`; offsets are committed every
/// `commit_interval`, on revoke and when `stop` turns true. Not part of the stable API.
#[doc(hidden)]
pub async fn run_for_test(
    consumer: Box<dyn Consumer>,
    topics: &[&str],
    mut stop: watch::Receiver<bool>,
    commit_interval: Duration,
    on_record: impl Fn(&RawMessage<'_>) -> Result<()> + Send + Sync + 'static,
) -> Result<()> {
    let on_record = Arc::new(on_record);
    let mut b = DriverBuilder::default();
    for t in topics {
        b.add(t, Box::new(TestSubscriber(on_record.clone())));
    }
    let (tx, rx) = watch::channel(None);
    let forward = tokio::spawn(async move {
        let _ = stop.wait_for(|s| *s).await;
        tx.send_replace(Some(Instant::now() + Duration::from_secs(5)));
        tx.closed().await;
    });
    let options = DriverOptions {
        commit: true,
        commit_interval,
        window: 4096,
        revoke_timeout: Duration::from_secs(5),
        stop: rx,
        on_assign: Vec::new(),
        on_revoke: Vec::new(),
        on_partitions: None,
        on_delivery_error: None,
        flush_holds: None,
        sensors: Sensors::default(),
        join_timeout: None,
        on_rejoin: None,
    };
    let r = b.build(consumer, options).run().await;
    forward.abort();
    r
}
