//! The embedded broker (`memory://`): topics with partitions, each an append-only log with offsets
//! and timestamps; records with key, value and headers; consumer groups with committed offsets and
//! partition assignment; keyed records placed with murmur2 exactly like the Java client.
//!
//! `memory://` gives each app a private broker; `memory://NAME` names a broker shared by every
//! app in the process that uses the same name (two workers of one group, a restarted app).

use crate::arena::Arena;
use crate::error::{Error, Result};
use crate::partitioner;
use crate::transport::{
    now_millis, CommitOffset, Consumer, ConsumerConfig, DeliveryHandle, Enqueued, Flow, Headers,
    NewTopic, OutgoingRecord, Polled, RawMessage, Rebalance, RecordMetadata, RecordSink,
    SharedRecord, TopicDescription, TopicPartition, Transport,
};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::Duration;
use tokio::sync::Notify;

struct StoredRecord {
    timestamp: i64,
    data: SharedRecord,
}

struct PartitionLog {
    records: RwLock<Records>,
}

impl PartitionLog {
    fn new() -> Self {
        PartitionLog {
            records: RwLock::new(Records::default()),
        }
    }
}

/// A partition's records in offset order, with the chunks their bytes are copied into.
#[derive(Default)]
struct Records {
    list: Vec<StoredRecord>,
    arena: Arena,
}

impl std::ops::Deref for Records {
    type Target = Vec<StoredRecord>;

    fn deref(&self) -> &Vec<StoredRecord> {
        &self.list
    }
}

/// Keys and values larger than this keep their own allocation rather than being copied.
const ARENA_MAX: usize = 4 * 1024;

impl Records {
    /// Appends a record, its key and value copied next to the partition's previous ones: a
    /// consumer then reads the partition's bytes in order through memory (as it reads a Kafka
    /// log segment), and every record of a chunk shares one reference count, so handing records
    /// over touches one counter instead of one per key and value.
    fn push(
        &mut self,
        timestamp: i64,
        key: Option<Vec<u8>>,
        value: Option<Vec<u8>>,
        headers: Headers,
    ) {
        let key = key.map(|k| self.copy_in(k));
        let value = value.map(|v| self.copy_in(v));
        self.list.push(StoredRecord {
            timestamp,
            data: SharedRecord {
                key,
                value,
                headers,
            },
        });
    }

    fn copy_in(&mut self, v: Vec<u8>) -> Bytes {
        if v.len() > ARENA_MAX {
            return shared_bytes(v);
        }
        self.arena.copy(&v)
    }
}

struct TopicLog {
    name: String,
    partitions: RwLock<Vec<Arc<PartitionLog>>>,
    config: BTreeMap<String, String>,
    appended: Notify,
}

#[derive(Default)]
struct Group {
    /// member id -> subscribed topics
    members: BTreeMap<u64, crate::pattern::Subscription>,
    /// partition -> member currently holding it
    owners: HashMap<TopicPartition, u64>,
    committed: HashMap<TopicPartition, i64>,
    generation: u64,
}

struct BrokerInner {
    name: String,
    topics: RwLock<HashMap<String, Arc<TopicLog>>>,
    groups: Mutex<HashMap<String, Group>>,
    group_changed: Notify,
    next_member: AtomicU64,
}

/// An embedded, in-process Kafka-like broker. Cheap to clone (shared state).
#[derive(Clone)]
pub struct MemoryBroker {
    inner: Arc<BrokerInner>,
    url: String,
}

fn named_brokers() -> &'static Mutex<HashMap<String, Weak<BrokerInner>>> {
    static NAMED: OnceLock<Mutex<HashMap<String, Weak<BrokerInner>>>> = OnceLock::new();
    NAMED.get_or_init(Default::default)
}

/// Bytes of a large key or value that consumers clone cheaply: `Bytes::from(Vec)` allocates its
/// shared counter on the first clone, which would happen on every consumer's read path; doing
/// it once here, when the record is written, leaves readers a plain reference-count increment.
fn shared_bytes(v: Vec<u8>) -> Bytes {
    let b = Bytes::from(v);
    drop(b.clone());
    b
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|p| p.into_inner())
}

