//! The embedded broker (`memory://`): topics with partitions, each an append-only log with offsets
//! and timestamps; records with key, value and headers; consumer groups with committed offsets and
//! partition assignment; keyed records placed with murmur2 exactly like the Java client.
//!
//! `memory://` gives each app a private broker; `memory://NAME` names a broker shared by every
//! app in the process that uses the same name (two workers of one group, a restarted app).

use crate::channel::now_millis;
use crate::dispatch::Dispatcher;
use crate::error::{Error, Result};
use crate::partitioner;
use crate::transport::{
    CommitOffset, ConsumerConfig, DeliveryHandle, Headers, NewTopic, OutgoingRecord, RawMessage,
    RecordMetadata, TopicDescription, TopicPartition, Transport,
};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::Duration;
use tokio::sync::Notify;

struct StoredRecord {
    timestamp: i64,
    key: Option<Bytes>,
    value: Option<Bytes>,
    headers: Headers,
}

struct PartitionLog {
    records: RwLock<Vec<StoredRecord>>,
}

struct TopicLog {
    name: String,
    partitions: Vec<PartitionLog>,
    config: BTreeMap<String, String>,
    appended: Notify,
}

#[derive(Default)]
struct Group {
    /// member id -> subscribed topics
    members: BTreeMap<u64, Vec<String>>,
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
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
        let t = self.topic(topic)?;
        let p = t
            .partitions
            .get(partition as usize)
            .ok_or(Error::UnknownPartition {
                topic: topic.into(),
                partition,
                partitions: t.partitions.len() as i32,
            })?;
        let n = p.records.read().unwrap_or_else(|e| e.into_inner()).len();
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

    fn join(&self, group: &str, topics: &[String]) -> u64 {
        let id = self.inner.next_member.fetch_add(1, Ordering::Relaxed);
        let mut groups = lock(&self.inner.groups);
        let g = groups.entry(group.to_string()).or_default();
        g.members.insert(id, topics.to_vec());
        g.generation += 1;
        drop(groups);
        self.inner.group_changed.notify_waiters();
        id
    }

