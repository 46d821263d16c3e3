//! Kafka forwarding cases, at least once: every record of the consume topic is decoded, sent to
//! another topic, and its input offset is committed only once the sent record is delivered.
//!
//! - framework: an agent reading [`CONSUME_TOPIC`] as key-value items and forwarding each with
//!   `ForwardOut.send(key, value).await?` (the engine attaches the send to the event, so the
//!   event's offset is committed after the broker acknowledged the output);
//! - raw: a `StreamConsumer` → `FutureProducer` loop with the same client settings, many sends in
//!   flight, committing per partition the offset after the longest delivered prefix.
//!
//! Both commit every [`COMMIT_INTERVAL`]. A run is measured from the first record consumed to
//! the moment the group's committed offsets, read back from the broker by a separate client,
//! cover all the records; afterwards the output topic is checked to hold exactly as many.

use crate::data;
use crate::kafka::{raw_consumer_config, raw_producer_config, CONSUME_TOPIC, PARTITIONS};
use crate::measure::{CaseResult, Window};
use crate::Opts;
use faust_runtime::App;
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::BorrowedMessage;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Message, Offset, TopicPartitionList};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The topic the forwarding cases write (re-created before every forwarding run).
pub const FORWARD_TOPIC: &str = "bench-forward";

/// How often both forwarding cases commit (the app's `commit_interval`, the raw loop's timer).
pub const COMMIT_INTERVAL: Duration = Duration::from_millis(100);

/// How often the committed offsets are read back to find the end of a run.
const WATCH_INTERVAL: Duration = Duration::from_millis(10);

/// The app of the framework case: the consume topic, the output topic and the forwarding agent.
pub mod forward_app {
    use crate::data::Order;
    use crate::measure::Probe;
    use faust_runtime::prelude::*;
    use std::sync::LazyLock;

    /// Marks the first record consumed (by either case) and the end of the run.
    pub static PROBE: LazyLock<Probe> = LazyLock::new(Probe::new);

    /// The consumed topic (the consume cases' topic).
    #[topic(name = "bench-orders", key = String, value = Order, partitions = 4)]
    pub struct ForwardIn;

    /// The topic every record is forwarded to.
    #[topic(name = "bench-forward", key = String, value = Order, partitions = 4)]
    pub struct ForwardOut;

    /// Forwards every order under its key (Faust's `stream.items()`: key and value, no
    /// headers); the input offset is committed once the output is delivered.
    #[agent(ForwardIn)]
    async fn forward_orders(orders: Stream<ForwardIn>) -> Result<()> {
        let mut items = orders.items();
        while let Some((key, order)) = items.next().await {
            PROBE.first();
            ForwardOut.send(key.unwrap_or_default(), order).await?;
        }
        Ok(())
    }
}

use forward_app::PROBE;

/// Reads a group's committed offsets on [`CONSUME_TOPIC`] from the broker until they add up to
/// the number of records, then marks the end of the run on [`PROBE`].
struct CommitWatcher {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Option<i64>>>,
}

impl CommitWatcher {
    fn start(url: &str, group: &str, records: u64) -> Result<CommitWatcher, String> {
        let consumer: BaseConsumer = raw_consumer_config(url, group)
            .create()
            .map_err(|e| format!("cannot create the commit watcher: {e}"))?;
        let mut tpl = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            tpl.add_partition(CONSUME_TOPIC, p);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut sum = None;
            while !stopped.load(Ordering::Acquire) {
                if let Ok(c) = consumer.committed_offsets(tpl.clone(), Duration::from_secs(5)) {
                    let s: i64 = c
                        .elements()
                        .iter()
                        .map(|e| match e.offset() {
                            Offset::Offset(o) => o,
                            _ => 0,
                        })
                        .sum();
                    sum = Some(s);
                    if s >= records as i64 {
                        PROBE.last();
                        break;
                    }
                }
                std::thread::sleep(WATCH_INTERVAL);
            }
            sum
        });
        Ok(CommitWatcher {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops watching; returns the last sum of committed offsets it read.
    fn finish(mut self) -> Option<i64> {
        self.stop.store(true, Ordering::Release);
        self.thread.take().and_then(|t| t.join().ok()).flatten()
    }
}

impl Drop for CommitWatcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// Counts the records of `topic` from the beginning (no group, every partition assigned) and
/// fails unless there are exactly `expected`.
async fn check_output(url: &str, topic: &str, expected: u64) -> Result<(), String> {
    let consumer: BaseConsumer = raw_consumer_config(url, "faust-bench-check")
        .create()
        .map_err(|e| format!("cannot create the checking consumer: {e}"))?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .map_err(|e| e.to_string())?;
    }
    consumer.assign(&tpl).map_err(|e| e.to_string())?;
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || {
        let mut seen = 0u64;
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut quiet_since = Instant::now();
        // Read until every expected record arrived and nothing more came for a while.
        loop {
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(_)) => {
                    seen += 1;
                    quiet_since = Instant::now();
                }
                Some(Err(e)) => return Err(format!("reading {topic}: {e}")),
                None => {}
            }
            let quiet = quiet_since.elapsed();
            if seen >= expected && quiet > Duration::from_millis(500) {
                break;
            }
            if Instant::now() > deadline || (seen < expected && quiet > Duration::from_secs(15)) {
                break;
            }
        }
        if seen == expected {
            Ok(())
        } else {
            Err(format!("{topic} holds {seen} records, expected {expected}"))
        }
    })
    .await
    .map_err(|e| format!("the check failed: {e}"))?
}

