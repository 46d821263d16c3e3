//! The group consumer: one librdkafka consumer per [`consume`] call, records handed to the
//! [`Dispatcher`] in partition order straight from librdkafka's buffers.
//!
//! - Offsets are never committed automatically: only what the dispatcher reports as done, every
//!   commit interval (asynchronously), on revoke and on stop (synchronously).
//! - Rebalances run inside librdkafka's callbacks, on the task that polls the consumer. On a
//!   revoke the callback waits (bounded) for the agents to finish the revoked partitions' queued
//!   events, commits them and forgets the partitions. That wait blocks the polling thread, so on a
//!   multi-threaded runtime it runs in `block_in_place` (other tasks, the agents among them, move
//!   to other threads); on a current-thread runtime the agents cannot run meanwhile, so nothing
//!   is waited for and only what is done is committed.
//! - The per-record path is: take the next message from librdkafka's queue, build a
//!   [`RawMessage`] that borrows it (key, value and, only when asked, headers), dispatch, and
//!   check one relaxed atomic flag that a ticker task raises every 50 ms to look at the clock
//!   (commit interval) and the stop signal.

use super::{check_topic_name, ClientCtx, Shared};
use crate::dispatch::{Dispatcher, Progress};
use crate::error::{Error, Result};
use crate::transport::{
    CommitOffset, ConsumerConfig, HeaderSource, Headers, RawMessage, TopicPartition,
};
use bytes::Bytes;
use futures::{FutureExt, StreamExt};
use rdkafka::bindings as rd;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{BorrowedHeaders, BorrowedMessage, Message};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::ffi::CStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Longest a revoke callback waits for the agents (it holds up the whole group's rebalance).
const MAX_REVOKE_WAIT: Duration = Duration::from_secs(10);

/// How often the consume loop looks at the clock and the stop signal while records flow.
const TICK: Duration = Duration::from_millis(50);

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

/// The consumer's rdkafka context: client logs and errors, rebalances, commit results.
struct ConsumerCtx {
    client: ClientCtx,
    progress: Progress,
    group: String,
    commit: bool,
    revoke_wait: Duration,
}

impl ClientContext for ConsumerCtx {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.client.log(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.client.error(error, reason);
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

/// Waits for in-flight work of `tps` from inside a rebalance callback; see the module docs.
fn wait_in_callback(progress: &Progress, tps: &[TopicPartition], timeout: Duration) -> bool {
    use tokio::runtime::{Handle, RuntimeFlavor};
    if progress.caught_up(Some(tps)) {
        return true;
    }
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        // Not on a runtime thread (a closing consumer on a plain thread): blocking is fine.
        Err(_) => progress.wait_caught_up_blocking(Some(tps), timeout),
        Ok(RuntimeFlavor::MultiThread) => {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                tokio::task::block_in_place(|| progress.wait_caught_up_blocking(Some(tps), timeout))
            }))
            .unwrap_or_else(|_| progress.caught_up(Some(tps)))
        }
        // A current-thread runtime: the agents cannot run while this thread waits.
        Ok(_) => false,
    }
}

impl ConsumerContext for ConsumerCtx {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => {
                let tps = partitions_of(tpl);
                if tps.is_empty() {
                    return;
                }
                if !wait_in_callback(&self.progress, &tps, self.revoke_wait) {
                    tracing::warn!(
                        group = %self.group,
                        ?tps,
                        "revoked partitions still have unfinished events; committing what is done"
                    );
                }
                if self.commit {
                    let offsets = self.progress.committable(Some(&tps));
                    commit(
                        consumer,
                        &offsets,
                        CommitMode::Sync,
                        &self.client,
                        &self.group,
                    );
                }
                self.progress.unassign(&tps);
                tracing::debug!(group = %self.group, ?tps, "partitions revoked");
            }
            Rebalance::Error(e) => self
                .client
                .health
                .record(&format!("rebalance of group '{}'", self.group), e),
            Rebalance::Assign(_) => {}
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            let tps = partitions_of(tpl);
            self.progress.assign(&tps);
            tracing::debug!(group = %self.group, ?tps, "partitions assigned");
        }
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

/// Commits `offsets` (nothing when empty); failures are logged and counted.
fn commit<C: ConsumerContext, K: Consumer<C>>(
    consumer: &K,
    offsets: &[CommitOffset],
    mode: CommitMode,
    client: &ClientCtx,
    group: &str,
) {
    if offsets.is_empty() {
        return;
    }
    let mut tpl = TopicPartitionList::with_capacity(offsets.len());
    for o in offsets {
        if let Err(e) = tpl.add_partition_offset(&o.topic, o.partition, Offset::Offset(o.offset)) {
            client.health.record(
                &format!("commit of group '{group}' for {}[{}]", o.topic, o.partition),
                e,
            );
        }
    }
    match consumer.commit(&tpl, mode) {
        Ok(()) => tracing::trace!(group, ?offsets, "committed"),
        Err(e) => client
            .health
            .record(&format!("commit of group '{group}'"), e),
    }
}

fn millis(d: Duration) -> String {
    d.as_millis().to_string()
}

/// Closes a consumer (leaves the group) off the async threads if the consume future is dropped
/// before it could do so itself.
struct Closer(Option<Arc<StreamConsumer<ConsumerCtx>>>);

impl Drop for Closer {
    fn drop(&mut self) {
        if let Some(consumer) = self.0.take() {
            let close = move || drop(consumer);
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => {
                    rt.spawn_blocking(close);
                }
                Err(_) => close(),
            }
        }
    }
}

