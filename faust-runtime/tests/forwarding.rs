//! `through` and `echo` on the embedded broker: where values go, what the agent reads next, and
//! what is committed on every topic involved.

mod common;

use common::{eventually, Gate};
use faust_runtime::prelude::*;
use faust_runtime::MemoryBroker;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

fn app(broker: &MemoryBroker, id: &str, module: &str) -> App {
    App::builder(id)
        .transport(Arc::new(broker.clone()))
        .include_module(format!("{}::{module}", module_path!()))
        .commit_interval(Duration::from_millis(20))
        .shutdown_timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}

mod through_topic {
    use super::*;

    #[topic(name = "fw-in", key = String, value = u64, partitions = 2)]
    pub struct In;
    #[topic(name = "fw-mid", key = String, value = u64, partitions = 3)]
    pub struct Mid;

    /// (topic, key, value) of what the agent read after `through`.
    pub static SEEN: Mutex<Vec<(String, Option<String>, u64)>> = Mutex::new(Vec::new());
    pub static RELEASE: Gate = Gate::new();

    #[agent(In)]
    async fn relay(values: Stream<In>) -> Result<()> {
        let mut mid = values.through(Mid)?.events();
        while let Some(ev) = mid.next().await {
            RELEASE.passed().await;
            SEEN.lock()
                .unwrap()
                .push((ev.topic.to_string(), ev.key.clone(), ev.value));
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_a_topic_forwards_every_event_and_continues_reading_there() {
    let broker = MemoryBroker::new();
    let app = app(&broker, "fw-through", "through_topic");
    app.start().await.unwrap();
    let input = through_topic::In.on(&app);
    for n in 0..100u64 {
        input.send(format!("k{}", n % 10), n).await.unwrap();
    }
    // All forwarded (and so committed on the input) while the agent holds its first event.
    assert!(
        eventually(WAIT, || (0..2)
            .map(|p| broker.committed("fw-through", "fw-in", p).unwrap_or(0))
            .sum::<i64>()
            == 100)
        .await
    );
    let mid_end = |p| broker.end_offset("fw-mid", p).unwrap();
    assert_eq!((0..3).map(mid_end).sum::<i64>(), 100);
    assert_eq!(
        (0..3)
            .filter_map(|p| broker.committed("fw-through", "fw-mid", p))
            .sum::<i64>(),
        0,
        "nothing read from fw-mid is processed yet"
    );
    through_topic::RELEASE.open();
    assert!(eventually(WAIT, || through_topic::SEEN.lock().unwrap().len() == 100).await);
    let seen = through_topic::SEEN.lock().unwrap().clone();
    assert!(seen
        .iter()
        .all(|(t, k, v)| t == "fw-mid" && k.as_deref() == Some(format!("k{}", v % 10).as_str())));
    let mut values: Vec<u64> = seen.iter().map(|s| s.2).collect();
    values.sort_unstable();
    assert_eq!(values, (0..100).collect::<Vec<_>>());
    assert!(
        eventually(WAIT, || (0..3).all(|p| broker.committed(
            "fw-through",
            "fw-mid",
            p
        ) == Some(mid_end(p))
            || mid_end(p) == 0))
        .await
    );
    app.stop().await.unwrap();
}

mod echoed {
    use super::*;

    #[topic(name = "echo-in", key = String, value = u64, partitions = 1)]
    pub struct In;
    #[topic(name = "echo-a", key = String, value = u64, partitions = 1)]
    pub struct A;
    #[topic(name = "echo-b", key = String, value = u64, partitions = 1)]
    pub struct B;

    pub static SEEN: Mutex<Vec<u64>> = Mutex::new(Vec::new());
    pub static RELEASE: Gate = Gate::new();

    #[agent(In)]
    async fn echo(values: Stream<In>) -> Result<()> {
        let mut values = values.echo(A).echo(B);
        while let Some(v) = values.next().await {
            RELEASE.passed().await;
            SEEN.lock().unwrap().push(v);
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_sends_every_value_to_each_target_and_yields_it_unchanged() {
    let broker = MemoryBroker::new();
    let app = app(&broker, "fw-echo", "echoed");
    app.start().await.unwrap();
    let input = echoed::In.on(&app);
    for n in 0..10u64 {
        input.send("k", n).await.unwrap();
    }
    // The first value is echoed as the agent gets it, before it is processed.
    assert!(
        eventually(WAIT, || broker.end_offset("echo-a", 0).unwrap() == 1
            && broker.end_offset("echo-b", 0).unwrap() == 1)
        .await
    );
    assert_eq!(broker.committed("fw-echo", "echo-in", 0), None);
    echoed::RELEASE.open();
    assert!(eventually(WAIT, || echoed::SEEN.lock().unwrap().len() == 10).await);
    assert_eq!(*echoed::SEEN.lock().unwrap(), (0..10).collect::<Vec<_>>());
    assert!(
        eventually(WAIT, || broker.committed("fw-echo", "echo-in", 0)
            == Some(10))
        .await
    );
    let a: Vec<u64> = StreamExt::take(echoed::A.on(&app).stream(), 10)
        .collect()
        .await;
    let b: Vec<u64> = StreamExt::take(echoed::B.on(&app).stream(), 10)
        .collect()
        .await;
    assert_eq!(a, (0..10).collect::<Vec<_>>());
    assert_eq!(b, (0..10).collect::<Vec<_>>());
    assert_eq!(broker.end_offset("echo-a", 0).unwrap(), 10);
    assert_eq!(broker.end_offset("echo-b", 0).unwrap(), 10);
    app.stop().await.unwrap();
}

mod through_channel {
    use super::*;

    #[topic(name = "fwc-in", key = String, value = u64, partitions = 1)]
    pub struct In;
    #[channel(key = String, value = u64)]
    pub struct Pipe;

    pub static SEEN: Mutex<Vec<u64>> = Mutex::new(Vec::new());
    pub static RELEASE: Gate = Gate::new();

    #[agent(In)]
    async fn piped(values: Stream<In>) -> Result<()> {
        let app = App::current()?;
        let mut piped = values.through(Pipe.on(&app))?;
        while let Some(v) = piped.next().await {
            RELEASE.passed().await;
            SEEN.lock().unwrap().push(v);
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_a_channel_commits_the_source_once_the_channel_value_is_processed() {
    let broker = MemoryBroker::new();
    let app = app(&broker, "fw-chan", "through_channel");
    app.start().await.unwrap();
    let input = through_channel::In.on(&app);
    for n in 0..5u64 {
        input.send("k", n).await.unwrap();
    }
    assert!(
        !eventually(Duration::from_millis(300), || broker
            .committed("fw-chan", "fwc-in", 0)
            .is_some())
        .await,
        "a channel value is delivered once processed: nothing is done yet"
    );
    through_channel::RELEASE.open();
    assert!(eventually(WAIT, || through_channel::SEEN.lock().unwrap().len() == 5).await);
    assert_eq!(*through_channel::SEEN.lock().unwrap(), vec![0, 1, 2, 3, 4]);
    assert!(eventually(WAIT, || broker.committed("fw-chan", "fwc-in", 0) == Some(5)).await);
    app.stop().await.unwrap();
}

mod headed {
    use super::*;

    #[topic(name = "fwh-in", key = String, value = u64, partitions = 1)]
    pub struct In;
    #[topic(name = "fwh-mid", key = String, value = u64, partitions = 1)]
    pub struct Mid;
    #[topic(name = "fwh-copy", key = String, value = u64, partitions = 1)]
    pub struct Copied;

    /// (value, headers) the agent read after `through`.
    pub static SEEN: Mutex<Vec<(u64, faust_runtime::transport::Headers)>> = Mutex::new(Vec::new());

    #[agent(In)]
    async fn relay(values: Stream<In>) -> Result<()> {
        let mut mid = values.echo(Copied).through(Mid)?.events();
        while let Some(ev) = mid.next().await {
            SEEN.lock().unwrap().push((ev.value, ev.headers.clone()));
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_and_echo_forward_each_events_headers() {
    let broker = MemoryBroker::new();
    let app = app(&broker, "fw-headers", "headed");
    app.start().await.unwrap();
    for n in 0..5u64 {
        headed::In
            .on(&app)
            .record(n)
            .key("k")
            .header("trace", format!("t{n}"))
            .send()
            .await
            .unwrap();
    }
    assert!(eventually(WAIT, || headed::SEEN.lock().unwrap().len() == 5).await);
    let want = |n: u64| vec![("trace".to_string(), Some(format!("t{n}").into()))];
    for topic in ["fwh-mid", "fwh-copy"] {
        let records = broker.records(topic, 0, 0).unwrap();
        assert_eq!(records.len(), 5, "{topic}");
        for (n, (_, _, record)) in records.iter().enumerate() {
            assert_eq!(
                record.headers,
                want(n as u64),
                "headers on {topic}, value {n}"
            );
        }
    }
    for (n, headers) in headed::SEEN.lock().unwrap().iter() {
        assert_eq!(headers, &want(*n), "headers read after through, value {n}");
    }
    app.stop().await.unwrap();
}