/// What a run left behind, checked after its measured window (skipped with
/// `FAUST_BENCH_NO_CHECK=1`, so that a profile holds the measured work only).
async fn check_run(url: &str, committed: Option<i64>, n: u64) -> Result<(), String> {
    if std::env::var("FAUST_BENCH_NO_CHECK").is_ok_and(|v| v == "1") {
        return Ok(());
    }
    if committed != Some(n as i64) {
        return Err(format!(
            "committed offsets add up to {committed:?}, expected {n}"
        ));
    }
    check_output(url, FORWARD_TOPIC, n).await
}

/// The forwarding agent, with a fresh consumer group: from its first record until the
/// committed offsets cover every record.
pub async fn forward_agent(case: &str, opts: &Opts, url: &str) -> Result<CaseResult, String> {
    let n = opts.records;
    PROBE.arm(n);
    let app = App::builder(opts.group.clone())
        .broker(url)
        .commit_interval(COMMIT_INTERVAL)
        .include_module(module_path!().to_string() + "::forward_app");
    let app = crate::tune(app).build().map_err(|e| e.to_string())?;
    let watcher = CommitWatcher::start(url, &app.group_id(), n)?;
    let started = Instant::now();
    app.start().await.map_err(|e| e.to_string())?;
    let waited = PROBE.wait(opts.timeout).await;
    let health = app.health();
    let committed = watcher.finish();
    app.stop().await.map_err(|e| e.to_string())?;
    let (first, last) = waited.map_err(|e| format!("{e}; app health: {health:?}"))?;
    let result = CaseResult::new(
        case,
        n,
        Window::between(first, last),
        Some(first.at.saturating_duration_since(started)),
    );
    check_run(url, committed, n).await?;
    Ok(result)
}

/// Which input records of one partition are delivered: the offset to commit is the one after
/// the longest prefix of delivered records.
#[derive(Default)]
struct Delivered {
    /// Sequence number of the first entry of `pending`.
    base: u64,
    /// Offsets sent and whether their output is delivered, in consume order.
    pending: VecDeque<(i64, bool)>,
    /// Offset after the delivered prefix.
    done: i64,
    /// Offset last committed.
    committed: i64,
}

impl Delivered {
    /// Records that `offset` was sent; returns its sequence number.
    fn sent(&mut self, offset: i64) -> u64 {
        self.pending.push_back((offset, false));
        self.base + self.pending.len() as u64 - 1
    }

    /// Records that the output of sequence number `seq` was delivered.
    fn delivered(&mut self, seq: u64) {
        if let Some(entry) = self.pending.get_mut((seq - self.base) as usize) {
            entry.1 = true;
        }
        while let Some(&(offset, true)) = self.pending.front() {
            self.pending.pop_front();
            self.base += 1;
            self.done = offset + 1;
        }
    }

    /// The offset to commit, if it advanced since the last commit.
    fn take_commit(&mut self) -> Option<i64> {
        (self.done > self.committed).then(|| {
            self.committed = self.done;
            self.done
        })
    }
}

/// One delivery report, tagged with the input record it belongs to.
type Report = (usize, u64, Result<(), String>);

async fn tagged(partition: usize, seq: u64, delivery: rdkafka::producer::DeliveryFuture) -> Report {
    let r = match delivery.await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err((e, _))) => Err(format!("delivery failed: {e}")),
        Err(_) => Err("the producer dropped a delivery".into()),
    };
    (partition, seq, r)
}

