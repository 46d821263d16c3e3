//! The core runtime on the embedded broker: the quickstart flow end to end, partitioning,
//! headers and timestamps, at-least-once commits and resume, agent failures, timers,
//! concurrency and backpressure.

mod common;

use common::{eventually, order, unique, Order};
use faust_runtime::partitioner::partition_for_key;
use faust_runtime::prelude::*;
use faust_runtime::MemoryBroker;
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

/// The quickstart shape: topic -> agent -> channel -> agent.
mod flow {
    use super::*;
    use std::sync::Mutex;

    pub static SEEN: Mutex<Vec<Event<String, Order>>> = Mutex::new(Vec::new());
    pub static NOTES: Mutex<Vec<u64>> = Mutex::new(Vec::new());

    #[derive(Clone, Debug)]
    pub struct Note(pub u64);

    #[topic(name = "flow-orders", key = String, value = Order, partitions = 4)]
    pub struct Orders;

    #[channel(value = Note, maxsize = 16)]
    pub struct Notes;

    #[agent(Orders)]
    async fn process(mut events: Events<Orders>) -> Result<()> {
        while let Some(ev) = events.next().await {
            let id = ev.value.id;
            SEEN.lock().unwrap().push(ev.clone());
            Notes.send(Note(id)).await?;
        }
        Ok(())
    }

    #[agent(Notes)]
    async fn notify(mut notes: Stream<Notes>) -> Result<()> {
        while let Some(n) = notes.next().await {
            NOTES.lock().unwrap().push(n.0);
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_flow_end_to_end_with_commits_and_resume() {
    let broker = MemoryBroker::new();
    let app = App::builder("flow-app")
        .transport(Arc::new(broker.clone()))
        .include_module(module_path!().to_string() + "::flow")
        .commit_interval(Duration::from_millis(50))
        .build()
        .unwrap();
    app.start().await.unwrap();

    let orders = flow::Orders.on(&app);
    let mut expected_partition = std::collections::HashMap::new();
    for id in 0..40u64 {
        let key = format!("order-{id}");
        let meta = orders
            .record(order(id))
            .key(key.clone())
            .header("trace", format!("t{id}"))
            .timestamp(1_700_000_000_000 + id as i64)
            .send_and_wait()
            .await
            .unwrap();
        assert_eq!(meta.topic, "flow-orders");
        assert_eq!(meta.partition, partition_for_key(key.as_bytes(), 4));
        expected_partition.insert(id, meta.partition);
    }
    assert!(eventually(WAIT, || flow::NOTES.lock().unwrap().len() == 40).await);

    {
        let seen = flow::SEEN.lock().unwrap();
        assert_eq!(seen.len(), 40);
        for ev in seen.iter() {
            let id = ev.value.id;
            assert_eq!(ev.key.as_deref(), Some(format!("order-{id}").as_str()));
            assert_eq!(
                ev.partition, expected_partition[&id],
                "key landed on murmur2 partition"
            );
            assert_eq!(ev.header("trace"), Some(format!("t{id}").as_bytes()));
            assert_eq!(ev.timestamp, 1_700_000_000_000 + id as i64);
            assert_eq!(ev.topic, "flow-orders");
        }
        // Per partition, offsets arrive in order and ids in send order.
        for p in 0..4 {
            let offsets: Vec<i64> = seen
                .iter()
                .filter(|e| e.partition == p)
                .map(|e| e.offset)
                .collect();
            let mut sorted = offsets.clone();
            sorted.sort();
            assert_eq!(offsets, sorted, "partition {p} out of order");
            assert_eq!(offsets.first().copied(), Some(0));
        }
    }
    app.stop().await.unwrap();

    // Everything processed is committed: committed offset == end offset per partition.
    for p in 0..4 {
        let end = broker.end_offset("flow-orders", p).unwrap();
        assert_eq!(
            broker.committed("flow-app", "flow-orders", p),
            Some(end),
            "partition {p}"
        );
    }

    // A restarted app (same id, same broker) resumes without reprocessing.
    flow::SEEN.lock().unwrap().clear();
    let app2 = App::builder("flow-app")
        .transport(Arc::new(broker.clone()))
        .include_module(module_path!().to_string() + "::flow")
        .build()
        .unwrap();
    app2.start().await.unwrap();
    flow::Orders
        .on(&app2)
        .send("order-100", order(100))
        .await
        .unwrap();
    assert!(eventually(WAIT, || !flow::SEEN.lock().unwrap().is_empty()).await);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ids: Vec<u64> = flow::SEEN
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.value.id)
        .collect();
    assert_eq!(
        ids,
        vec![100],
        "only the new order is processed after restart"
    );
    app2.stop().await.unwrap();
}

mod manager {}

#[tokio::test]
async fn topic_manager_creates_lists_and_deletes() {
    let app = App::builder("mgr")
        .broker(format!("memory://{}", unique("mgr")))
        .build()
        .unwrap();
    let m = app.topics();
    let mut cfg = std::collections::BTreeMap::new();
    cfg.insert("retention.ms".to_string(), "1000".to_string());
    m.create_topic("a", 3, 1, cfg.clone()).await.unwrap();
    m.create_topic("b", 1, 1, Default::default()).await.unwrap();
    assert!(matches!(
        m.create_topic("a", 3, 1, Default::default()).await,
        Err(faust_runtime::Error::TopicExists(n)) if n == "a"
    ));
    let names: Vec<String> = m
        .list_topics()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, vec!["a", "b"]);
    let a = m.describe_topic("a").await.unwrap().unwrap();
    assert_eq!(a.partitions, 3);
    assert_eq!(a.config, cfg);
    m.delete_topic("a").await.unwrap();
    assert!(matches!(
        m.delete_topic("a").await,
        Err(faust_runtime::Error::UnknownTopic(_))
    ));
    let names: Vec<String> = m
        .list_topics()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, vec!["b"]);
    assert!(m
        .create_topic("zero", 0, 1, Default::default())
        .await
        .is_err());
}