    fn leave(&self, group: &str, member: u64, commits: &[CommitOffset]) {
        let mut groups = lock(&self.inner.groups);
        if let Some(g) = groups.get_mut(group) {
            for c in commits {
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
        if let Some(g) = groups.get_mut(group) {
            for c in commits {
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
    /// subscribed to it (Kafka's default assignor).
    fn desired(&self, g: &Group, member: u64) -> BTreeSet<TopicPartition> {
        let mut out = BTreeSet::new();
        let Some(topics) = g.members.get(&member) else {
            return out;
        };
        for topic in topics {
            let Ok(t) = self.topic(topic) else { continue };
            let subs: Vec<u64> = g
                .members
                .iter()
                .filter(|(_, ts)| ts.contains(topic))
                .map(|(m, _)| *m)
                .collect();
            let n = t.partitions.len();
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

struct Held {
    tp: TopicPartition,
    log: Arc<TopicLog>,
    position: usize,
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
                partitions: (0..topic.partitions)
                    .map(|_| PartitionLog {
                        records: RwLock::new(Vec::new()),
                    })
                    .collect(),
                config: topic.config.clone(),
                appended: Notify::new(),
            }),
        );
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
            Some(_) => Ok(()),
            None => Err(Error::UnknownTopic(name.to_string())),
        }
    }

    async fn list_topics(&self) -> Result<Vec<TopicDescription>> {
        let topics = self.inner.topics.read().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<TopicDescription> = topics
            .values()
            .map(|t| TopicDescription {
                name: t.name.clone(),
                partitions: t.partitions.len() as i32,
                config: t.config.clone(),
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn describe_topic(&self, name: &str) -> Result<Option<TopicDescription>> {
        Ok(self.topic(name).ok().map(|t| TopicDescription {
            name: t.name.clone(),
            partitions: t.partitions.len() as i32,
            config: t.config.clone(),
        }))
    }

    fn send(&self, record: OutgoingRecord) -> Result<DeliveryHandle> {
        let topic = self.topic(&record.topic)?;
        let n = topic.partitions.len() as i32;
        let partition = match (record.partition, &record.key) {
            (Some(p), _) => p,
            (None, Some(k)) => partitioner::partition_for_key(k, n),
            (None, None) => partitioner::partition_for_keyless(n),
        };
        let log = topic
            .partitions
            .get(partition as usize)
            .filter(|_| partition >= 0)
            .ok_or(Error::UnknownPartition {
                topic: record.topic.clone(),
                partition,
                partitions: n,
            })?;
        let timestamp = record.timestamp.unwrap_or_else(now_millis);
        let offset = {
            let mut recs = log.records.write().unwrap_or_else(|p| p.into_inner());
            recs.push(StoredRecord {
                timestamp,
                key: record.key.map(Bytes::from),
                value: record.value.map(Bytes::from),
                headers: record.headers,
            });
            recs.len() as i64 - 1
        };
        topic.appended.notify_waiters();
        Ok(DeliveryHandle::ready(Ok(RecordMetadata {
            topic: record.topic,
            partition,
            offset,
            timestamp,
        })))
    }

    async fn flush(&self, _timeout: Duration) -> Result<()> {
        Ok(())
    }

    async fn consume(&self, config: ConsumerConfig, mut d: Dispatcher) -> Result<()> {
        const BATCH: usize = 512;
        let group = config.group_id.clone();
        let member = self.join(&group, &config.topics);
        let progress = d.progress();
        let mut held: Vec<Held> = Vec::new();
        let mut seen_generation = u64::MAX;
        let mut pending_take = false;
        let mut next_commit = tokio::time::Instant::now() + config.commit_interval;
        let mut result = Ok(());
        'run: loop {
            if d.is_stopping() {
                break;
            }
            // Follow the group: release what is no longer ours, take what is free.
            let generation = lock(&self.inner.groups)
                .get(&group)
                .map(|g| g.generation)
                .unwrap_or(0);
            if generation != seen_generation || pending_take {
                seen_generation = generation;
                let desired = {
                    let groups = lock(&self.inner.groups);
                    groups
                        .get(&group)
                        .map(|g| self.desired(g, member))
                        .unwrap_or_default()
                };
                let revoked: Vec<TopicPartition> = held
                    .iter()
                    .filter(|h| !desired.contains(&h.tp))
                    .map(|h| h.tp.clone())
                    .collect();
                if !revoked.is_empty() {
                    let commits = d.revoke(&revoked).await;
                    let mut groups = lock(&self.inner.groups);
                    if let Some(g) = groups.get_mut(&group) {
                        for c in &commits {
                            g.committed.insert(
                                TopicPartition {
                                    topic: c.topic.clone(),
                                    partition: c.partition,
                                },
                                c.offset,
                            );
                        }
                        for tp in &revoked {
                            g.owners.remove(tp);
                        }
                    }
                    drop(groups);
                    held.retain(|h| desired.contains(&h.tp));
                    self.inner.group_changed.notify_waiters();
                }
                pending_take = false;
                let mut added = Vec::new();
                {
                    let mut groups = lock(&self.inner.groups);
                    if let Some(g) = groups.get_mut(&group) {
                        for tp in &desired {
                            if held.iter().any(|h| &h.tp == tp) {
                                continue;
                            }
                            match g.owners.get(tp) {
                                Some(m) if *m != member => {
                                    pending_take = true;
                                    continue;
                                }
                                _ => {}
                            }
                            let Ok(log) = self.topic(&tp.topic) else {
                                continue;
                            };
                            let end = log
                                .partitions
                                .get(tp.partition as usize)
                                .map(|p| p.records.read().unwrap_or_else(|e| e.into_inner()).len())
                                .unwrap_or(0);
                            let position = match g.committed.get(tp) {
                                Some(o) => (*o as usize).min(end),
                                None if config.from_earliest => 0,
                                None => end,
                            };
                            g.owners.insert(tp.clone(), member);
                            added.push(tp.clone());
                            held.push(Held {
                                tp: tp.clone(),
                                log,
                                position,
                            });
                        }
                    }
                }
                if !added.is_empty() {
                    progress.assign(&added);
                    tracing::debug!(group = %group, member, ?added, "partitions assigned");
                }
            }

            // Fetch and dispatch: up to BATCH records per partition per round, read in place
            // under the partition's read lock (released before waiting on backpressure).
            let mut got = 0usize;
            for h in held.iter_mut() {
                let Some(part) = h.log.partitions.get(h.tp.partition as usize) else {
                    continue;
                };
                let (read, wait) = {
                    let recs = part.records.read().unwrap_or_else(|e| e.into_inner());
                    let end = recs.len().min(h.position + BATCH);
                    let mut read = 0usize;
                    let mut wait = None;
                    for (i, r) in recs[h.position.min(end)..end].iter().enumerate() {
                        let msg = RawMessage {
                            topic: &h.log.name,
                            partition: h.tp.partition,
                            offset: (h.position + i) as i64,
                            timestamp: r.timestamp,
                            key: r.key.as_deref(),
                            value: r.value.as_deref(),
                            headers: if r.headers.is_empty() {
                                None
                            } else {
                                Some(&r.headers)
                            },
                        };
                        match d.deliver(&msg) {
                            Ok(w) => {
                                read += 1;
                                if w.is_some() {
                                    wait = w;
                                    break;
                                }
                            }
                            Err(e) => {
                                result = Err(e);
                                break;
                            }
                        }
                    }
                    (read, wait)
                };
                h.position += read;
                got += read;
                if result.is_err() {
                    break 'run;
                }
                if let Some(w) = wait {
                    if let Err(e) = w.await {
                        result = Err(e);
                        break 'run;
                    }
                }
            }
            if let Err(e) = d.flush().await {
                result = Err(e);
                break 'run;
            }

            let now = tokio::time::Instant::now();
            if config.commit && now >= next_commit {
                self.commit(&group, &d.take_commits());
                next_commit = now + config.commit_interval;
            }
            if got == 0 {
                // Nothing to read: wait for an append, a group change, the commit tick or stop.
                let mut waits: Vec<std::pin::Pin<Box<tokio::sync::futures::Notified<'_>>>> = held
                    .iter()
                    .map(|h| Box::pin(h.log.appended.notified()))
                    .collect();
                let mut group_change = Box::pin(self.inner.group_changed.notified());
                group_change.as_mut().enable();
                for w in waits.iter_mut() {
                    w.as_mut().enable();
                }
                let has_data = held.iter().any(|h| {
                    h.log
                        .partitions
                        .get(h.tp.partition as usize)
                        .map(|p| {
                            p.records.read().unwrap_or_else(|e| e.into_inner()).len() > h.position
                        })
                        .unwrap_or(false)
                });
                if has_data {
                    continue;
                }
                let any_append = async {
                    if waits.is_empty() {
                        futures::future::pending::<()>().await;
                    } else {
                        futures::future::select_all(waits.iter_mut()).await;
                    }
                };
                let poll_interval = if pending_take {
                    Duration::from_millis(10)
                } else {
                    Duration::from_secs(3600)
                };
                tokio::select! {
                    _ = any_append => {}
                    _ = group_change => {}
                    _ = d.stopping() => {}
                    _ = tokio::time::sleep_until(next_commit), if config.commit => {}
                    _ = tokio::time::sleep(poll_interval) => {}
                }
            }
        }
        // Also after a fatal record: the events before it are handed over and finished, and
        // nothing from it on is committed (it was never handed over).
        let finals = d.drain().await;
        let finals = if config.commit { finals } else { Vec::new() };
        self.leave(&group, member, &finals);
        result
    }
}