/// Decodes a consumed record as the consume cases do and encodes it again for sending:
/// `(partition, offset, key, value)`.
fn reencode(msg: &BorrowedMessage<'_>) -> Result<(usize, i64, String, Vec<u8>), String> {
    let value = msg.payload().ok_or("a record without a value")?;
    let (key, order) = data::decode(msg.key(), value)?;
    let value = serde_json::to_vec(&order).map_err(|e| e.to_string())?;
    let p = usize::try_from(msg.partition()).map_err(|_| "a negative partition")?;
    Ok((p, msg.offset(), key.unwrap_or_default(), value))
}

/// Commits (asynchronously) every partition whose delivered prefix advanced; returns the sum of
/// the committed offsets.
fn commit_delivered(consumer: &StreamConsumer, parts: &mut [Delivered]) -> Result<i64, String> {
    let mut tpl = TopicPartitionList::new();
    for (p, d) in parts.iter_mut().enumerate() {
        if let Some(offset) = d.take_commit() {
            tpl.add_partition_offset(CONSUME_TOPIC, p as i32, Offset::Offset(offset))
                .map_err(|e| e.to_string())?;
        }
    }
    if tpl.count() > 0 {
        consumer
            .commit(&tpl, CommitMode::Async)
            .map_err(|e| format!("commit failed: {e}"))?;
    }
    Ok(parts.iter().map(|d| d.committed).sum())
}

/// The raw loop, with a fresh consumer group: from its first record until the committed offsets
/// cover every record.
pub async fn forward_raw(case: &str, opts: &Opts, url: &str) -> Result<CaseResult, String> {
    let n = opts.records;
    PROBE.arm(n);
    let consumer: StreamConsumer = raw_consumer_config(url, &opts.group)
        .create()
        .map_err(|e| format!("cannot create the consumer: {e}"))?;
    let producer: FutureProducer = raw_producer_config(url)
        .create()
        .map_err(|e| format!("cannot create the producer: {e}"))?;
    let watcher = CommitWatcher::start(url, &opts.group, n)?;
    consumer
        .subscribe(&[CONSUME_TOPIC])
        .map_err(|e| format!("cannot subscribe: {e}"))?;
    let started = Instant::now();
    let work = async {
        let mut stream = consumer.stream();
        let mut parts: Vec<Delivered> = Vec::new();
        let mut in_flight = FuturesUnordered::new();
        let mut tick = tokio::time::interval(COMMIT_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let settle =
            |parts: &mut Vec<Delivered>, (p, seq, r): Report| r.map(|()| parts[p].delivered(seq));
        loop {
            tokio::select! {
                biased;
                Some(report) = in_flight.next(), if !in_flight.is_empty() => {
                    settle(&mut parts, report)?;
                }
                _ = tick.tick() => {
                    // Everything delivered is committed once: the watcher sees the end.
                    if commit_delivered(&consumer, &mut parts)? >= n as i64 {
                        return Ok::<(), String>(());
                    }
                }
                msg = stream.next(), if in_flight.len() < opts.window => {
                    let msg = msg
                        .ok_or("the consumer stream ended")?
                        .map_err(|e| format!("consumer error: {e}"))?;
                    PROBE.first();
                    let (p, offset, key, value) = reencode(&msg)?;
                    drop(msg);
                    if parts.len() <= p {
                        parts.resize_with(p + 1, Delivered::default);
                    }
                    let seq = parts[p].sent(offset);
                    let mut record = FutureRecord::to(FORWARD_TOPIC).key(&key).payload(&value);
                    loop {
                        match producer.send_result(record) {
                            Ok(f) => {
                                in_flight.push(tagged(p, seq, f));
                                break;
                            }
                            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                                record = r;
                                match in_flight.next().await {
                                    Some(report) => settle(&mut parts, report)?,
                                    None => tokio::time::sleep(Duration::from_millis(1)).await,
                                }
                            }
                            Err((e, _)) => return Err(format!("cannot enqueue: {e}")),
                        }
                    }
                }
            }
        }
    };
    let waited = tokio::select! {
        r = work => match r {
            Ok(()) => PROBE.wait(opts.timeout).await,
            Err(e) => Err(e),
        },
        w = PROBE.wait(opts.timeout) => w,
    };
    let committed = watcher.finish();
    consumer.unsubscribe();
    producer
        .flush(Duration::from_secs(30))
        .map_err(|e| format!("flush failed: {e}"))?;
    let (first, last) = waited?;
    let result = CaseResult::new(
        case,
        n,
        Window::between(first, last),
        Some(first.at.saturating_duration_since(started)),
    );
    check_run(url, committed, n).await?;
    Ok(result)
}