/// Declared topics are created at startup with their settings.
mod declared {
    use super::*;

    #[topic(name = "declared-a", key = String, value = Order, partitions = 3, retention = "1h",
            compacting = true, config = [("segment.ms", "1000")])]
    pub struct A;

    #[topic(name = "declared-b", value = String)]
    pub struct B;

    #[agent(A)]
    async fn read_a(mut s: Stream<A>) -> Result<()> {
        while s.next().await.is_some() {}
        Ok(())
    }

    #[timer(interval = "1h")]
    async fn idle() -> Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn startup_creates_declared_topics_with_their_settings() {
    let app = App::builder("declared")
        .broker(format!("memory://{}", unique("declared")))
        .include_module(module_path!().to_string() + "::declared")
        .topic_partitions(5)
        .build()
        .unwrap();
    app.start().await.unwrap();
    let a = app
        .topics()
        .describe_topic("declared-a")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.partitions, 3);
    assert_eq!(
        a.config.get("retention.ms").map(String::as_str),
        Some("3600000")
    );
    assert_eq!(
        a.config.get("cleanup.policy").map(String::as_str),
        Some("compact")
    );
    assert_eq!(a.config.get("segment.ms").map(String::as_str), Some("1000"));
    let b = app
        .topics()
        .describe_topic("declared-b")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        b.partitions, 5,
        "undeclared partitions come from the app setting"
    );
    assert_eq!(declared::A.name(), "declared-a");
    assert_eq!(declared::A.partitions(), 3);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn existing_topic_with_other_partition_count_is_a_clear_startup_error() {
    let name = unique("mismatch");
    let app = App::builder("declared")
        .broker(format!("memory://{name}"))
        .include_module(module_path!().to_string() + "::declared")
        .build()
        .unwrap();
    app.topics()
        .create_topic("declared-a", 7, 1, Default::default())
        .await
        .unwrap();
    let err = app.start().await.unwrap_err().to_string();
    assert!(
        err.contains("declared-a") && err.contains('7') && err.contains('3'),
        "{err}"
    );
    assert!(err.contains("partitions mismatch"), "{err}");
}

mod empty {}

