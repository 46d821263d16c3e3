//! Stream operators against hand-written pipelines, each pair run back to back in one process:
//!
//! - `group_by` through the repartition topic against a consume → produce → consume pipeline
//!   doing the same repartitioning (new key = the order's customer): on the embedded broker the
//!   pipeline is two plain agents (the first `send_soon`s each order under its new key to an
//!   intermediate topic, the second reads it), on Kafka it is raw rdkafka (a `StreamConsumer`
//!   feeding a `FutureProducer`, a second `StreamConsumer` reading the intermediate topic; no
//!   commits, so the raw side does less than the agent);
//! - `take(1000, 1s)` batches against the plain agent reading values, on the embedded broker.
//!
//! Each run is measured from the first source record the pipeline sees to the last record its
//! final reader gets; the consumer groups' joins are outside the window. (`take` and its plain
//! agent: from the embedded broker's app start, as a batch is seen only once it is full.)

use crate::data::{self, Order};
use crate::measure::Mark;
use crate::Opts;
use faust_runtime::transport::{NewTopic, OutgoingRecord};
use faust_runtime::{App, MemoryBroker, Transport};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// Source topic of every case.
const SOURCE: &str = "bench-streams-orders";
/// Intermediate topic of the hand-written pipelines.
const MIDDLE: &str = "bench-streams-middle";
/// Partitions of both.
const PARTITIONS: i32 = 4;

/// Counts one run: marks its first source record and its `target`-th final record.
pub struct Run {
    target: u64,
    seen: AtomicU64,
    first: Mutex<Option<Mark>>,
    last: Mutex<Option<Mark>>,
    done: Notify,
}

impl Run {
    fn new(target: u64) -> Arc<Run> {
        Arc::new(Run {
            target,
            seen: AtomicU64::new(0),
            first: Mutex::new(None),
            last: Mutex::new(None),
            done: Notify::new(),
        })
    }

    /// A source record was seen (the first one starts the window).
    #[inline]
    pub fn source(&self) {
        let mut f = self.first.lock().unwrap();
        if f.is_none() {
            *f = Some(Mark::now());
        }
    }

    /// `n` final records were read.
    #[inline]
    pub fn read(&self, n: u64) {
        if self.seen.fetch_add(n, Ordering::AcqRel) + n >= self.target {
            let mut l = self.last.lock().unwrap();
            if l.is_none() {
                *l = Some(Mark::now());
                self.done.notify_one();
            }
        }
    }

    async fn wait(&self, timeout: Duration) -> Result<Duration, String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let (Some(f), Some(l)) = (*self.first.lock().unwrap(), *self.last.lock().unwrap()) {
                return Ok(l.at.saturating_duration_since(f.at));
            }
            if tokio::time::timeout_at(deadline, self.done.notified())
                .await
                .is_err()
            {
                return Err(format!(
                    "timed out with {} of {} records",
                    self.seen.load(Ordering::Acquire),
                    self.target
                ));
            }
        }
    }
}

/// The run the agents of the current case report to.
static CURRENT: Mutex<Option<Arc<Run>>> = Mutex::new(None);

fn current() -> Arc<Run> {
    CURRENT
        .lock()
        .unwrap()
        .clone()
        .expect("a run is armed before the app starts")
}

/// `group_by` through the repartition topic.
pub mod grouped {
    use crate::data::Order;
    use faust_runtime::prelude::*;

    /// The source.
    #[topic(name = "bench-streams-orders", key = String, value = Order, partitions = 4)]
    pub struct Orders;

    /// Repartitions by customer and counts what it reads back.
    #[agent(Orders)]
    pub async fn bench_group_by(orders: Stream<Orders>) -> Result<()> {
        let run = super::current();
        let source = run.clone();
        let mut orders = orders.group_by(
            move |o: &Order| {
                source.source();
                o.customer.clone()
            },
            "customer",
        )?;
        while let Some(o) = orders.next().await {
            std::hint::black_box(&o);
            run.read(1);
        }
        Ok(())
    }
}

