//! Apps on Kafka: the quickstart flow, record metadata through an agent, two workers in one group,
//! and a restarted worker resuming from committed offsets.
//!
//! Needs `FAUST_TEST_KAFKA=kafka://host:port` (scripts/test.sh starts a broker and sets it).
//! Without it these tests fail, unless `FAUST_SKIP_KAFKA=1` asks to skip them.
#![cfg(feature = "kafka")]

#[macro_use]
mod common;

use common::{kafka_url, order, unique, Order};
use faust_runtime::partitioner::partition_for_key;
use faust_runtime::prelude::*;
use faust_runtime::settings::Settings;
use faust_runtime::transport::kafka::KafkaTransport;
use faust_runtime::transport::{OutgoingRecord, Transport};
use faust_runtime::Error;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Long enough for a group join (~3 s with the default session timeout) plus the work.
const WAIT: Duration = Duration::from_secs(60);

/// Deletes topics left by an earlier run on the same broker, so each run starts empty.
async fn fresh_topics(url: &str, names: &[&str]) {
    let s = Settings::default();
    let t = KafkaTransport::new(url, &s.kafka, s.broker_connect_timeout).unwrap();
    t.connect().await.unwrap();
    for name in names {
        match t.delete_topic(name).await {
            Ok(()) | Err(Error::UnknownTopic(_)) => {}
            Err(e) => panic!("cannot delete {name}: {e}"),
        }
    }
}

async fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn app(url: &str, id: &str, module: &str) -> App {
    App::builder(id)
        .broker(url)
        .include_module(module_path!().to_string() + "::" + module)
        .commit_interval(Duration::from_millis(200))
        .shutdown_timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// The quickstart shape on Kafka: topic -> agent -> topic -> agent.
mod flow {
    use super::*;
    use std::sync::Mutex;

    pub static CONFIRMED: Mutex<Vec<(String, u64)>> = Mutex::new(Vec::new());

    #[topic(name = "kapp-flow-orders", key = String, value = Order, partitions = 4)]
    pub struct Orders;

    #[topic(name = "kapp-flow-confirmed", key = String, value = u64, partitions = 2)]
    pub struct Confirmed;

    #[agent(Orders)]
    async fn process(mut events: Events<Orders>) -> Result<()> {
        while let Some(ev) = events.next().await {
            let key = ev.key.unwrap_or_default();
            Confirmed.send(key, ev.value.id).await?;
        }
        Ok(())
    }

    #[agent(Confirmed)]
    async fn confirm(mut events: Events<Confirmed>) -> Result<()> {
        while let Some(ev) = events.next().await {
            CONFIRMED
                .lock()
                .unwrap()
                .push((ev.key.unwrap_or_default(), ev.value));
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_flow_runs_end_to_end_on_kafka() {
    let url = kafka_or_skip!();
    fresh_topics(&url, &["kapp-flow-orders", "kapp-flow-confirmed"]).await;
    let app = app(&url, &unique("kapp-flow"), "flow");
    app.start().await.unwrap();
    let described = app
        .topics()
        .describe_topic("kapp-flow-orders")
        .await
        .unwrap()
        .expect("declared topic created at startup");
    assert_eq!(described.partitions, 4);

    let orders = flow::Orders.on(&app);
    for id in 0..50u64 {
        let key = format!("order-{id}");
        let meta = orders.send_and_wait(key.clone(), order(id)).await.unwrap();
        assert_eq!(meta.topic, "kapp-flow-orders");
        assert_eq!(meta.partition, partition_for_key(key.as_bytes(), 4));
    }
    assert!(
        eventually(WAIT, || flow::CONFIRMED.lock().unwrap().len() >= 50).await,
        "confirmed {} of 50",
        flow::CONFIRMED.lock().unwrap().len()
    );
    let mut got = flow::CONFIRMED.lock().unwrap().clone();
    got.sort_by_key(|(_, id)| *id);
    let expected: Vec<(String, u64)> = (0..50).map(|id| (format!("order-{id}"), id)).collect();
    assert_eq!(got, expected);
    app.stop().await.unwrap();
    assert_eq!(app.health().transport.errors, 0, "{:?}", app.health());
}

/// Key, headers (a null value among them), timestamp and explicit partition through an agent.
mod meta {
    use super::*;
    use std::sync::Mutex;

    pub static SEEN: Mutex<Vec<Event<String, Order>>> = Mutex::new(Vec::new());

    #[topic(name = "kapp-meta", key = String, value = Order, partitions = 4)]
    pub struct Orders;

    #[agent(Orders)]
    async fn collect(mut events: Events<Orders>) -> Result<()> {
        while let Some(ev) = events.next().await {
            SEEN.lock().unwrap().push(ev.clone());
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_headers_timestamp_and_partition_reach_the_agent() {
    let url = kafka_or_skip!();
    fresh_topics(&url, &["kapp-meta"]).await;
    let app = app(&url, &unique("kapp-meta"), "meta");
    app.start().await.unwrap();
    let orders = meta::Orders.on(&app);
    let sent = orders
        .record(order(1))
        .key("the-key")
        .header("trace", "t-1")
        .header("trace", "t-2")
        .timestamp(1_650_000_000_001)
        .partition(3)
        .send_and_wait()
        .await
        .unwrap();
    assert_eq!(
        (sent.partition, sent.offset, sent.timestamp),
        (3, 0, 1_650_000_000_001)
    );
    // A null header value needs the transport directly.
    let value = serde_json::to_vec(&order(2)).unwrap();
    app.transport()
        .send(OutgoingRecord {
            topic: "kapp-meta".into(),
            partition: Some(1),
            key: Some(b"other".to_vec()),
            value: Some(value),
            headers: vec![("nothing".into(), None), ("x".into(), Some("y".into()))],
            timestamp: Some(1_650_000_000_002),
            acks: None,
            delivery_guarantee: None,
            notice: Default::default(),
        })
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(eventually(WAIT, || meta::SEEN.lock().unwrap().len() >= 2).await);
    let mut seen = meta::SEEN.lock().unwrap().clone();
    seen.sort_by_key(|e| e.value.id);
    assert_eq!(seen.len(), 2);
    let a = &seen[0];
    assert_eq!(a.key.as_deref(), Some("the-key"));
    assert_eq!(a.value, order(1));
    assert_eq!((a.topic, a.partition, a.offset), ("kapp-meta", 3, 0));
    assert_eq!(a.timestamp, 1_650_000_000_001);
    assert_eq!(
        a.headers,
        vec![
            ("trace".to_string(), Some("t-1".into())),
            ("trace".to_string(), Some("t-2".into()))
        ]
    );
    let b = &seen[1];
    assert_eq!(b.key.as_deref(), Some("other"));
    assert_eq!(
        (b.partition, b.offset, b.timestamp),
        (1, 0, 1_650_000_000_002)
    );
    assert_eq!(
        b.headers,
        vec![
            ("nothing".to_string(), None),
            ("x".to_string(), Some("y".into()))
        ]
    );
    assert_eq!(b.header("nothing"), None);
    app.stop().await.unwrap();
}

/// Two workers of one group: records tagged with the worker (its client id) that processed them.
mod group {
    use super::*;
    use std::sync::Mutex;

    /// (worker, partition, id)
    pub static SEEN: Mutex<Vec<(String, i32, u64)>> = Mutex::new(Vec::new());

    #[topic(name = "kapp-group", key = String, value = Order, partitions = 4)]
    pub struct T;

    #[agent(T)]
    async fn worker(mut s: Events<T>) -> Result<()> {
        let me = App::current()?.settings().kafka.client_id.clone();
        while let Some(ev) = s.next().await {
            SEEN.lock()
                .unwrap()
                .push((me.clone(), ev.partition, ev.value.id));
        }
        Ok(())
    }
}

/// Ids at or above this are probes that find out when the group has settled.
const PROBE: u64 = 1 << 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_split_the_partitions_and_process_every_record_once() {
    let url = kafka_or_skip!();
    fresh_topics(&url, &["kapp-group"]).await;
    let id = unique("kapp-group");
    let worker = |name: &str| {
        let name = name.to_string();
        App::builder(id.clone())
            .broker(url.clone())
            .include_module(module_path!().to_string() + "::group")
            .commit_interval(Duration::from_millis(200))
            .shutdown_timeout(Duration::from_secs(10))
            .configure(move |s| s.kafka.client_id = name)
            .build()
            .unwrap()
    };
    let (a, b) = (worker("worker-a"), worker("worker-b"));
    let joined = Instant::now();
    a.start().await.unwrap();
    b.start().await.unwrap();

    // Probe every partition until both workers hold two partitions each.
    let t = group::T.on(&a);
    let mut round = 0u64;
    let settled = loop {
        round += 1;
        assert!(round < 120, "the group did not settle");
        let before = group::SEEN.lock().unwrap().len();
        for p in 0..4 {
            t.record(order(PROBE + round * 4 + p as u64))
                .key(format!("probe-{p}"))
                .partition(p)
                .send()
                .await
                .unwrap();
        }
        assert!(eventually(WAIT, || group::SEEN.lock().unwrap().len() >= before + 4).await);
        let owners: BTreeMap<i32, String> = group::SEEN.lock().unwrap()[before..]
            .iter()
            .map(|(w, p, _)| (*p, w.clone()))
            .collect();
        let a_count = owners.values().filter(|w| *w == "worker-a").count();
        if owners.len() == 4 && a_count == 2 {
            break joined.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    eprintln!("two workers settled into one group after {settled:?}");

    // The load.
    let mut handles = Vec::with_capacity(10_000);
    for id in 0..10_000u64 {
        handles.push(t.send_soon(format!("k{id}"), order(id)).unwrap());
    }
    for h in handles {
        h.await.unwrap();
    }
    let load = |seen: &[(String, i32, u64)]| seen.iter().filter(|e| e.2 < PROBE).count();
    assert!(
        eventually(WAIT, || load(&group::SEEN.lock().unwrap()) >= 10_000).await,
        "processed {} of 10000",
        load(&group::SEEN.lock().unwrap())
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen: Vec<(String, i32, u64)> = group::SEEN
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.2 < PROBE)
        .cloned()
        .collect();
    let mut ids: Vec<u64> = seen.iter().map(|e| e.2).collect();
    ids.sort_unstable();
    assert_eq!(ids.len(), 10_000, "every record exactly once");
    assert_eq!(
        ids,
        (0..10_000).collect::<Vec<_>>(),
        "every record exactly once"
    );
    let by_worker = |w: &str| -> std::collections::BTreeSet<i32> {
        seen.iter().filter(|e| e.0 == w).map(|e| e.1).collect()
    };
    let (pa, pb) = (by_worker("worker-a"), by_worker("worker-b"));
    assert_eq!(pa.len(), 2, "worker a partitions {pa:?}");
    assert_eq!(pb.len(), 2, "worker b partitions {pb:?}");
    assert!(pa.is_disjoint(&pb), "{pa:?} / {pb:?}");
    a.stop().await.unwrap();
    b.stop().await.unwrap();
}

/// A second worker joining while the first one is busy: the first hands its partitions over
/// at the rebalance (finishing and committing what it took) and nothing is processed twice.
mod join {
    use super::*;
    use std::sync::Mutex;

    /// (worker, partition, id)
    pub static SEEN: Mutex<Vec<(String, i32, u64)>> = Mutex::new(Vec::new());

    #[topic(name = "kapp-join", key = String, value = Order, partitions = 4)]
    pub struct T;

    #[agent(T)]
    async fn worker(mut s: Events<T>) -> Result<()> {
        let me = App::current()?.settings().kafka.client_id.clone();
        while let Some(ev) = s.next().await {
            // Slow enough that the first worker is still busy when the second one joins.
            if ev.value.id % 2 == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            SEEN.lock()
                .unwrap()
                .push((me.clone(), ev.partition, ev.value.id));
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_joining_mid_stream_takes_over_without_duplicates() {
    let url = kafka_or_skip!();
    fresh_topics(&url, &["kapp-join"]).await;
    let id = unique("kapp-join");
    let worker = |name: &str| {
        let name = name.to_string();
        App::builder(id.clone())
            .broker(url.clone())
            .include_module(module_path!().to_string() + "::join")
            .commit_interval(Duration::from_millis(200))
            .stream_buffer_maxsize(256)
            .shutdown_timeout(Duration::from_secs(10))
            .configure(move |s| s.kafka.client_id = name)
            .build()
            .unwrap()
    };
    let a = worker("worker-a");
    a.start().await.unwrap();
    let t = join::T.on(&a);
    let mut handles = Vec::new();
    for id in 0..10_000u64 {
        handles.push(t.send_soon(format!("k{id}"), order(id)).unwrap());
    }
    for h in handles {
        h.await.unwrap();
    }
    assert!(eventually(WAIT, || !join::SEEN.lock().unwrap().is_empty()).await);
    let b = worker("worker-b");
    b.start().await.unwrap();
    // The second worker takes over partitions from the busy first one.
    assert!(
        eventually(WAIT, || join::SEEN
            .lock()
            .unwrap()
            .iter()
            .any(|e| e.0 == "worker-b"))
        .await,
        "the second worker never got a partition"
    );
    assert!(
        eventually(WAIT, || join::SEEN.lock().unwrap().len() >= 10_000).await,
        "processed {} of 10000",
        join::SEEN.lock().unwrap().len()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = join::SEEN.lock().unwrap().clone();
    let by_b = seen.iter().filter(|e| e.0 == "worker-b").count();
    eprintln!("worker a processed {}, worker b {by_b}", seen.len() - by_b);
    let mut ids: Vec<u64> = seen.iter().map(|e| e.2).collect();
    ids.sort_unstable();
    let before = ids.len();
    ids.dedup();
    assert_eq!(before - ids.len(), 0, "records processed twice");
    assert_eq!(ids, (0..10_000).collect::<Vec<_>>());
    a.stop().await.unwrap();
    b.stop().await.unwrap();
    assert_eq!(a.health().transport.errors, 0, "{:?}", a.health());
    assert_eq!(b.health().transport.errors, 0, "{:?}", b.health());
}

/// A worker stopped and started again resumes from its committed offsets.
mod resume {
    use super::*;
    use std::sync::Mutex;

    pub static SEEN: Mutex<Vec<u64>> = Mutex::new(Vec::new());

    #[topic(name = "kapp-resume", key = String, value = Order, partitions = 3)]
    pub struct T;

    #[agent(T)]
    async fn worker(mut s: Stream<T>) -> Result<()> {
        while let Some(order) = s.next().await {
            SEEN.lock().unwrap().push(order.id);
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_worker_resumes_without_reprocessing() {
    let url = kafka_or_skip!();
    fresh_topics(&url, &["kapp-resume"]).await;
    let id = unique("kapp-resume");
    let first = app(&url, &id, "resume");
    first.start().await.unwrap();
    let t = resume::T.on(&first);
    let mut handles = Vec::new();
    for i in 0..300u64 {
        handles.push(t.send_soon(format!("k{i}"), order(i)).unwrap());
    }
    for h in handles {
        h.await.unwrap();
    }
    assert!(eventually(WAIT, || resume::SEEN.lock().unwrap().len() >= 300).await);
    first.stop().await.unwrap();
    let mut ids = std::mem::take(&mut *resume::SEEN.lock().unwrap());
    ids.sort_unstable();
    assert_eq!(ids, (0..300).collect::<Vec<_>>());

    let second = app(&url, &id, "resume");
    second.start().await.unwrap();
    let t = resume::T.on(&second);
    for i in 300..310u64 {
        t.send(format!("k{i}"), order(i)).await.unwrap();
    }
    assert!(eventually(WAIT, || resume::SEEN.lock().unwrap().len() >= 10).await);
    // Give reprocessing, if any, the time to show.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut ids = resume::SEEN.lock().unwrap().clone();
    ids.sort_unstable();
    assert_eq!(ids, (300..310).collect::<Vec<_>>(), "only the new records");
    second.stop().await.unwrap();
}

/// A topic sent to with `force` before the app starts.
mod early {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    pub static SEEN: AtomicUsize = AtomicUsize::new(0);

    #[topic(name = "kapp-early", key = String, value = u64, retention = "2h")]
    pub struct Early;

    #[agent(Early)]
    async fn read(mut values: Stream<Early>) -> Result<()> {
        while values.next().await.is_some() {
            SEEN.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_send_before_start_creates_the_topic_with_the_apps_settings_not_the_brokers() {
    use std::sync::atomic::Ordering;
    let url = kafka_or_skip!();
    fresh_topics(&url, &["kapp-early"]).await;
    let id = unique("kapp-early");
    let app = app(&url, &id, "early");
    let meta = early::Early
        .on(&app)
        .record(1)
        .key("k")
        .force(true)
        .send_and_wait()
        .await
        .unwrap();
    assert_eq!(meta.topic, "kapp-early");
    let d = app
        .topics()
        .describe_topic("kapp-early")
        .await
        .unwrap()
        .expect("created before the record was sent");
    // The app's default partition count (8), not the broker's auto-create default.
    assert_eq!(d.partitions, app.settings().topic_partitions);
    assert_eq!(
        d.config.get("retention.ms").map(String::as_str),
        Some("7200000")
    );
    app.start().await.unwrap();
    assert!(eventually(WAIT, || early::SEEN.load(Ordering::Relaxed) == 1).await);
    app.stop().await.unwrap();
}
