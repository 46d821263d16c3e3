//! The group consumer: one librdkafka consumer per [`Consumer`], polled by the runtime's consume
//! driver.
//!
//! - Records are handed to the driver's sink straight from librdkafka's buffers (no copy of keys,
//!   values or headers).
//! - Rebalances are values, not work done in a callback: librdkafka's rebalance callback only
//!   queues a [`Rebalance`](crate::transport::Rebalance) and returns without assigning or
//!   unassigning. librdkafka then waits (the group stays in its "wait for the application's
//!   assign/unassign call" state) until the driver has finished the revoked partitions' work,
//!   committed it and called [`Consumer::release`](crate::transport::Consumer::release), or has
//!   prepared newly assigned partitions and called
//!   [`Consumer::assign`](crate::transport::Consumer::assign). No thread blocks meanwhile.
//! - Offsets are never committed automatically: only what the driver asks for.

use super::{check_topic_name, ClientCtx, Shared};
use crate::error::{Error, Result};
use crate::transport::{
    self as tr, CommitOffset, ConsumerConfig, Flow, HeaderSource, Headers, Polled, RawMessage,
    RecordSink, TopicPartition,
};
use bytes::Bytes;
use futures::{FutureExt, StreamExt};
use rdkafka::bindings as rd;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer as _, ConsumerContext, RebalanceProtocol, StreamConsumer,
};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{BorrowedHeaders, BorrowedMessage, Headers as _, Message, OwnedMessage};
use rdkafka::types::{RDKafkaErrorCode, RDKafkaRespErr};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::collections::VecDeque;
use std::ffi::CStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a blocking metadata or offset query may take.
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

/// A subscription pattern no topic name matches (`rejoin` adds it for a moment).
const NO_TOPIC: &str = "^$";

/// Most records handed over by one poll, so the driver looks at its clock and stop signal often.
const MAX_POLL: usize = 2048;

/// Copies a received record's headers out of librdkafka's buffers.
///
/// Reads librdkafka's header list directly so that a header name that is not UTF-8 (the broker
/// does not check) becomes a lossy string instead of a failure.
impl HeaderSource for BorrowedHeaders {
    fn to_headers(&self) -> Headers {
        // SAFETY: a `&BorrowedHeaders` is rdkafka's view of a native `rd_kafka_headers_t`: its
        // address is the native pointer, valid for as long as the message it was borrowed from.
        // Names are NUL-terminated; values are `size` bytes or NULL (a null header value).
        let ptr = self as *const BorrowedHeaders as *const rd::rd_kafka_headers_t;
        let n = unsafe { rd::rd_kafka_header_cnt(ptr) };
        let mut out = Vec::with_capacity(n);
        for idx in 0..n {
            let mut name = std::ptr::null();
            let mut value = std::ptr::null();
            let mut size = 0usize;
            let err =
                unsafe { rd::rd_kafka_header_get_all(ptr, idx, &mut name, &mut value, &mut size) };
            if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR || name.is_null() {
                break;
            }
            let key =
                String::from_utf8_lossy(unsafe { CStr::from_ptr(name) }.to_bytes()).into_owned();
            let value = if value.is_null() {
                None
            } else if size == 0 {
                Some(Bytes::new())
            } else {
                Some(Bytes::copy_from_slice(unsafe {
                    std::slice::from_raw_parts(value as *const u8, size)
                }))
            };
            out.push((key, value));
        }
        out
    }
}

/// A received record's headers, looked at only when asked.
///
/// librdkafka parses a consumed record's headers on first access, and that costs an allocation
/// even for a record without headers: the consume loop therefore never asks itself and hands
/// the message as the [`RawMessage::headers`] source (an empty list = no headers).
impl HeaderSource for BorrowedMessage<'_> {
    fn to_headers(&self) -> Headers {
        self.headers()
            .map(HeaderSource::to_headers)
            .unwrap_or_default()
    }
}