impl MemoryBroker {
    /// A new private broker.
    pub fn new() -> Self {
        Self::with_name("")
    }

    fn with_name(name: &str) -> Self {
        MemoryBroker {
            inner: Arc::new(BrokerInner {
                name: name.to_string(),
                topics: RwLock::new(HashMap::new()),
                groups: Mutex::new(HashMap::new()),
                group_changed: Notify::new(),
                next_member: AtomicU64::new(1),
            }),
            url: format!("memory://{name}"),
        }
    }

    /// The broker for a `memory://` URL: private when the name is empty, else the process-wide
    /// broker of that name (created on first use, kept while anything uses it).
    pub fn from_url(url: &str) -> Result<Self> {
        let name = url
            .strip_prefix("memory://")
            .ok_or_else(|| Error::config(format!("'{url}' is not a memory:// URL")))?
            .trim_end_matches('/');
        if name.is_empty() {
            return Ok(Self::new());
        }
        let mut named = lock(named_brokers());
        if let Some(inner) = named.get(name).and_then(Weak::upgrade) {
            return Ok(MemoryBroker {
                inner,
                url: url.to_string(),
            });
        }
        let b = Self::with_name(name);
        named.insert(name.to_string(), Arc::downgrade(&b.inner));
        Ok(b)
    }

    fn partition(&self, topic: &str, partition: i32) -> Result<Arc<PartitionLog>> {
        let t = self.topic(topic)?;
        let parts = read(&t.partitions);
        parts
            .get(partition as usize)
            .filter(|_| partition >= 0)
            .cloned()
            .ok_or(Error::UnknownPartition {
                topic: topic.into(),
                partition,
                partitions: parts.len() as i32,
            })
    }

    fn topic(&self, name: &str) -> Result<Arc<TopicLog>> {
        self.inner
            .topics
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
            .ok_or_else(|| Error::UnknownTopic(name.to_string()))
    }

    /// Number of records in a partition (its end offset).
    pub fn end_offset(&self, topic: &str, partition: i32) -> Result<i64> {
        let p = self.partition(topic, partition)?;
        let n = read(&p.records).len();
        Ok(n as i64)
    }

    /// The committed offset of `group` for a partition, if any.
    pub fn committed(&self, group: &str, topic: &str, partition: i32) -> Option<i64> {
        lock(&self.inner.groups).get(group).and_then(|g| {
            g.committed
                .get(&TopicPartition {
                    topic: topic.into(),
                    partition,
                })
                .copied()
        })
    }

    /// The records of a partition from `from` on, in offset order: `(offset, timestamp, record)`
    /// (what landed on the topic, for tests and tools).
    pub fn records(
        &self,
        topic: &str,
        partition: i32,
        from: i64,
    ) -> Result<Vec<(i64, i64, SharedRecord)>> {
        let p = self.partition(topic, partition)?;
        let recs = read(&p.records);
        let start = (from.max(0) as usize).min(recs.len());
        Ok(recs[start..]
            .iter()
            .enumerate()
            .map(|(i, r)| ((start + i) as i64, r.timestamp, r.data.clone()))
            .collect())
    }

    /// How many members `group` has and which partitions each holds (member id -> partitions);
    /// members holding nothing are listed with an empty set.
    pub fn group_members(&self, group: &str) -> BTreeMap<u64, BTreeSet<TopicPartition>> {
        let groups = lock(&self.inner.groups);
        let Some(g) = groups.get(group) else {
            return BTreeMap::new();
        };
        let mut out: BTreeMap<u64, BTreeSet<TopicPartition>> =
            g.members.keys().map(|m| (*m, BTreeSet::new())).collect();
        for (tp, m) in &g.owners {
            out.entry(*m).or_default().insert(tp.clone());
        }
        out
    }

    fn join(&self, group: &str, subscription: crate::pattern::Subscription) -> u64 {
        let id = self.inner.next_member.fetch_add(1, Ordering::Relaxed);
        let mut groups = lock(&self.inner.groups);
        let g = groups.entry(group.to_string()).or_default();
        g.members.insert(id, subscription);
        g.generation += 1;
        drop(groups);
        self.inner.group_changed.notify_waiters();
        id
    }