/// Raises a flag every [`TICK`] for the consume loop to look at the clock and the stop signal.
struct Ticker {
    due: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Ticker {
    fn start() -> Self {
        let due = Arc::new(AtomicBool::new(true));
        let flag = due.clone();
        let task = tokio::spawn(async move {
            let mut every = tokio::time::interval(TICK);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                flag.store(true, Ordering::Relaxed);
            }
        });
        Ticker { due, task }
    }

    #[inline]
    fn due(&self) -> bool {
        if self.due.load(Ordering::Relaxed) {
            self.due.store(false, Ordering::Relaxed);
            true
        } else {
            false
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

enum Wake<T> {
    Stop,
    Commit,
    Item(T),
}

/// Runs the group consumer; see the module docs and [`crate::transport::Transport::consume`].
pub(super) async fn consume(
    shared: &Arc<Shared>,
    config: ConsumerConfig,
    mut d: Dispatcher,
) -> Result<()> {
    if config.group_id.is_empty() || config.group_id.contains('\0') {
        return Err(Error::config(format!(
            "consumer group id {:?} must be non-empty and contain no NUL byte",
            config.group_id
        )));
    }
    for t in &config.topics {
        check_topic_name(t)?;
    }
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(Error::state(
            "the Kafka consumer runs on a tokio runtime: call it from inside one",
        ));
    }
    if config.topics.is_empty() {
        d.stopping().await;
        let _ = d.drain().await;
        return Ok(());
    }
    let k = &shared.settings.kafka;
    let ctx = ConsumerCtx {
        client: shared.ctx.clone(),
        progress: d.progress(),
        group: config.group_id.clone(),
        commit: config.commit,
        revoke_wait: d.drain_timeout().min(MAX_REVOKE_WAIT),
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
        .set("enable.partition.eof", "false");
    for (key, value) in &k.consumer {
        c.set(key, value);
    }
    let consumer: StreamConsumer<ConsumerCtx> = c
        .create_with_context(ctx)
        .map_err(|e| Error::config(format!("cannot create the Kafka consumer: {e}")))?;
    let mut closer = Closer(Some(Arc::new(consumer)));
    let result = run(shared, &config, &mut d, &closer).await;

    // Also after a fatal record: the events before it are handed over and finished, and nothing
    // from it on is committed (it was never handed over).
    let finals = d.drain().await;
    let finals = if config.commit { finals } else { Vec::new() };
    let Some(consumer) = closer.0.take() else {
        return result;
    };
    let client = shared.ctx.clone();
    let group = config.group_id.clone();
    // A synchronous commit and the group leave both wait for the broker: not on an async thread.
    let closed = shared
        .blocking(move || {
            commit(&*consumer, &finals, CommitMode::Sync, &client, &group);
            consumer.unsubscribe();
            drop(consumer);
            Ok(())
        })
        .await;
    tracing::debug!(group = %config.group_id, "consumer closed");
    result.and(closed)
}

async fn run(
    shared: &Shared,
    config: &ConsumerConfig,
    d: &mut Dispatcher,
    closer: &Closer,
) -> Result<()> {
    let Some(consumer) = closer.0.as_deref() else {
        return Ok(());
    };
    let topics: Vec<&str> = config.topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topics)
        .map_err(|e| Error::broker(&shared.url, format!("cannot subscribe to {topics:?}: {e}")))?;
    tracing::debug!(group = %config.group_id, ?topics, "subscribed");
    let health = &shared.ctx.health;
    let ticker = Ticker::start();
    let mut next_commit = tokio::time::Instant::now() + config.commit_interval;
    let mut stream = consumer.stream();
    loop {
        if ticker.due() {
            if d.is_stopping() {
                return Ok(());
            }
            if config.commit && tokio::time::Instant::now() >= next_commit {
                commit(
                    consumer,
                    &d.take_commits(),
                    CommitMode::Async,
                    &shared.ctx,
                    &config.group_id,
                );
                next_commit = tokio::time::Instant::now() + config.commit_interval;
            }
        }
        let item = match stream.next().now_or_never() {
            Some(item) => item,
            None => {
                // Nothing buffered: hand the batched events to the agents, then wait for a
                // record, the commit interval or the stop signal.
                d.flush().await?;
                let woke = tokio::select! {
                    biased;
                    _ = d.stopping() => Wake::Stop,
                    _ = tokio::time::sleep_until(next_commit), if config.commit => Wake::Commit,
                    item = stream.next() => Wake::Item(item),
                };
                match woke {
                    Wake::Stop => return Ok(()),
                    Wake::Commit => {
                        commit(
                            consumer,
                            &d.take_commits(),
                            CommitMode::Async,
                            &shared.ctx,
                            &config.group_id,
                        );
                        next_commit = tokio::time::Instant::now() + config.commit_interval;
                        continue;
                    }
                    Wake::Item(item) => item,
                }
            }
        };
        let msg = match item {
            Some(Ok(msg)) => msg,
            Some(Err(e)) => {
                health.record(&format!("consumer of group '{}'", config.group_id), e);
                continue;
            }
            None => {
                return Err(Error::broker(
                    &shared.url,
                    "the Kafka consumer stream ended",
                ))
            }
        };
        let raw = RawMessage {
            topic: msg.topic(),
            partition: msg.partition(),
            offset: msg.offset(),
            timestamp: msg.timestamp().to_millis().unwrap_or(-1),
            key: msg.key(),
            value: msg.payload(),
            // Parsed only if someone asks: see `HeaderSource for BorrowedMessage`.
            headers: Some(&msg),
        };
        d.dispatch(&raw).await?;
    }
}