#[tokio::test]
async fn nothing_registered_fails_at_startup_and_explains_registration() {
    let app = App::builder("empty")
        .include_module(module_path!().to_string() + "::empty")
        .build()
        .unwrap();
    let err = app.start().await.unwrap_err().to_string();
    assert!(err.contains("nothing to run"), "{err}");
    assert!(
        err.contains("#[agent]") && err.contains("include_module"),
        "{err}"
    );
}

mod dupes {
    use super::*;

    #[topic(name = "dupe", value = String)]
    pub struct One;

    #[topic(name = "dupe", value = String)]
    pub struct Two;

    #[agent(One)]
    async fn reads(mut s: Stream<One>) -> Result<()> {
        while s.next().await.is_some() {}
        Ok(())
    }
}

#[tokio::test]
async fn duplicate_topic_names_are_a_startup_error_naming_both() {
    let app = App::builder("dupes")
        .broker(format!("memory://{}", unique("dupes")))
        .include_module(module_path!().to_string() + "::dupes")
        .build()
        .unwrap();
    let err = app.start().await.unwrap_err().to_string();
    assert!(
        err.contains("'dupe'") && err.contains("dupes::One") && err.contains("dupes::Two"),
        "{err}"
    );
}

#[tokio::test]
async fn lifecycle_misuse_is_reported() {
    let app = App::builder("life")
        .broker(format!("memory://{}", unique("life")))
        .include_module(module_path!().to_string() + "::declared")
        .build()
        .unwrap();
    // Not started: sending needs force.
    let err = declared::B
        .on(&app)
        .record("x".to_string())
        .send()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not running"), "{err}");
    app.topics()
        .create_topic("declared-b", 1, 1, Default::default())
        .await
        .unwrap();
    let meta = declared::B
        .on(&app)
        .record("x".to_string())
        .force(true)
        .send_and_wait()
        .await
        .unwrap();
    assert_eq!(meta.offset, 0);
    app.start().await.unwrap();
    // Undeclared partitions: the count the topic has on the broker, not the app default (8).
    assert_eq!(declared::B.on(&app).partitions(), 1);
    assert!(app
        .start()
        .await
        .unwrap_err()
        .to_string()
        .contains("cannot start"));
    app.stop().await.unwrap();
    app.stop().await.unwrap();
    assert_eq!(app.state(), faust_runtime::AppState::Stopped);
    assert!(App::builder("").build().is_err());
    assert!(App::builder("x")
        .broker("redis://nope")
        .build()
        .unwrap_err()
        .to_string()
        .contains("redis://nope"));
    // No app in scope.
    let err = declared::B.send("k", "v".to_string()).await.unwrap_err();
    assert!(err.to_string().contains("no app"), "{err}");
}

/// Agent failures: errors and panics are reported, the agent restarts, later events flow.
mod failing {
    use super::*;
    use std::sync::Mutex;

    pub static DONE: Mutex<Vec<u64>> = Mutex::new(Vec::new());

    #[topic(name = "failing", key = String, value = Order, partitions = 1)]
    pub struct T;