    fn leave(&self, group: &str, member: u64, commits: &[CommitOffset]) {
        let mut groups = lock(&self.inner.groups);
        // (Groups, then topics: the order the assignment takes them in.)
        let topics = read(&self.inner.topics);
        if let Some(g) = groups.get_mut(group) {
            // As Kafka: a commit for a topic that does not exist (deleted meanwhile) is refused.
            for c in commits.iter().filter(|c| topics.contains_key(&c.topic)) {
                g.committed.insert(
                    TopicPartition {
                        topic: c.topic.clone(),
                        partition: c.partition,
                    },
                    c.offset,
                );
            }
            g.members.remove(&member);
            g.owners.retain(|_, m| *m != member);
            g.generation += 1;
        }
        drop(groups);
        self.inner.group_changed.notify_waiters();
    }

    fn commit(&self, group: &str, commits: &[CommitOffset]) {
        if commits.is_empty() {
            return;
        }
        let mut groups = lock(&self.inner.groups);
        // (Groups, then topics: the order the assignment takes them in.)
        let topics = read(&self.inner.topics);
        if let Some(g) = groups.get_mut(group) {
            // As Kafka: a commit for a topic that does not exist (deleted meanwhile) is refused.
            for c in commits.iter().filter(|c| topics.contains_key(&c.topic)) {
                g.committed.insert(
                    TopicPartition {
                        topic: c.topic.clone(),
                        partition: c.partition,
                    },
                    c.offset,
                );
            }
        }
    }

    /// The partitions `member` should hold: a range assignment per topic over the sorted members
    /// subscribed to it (Kafka's default assignor); a pattern subscribes to every existing topic
    /// it matches.
    fn desired(&self, g: &Group, member: u64) -> BTreeSet<TopicPartition> {
        let mut out = BTreeSet::new();
        let Some(subscription) = g.members.get(&member) else {
            return out;
        };
        let topics = subscription.topics(read(&self.inner.topics).keys());
        for topic in &topics {
            let Ok(t) = self.topic(topic) else { continue };
            let subs: Vec<u64> = g
                .members
                .iter()
                .filter(|(_, ts)| ts.covers(topic))
                .map(|(m, _)| *m)
                .collect();
            let n = read(&t.partitions).len();
            let k = subs.len().max(1);
            let idx = subs.iter().position(|m| *m == member).unwrap_or(0);
            let per = n / k;
            let extra = n % k;
            let start = idx * per + idx.min(extra);
            let len = per + usize::from(idx < extra);
            for p in start..start + len {
                out.insert(TopicPartition {
                    topic: topic.clone(),
                    partition: p as i32,
                });
            }
        }
        out
    }
}

impl Default for MemoryBroker {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemoryBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MemoryBroker({:?})", self.inner.name)
    }
}

/// A partition this consumer reads.
struct Held {
    tp: TopicPartition,
    topic: Arc<TopicLog>,
    log: Arc<PartitionLog>,
    position: usize,
    paused: bool,
    /// Reported as revoked; nothing more is delivered until it is released.
    revoking: bool,
}

/// A group member of the embedded broker; see [`Consumer`].
pub struct MemoryConsumer {
    broker: MemoryBroker,
    group: String,
    member: u64,
    from_earliest: bool,
    held: Vec<Held>,
    /// Claimed for this member and reported as assigned, waiting for [`Consumer::assign`].
    claimed: Vec<TopicPartition>,
    seen_generation: u64,
    /// Some desired partition is still held by another member: look again soon.
    pending_take: bool,
    closed: bool,
}

impl MemoryConsumer {
    fn generation(&self) -> u64 {
        lock(&self.broker.inner.groups)
            .get(&self.group)
            .map(|g| g.generation)
            .unwrap_or(0)
    }