/// A record taken out of librdkafka while waiting for one (see `KafkaConsumer::ready`).
impl HeaderSource for OwnedMessage {
    fn to_headers(&self) -> Headers {
        self.headers()
            .map(|h| {
                h.iter()
                    .map(|hd| (hd.key.to_string(), hd.value.map(Bytes::copy_from_slice)))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The consumer's rdkafka context: client logs and errors, rebalances queued as values, commit
/// results.
struct ConsumerCtx {
    client: ClientCtx,
    group: String,
    events: Mutex<VecDeque<tr::Rebalance>>,
    wake: tokio::sync::Notify,
    /// The consumer is closing: nobody answers rebalances any more, so the callback gives the
    /// partitions up itself (as librdkafka's default handling does).
    closing: std::sync::atomic::AtomicBool,
}

impl ClientContext for ConsumerCtx {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn generate_oauth_token(
        &self,
        _oauthbearer_config: Option<&str>,
    ) -> Result<rdkafka::client::OAuthToken, Box<dyn std::error::Error>> {
        self.client.oauth_token()
    }

    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.client.log(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.client.client_error(&error, reason);
    }
}

fn partitions_of(tpl: &TopicPartitionList) -> Vec<TopicPartition> {
    tpl.elements()
        .iter()
        .map(|e| TopicPartition {
            topic: e.topic().to_string(),
            partition: e.partition(),
        })
        .collect()
}

impl ConsumerContext for ConsumerCtx {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        if self.closing.load(std::sync::atomic::Ordering::Acquire) {
            let cooperative = matches!(
                consumer.rebalance_protocol(),
                RebalanceProtocol::Cooperative
            );
            let r = match (err, cooperative) {
                (RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS, true) => {
                    consumer.incremental_assign(tpl)
                }
                (RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS, false) => {
                    consumer.assign(tpl)
                }
                (_, true) => consumer.incremental_unassign(tpl),
                (_, false) => consumer.unassign(),
            };
            if let Err(e) = r {
                tracing::debug!(group = %self.group, error = %e, "rebalance while closing");
            }
            return;
        }
        let tps = partitions_of(tpl);
        let event = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => tr::Rebalance::Assigned(tps),
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                if consumer.assignment_lost() {
                    tr::Rebalance::Lost(tps)
                } else {
                    tr::Rebalance::Revoked(tps)
                }
            }
            other => {
                let code: RDKafkaErrorCode = other.into();
                self.client
                    .health
                    .record(&format!("rebalance of group '{}'", self.group), code);
                let held = consumer
                    .assignment()
                    .map(|a| partitions_of(&a))
                    .unwrap_or_default();
                tr::Rebalance::Lost(held)
            }
        };
        tracing::debug!(group = %self.group, ?event, "rebalance");
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(event);
        self.wake.notify_one();
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        match result {
            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => self
                .client
                .health
                .record(&format!("commit of group '{}'", self.group), e),
        }
    }
}

fn millis(d: Duration) -> String {
    d.as_millis().to_string()
}

fn tpl_of(offsets: &[CommitOffset]) -> Result<TopicPartitionList> {
    let mut tpl = TopicPartitionList::with_capacity(offsets.len());
    for o in offsets {
        tpl.add_partition_offset(&o.topic, o.partition, Offset::Offset(o.offset))
            .map_err(|e| Error::state(format!("offset for {}[{}]: {e}", o.topic, o.partition)))?;
    }
    Ok(tpl)
}

fn tpl_of_partitions(tps: &[TopicPartition]) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::with_capacity(tps.len());
    for tp in tps {
        tpl.add_partition(&tp.topic, tp.partition);
    }
    tpl
}

/// A librdkafka group consumer; see the module docs.
pub(super) struct KafkaConsumer {
    shared: Arc<Shared>,
    consumer: Arc<StreamConsumer<ConsumerCtx>>,
    group: String,
    /// The subscription, for [`tr::Consumer::rejoin`].
    topics: Vec<String>,
    /// A record taken while waiting in `ready`, delivered first by the next poll.
    peeked: Option<OwnedMessage>,
    closed: bool,
    /// The names of the topics records came from, matched instead of measured per record.
    names: super::topic_names::TopicNames,
}

