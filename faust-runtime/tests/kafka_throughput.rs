//! The Kafka transport's consume loop against a raw rdkafka `StreamConsumer` loop on the same
//! records with the same librdkafka settings: what the transport itself costs per record.
//!
//! Not part of the normal run (it takes a while and wants a quiet machine):
//!
//! ```text
//! FAUST_TEST_KAFKA=kafka://127.0.0.1:PORT cargo test --release -p faust-runtime \
//!     --test kafka_throughput -- --ignored --nocapture
//! ```
//!
//! `FAUST_THROUGHPUT_RECORDS` (default 500000) and `FAUST_THROUGHPUT_REPS` (default 3) change the
//! size of the run.
#![cfg(feature = "kafka")]

use faust_runtime::dispatch::Dispatcher;
use faust_runtime::settings::Settings;
use faust_runtime::transport::kafka::KafkaTransport;
use faust_runtime::transport::{ConsumerConfig, NewTopic, OutgoingRecord, Transport};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{ClientConfig, Message};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// The consumer properties the transport sets, for the raw loop.
fn raw_config(bootstrap: &str, group: &str, s: &Settings) -> ClientConfig {
    let k = &s.kafka;
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("client.id", &k.client_id)
        .set("log.connection.close", "false")
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set(
            "session.timeout.ms",
            k.session_timeout.as_millis().to_string(),
        )
        .set(
            "heartbeat.interval.ms",
            k.heartbeat_interval.as_millis().to_string(),
        )
        .set(
            "fetch.queue.backoff.ms",
            k.fetch_queue_backoff.as_millis().to_string(),
        )
        .set("enable.partition.eof", "false");
    c
}

async fn raw_run(bootstrap: &str, topic: &str, n: u64, s: &Settings) -> Duration {
    let consumer: StreamConsumer = raw_config(bootstrap, &unique("tp-raw"), s)
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut seen = 0u64;
    let mut bytes = 0usize;
    let mut first = None;
    while seen < n {
        let msg = consumer.recv().await.unwrap();
        if first.is_none() {
            first = Some(Instant::now());
        }
        bytes += msg.key().map_or(0, <[u8]>::len) + msg.payload().map_or(0, <[u8]>::len);
        seen += 1;
    }
    let took = first.unwrap().elapsed();
    std::hint::black_box(bytes);
    took
}

// The sink returns the runtime's `Result`, whose error type is what it is.
#[allow(clippy::result_large_err)]
async fn transport_run(t: &Arc<KafkaTransport>, topic: &str, n: u64) -> Duration {
    let seen = Arc::new(AtomicU64::new(0));
    let marks: Arc<Mutex<(Option<Instant>, Option<Instant>)>> = Arc::default();
    let (stop, rx) = watch::channel(false);
    let (counter, m) = (seen.clone(), marks.clone());
    let d = Dispatcher::for_test(&[(topic, 4)], rx, Duration::from_secs(5), move |msg| {
        let i = counter.fetch_add(1, Ordering::Relaxed);
        std::hint::black_box(msg.key.map_or(0, <[u8]>::len) + msg.value.map_or(0, <[u8]>::len));
        if i == 0 {
            m.lock().unwrap().0 = Some(Instant::now());
        } else if i + 1 == n {
            m.lock().unwrap().1 = Some(Instant::now());
        }
        Ok(())
    });
    let config = ConsumerConfig {
        group_id: unique("tp-transport"),
        topics: vec![topic.to_string()],
        from_earliest: true,
        commit_interval: Duration::from_millis(2800),
        commit: true,
    };
    let transport = t.clone();
    let task = tokio::spawn(async move { transport.consume(config, d).await });
    while seen.load(Ordering::Relaxed) < n {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.send_replace(true);
    task.await.unwrap().unwrap();
    let (first, last) = *marks.lock().unwrap();
    last.unwrap() - first.unwrap()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: run with --release --ignored and FAUST_TEST_KAFKA set"]
async fn consume_loop_against_a_raw_stream_consumer() {
    let url = std::env::var("FAUST_TEST_KAFKA")
        .expect("FAUST_TEST_KAFKA=kafka://host:port (scripts/kafka-broker.sh start; env)");
    let n = env_number("FAUST_THROUGHPUT_RECORDS", 500_000);
    let reps = env_number("FAUST_THROUGHPUT_REPS", 3).max(1);
    let s = Settings {
        broker: url.clone(),
        ..Settings::default()
    };
    let t = Arc::new(KafkaTransport::new(&s).unwrap());
    t.connect().await.unwrap();
    let topic = unique("tp-orders");
    t.create_topic(&NewTopic {
        name: topic.clone(),
        partitions: 4,
        replication_factor: 1,
        config: BTreeMap::new(),
    })
    .await
    .unwrap();

    let filled = Instant::now();
    let mut window = VecDeque::new();
    for i in 0..n {
        let value = format!(
            r#"{{"id":{i},"product":"product-{}","quantity":{},"price":{}.25}}"#,
            i % 97,
            i % 5 + 1,
            i % 1000
        );
        let h = t
            .send(OutgoingRecord {
                topic: topic.clone(),
                partition: None,
                key: Some(format!("order-{i}").into_bytes()),
                value: Some(value.into_bytes()),
                headers: Vec::new(),
                timestamp: None,
                acks: None,
                delivery_guarantee: None,
            })
            .unwrap();
        window.push_back(h);
        if window.len() >= 50_000 {
            window.pop_front().unwrap().await.unwrap();
        }
    }
    for h in window {
        h.await.unwrap();
    }
    let fill = filled.elapsed();
    eprintln!(
        "produced {n} records in {fill:.2?} ({:.0} k/s through the transport)",
        n as f64 / fill.as_secs_f64() / 1000.0
    );

    let mut raw = Vec::new();
    let mut ours = Vec::new();
    for rep in 1..=reps {
        // Both loops run as spawned tasks; the order alternates between repetitions.
        let raw_task = {
            let (b, topic, s) = (t.bootstrap_servers().to_string(), topic.clone(), s.clone());
            move || tokio::spawn(async move { raw_run(&b, &topic, n, &s).await })
        };
        let only = std::env::var("FAUST_THROUGHPUT_ONLY").unwrap_or_default();
        if only == "transport" {
            let o = transport_run(&t, &topic, n).await;
            eprintln!("transport {:.0} k/s", n as f64 / o.as_secs_f64() / 1000.0);
            continue;
        }
        if only == "raw" {
            let r = raw_task().await.unwrap();
            eprintln!("raw {:.0} k/s", n as f64 / r.as_secs_f64() / 1000.0);
            continue;
        }
        let (r, o) = if rep % 2 == 1 {
            let r = raw_task().await.unwrap();
            (r, transport_run(&t, &topic, n).await)
        } else {
            let o = transport_run(&t, &topic, n).await;
            (raw_task().await.unwrap(), o)
        };
        let (rr, or) = (
            n as f64 / r.as_secs_f64() / 1000.0,
            n as f64 / o.as_secs_f64() / 1000.0,
        );
        eprintln!(
            "rep {rep}: raw StreamConsumer {rr:.0} k/s, transport consume {or:.0} k/s ({:.2}x)",
            or / rr
        );
        raw.push(rr);
        ours.push(or);
    }
    if raw.is_empty() {
        return;
    }
    let (r, o) = (median(raw), median(ours));
    eprintln!(
        "median: raw {r:.0} k/s, transport {o:.0} k/s, ratio {:.2}",
        o / r
    );
    t.delete_topic(&topic).await.ok();
}