    /// Compares what the group wants this member to hold with what it holds; returns the first
    /// change to report.
    fn rebalance(&mut self) -> Option<Rebalance> {
        let generation = self.generation();
        if generation == self.seen_generation && !self.pending_take {
            return None;
        }
        let mut groups = lock(&self.broker.inner.groups);
        let g = groups.get_mut(&self.group)?;
        let desired = self.broker.desired(g, self.member);
        let revoked: Vec<TopicPartition> = self
            .held
            .iter_mut()
            .filter(|h| !h.revoking && !desired.contains(&h.tp))
            .map(|h| {
                h.revoking = true;
                h.tp.clone()
            })
            .collect();
        if !revoked.is_empty() {
            return Some(Rebalance::Revoked(revoked));
        }
        self.pending_take = false;
        let mut added = Vec::new();
        for tp in &desired {
            if self.held.iter().any(|h| &h.tp == tp) || self.claimed.contains(tp) {
                continue;
            }
            match g.owners.get(tp) {
                Some(m) if *m != self.member => {
                    self.pending_take = true;
                    continue;
                }
                _ => {}
            }
            g.owners.insert(tp.clone(), self.member);
            added.push(tp.clone());
        }
        if !self.pending_take {
            self.seen_generation = generation;
        }
        if added.is_empty() {
            return None;
        }
        self.claimed.extend(added.iter().cloned());
        Some(Rebalance::Assigned(added))
    }
}

impl Drop for MemoryConsumer {
    fn drop(&mut self) {
        if !self.closed {
            self.broker.leave(&self.group, self.member, &[]);
        }
    }
}

#[async_trait::async_trait]
impl Consumer for MemoryConsumer {
    fn poll(&mut self, sink: &mut dyn RecordSink) -> Result<Polled> {
        const BATCH: usize = 512;
        if let Some(r) = self.rebalance() {
            return Ok(Polled::Rebalance(r));
        }
        let mut got = 0usize;
        for h in self.held.iter_mut() {
            if h.paused || h.revoking {
                continue;
            }
            let recs = read(&h.log.records);
            let end = recs.len().min(h.position + BATCH);
            let start = h.position.min(end);
            let mut flow = Flow::Continue;
            for (i, r) in recs[start..end].iter().enumerate() {
                let msg = RawMessage {
                    topic: &h.topic.name,
                    partition: h.tp.partition,
                    offset: (start + i) as i64,
                    timestamp: r.timestamp,
                    key: r.data.key.as_deref(),
                    value: r.data.value.as_deref(),
                    headers: if r.data.headers.is_empty() {
                        None
                    } else {
                        Some(&r.data.headers)
                    },
                    shared: Some(&r.data),
                };
                h.position += 1;
                got += 1;
                flow = sink.record(&msg);
                if flow == Flow::Yield {
                    break;
                }
            }
            if flow == Flow::Yield {
                break;
            }
        }
        Ok(if got == 0 {
            Polled::Idle
        } else {
            Polled::Records(got)
        })
    }

    fn poll_rebalance(&mut self) -> Option<Rebalance> {
        self.rebalance()
    }

    async fn ready(&mut self) {
        let topics: Vec<Arc<TopicLog>> = self.held.iter().map(|h| h.topic.clone()).collect();
        let mut waits: Vec<std::pin::Pin<Box<tokio::sync::futures::Notified<'_>>>> = topics
            .iter()
            .map(|t| Box::pin(t.appended.notified()))
            .collect();
        let mut group_change = Box::pin(self.broker.inner.group_changed.notified());
        group_change.as_mut().enable();
        for w in waits.iter_mut() {
            w.as_mut().enable();
        }
        let has_data = self
            .held
            .iter()
            .any(|h| !h.paused && !h.revoking && read(&h.log.records).len() > h.position);
        if has_data || self.generation() != self.seen_generation {
            return;
        }
        let any_append = async {
            if waits.is_empty() {
                futures::future::pending::<()>().await;
            } else {
                futures::future::select_all(waits.iter_mut()).await;
            }
        };
        let poll_interval = if self.pending_take {
            Duration::from_millis(10)
        } else {
            Duration::from_secs(3600)
        };
        tokio::select! {
            _ = any_append => {}
            _ = group_change => {}
            _ = tokio::time::sleep(poll_interval) => {}
        }
    }