/// Creates a consumer of `config.topics` in group `config.group_id` and subscribes it.
pub(super) fn create(shared: &Arc<Shared>, config: ConsumerConfig) -> Result<KafkaConsumer> {
    if config.group_id.is_empty() || config.group_id.contains('\0') {
        return Err(Error::config(format!(
            "consumer group id {:?} must be non-empty and contain no NUL byte",
            config.group_id
        )));
    }
    for t in &config.topics {
        // A `^`-prefixed entry is a pattern, which librdkafka matches against the cluster's
        // topics (also those created later, at each metadata refresh).
        if crate::pattern::is_pattern(t) {
            crate::pattern::Pattern::new(t)?;
        } else {
            check_topic_name(t)?;
        }
    }
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(Error::state(
            "the Kafka consumer runs on a tokio runtime: call it from inside one",
        ));
    }
    let k = &shared.settings;
    let ctx = ConsumerCtx {
        client: shared.ctx.clone(),
        group: config.group_id.clone(),
        events: Mutex::new(VecDeque::new()),
        wake: tokio::sync::Notify::new(),
        closing: std::sync::atomic::AtomicBool::new(false),
    };
    let mut c = shared.base_config();
    c.set("group.id", &config.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set(
            "auto.offset.reset",
            if config.from_earliest {
                "earliest"
            } else {
                "latest"
            },
        )
        .set("session.timeout.ms", millis(k.session_timeout))
        .set("heartbeat.interval.ms", millis(k.heartbeat_interval))
        .set("fetch.queue.backoff.ms", millis(k.fetch_queue_backoff))
        .set("enable.partition.eof", "false")
        // A topic recreated after the broker lost it is seen within seconds, not minutes.
        .set("topic.metadata.refresh.interval.ms", "5000");
    for (key, value) in &k.consumer {
        c.set(key, value);
    }
    let consumer: StreamConsumer<ConsumerCtx> = c
        .create_with_context(ctx)
        .map_err(|e| Error::config(super::client_creation_error("consumer", &e)))?;
    if !config.topics.is_empty() {
        let topics: Vec<&str> = config.topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics).map_err(|e| {
            Error::broker(&shared.url, format!("cannot subscribe to {topics:?}: {e}"))
        })?;
        tracing::debug!(group = %config.group_id, ?topics, "subscribed");
    }
    Ok(KafkaConsumer {
        shared: shared.clone(),
        consumer: Arc::new(consumer),
        group: config.group_id,
        topics: config.topics,
        peeked: None,
        closed: false,
        names: Default::default(),
    })
}

impl KafkaConsumer {
    /// The next rebalance to report. A record taken while waiting (`peeked`) that belongs to a
    /// partition given up is dropped with it: it was fetched before the revoke, and the
    /// partition's next owner (this consumer again, maybe) reads it from the committed offset.
    fn next_event(&mut self) -> Option<tr::Rebalance> {
        let ev = self
            .consumer
            .context()
            .events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()?;
        if let (tr::Rebalance::Revoked(tps) | tr::Rebalance::Lost(tps), Some(m)) =
            (&ev, &self.peeked)
        {
            if tps
                .iter()
                .any(|tp| tp.topic == m.topic() && tp.partition == m.partition())
            {
                self.peeked = None;
            }
        }
        Some(ev)
    }

    fn has_event(&self) -> bool {
        !self
            .consumer
            .context()
            .events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
    }

    fn set_closing(&self) {
        self.consumer
            .context()
            .closing
            .store(true, std::sync::atomic::Ordering::Release);
    }

    fn cooperative(&self) -> bool {
        matches!(
            self.consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        )
    }

    /// Runs a blocking librdkafka call on this consumer off the async threads.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&StreamConsumer<ConsumerCtx>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let c = self.consumer.clone();
        self.shared.blocking(move || f(&c)).await
    }
}

