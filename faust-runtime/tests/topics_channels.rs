//! The topic and channel surface on the embedded broker: type information through the traits,
//! explicit partitions, headers on `stream.events()` in a `Stream<T>` agent, `create_topic`
//! and the topic manager's typed handles, runtime-defined channels.

mod common;

use common::{eventually, order, unique, Order};
use faust_runtime::prelude::*;
use faust_runtime::{Error, MemoryBroker};
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

/// An agent declared with `Stream<T>` that turns its stream into events.
mod headers {
    use super::*;
    use std::sync::Mutex;

    pub static SEEN: Mutex<Vec<(u64, Option<Vec<u8>>)>> = Mutex::new(Vec::new());

    #[topic(name = "tc-headers", key = String, value = Order, partitions = 2)]
    pub struct Orders;

    #[agent(Orders)]
    async fn read(stream: Stream<Orders>) -> Result<()> {
        let mut events = stream.events();
        while let Some(ev) = events.next().await {
            let h = ev.header("trace").map(<[u8]>::to_vec);
            SEEN.lock().unwrap().push((ev.value.id, h));
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_events_in_a_stream_agent_carry_headers() {
    let app = App::builder("tc-headers")
        .broker(format!("memory://{}", unique("tc-headers")))
        .include_module(module_path!().to_string() + "::headers")
        .build()
        .unwrap();
    // Sent before start, so that the consumer decodes them before the agent first polls.
    let orders = headers::Orders.on(&app);
    for id in 0..20 {
        let mut r = orders.record(order(id)).key(format!("k{id}")).force(true);
        if id % 2 == 0 {
            r = r.header("trace", format!("t{id}"));
        }
        r.send_and_wait().await.unwrap();
    }
    app.start().await.unwrap();
    assert!(eventually(WAIT, || headers::SEEN.lock().unwrap().len() == 20).await);
    app.stop().await.unwrap();
    let seen = headers::SEEN.lock().unwrap().clone();
    for (id, h) in seen {
        let expected = (id % 2 == 0).then(|| format!("t{id}").into_bytes());
        assert_eq!(h, expected, "order {id}");
    }
}

/// A values-only agent on a topic whose records have headers still gets every value.
mod values {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    pub static SUM: AtomicU64 = AtomicU64::new(0);

    #[topic(name = "tc-values", key = String, value = Order)]
    pub struct Orders;

    #[agent(Orders)]
    async fn read(mut orders: Stream<Orders>) -> Result<()> {
        while let Some(o) = orders.next().await {
            SUM.fetch_add(o.id, Ordering::Relaxed);
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_only_agent_reads_records_with_headers() {
    use std::sync::atomic::Ordering;
    let app = App::builder("tc-values")
        .broker(format!("memory://{}", unique("tc-values")))
        .include_module(module_path!().to_string() + "::values")
        .build()
        .unwrap();
    app.start().await.unwrap();
    let orders = values::Orders.on(&app);
    for id in 1..=10 {
        orders
            .record(order(id))
            .key("k")
            .header("trace", "x")
            .send()
            .await
            .unwrap();
    }
    assert!(eventually(WAIT, || values::SUM.load(Ordering::Relaxed) == 55).await);
    app.stop().await.unwrap();
}

mod info {
    use super::*;

    pub type Dict = std::collections::HashMap<String, String>;

    #[topic(name = "tc-info", key = String, value = Dict, partitions = 4, maxsize = 10,
            config = [("segment.bytes", "1048576")])]
    pub struct Settings;

    #[channel(value = Order, key = u64, maxsize = 7)]
    pub struct Notes;
}

fn describe_topic<T: Topic>(t: &T) -> (String, String, String, i32, usize) {
    (
        t.name().to_string(),
        t.key_type().to_string(),
        t.value_type().to_string(),
        t.partitions(),
        t.maxsize(),
    )
}

fn describe_channel<C: Channel>(c: &C) -> (String, String, String, usize) {
    (
        c.name().to_string(),
        c.key_type().to_string(),
        c.value_type().to_string(),
        c.maxsize(),
    )
}

#[test]
fn type_information_through_the_traits() {
    let (name, key, value, partitions, maxsize) = describe_topic(&info::Settings);
    assert_eq!((name.as_str(), partitions, maxsize), ("tc-info", 4, 10));
    assert_eq!(key, "alloc::string::String");
    assert_eq!(value, std::any::type_name::<info::Dict>());
    assert!(value.starts_with("std::collections::hash::map::HashMap<"));
    assert_eq!(info::Settings.config()["segment.bytes"], "1048576");
    assert_eq!(info::Settings.spec().value_type(), value);

    let (name, key, value, maxsize) = describe_channel(&info::Notes);
    assert_eq!((name.as_str(), key.as_str(), maxsize), ("Notes", "u64", 7));
    assert_eq!(value, std::any::type_name::<Order>());
    assert_eq!(info::Notes.spec().key_type(), "u64");
}

#[test]
fn get_partition_key_checks_an_explicit_partition() {
    let p = info::Settings.get_partition_key("alice", None).unwrap();
    assert!((0..4).contains(&p));
    assert_eq!(
        p,
        info::Settings
            .get_partition_key("alice".to_string(), None)
            .unwrap()
    );
    assert_eq!(
        info::Settings.get_partition_key("alice", Some(3)).unwrap(),
        3
    );
    for bad in [4, 99, -1] {
        match info::Settings.get_partition_key("alice", Some(bad)) {
            Err(Error::UnknownPartition {
                topic,
                partition,
                partitions,
            }) => assert_eq!((topic.as_str(), partition, partitions), ("tc-info", bad, 4)),
            other => panic!("partition {bad}: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_topic_gives_a_typed_handle_created_with_its_settings() {
    let broker = MemoryBroker::new();
    let app = App::builder("tc-create")
        .transport(Arc::new(broker))
        .build()
        .unwrap();
    let topic = faust_runtime::create_topic::<String, Order>(
        &app,
        "tc-created",
        3,
        1,
        &[("cleanup.policy", "compact"), ("retention.ms", "60000")],
    )
    .await
    .unwrap();
    assert_eq!(topic.partitions(), 3);
    assert_eq!(topic.key_type(), "alloc::string::String");
    let d = app
        .topics()
        .describe_topic("tc-created")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.partitions, 3);
    assert_eq!(d.config["cleanup.policy"], "compact");
    assert_eq!(d.config["retention.ms"], "60000");

    // The same name with other settings is refused; with the same ones it is the same topic.
    let again =
        faust_runtime::create_topic::<String, Order>(&app, "tc-created", 5, 1, &[("a", "b")]).await;
    assert!(matches!(again, Err(Error::Config(_))), "{again:?}");
    let same = app
        .topics()
        .declare::<String, Order>("tc-created", 3, 1, &[])
        .await
        .unwrap();
    assert_eq!(same.spec().name, "tc-created");

    // The manager's typed handle sends (forced: before start) and reads like a declared one.
    let declared = app
        .topics()
        .declare::<String, u64>("tc-declared", 2, 1, &[])
        .await
        .unwrap();
    let meta = declared
        .record(7)
        .key("seven")
        .partition(1)
        .force(true)
        .send_and_wait()
        .await
        .unwrap();
    assert_eq!((&*meta.topic, meta.partition), ("tc-declared", 1));
    assert!(declared.get_partition_key("seven", Some(2)).is_err());
    let mut events = declared.events();
    let ev = tokio::time::timeout(WAIT, events.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (ev.key.as_deref(), ev.value, ev.partition),
        (Some("seven"), 7, 1)
    );

    let bad = faust_runtime::create_topic::<String, u64>(&app, "tc-bad", 0, 1, &[]).await;
    assert!(matches!(bad, Err(Error::Config(_))), "{bad:?}");
}

/// An app with a timer only, for the runtime-defined topics and channels sent to once it runs.
mod running {
    #[faust_runtime::timer(interval = "1h")]
    async fn idle() {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_topics_defined_while_running_are_created_on_first_send() {
    let app = App::builder("tc-running")
        .broker(format!("memory://{}", unique("tc-running")))
        .include_module(module_path!().to_string() + "::running")
        .build()
        .unwrap();
    app.start().await.unwrap();
    let late = app
        .topic::<String, String>("tc-late")
        .partitions(2)
        .root::<info::Settings>()
        .build()
        .unwrap();
    // Inherited from the root where it sets nothing.
    assert_eq!(late.config()["segment.bytes"], "1048576");
    assert_eq!(late.maxsize(), 10);
    let meta = late
        .send_soon("k", "first".to_string())
        .unwrap()
        .await
        .unwrap();
    assert_eq!(meta.topic, "tc-late");
    let d = app
        .topics()
        .describe_topic("tc-late")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.partitions, 2);
    let meta = late
        .send_soon("k", "second".to_string())
        .unwrap()
        .await
        .unwrap();
    assert_eq!(meta.offset, 1);
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_channels_send_read_and_close_at_stop() {
    let app = App::builder("tc-channels")
        .broker(format!("memory://{}", unique("tc-channels")))
        .include_module(module_path!().to_string() + "::running")
        .build()
        .unwrap();
    let notes = app
        .channel::<String, Order>()
        .name("tc-notes")
        .maxsize(2)
        .build()
        .unwrap();
    assert_eq!((notes.name(), notes.maxsize()), ("tc-notes", 2));
    assert_eq!(notes.key_type(), "alloc::string::String");
    assert_eq!(notes.value_type(), std::any::type_name::<Order>());
    let anonymous = app.channel::<(), u8>().build().unwrap();
    assert!(anonymous.name().starts_with("channel-"));
    assert!(app.channel::<(), u8>().maxsize(0).build().is_err());

    app.start().await.unwrap();
    let reader = {
        let mut events = notes.events();
        tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(ev) = events.next().await {
                let h = ev.header("h").map(<[u8]>::to_vec);
                got.push((ev.key, ev.value.id, h));
            }
            got
        })
    };
    for id in 0..5 {
        notes
            .record(order(id))
            .key(format!("k{id}"))
            .header("h", "v")
            .send()
            .await
            .unwrap();
    }
    notes.send_soon(order(5)).unwrap().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    app.stop().await.unwrap();
    // The stop closed the channel: the reader's stream ended.
    let got = tokio::time::timeout(WAIT, reader).await.unwrap().unwrap();
    assert_eq!(got.len(), 6);
    assert_eq!(got[0], (Some("k0".to_string()), 0, Some(b"v".to_vec())));
    assert_eq!(got[5], (None, 5, None));
    assert!(notes.send(order(6)).await.is_err());
}

mod several {
    use super::*;

    #[topic(names = ["multi-a", "multi-b"], key = String, value = u64, partitions = 2)]
    pub struct Both;
    /// (topic, partition, value) of every event read.
    pub static SEEN: std::sync::Mutex<Vec<(String, i32, u64)>> = std::sync::Mutex::new(Vec::new());

    #[agent(Both)]
    async fn read_both(mut events: Events<Both>) -> Result<()> {
        while let Some(ev) = events.next().await {
            SEEN.lock()
                .unwrap()
                .push((ev.topic.to_string(), ev.partition, ev.value));
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_handle_covering_several_topics_reads_them_all_in_partition_order() {
    use std::sync::Arc;
    let broker = faust_runtime::MemoryBroker::new();
    let app = App::builder("several")
        .transport(Arc::new(broker.clone()))
        .include_module(format!("{}::several", module_path!()))
        .commit_interval(Duration::from_millis(20))
        .build()
        .unwrap();
    app.start().await.unwrap();
    for name in ["multi-a", "multi-b"] {
        let d = app.topics().describe_topic(name).await.unwrap();
        assert_eq!(
            d.map(|d| d.partitions),
            Some(2),
            "{name} created with the handle's settings"
        );
    }
    // Each topic sent to on its own (the handle covering both cannot be sent to).
    let a = app.topic::<String, u64>("multi-a").build().unwrap();
    let b = app.topic::<String, u64>("multi-b").build().unwrap();
    for n in 0..20u64 {
        a.send(format!("k{}", n % 4), n).await.unwrap();
        b.send(format!("k{}", n % 4), 100 + n).await.unwrap();
    }
    let err = several::Both.on(&app).send("k", 1).await.unwrap_err();
    assert!(err.to_string().contains("covers several topics"), "{err}");
    let ok = common::eventually(Duration::from_secs(15), || {
        several::SEEN.lock().unwrap().len() == 40
    })
    .await;
    assert!(ok, "read {}", several::SEEN.lock().unwrap().len());
    let seen = several::SEEN.lock().unwrap().clone();
    for (topic, offset_base) in [("multi-a", 0u64), ("multi-b", 100)] {
        for p in 0..2 {
            let values: Vec<u64> = seen
                .iter()
                .filter(|s| s.0 == topic && s.1 == p)
                .map(|s| s.2)
                .collect();
            assert!(
                values.windows(2).all(|w| w[0] < w[1]),
                "{topic}[{p}]: {values:?}"
            );
            assert!(values
                .iter()
                .all(|v| (offset_base..offset_base + 20).contains(v)));
            let end = broker.end_offset(topic, p).unwrap();
            assert_eq!(values.len() as i64, end);
            assert!(
                common::eventually(Duration::from_secs(15), || broker
                    .committed("several", topic, p)
                    == Some(end)
                    || end == 0)
                .await,
                "{topic}[{p}] committed {:?} of {end}",
                broker.committed("several", topic, p)
            );
        }
    }
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_channel_holds_its_senders_back_loses_no_value_and_frees_them_at_stop() {
    let app = App::builder("tc-full")
        .broker(format!("memory://{}", unique("tc-full")))
        .include_module(module_path!().to_string() + "::running")
        .build()
        .unwrap();
    let ch = app
        .channel::<(), u64>()
        .name("tc-full")
        .maxsize(3)
        .build()
        .unwrap();
    app.start().await.unwrap();
    const PER_SENDER: u64 = 3_000;
    const SOON: u64 = 100;
    let total = (4 * PER_SENDER + SOON) as usize;
    let reader = {
        let mut values = ch.stream();
        tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(v) = values.next().await {
                got.push(v);
                if got.len() == total {
                    break;
                }
            }
            got
        })
    };
    // Four senders and a burst of send_soon on a queue of three: they wait for room in turn.
    let senders: Vec<_> = (0..4u64)
        .map(|t| {
            let ch = ch.clone();
            tokio::spawn(async move {
                for i in 0..PER_SENDER {
                    ch.send(t * 10_000 + i).await.unwrap();
                }
            })
        })
        .collect();
    let soon: Vec<_> = (0..SOON)
        .map(|i| ch.send_soon(90_000 + i).unwrap())
        .collect();
    for s in senders {
        tokio::time::timeout(WAIT, s)
            .await
            .expect("senders finish")
            .unwrap();
    }
    for h in soon {
        tokio::time::timeout(WAIT, h)
            .await
            .expect("queued")
            .unwrap();
    }
    let mut got = tokio::time::timeout(WAIT, reader)
        .await
        .expect("all read")
        .unwrap();
    // Each sender's values arrive in its order, and none is lost or doubled.
    for t in 0..4u64 {
        let mine: Vec<u64> = got.iter().copied().filter(|v| v / 10_000 == t).collect();
        assert_eq!(
            mine,
            (0..PER_SENDER).map(|i| t * 10_000 + i).collect::<Vec<_>>()
        );
    }
    got.sort_unstable();
    got.dedup();
    assert_eq!(got.len(), total);

    // Nobody reads now: a sender fills the queue and waits; the stop frees it with an error.
    let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let blocked = {
        let (ch, sent) = (ch.clone(), sent.clone());
        tokio::spawn(async move {
            loop {
                if ch.send(1).await.is_err() {
                    return;
                }
                sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        })
    };
    assert!(eventually(WAIT, || sent.load(std::sync::atomic::Ordering::SeqCst) == 3).await);
    app.stop().await.unwrap();
    tokio::time::timeout(WAIT, blocked)
        .await
        .expect("the waiting sender is freed")
        .unwrap();
    assert_eq!(sent.load(std::sync::atomic::Ordering::SeqCst), 3);
}
