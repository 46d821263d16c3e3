//! Kafka cases: an agent against a raw rdkafka `StreamConsumer` loop on the same topic, and
//! `send_soon` against a raw `FutureProducer`, all with the librdkafka settings the runtime's
//! Kafka transport uses (taken from [`KafkaSettings::default`]).

use crate::data;
use crate::measure::{CaseResult, Mark, Window};
use crate::Opts;
use faust_runtime::{App, DeliveryHandle, KafkaSettings};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Headers;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, Message};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The topic the consume cases read (filled once per benchmark run).
pub const CONSUME_TOPIC: &str = "bench-orders";
/// The topic the produce cases write (re-created before every produce run).
pub const PRODUCE_TOPIC: &str = "bench-produce";
/// Partitions of both topics.
pub const PARTITIONS: i32 = 4;

/// The app of the consume case: the topic and a counting agent.
pub mod consume_app {
    use crate::data::Order;
    use crate::measure::Probe;
    use faust_runtime::prelude::*;
    use std::sync::LazyLock;

    /// Marks the agent's first and last record.
    pub static PROBE: LazyLock<Probe> = LazyLock::new(Probe::new);

    /// The consumed topic.
    #[topic(name = "bench-orders", key = String, value = Order, partitions = 4)]
    pub struct BenchOrders;

    /// Counts orders until the expected number arrived.
    #[agent(BenchOrders)]
    async fn count_orders(orders: Stream<BenchOrders>) -> Result<()> {
        PROBE.count(orders).await;
        Ok(())
    }
}

/// The app of the produce case: the topic, and an idle timer (an app needs something to run).
pub mod produce_app {
    use crate::data::Order;
    use faust_runtime::prelude::*;

    /// The produced topic.
    #[topic(name = "bench-produce", key = String, value = Order, partitions = 4)]
    pub struct BenchProduce;

    /// Does nothing; keeps the app valid.
    #[timer(interval = "1h")]
    async fn idle() -> Result<()> {
        Ok(())
    }
}

/// librdkafka's `bootstrap.servers` from a `kafka://host:port[;host:port]` URL.
pub fn bootstrap(url: &str) -> String {
    url.trim()
        .split(';')
        .map(|s| {
            s.trim()
                .trim_start_matches("kafka://")
                .trim_end_matches('/')
        })
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(",")
}

fn millis(d: Duration) -> String {
    d.as_millis().to_string()
}

fn base_config(url: &str, k: &KafkaSettings) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap(url))
        .set("client.id", &k.client_id)
        .set("log.connection.close", "false");
    c
}

/// The consumer settings the runtime's Kafka transport uses, for a raw consumer.
pub fn raw_consumer_config(url: &str, group: &str) -> ClientConfig {
    let k = KafkaSettings::default();
    let mut c = base_config(url, &k);
    c.set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", millis(k.session_timeout))
        .set("heartbeat.interval.ms", millis(k.heartbeat_interval))
        .set("fetch.queue.backoff.ms", millis(k.fetch_queue_backoff))
        .set("enable.partition.eof", "false");
    for (key, value) in &k.consumer {
        c.set(key, value);
    }
    c
}

/// The producer settings the runtime's Kafka transport uses (default acks), for a raw producer.
pub fn raw_producer_config(url: &str) -> ClientConfig {
    let k = KafkaSettings::default();
    let mut c = base_config(url, &k);
    c.set("partitioner", "murmur2_random")
        .set("linger.ms", millis(k.linger));
    if let Some(size) = k.batch_size {
        c.set("batch.size", size.to_string());
    }
    if let Some(compression) = &k.compression {
        c.set("compression.type", compression);
    }
    for (key, value) in &k.producer {
        c.set(key, value);
    }
    c.set("acks", k.acks.as_kafka())
        .set("enable.idempotence", "false");
    c
}

fn admin(url: &str) -> Result<AdminClient<DefaultClientContext>, String> {
    base_config(url, &KafkaSettings::default())
        .create()
        .map_err(|e| format!("cannot create the admin client: {e}"))
}