#[async_trait::async_trait]
impl tr::Consumer for KafkaConsumer {
    fn poll(&mut self, sink: &mut dyn RecordSink) -> Result<Polled> {
        if let Some(ev) = self.next_event() {
            return Ok(Polled::Rebalance(ev));
        }
        let mut n = 0usize;
        if let Some(m) = self.peeked.take() {
            n += 1;
            let raw = RawMessage {
                topic: m.topic(),
                partition: m.partition(),
                offset: m.offset(),
                timestamp: m.timestamp().to_millis().unwrap_or(-1),
                key: m.key(),
                value: m.payload(),
                headers: Some(&m),
                shared: None,
            };
            if sink.record(&raw) == Flow::Yield {
                return Ok(Polled::Records(n));
            }
        }
        let health = &self.shared.ctx.health;
        let mut stream = self.consumer.stream();
        while n < MAX_POLL {
            let msg = match stream.next().now_or_never() {
                None => break,
                Some(Some(Ok(msg))) => msg,
                Some(Some(Err(e))) => {
                    health.record(&format!("consumer of group '{}'", self.group), e);
                    continue;
                }
                Some(None) => {
                    return Err(Error::broker(
                        &self.shared.url,
                        "the Kafka consumer stream ended",
                    ))
                }
            };
            n += 1;
            let raw = RawMessage {
                topic: self.names.of(&msg),
                partition: msg.partition(),
                offset: msg.offset(),
                timestamp: msg.timestamp().to_millis().unwrap_or(-1),
                key: msg.key(),
                value: msg.payload(),
                // Parsed only if someone asks: see `HeaderSource for BorrowedMessage`.
                headers: Some(&msg),
                shared: None,
            };
            if sink.record(&raw) == Flow::Yield || self.has_event() {
                break;
            }
        }
        drop(stream);
        if n > 0 {
            return Ok(Polled::Records(n));
        }
        Ok(match self.next_event() {
            Some(ev) => Polled::Rebalance(ev),
            None => Polled::Idle,
        })
    }

    fn poll_rebalance(&mut self) -> Option<tr::Rebalance> {
        self.next_event()
    }

    /// Yes: every record is copied out of librdkafka's buffers while polled.
    fn polls_on_own_thread(&self) -> bool {
        true
    }

    async fn ready(&mut self) {
        if self.peeked.is_some() || self.has_event() {
            return;
        }
        let consumer = self.consumer.clone();
        let notified = consumer.context().wake.notified();
        let mut stream = consumer.stream();
        tokio::select! {
            m = stream.next() => match m {
                Some(Ok(msg)) => self.peeked = Some(msg.detach()),
                Some(Err(e)) => self
                    .shared
                    .ctx
                    .health
                    .record(&format!("consumer of group '{}'", self.group), e),
                None => {}
            },
            _ = notified => {}
        }
    }

    async fn assign(&mut self, partitions: &[(TopicPartition, Option<i64>)]) -> Result<()> {
        let mut tpl = TopicPartitionList::with_capacity(partitions.len());
        for (tp, start) in partitions {
            let offset = start.map(Offset::Offset).unwrap_or(Offset::Stored);
            tpl.add_partition_offset(&tp.topic, tp.partition, offset)
                .map_err(|e| Error::state(format!("assign {tp}: {e}")))?;
        }
        let r = if self.cooperative() {
            self.consumer.incremental_assign(&tpl)
        } else {
            self.consumer.assign(&tpl)
        };
        r.map_err(|e| {
            Error::broker(
                &self.shared.url,
                format!("cannot assign {partitions:?}: {e}"),
            )
        })
    }

    async fn release(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        let r = if self.cooperative() {
            self.consumer
                .incremental_unassign(&tpl_of_partitions(partitions))
        } else {
            self.consumer.unassign()
        };
        r.map_err(|e| {
            Error::broker(
                &self.shared.url,
                format!("cannot release {partitions:?}: {e}"),
            )
        })
    }