/// The same repartitioning by hand with two plain agents.
pub mod by_hand {
    use crate::data::Order;
    use faust_runtime::prelude::*;

    /// The source.
    #[topic(name = "bench-streams-orders", key = String, value = Order, partitions = 4)]
    pub struct Orders;

    /// The intermediate topic, keyed by customer.
    #[topic(name = "bench-streams-middle", key = String, value = Order, partitions = 4)]
    pub struct Middle;

    /// Sends every order on under its new key.
    #[agent(Orders)]
    pub async fn bench_rekey(mut orders: Stream<Orders>) -> Result<()> {
        let run = super::current();
        while let Some(o) = orders.next().await {
            run.source();
            let key = o.customer.clone();
            Middle.send_soon(key, o)?;
        }
        Ok(())
    }

    /// Counts the re-keyed orders.
    #[agent(Middle)]
    pub async fn bench_read_middle(mut orders: Stream<Middle>) -> Result<()> {
        let run = super::current();
        while let Some(o) = orders.next().await {
            std::hint::black_box(&o);
            run.read(1);
        }
        Ok(())
    }
}

/// Batches of `take(1000, 1s)`.
pub mod batched {
    use crate::data::Order;
    use faust_runtime::prelude::*;
    use std::time::Duration;

    /// The source.
    #[topic(name = "bench-streams-orders", key = String, value = Order, partitions = 4)]
    pub struct Orders;

    /// Counts the values of each batch.
    #[agent(Orders)]
    pub async fn bench_take(orders: Stream<Orders>) -> Result<()> {
        let run = super::current();
        let mut batches = orders.take(1000, Duration::from_secs(1));
        while let Some(batch) = batches.next().await {
            std::hint::black_box(&batch);
            run.read(batch.len() as u64);
        }
        Ok(())
    }
}

/// The plain agent reading values.
pub mod plain {
    use crate::data::Order;
    use faust_runtime::prelude::*;

    /// The source.
    #[topic(name = "bench-streams-orders", key = String, value = Order, partitions = 4)]
    pub struct Orders;

    /// Counts every value.
    #[agent(Orders)]
    pub async fn bench_plain(mut orders: Stream<Orders>) -> Result<()> {
        let run = super::current();
        while let Some(o) = orders.next().await {
            std::hint::black_box(&o);
            run.read(1);
        }
        Ok(())
    }
}

/// A fresh embedded broker holding `n` orders in the source topic.
async fn filled_broker(n: u64) -> Result<MemoryBroker, String> {
    let broker = MemoryBroker::new();
    broker
        .create_topic(&NewTopic {
            name: SOURCE.into(),
            partitions: PARTITIONS,
            replication_factor: 1,
            config: Default::default(),
        })
        .await
        .map_err(|e| e.to_string())?;
    for i in 0..n {
        let (key, value) = data::record_bytes(i);
        let record = OutgoingRecord::new(SOURCE, Some(key), Some(value));
        drop(broker.send(record).await.map_err(|e| e.to_string())?);
    }
    Ok(broker)
}

/// Runs the agents of `module` (this file's) over `n` orders on the embedded broker.
async fn memory_run(module: &str, n: u64, timeout: Duration) -> Result<Duration, String> {
    let broker = filled_broker(n).await?;
    let run = Run::new(n);
    *CURRENT.lock().unwrap() = Some(run.clone());
    let app = App::builder(format!("bench-streams-{module}"))
        .transport(Arc::new(broker))
        .include_module(format!("{}::{module}", module_path!()));
    let app = crate::tune(app).build().map_err(|e| e.to_string())?;
    app.start().await.map_err(|e| e.to_string())?;
    if matches!(module, "batched" | "plain") {
        // A batch is seen only once full: both sides are timed from the start.
        run.source();
    }
    let took = run.wait(timeout).await;
    app.stop().await.map_err(|e| e.to_string())?;
    took.map_err(|e| format!("{module}: {e}"))
}