/// Deletes `topic` if it exists.
pub async fn delete_topic(url: &str, topic: &str) -> Result<(), String> {
    let admin = admin(url)?;
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(15)));
    let results = admin
        .delete_topics(&[topic], &opts)
        .await
        .map_err(|e| format!("cannot delete topic {topic}: {e}"))?;
    for r in results {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
            Err((t, e)) => return Err(format!("cannot delete topic {t}: {e}")),
        }
    }
    Ok(())
}

/// Deletes `topic` if it exists, then creates it empty with [`PARTITIONS`] partitions.
pub async fn recreate_topic(url: &str, topic: &str) -> Result<(), String> {
    delete_topic(url, topic).await?;
    let admin = admin(url)?;
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(15)));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let new = NewTopic::new(topic, PARTITIONS, TopicReplication::Fixed(1));
        let results = admin
            .create_topics(&[new], &opts)
            .await
            .map_err(|e| format!("cannot create topic {topic}: {e}"))?;
        match results.into_iter().next() {
            Some(Ok(_)) => return Ok(()),
            Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) if Instant::now() < deadline => {
                // The delete has not settled yet.
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Some(Err((t, e))) => return Err(format!("cannot create topic {t}: {e}")),
            None => return Err(format!("no answer creating topic {topic}")),
        }
    }
}

/// Sends `n` records with a raw producer, at most `window` awaiting their acknowledgement.
/// Returns the time from the first send to the last acknowledgement.
async fn produce_raw(url: &str, topic: &str, n: u64, window: usize) -> Result<Window, String> {
    let producer: FutureProducer = raw_producer_config(url)
        .create()
        .map_err(|e| format!("cannot create the producer: {e}"))?;
    let mut in_flight: VecDeque<DeliveryFuture> = VecDeque::with_capacity(window);
    async fn settle(f: DeliveryFuture) -> Result<(), String> {
        match f.await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err((e, _))) => Err(format!("delivery failed: {e}")),
            Err(_) => Err("the producer dropped a delivery".into()),
        }
    }
    let start = Mark::now();
    for i in 0..n {
        let key = data::key(i);
        let value = serde_json::to_vec(&data::order(i)).map_err(|e| e.to_string())?;
        if in_flight.len() >= window {
            if let Some(f) = in_flight.pop_front() {
                settle(f).await?;
            }
        }
        loop {
            match producer.send_result(FutureRecord::to(topic).key(&key).payload(&value)) {
                Ok(f) => {
                    in_flight.push_back(f);
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    match in_flight.pop_front() {
                        Some(f) => settle(f).await?,
                        None => tokio::time::sleep(Duration::from_millis(1)).await,
                    }
                }
                Err((e, _)) => return Err(format!("cannot enqueue: {e}")),
            }
        }
    }
    for f in in_flight {
        settle(f).await?;
    }
    let end = Mark::now();
    producer
        .flush(Duration::from_secs(30))
        .map_err(|e| format!("flush failed: {e}"))?;
    Ok(Window::between(start, end))
}

/// Sends `n` orders to `topic` with a raw producer (not measured).
pub async fn produce(url: &str, topic: &str, n: u64, window: usize) -> Result<(), String> {
    produce_raw(url, topic, n, window).await.map(drop)
}

/// Fills the consume topic with `n` records (re-creating it first). Not measured.
pub async fn fill_consume_topic(url: &str, n: u64, window: usize) -> Result<Duration, String> {
    recreate_topic(url, CONSUME_TOPIC).await?;
    Ok(produce_raw(url, CONSUME_TOPIC, n, window).await?.wall)
}

/// The agent reading `records` orders from [`CONSUME_TOPIC`] with a fresh consumer group.
/// Measured from the agent's first record to its last.
pub async fn consume_agent(case: &str, opts: &Opts, url: &str) -> Result<CaseResult, String> {
    let n = opts.records;
    consume_app::PROBE.arm(n);
    let app = App::builder(opts.group.clone())
        .broker(url)
        .include_module(module_path!().to_string() + "::consume_app");
    let app = crate::tune(app).build().map_err(|e| e.to_string())?;
    let started = Instant::now();
    app.start().await.map_err(|e| e.to_string())?;
    let waited = consume_app::PROBE.wait(opts.timeout).await;
    let health = app.health();
    app.stop().await.map_err(|e| e.to_string())?;
    let (first, last) = waited.map_err(|e| format!("{e}; app health: {health:?}"))?;
    Ok(CaseResult::new(
        case,
        n,
        Window::between(first, last),
        Some(first.at.saturating_duration_since(started)),
    ))
}