    #[agent(T)]
    async fn flaky(mut s: Stream<T>) -> Result<(), String> {
        while let Some(o) = s.next().await {
            if o.id == 3 {
                return Err(format!("cannot handle order {}", o.id));
            }
            if o.id == 5 {
                panic!("order 5 is cursed");
            }
            DONE.lock().unwrap().push(o.id);
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_agent_is_restarted_and_the_failed_event_reported() {
    let broker = MemoryBroker::new();
    let app = App::builder("failing")
        .transport(Arc::new(broker.clone()))
        .include_module(module_path!().to_string() + "::failing")
        .build()
        .unwrap();
    app.start().await.unwrap();
    for id in 0..8 {
        failing::T
            .on(&app)
            .send(format!("k{id}"), order(id))
            .await
            .unwrap();
    }
    assert!(
        eventually(WAIT, || failing::DONE.lock().unwrap().len() == 6).await,
        "{:?}",
        failing::DONE.lock().unwrap()
    );
    assert_eq!(*failing::DONE.lock().unwrap(), vec![0, 1, 2, 4, 6, 7]);
    let h = app.health();
    assert_eq!(h.agent_errors, 2);
    assert_eq!(h.agent_restarts, 2);
    app.stop().await.unwrap();
    // Skip policy (the default): the failed events were reported and committed past.
    assert_eq!(broker.committed("failing", "failing", 0), Some(8));
}

mod stopping {
    use super::*;
    use std::sync::Mutex;

    pub static DONE: Mutex<Vec<u64>> = Mutex::new(Vec::new());

    #[topic(name = "stopping", key = String, value = Order, partitions = 1, on_error = "stop")]
    pub struct T;

    #[agent(T)]
    async fn strict(mut s: Stream<T>) -> Result<(), String> {
        while let Some(o) = s.next().await {
            if o.id == 2 {
                return Err("bad order".into());
            }
            DONE.lock().unwrap().push(o.id);
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_policy_stops_the_worker_and_commits_nothing_past_the_failure() {
    let broker = MemoryBroker::new();
    let app = App::builder("stopping")
        .transport(Arc::new(broker.clone()))
        .include_module(module_path!().to_string() + "::stopping")
        .build()
        .unwrap();
    app.start().await.unwrap();
    for id in 0..5 {
        // force: the worker may already be stopping because of record 2.
        stopping::T
            .on(&app)
            .record(order(id))
            .key(format!("k{id}"))
            .force(true)
            .send()
            .await
            .unwrap();
    }
    let err = tokio::time::timeout(WAIT, app.wait())
        .await
        .expect("app stops")
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("stopping[0]@2") && text.contains("bad order"),
        "{text}"
    );
    assert_eq!(*stopping::DONE.lock().unwrap(), vec![0, 1]);
    assert_eq!(broker.committed("stopping", "stopping", 0), Some(2));
}

mod timers {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    pub static TICKS: AtomicU64 = AtomicU64::new(0);

    #[timer(interval = "20ms")]
    async fn tick() {
        TICKS.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timers_run_on_their_interval_until_stop() {
    use std::sync::atomic::Ordering;
    let app = App::builder("timers")
        .include_module(module_path!().to_string() + "::timers")
        .build()
        .unwrap();
    app.start().await.unwrap();
    assert!(eventually(WAIT, || timers::TICKS.load(Ordering::SeqCst) >= 3).await);
    app.stop().await.unwrap();
    let after = timers::TICKS.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        timers::TICKS.load(Ordering::SeqCst),
        after,
        "no ticks after stop"
    );
}

/// Concurrency and backpressure: two instances share partitions, a tiny buffer, a slow agent.
mod busy {
    use super::*;
    use std::sync::Mutex;

    pub static SEEN: Mutex<Vec<(i32, i64, u64)>> = Mutex::new(Vec::new());

    #[topic(name = "busy", key = String, value = Order, partitions = 4, maxsize = 2)]
    pub struct T;

    #[agent(T, concurrency = 2)]
    async fn slow(mut s: Events<T>) -> Result<()> {
        while let Some(ev) = s.next().await {
            if ev.value.id % 50 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            SEEN.lock()
                .unwrap()
                .push((ev.partition, ev.offset, ev.value.id));
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_instances_share_the_stream_and_backpressure_drops_nothing() {
    let broker = MemoryBroker::new();
    let app = App::builder("busy")
        .transport(Arc::new(broker.clone()))
        .include_module(module_path!().to_string() + "::busy")
        .build()
        .unwrap();
    app.start().await.unwrap();
    let t = busy::T.on(&app);
    let mut handles = Vec::new();
    for id in 0..1000u64 {
        handles.push(t.send_soon(format!("k{id}"), order(id)).unwrap());
    }
    for h in handles {
        h.await.unwrap();
    }
    assert!(eventually(WAIT, || busy::SEEN.lock().unwrap().len() == 1000).await);
    // The instances share one stream (as in Faust): each offset is processed exactly once,
    // in whatever order the instances finish.
    let seen = busy::SEEN.lock().unwrap().clone();
    for p in 0..4 {
        let mut offs: Vec<i64> = seen.iter().filter(|e| e.0 == p).map(|e| e.1).collect();
        offs.sort_unstable();
        assert_eq!(
            offs,
            (0..offs.len() as i64).collect::<Vec<_>>(),
            "partition {p}"
        );
    }
    for p in 0..4 {
        let end = broker.end_offset("busy", p).unwrap();
        assert!(eventually(WAIT, || broker.committed("busy", "busy", p) == Some(end)).await);
    }
    let mut ids: Vec<u64> = seen.iter().map(|e| e.2).collect();
    ids.sort();
    assert_eq!(ids, (0..1000).collect::<Vec<_>>());
    app.stop().await.unwrap();
}

/// Two workers of one group on one broker split the partitions.
mod group {
    use super::*;
    use std::sync::Mutex;

    pub static SEEN: Mutex<Vec<(i32, u64)>> = Mutex::new(Vec::new());

    #[topic(name = "group", key = String, value = Order, partitions = 4)]
    pub struct T;

    #[agent(T)]
    async fn worker(mut s: Events<T>) -> Result<()> {
        while let Some(ev) = s.next().await {
            SEEN.lock().unwrap().push((ev.partition, ev.value.id));
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_in_one_group_process_every_record_once() {
    let url = format!("memory://{}", unique("group"));
    let build = || {
        App::builder("group-app")
            .broker(url.clone())
            .include_module(module_path!().to_string() + "::group")
            .build()
            .unwrap()
    };
    let (a, b) = (build(), build());
    a.start().await.unwrap();
    b.start().await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let t = group::T.on(&a);
    for id in 0..2000u64 {
        t.send_soon(format!("k{id}"), order(id))
            .unwrap()
            .await
            .unwrap();
    }
    assert!(eventually(WAIT, || group::SEEN.lock().unwrap().len() >= 2000).await);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut ids: Vec<u64> = group::SEEN.lock().unwrap().iter().map(|e| e.1).collect();
    ids.sort();
    assert_eq!(
        ids,
        (0..2000).collect::<Vec<_>>(),
        "every record exactly once"
    );
    a.stop().await.unwrap();
    b.stop().await.unwrap();
}

/// Reading a topic outside agents, and channels outside agents.
mod reading {
    use super::*;

    #[topic(name = "reading", key = String, value = Order, partitions = 2)]
    pub struct T;

    #[channel(value = u64, key = String)]
    pub struct C;

    #[timer(interval = "1h")]
    async fn idle() {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_and_channels_can_be_read_outside_agents() {
    let app = App::builder("reading")
        .broker(format!("memory://{}", unique("reading")))
        .include_module(module_path!().to_string() + "::reading")
        .build()
        .unwrap();
    app.start().await.unwrap();
    app.topics()
        .create_topic("reading", 2, 1, Default::default())
        .await
        .ok();
    for id in 0..10u64 {
        reading::T
            .on(&app)
            .send(format!("k{id}"), order(id))
            .await
            .unwrap();
    }
    let mut events = reading::T.on(&app).events();
    let mut got = Vec::new();
    while got.len() < 10 {
        let ev = tokio::time::timeout(WAIT, events.next())
            .await
            .unwrap()
            .unwrap();
        got.push(ev.value.id);
    }
    got.sort();
    assert_eq!(got, (0..10).collect::<Vec<_>>());

    let c = reading::C.on(&app);
    assert_eq!(c.maxsize(), 4096);
    c.record(7).key("seven").send().await.unwrap();
    let mut s = c.events();
    let ev = tokio::time::timeout(WAIT, s.next()).await.unwrap().unwrap();
    assert_eq!((ev.key.as_deref(), ev.value), (Some("seven"), 7));
    app.stop().await.unwrap();
}

/// The send builder's options.
mod sending {
    use super::*;

    #[topic(name = "sending", key = String, value = Order, partitions = 6)]
    pub struct T;

    #[timer(interval = "1h")]
    async fn idle() {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_options_partition_callback_and_eager_partitioning() {
    let app = App::builder("sending")
        .broker(format!("memory://{}", unique("sending")))
        .include_module(module_path!().to_string() + "::sending")
        .build()
        .unwrap();
    app.start().await.unwrap();
    let t = sending::T.on(&app);

    // The partition a key maps to is the one the broker puts it on.
    let key = "order-42".to_string();
    let expected = t.get_partition_key(&key, None).unwrap();
    assert_eq!(expected, partition_for_key(key.as_bytes(), 6));
    assert_eq!(t.get_partition_key(&key, Some(5)).unwrap(), 5);
    let meta = t.send_and_wait(key.clone(), order(42)).await.unwrap();
    assert_eq!(meta.partition, expected);

    // Eager partitioning decides the partition at enqueue time, against the topic's real
    // partition count (6, not the app default of 8: pick a key where the two differ).
    let eager_key = (0..100)
        .map(|i| format!("eager-{i}"))
        .find(|k| partition_for_key(k.as_bytes(), 6) != partition_for_key(k.as_bytes(), 8))
        .unwrap();
    let eager = t
        .record(order(43))
        .key(eager_key.clone())
        .eager_partitioning(true)
        .send_and_wait()
        .await
        .unwrap();
    assert_eq!(eager.partition, partition_for_key(eager_key.as_bytes(), 6));

    // An explicit partition wins; one that does not exist is an error and nothing is sent.
    let pinned = t
        .record(order(44))
        .key(key.clone())
        .partition(2)
        .send_and_wait()
        .await
        .unwrap();
    assert_eq!(pinned.partition, 2);
    let err = t.record(order(45)).partition(6).send().await.unwrap_err();
    assert!(
        err.to_string().contains("partition 6 does not exist"),
        "{err}"
    );

    // The callback runs with the outcome even when the handle is dropped.
    let (tx, rx) = tokio::sync::oneshot::channel();
    let handle = t
        .record(order(46))
        .key("k46")
        .callback(move |res| {
            let _ = tx.send(res.as_ref().map(|m| m.partition).map_err(|e| e.to_string()));
        })
        .send_soon()
        .unwrap();
    drop(handle);
    let got = tokio::time::timeout(WAIT, rx)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(got, partition_for_key(b"k46", 6));

    // An unknown per-message serializer is refused before anything is sent.
    let err = t
        .record(order(47))
        .value_serializer("nope")
        .send()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
    app.stop().await.unwrap();
}

/// An agent failing on a topic whose policy is dead_letter.
mod dead_agent {
    use super::*;

    #[topic(name = "dead-agent", key = String, value = Order, partitions = 1, on_error = "dead_letter")]
    pub struct T;

    #[topic(name = "dead-agent-dlq", key = Vec<u8>, value = Option<Vec<u8>>, value_serializer = "raw")]
    pub struct Dlq;

    #[agent(T)]
    async fn picky(mut s: Stream<T>) -> Result<(), String> {
        while let Some(o) = s.next().await {
            if o.id == 1 {
                return Err("order 1 is not welcome".into());
            }
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_an_agent_failed_on_is_dead_lettered_with_its_original_bytes() {
    let broker = MemoryBroker::new();
    let app = App::builder("dead-agent")
        .transport(Arc::new(broker.clone()))
        .include_module(module_path!().to_string() + "::dead_agent")
        .build()
        .unwrap();
    app.start().await.unwrap();
    let t = dead_agent::T.on(&app);
    for id in 0..3 {
        t.record(order(id))
            .key(format!("k{id}"))
            .header("trace", "x")
            .send()
            .await
            .unwrap();
    }
    let mut dlq = dead_agent::Dlq.on(&app).events();
    let ev = tokio::time::timeout(WAIT, dlq.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ev.key.as_deref(), Some(&b"k1"[..]));
    let original: Order = serde_json::from_slice(ev.value.as_deref().unwrap()).unwrap();
    assert_eq!(original, order(1));
    assert_eq!(ev.header("trace"), Some(&b"x"[..]));
    let why = String::from_utf8(ev.header("faust-error").unwrap().to_vec()).unwrap();
    assert!(why.contains("order 1 is not welcome"), "{why}");
    assert_eq!(ev.header("faust-error-offset"), Some(&b"1"[..]));
    assert!(eventually(WAIT, || app.health().dead_lettered == 1).await);
    app.stop().await.unwrap();
    assert_eq!(
        broker.committed("dead-agent", "dead-agent", 0),
        Some(3),
        "committed past it"
    );
}