    async fn commit(&mut self, offsets: &[CommitOffset], sync: bool) -> Result<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        let tpl = tpl_of(offsets)?;
        let url = self.shared.url.clone();
        let group = self.group.clone();
        let done = if sync {
            self.blocking(move |c| {
                c.commit(&tpl, CommitMode::Sync)
                    .map_err(|e| Error::broker(url, format!("commit of group '{group}': {e}")))
            })
            .await
        } else {
            self.consumer
                .commit(&tpl, CommitMode::Async)
                .map_err(|e| Error::broker(url, format!("commit of group '{group}': {e}")))
        };
        if let Err(e) = &done {
            self.shared.ctx.health.record("commit", e);
        } else {
            tracing::trace!(group = %self.group, ?offsets, sync, "committed");
        }
        done
    }

    async fn committed(&mut self, partitions: &[TopicPartition]) -> Result<Vec<Option<i64>>> {
        let tpl = tpl_of_partitions(partitions);
        let url = self.shared.url.clone();
        let asked: Vec<TopicPartition> = partitions.to_vec();
        self.blocking(move |c| {
            let got = c
                .committed_offsets(tpl, QUERY_TIMEOUT)
                .map_err(|e| Error::broker(url, format!("committed offsets: {e}")))?;
            Ok(asked
                .iter()
                .map(|tp| match got.find_partition(&tp.topic, tp.partition) {
                    Some(e) => match e.offset() {
                        Offset::Offset(o) => Some(o),
                        _ => None,
                    },
                    None => None,
                })
                .collect())
        })
        .await
    }

    async fn end_offset(&mut self, partition: &TopicPartition) -> Result<i64> {
        let tp = partition.clone();
        let url = self.shared.url.clone();
        self.blocking(move |c| {
            c.fetch_watermarks(&tp.topic, tp.partition, QUERY_TIMEOUT)
                .map(|(_, high)| high)
                .map_err(|e| Error::broker(url, format!("watermarks of {tp}: {e}")))
        })
        .await
    }

    fn pause(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.consumer
            .pause(&tpl_of_partitions(partitions))
            .map_err(|e| Error::broker(&self.shared.url, format!("pause: {e}")))
    }

    fn resume(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.consumer
            .resume(&tpl_of_partitions(partitions))
            .map_err(|e| Error::broker(&self.shared.url, format!("resume: {e}")))
    }

    async fn seek(&mut self, partition: &TopicPartition, offset: i64) -> Result<()> {
        let tp = partition.clone();
        let url = self.shared.url.clone();
        self.blocking(move |c| {
            c.seek(
                &tp.topic,
                tp.partition,
                Offset::Offset(offset),
                QUERY_TIMEOUT,
            )
            .map_err(|e| Error::broker(url, format!("seek {tp} to {offset}: {e}")))
        })
        .await
    }

    async fn rejoin(&mut self) -> Result<()> {
        if self.topics.is_empty() {
            return Ok(());
        }
        // A changed subscription makes librdkafka join again under the same member id (a
        // member that left and came back under a new id can be kept out by a broker that still
        // counts the old one as the group's leader); then the real subscription, once more.
        let topics: Vec<&str> = self.topics.iter().map(String::as_str).collect();
        let mut changed = topics.clone();
        changed.push(NO_TOPIC);
        for list in [&changed, &topics] {
            self.consumer.subscribe(list).map_err(|e| {
                Error::broker(
                    &self.shared.url,
                    format!("cannot subscribe to {topics:?} again: {e}"),
                )
            })?;
        }
        tracing::debug!(group = %self.group, ?topics, "subscribed again");
        Ok(())
    }

    async fn close(mut self: Box<Self>, finals: &[CommitOffset]) -> Result<()> {
        self.closed = true;
        self.set_closing();
        let tpl = if finals.is_empty() {
            None
        } else {
            Some(tpl_of(finals)?)
        };
        let consumer = self.consumer.clone();
        let client = self.shared.ctx.clone();
        let group = self.group.clone();
        // A synchronous commit and the group leave both wait for the broker: not on an async
        // thread.
        self.shared
            .blocking(move || {
                if let Some(tpl) = tpl {
                    if let Err(e) = consumer.commit(&tpl, CommitMode::Sync) {
                        client
                            .health
                            .record(&format!("final commit of group '{group}'"), e);
                    }
                }
                consumer.unsubscribe();
                drop(consumer);
                Ok(())
            })
            .await
    }
}

impl Drop for KafkaConsumer {
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        self.set_closing();
        // Leaving the group waits for the broker: do it off the async threads.
        let consumer = self.consumer.clone();
        let close = move || drop(consumer);
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn_blocking(close);
            }
            Err(_) => close(),
        }
    }
}