/// A raw `StreamConsumer` loop decoding the same records with serde_json (key as a string,
/// value as an order), with a fresh consumer group. Measured from the first record to the last.
/// With `read_headers`, it also asks librdkafka for each record's headers, as an event-building
/// consumer must (a diagnostic of that cost).
pub async fn consume_raw(
    case: &str,
    opts: &Opts,
    url: &str,
    read_headers: bool,
) -> Result<CaseResult, String> {
    let n = opts.records;
    let consumer: StreamConsumer = raw_consumer_config(url, &opts.group)
        .create()
        .map_err(|e| format!("cannot create the consumer: {e}"))?;
    consumer
        .subscribe(&[CONSUME_TOPIC])
        .map_err(|e| format!("cannot subscribe: {e}"))?;
    let started = Instant::now();
    let mut first = None;
    let run = async {
        let mut seen = 0u64;
        while seen < n {
            let msg = consumer
                .recv()
                .await
                .map_err(|e| format!("consumer error: {e}"))?;
            if seen == 0 {
                first = Some(Mark::now());
            }
            let value = msg.payload().ok_or("a record without a value")?;
            let decoded = data::decode(msg.key(), value)?;
            std::hint::black_box(decoded);
            if read_headers {
                std::hint::black_box(msg.headers().map(|h| h.count()));
            }
            seen += 1;
        }
        Ok::<_, String>(Mark::now())
    };
    let last = tokio::time::timeout(opts.timeout, run)
        .await
        .map_err(|_| format!("{n} records did not arrive within {:?}", opts.timeout))??;
    let first = first.ok_or("no record")?;
    consumer.unsubscribe();
    Ok(CaseResult::new(
        case,
        n,
        Window::between(first, last),
        Some(first.at.saturating_duration_since(started)),
    ))
}

/// `send_soon` of `records` orders, at most `window` handles awaiting acknowledgement (the oldest
/// is awaited first). Measured from the first send to the last acknowledgement.
pub async fn produce_send_soon(case: &str, opts: &Opts, url: &str) -> Result<CaseResult, String> {
    let n = opts.records;
    let app = App::builder(opts.group.clone())
        .broker(url)
        .include_module(module_path!().to_string() + "::produce_app")
        .build()
        .map_err(|e| e.to_string())?;
    app.start().await.map_err(|e| e.to_string())?;
    let topic = produce_app::BenchProduce.on(&app);
    let run = async {
        let mut in_flight: VecDeque<DeliveryHandle> = VecDeque::with_capacity(opts.window);
        let start = Mark::now();
        for i in 0..n {
            if in_flight.len() >= opts.window {
                if let Some(h) = in_flight.pop_front() {
                    h.await.map_err(|e| format!("delivery failed: {e}"))?;
                }
            }
            let handle = topic
                .send_soon(data::key(i), data::order(i))
                .map_err(|e| format!("send_soon failed: {e}"))?;
            in_flight.push_back(handle);
        }
        for h in in_flight {
            h.await.map_err(|e| format!("delivery failed: {e}"))?;
        }
        Ok::<_, String>(Window::between(start, Mark::now()))
    };
    let window = run.await;
    app.stop().await.map_err(|e| e.to_string())?;
    Ok(CaseResult::new(case, n, window?, None))
}

/// A raw `FutureProducer` sending the same orders (serialized with serde_json) with the same
/// window of records in flight.
pub async fn produce_raw_case(case: &str, opts: &Opts, url: &str) -> Result<CaseResult, String> {
    let window = produce_raw(url, PRODUCE_TOPIC, opts.records, opts.window).await?;
    Ok(CaseResult::new(case, opts.records, window, None))
}