    async fn assign(&mut self, partitions: &[(TopicPartition, Option<i64>)]) -> Result<()> {
        for (tp, start) in partitions {
            self.claimed.retain(|c| c != tp);
            // Deleted since it was assigned: the group's next rebalance accounts for it.
            let (Ok(topic), Ok(log)) = (
                self.broker.topic(&tp.topic),
                self.broker.partition(&tp.topic, tp.partition),
            ) else {
                tracing::debug!(partition = %tp, "assigned partition no longer exists");
                continue;
            };
            let end = read(&log.records).len();
            let committed = self.broker.committed(&self.group, &tp.topic, tp.partition);
            let position = match start.or(committed) {
                Some(o) => (o.max(0) as usize).min(end),
                None if self.from_earliest => 0,
                None => end,
            };
            self.held.retain(|h| &h.tp != tp);
            self.held.push(Held {
                tp: tp.clone(),
                topic,
                log,
                position,
                paused: false,
                revoking: false,
            });
        }
        Ok(())
    }

    async fn release(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.held.retain(|h| !partitions.contains(&h.tp));
        self.claimed.retain(|c| !partitions.contains(c));
        {
            let mut groups = lock(&self.broker.inner.groups);
            if let Some(g) = groups.get_mut(&self.group) {
                for tp in partitions {
                    if g.owners.get(tp) == Some(&self.member) {
                        g.owners.remove(tp);
                    }
                }
            }
        }
        self.broker.inner.group_changed.notify_waiters();
        Ok(())
    }

    async fn commit(&mut self, offsets: &[CommitOffset], _sync: bool) -> Result<()> {
        self.broker.commit(&self.group, offsets);
        Ok(())
    }

    async fn committed(&mut self, partitions: &[TopicPartition]) -> Result<Vec<Option<i64>>> {
        Ok(partitions
            .iter()
            .map(|tp| self.broker.committed(&self.group, &tp.topic, tp.partition))
            .collect())
    }

    async fn end_offset(&mut self, partition: &TopicPartition) -> Result<i64> {
        self.broker
            .end_offset(&partition.topic, partition.partition)
    }

    fn pause(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        for h in self.held.iter_mut().filter(|h| partitions.contains(&h.tp)) {
            h.paused = true;
        }
        Ok(())
    }

    fn resume(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        for h in self.held.iter_mut().filter(|h| partitions.contains(&h.tp)) {
            h.paused = false;
        }
        self.broker.inner.group_changed.notify_waiters();
        Ok(())
    }

    async fn seek(&mut self, partition: &TopicPartition, offset: i64) -> Result<()> {
        match self.held.iter_mut().find(|h| &h.tp == partition) {
            Some(h) => {
                let end = read(&h.log.records).len();
                h.position = (offset.max(0) as usize).min(end);
                Ok(())
            }
            None => Err(Error::state(format!(
                "cannot seek {partition}: it is not assigned to this consumer"
            ))),
        }
    }

    async fn close(mut self: Box<Self>, finals: &[CommitOffset]) -> Result<()> {
        self.closed = true;
        self.broker.leave(&self.group, self.member, finals);
        Ok(())
    }
}

#[async_trait::async_trait]
impl Transport for MemoryBroker {
    fn url(&self) -> &str {
        &self.url
    }

    async fn connect(&self) -> Result<()> {
        Ok(())
    }

    async fn create_topic(&self, topic: &NewTopic) -> Result<()> {
        if topic.name.is_empty() {
            return Err(Error::config("topic name must not be empty"));
        }
        if topic.partitions < 1 {
            return Err(Error::config(format!(
                "topic '{}': partitions must be at least 1, got {}",
                topic.name, topic.partitions
            )));
        }
        let mut topics = self.inner.topics.write().unwrap_or_else(|p| p.into_inner());
        if topics.contains_key(&topic.name) {
            return Err(Error::TopicExists(topic.name.clone()));
        }
        topics.insert(
            topic.name.clone(),
            Arc::new(TopicLog {
                name: topic.name.clone(),
                partitions: RwLock::new(
                    (0..topic.partitions)
                        .map(|_| Arc::new(PartitionLog::new()))
                        .collect(),
                ),
                config: topic.config.clone(),
                appended: Notify::new(),
            }),
        );
        drop(topics);
        self.bump_groups();
        Ok(())
    }