/// `group_by` on Kafka: the source filled with `n` orders and the repartition topic removed
/// before the run, a fresh group.
async fn kafka_group_by(url: &str, n: u64, opts: &Opts, rep: usize) -> Result<Duration, String> {
    crate::kafka::recreate_topic(url, SOURCE).await?;
    crate::kafka::delete_topic(
        url,
        "bench_group_by-bench-streams-orders-customer-repartition",
    )
    .await?;
    crate::kafka::produce(url, SOURCE, n, opts.window).await?;
    let run = Run::new(n);
    *CURRENT.lock().unwrap() = Some(run.clone());
    let app = App::builder(format!("{}-gb-{rep}", opts.group))
        .broker(url)
        .include_module(format!("{}::grouped", module_path!()));
    let app = crate::tune(app).build().map_err(|e| e.to_string())?;
    app.start().await.map_err(|e| e.to_string())?;
    let took = run.wait(opts.timeout).await;
    app.stop().await.map_err(|e| e.to_string())?;
    took
}

/// The raw rdkafka pipeline: source consumer → producer (new key) → consumer of the
/// intermediate topic, which joins its group before the source is read.
async fn kafka_raw(url: &str, n: u64, opts: &Opts, rep: usize) -> Result<Duration, String> {
    use rdkafka::consumer::{Consumer, StreamConsumer};
    use rdkafka::error::KafkaError;
    use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
    use rdkafka::types::RDKafkaErrorCode;
    use rdkafka::Message;
    use std::collections::VecDeque;

    crate::kafka::recreate_topic(url, SOURCE).await?;
    crate::kafka::recreate_topic(url, MIDDLE).await?;
    crate::kafka::produce(url, SOURCE, n, opts.window).await?;
    let run = Run::new(n);

    let middle: StreamConsumer =
        crate::kafka::raw_consumer_config(url, &format!("{}-raw-mid-{rep}", opts.group))
            .create()
            .map_err(|e| format!("cannot create the consumer: {e}"))?;
    middle.subscribe(&[MIDDLE]).map_err(|e| e.to_string())?;
    let middle = Arc::new(middle);
    let reader = {
        let (run, middle) = (run.clone(), middle.clone());
        tokio::spawn(async move {
            loop {
                match middle.recv().await {
                    Ok(m) => {
                        let decoded = data::decode(m.key(), m.payload().unwrap_or_default());
                        std::hint::black_box(&decoded);
                        run.read(1);
                    }
                    Err(e) => eprintln!("faust-bench: middle consumer: {e}"),
                }
            }
        })
    };
    // Its group joined (it holds partitions) before the source is read.
    let joined = tokio::time::Instant::now() + Duration::from_secs(60);
    while middle.assignment().map(|a| a.count()).unwrap_or(0) == 0 {
        if tokio::time::Instant::now() > joined {
            return Err("the intermediate consumer got no assignment".into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let source: StreamConsumer =
        crate::kafka::raw_consumer_config(url, &format!("{}-raw-src-{rep}", opts.group))
            .create()
            .map_err(|e| format!("cannot create the consumer: {e}"))?;
    source.subscribe(&[SOURCE]).map_err(|e| e.to_string())?;
    let producer: FutureProducer = crate::kafka::raw_producer_config(url)
        .create()
        .map_err(|e| format!("cannot create the producer: {e}"))?;
    let forwarder = {
        let run = run.clone();
        let window = opts.window;
        tokio::spawn(async move {
            let mut in_flight: VecDeque<DeliveryFuture> = VecDeque::with_capacity(window);
            for _ in 0..n {
                let m = match source.recv().await {
                    Ok(m) => m,
                    Err(e) => return Err(format!("source consumer: {e}")),
                };
                run.source();
                let (_, order): (Option<String>, Order) =
                    data::decode(m.key(), m.payload().unwrap_or_default())?;
                let value = serde_json::to_vec(&order).map_err(|e| e.to_string())?;
                if in_flight.len() >= window {
                    if let Some(f) = in_flight.pop_front() {
                        let _ = f.await;
                    }
                }
                loop {
                    let record = FutureRecord::to(MIDDLE)
                        .key(order.customer.as_str())
                        .payload(&value);
                    match producer.send_result(record) {
                        Ok(f) => {
                            in_flight.push_back(f);
                            break;
                        }
                        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                            match in_flight.pop_front() {
                                Some(f) => drop(f.await),
                                None => tokio::time::sleep(Duration::from_millis(1)).await,
                            }
                        }
                        Err((e, _)) => return Err(format!("cannot enqueue: {e}")),
                    }
                }
            }
            for f in in_flight {
                let _ = f.await;
            }
            Ok::<(), String>(())
        })
    };
    let took = run.wait(opts.timeout).await;
    reader.abort();
    forwarder.abort();
    took
}

/// One compared pair: broker, case, baseline, and the durations of each side's runs.
type Pair = (
    &'static str,
    &'static str,
    &'static str,
    Vec<Duration>,
    Vec<Duration>,
);

/// Runs every pair `opts.reps` times (the two sides back to back, their order flipped every
/// repetition) and prints the medians and ratios as Markdown.
pub async fn run(opts: &Opts) -> Result<(), String> {
    let n = opts.records;
    let mut pairs: Vec<Pair> = Vec::new();
    let mut gb = (Vec::new(), Vec::new());
    let mut take = (Vec::new(), Vec::new());
    for rep in 0..opts.reps.max(1) {
        let flip = rep % 2 == 1;
        for side in [flip, !flip] {
            if side {
                gb.1.push(memory_run("by_hand", n, opts.timeout).await?);
            } else {
                gb.0.push(memory_run("grouped", n, opts.timeout).await?);
            }
        }
        for side in [flip, !flip] {
            if side {
                take.1.push(memory_run("plain", n, opts.timeout).await?);
            } else {
                take.0.push(memory_run("batched", n, opts.timeout).await?);
            }
        }
    }
    pairs.push((
        "Embedded broker",
        "`group_by` through the repartition topic",
        "two agents: consume → `send_soon` under the new key → consume",
        gb.0,
        gb.1,
    ));
    pairs.push((
        "Embedded broker",
        "`take(1000, 1s)` batches",
        "plain agent reading values",
        take.0,
        take.1,
    ));
    if let Some(url) = &opts.broker {
        let mut kgb = (Vec::new(), Vec::new());
        for rep in 0..opts.reps.max(1) {
            let flip = rep % 2 == 1;
            for side in [flip, !flip] {
                if side {
                    kgb.1.push(kafka_raw(url, n, opts, rep).await?);
                } else {
                    kgb.0.push(kafka_group_by(url, n, opts, rep).await?);
                }
            }
        }
        pairs.push((
            "Kafka (tansu, loopback)",
            "`group_by` through the repartition topic",
            "raw rdkafka: `StreamConsumer` → `FutureProducer` (new key) → `StreamConsumer`",
            kgb.0,
            kgb.1,
        ));
    }
    println!(
        "| broker | case | median | baseline | median | ratio (throughput) | per repetition |"
    );
    println!("|---|---|---:|---|---:|---:|---|");
    for (broker, case, base, a, b) in pairs {
        let rate = |d: &Duration| n as f64 / d.as_secs_f64().max(1e-9);
        let ratios: Vec<String> = a
            .iter()
            .zip(&b)
            .map(|(x, y)| format!("{:.2}", rate(x) / rate(y)))
            .collect();
        let (ma, mb) = (median(&a), median(&b));
        println!(
            "| {broker} | {case} | {} | {base} | {} | {:.2} | {} |",
            per_sec(rate(&ma)),
            per_sec(rate(&mb)),
            rate(&ma) / rate(&mb),
            ratios.join(", ")
        );
    }
    Ok(())
}

fn median(v: &[Duration]) -> Duration {
    let mut s = v.to_vec();
    s.sort();
    s[s.len() / 2]
}

fn per_sec(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2} M/s", r / 1e6)
    } else {
        format!("{:.0} k/s", r / 1e3)
    }
}