    async fn delete_topic(&self, name: &str) -> Result<()> {
        let removed = self
            .inner
            .topics
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        match removed {
            Some(_) => {
                // As Kafka: the groups' committed offsets go with the topic, so a topic created
                // again under the name is read from its start.
                for g in lock(&self.inner.groups).values_mut() {
                    g.committed.retain(|tp, _| tp.topic != name);
                }
                self.bump_groups();
                Ok(())
            }
            None => Err(Error::UnknownTopic(name.to_string())),
        }
    }

    async fn list_topics(&self) -> Result<Vec<TopicDescription>> {
        let topics = read(&self.inner.topics);
        let mut out: Vec<TopicDescription> = topics.values().map(|t| describe(t)).collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn describe_topic(&self, name: &str) -> Result<Option<TopicDescription>> {
        Ok(self.topic(name).ok().map(|t| describe(&t)))
    }

    async fn create_partitions(&self, name: &str, total: i32) -> Result<()> {
        let t = self.topic(name)?;
        {
            let mut parts = t.partitions.write().unwrap_or_else(|p| p.into_inner());
            if total as usize <= parts.len() {
                return Err(Error::config(format!(
                    "topic '{name}' has {} partitions already; the new count must be larger, got {total}",
                    parts.len()
                )));
            }
            while parts.len() < total as usize {
                parts.push(Arc::new(PartitionLog::new()));
            }
        }
        self.bump_groups();
        Ok(())
    }

    fn enqueue(&self, record: OutgoingRecord) -> Result<Enqueued> {
        let topic = self.topic(&record.topic)?;
        let (partition, log) = {
            let parts = read(&topic.partitions);
            let n = parts.len() as i32;
            let partition = match (record.partition, &record.key) {
                (Some(p), _) => p,
                (None, Some(k)) => partitioner::partition_for_key(k, n),
                (None, None) => partitioner::partition_for_keyless(n),
            };
            let log = parts
                .get(partition as usize)
                .filter(|_| partition >= 0)
                .cloned()
                .ok_or(Error::UnknownPartition {
                    topic: record.topic.to_string(),
                    partition,
                    partitions: n,
                })?;
            (partition, log)
        };
        let timestamp = record.timestamp.unwrap_or_else(now_millis);
        let OutgoingRecord {
            topic: name,
            key,
            value,
            headers,
            notice,
            ..
        } = record;
        let offset = {
            let mut recs = log.records.write().unwrap_or_else(|p| p.into_inner());
            recs.push(timestamp, key, value, headers);
            recs.len() as i64 - 1
        };
        topic.appended.notify_waiters();
        let meta = Ok(RecordMetadata {
            topic: name,
            partition,
            offset,
            timestamp,
        });
        if !notice.is_empty() {
            notice.notify(&meta);
        }
        Ok(Enqueued::Queued(DeliveryHandle::ready(meta)))
    }

    async fn room(&self) {}

    async fn flush(&self, _timeout: Duration) -> Result<()> {
        Ok(())
    }

    async fn consumer(&self, config: ConsumerConfig) -> Result<Box<dyn Consumer>> {
        for t in &config.topics {
            if t.is_empty() {
                return Err(Error::config("topic name must not be empty"));
            }
        }
        let member = self.join(
            &config.group_id,
            crate::pattern::Subscription::new(&config.topics)?,
        );
        Ok(Box::new(MemoryConsumer {
            broker: self.clone(),
            group: config.group_id,
            member,
            from_earliest: config.from_earliest,
            held: Vec::new(),
            claimed: Vec::new(),
            seen_generation: u64::MAX,
            pending_take: false,
            closed: false,
        }))
    }

    async fn partition_reader(
        &self,
        starts: &[(TopicPartition, i64)],
    ) -> Result<Box<dyn crate::transport::reader::PartitionReader>> {
        let mut parts = Vec::with_capacity(starts.len());
        for (tp, offset) in starts {
            let topic = self.topic(&tp.topic)?;
            let log = self.partition(&tp.topic, tp.partition)?;
            parts.push((tp.clone(), topic, log, offset.max(&0).to_owned() as usize));
        }
        Ok(Box::new(MemoryReader {
            broker: self.clone(),
            parts,
        }))
    }
}

/// Reads partitions of the embedded broker from given offsets, outside any group.
struct MemoryReader {
    broker: MemoryBroker,
    parts: Vec<(TopicPartition, Arc<TopicLog>, Arc<PartitionLog>, usize)>,
}

#[async_trait::async_trait]
impl crate::transport::reader::PartitionReader for MemoryReader {
    async fn read(
        &mut self,
        _wait: Duration,
        sink: crate::transport::reader::ReadSink<'_>,
    ) -> Result<usize> {
        // Appends are visible at once here: nothing at hand means nothing more has been written.
        const BATCH: usize = 4096;
        let mut got = 0;
        for (tp, topic, log, position) in self.parts.iter_mut() {
            let recs = read(&log.records);
            let end = recs.len().min(*position + BATCH - got);
            for (i, r) in recs[(*position).min(end)..end].iter().enumerate() {
                sink(&RawMessage {
                    topic: &topic.name,
                    partition: tp.partition,
                    offset: (*position + i) as i64,
                    timestamp: r.timestamp,
                    key: r.data.key.as_deref(),
                    value: r.data.value.as_deref(),
                    headers: None,
                    shared: Some(&r.data),
                });
            }
            got += end.saturating_sub(*position);
            *position = end.max(*position);
            if got >= BATCH {
                break;
            }
        }
        Ok(got)
    }

    async fn end_offset(&mut self, partition: &TopicPartition) -> Result<i64> {
        self.broker
            .end_offset(&partition.topic, partition.partition)
    }
}

fn describe(t: &TopicLog) -> TopicDescription {
    TopicDescription {
        name: t.name.clone(),
        partitions: read(&t.partitions).len() as i32,
        config: t.config.clone(),
    }
}

impl MemoryBroker {
    /// Tells every group to look at its assignment again (topics or partitions changed).
    fn bump_groups(&self) {
        for g in lock(&self.inner.groups).values_mut() {
            g.generation += 1;
        }
        self.inner.group_changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_of(i: usize, len: usize) -> Vec<u8> {
        (0..len).map(|j| (i * 31 + j) as u8).collect()
    }

    #[test]
    fn records_keep_their_bytes_across_chunks_and_small_ones_sit_side_by_side() {
        let mut recs = Records::default();
        // Sizes crossing chunk boundaries, empty values, tombstones and large values.
        let sizes = |i: usize| match i % 7 {
            0 => 0,
            1 => ARENA_MAX + 1 + i,
            _ => (i * 97) % 3000,
        };
        let n = 2000;
        for i in 0..n {
            let value = (i % 11 != 0).then(|| bytes_of(i, sizes(i)));
            recs.push(i as i64, Some(bytes_of(i + 1, i % 40)), value, Vec::new());
        }
        assert_eq!(recs.len(), n);
        for (i, r) in recs.iter().enumerate() {
            assert_eq!(r.timestamp, i as i64);
            assert_eq!(r.data.key.as_deref(), Some(&bytes_of(i + 1, i % 40)[..]));
            let want = (i % 11 != 0).then(|| bytes_of(i, sizes(i)));
            assert_eq!(r.data.value.as_deref(), want.as_deref(), "record {i}");
        }
        // A small record's value follows its key in memory, and the next record follows it.
        let (a, b) = (&recs[2].data, &recs[3].data);
        let (ka, va, kb) = (
            a.key.as_ref().unwrap(),
            a.value.as_ref().unwrap(),
            b.key.as_ref().unwrap(),
        );
        assert_eq!(va.as_ptr(), ka.as_ptr().wrapping_add(ka.len()));
        assert_eq!(kb.as_ptr(), va.as_ptr().wrapping_add(va.len()));
    }
}
