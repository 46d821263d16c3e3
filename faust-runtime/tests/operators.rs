//! Stream operators on the embedded broker, offsets included: what is committed after each
//! step.

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

mod batched {
    use super::*;

    #[topic(name = "op-take", key = String, value = u64, partitions = 1)]
    pub struct Items;

    pub static BATCHES: Mutex<Vec<Vec<u64>>> = Mutex::new(Vec::new());
    pub static RELEASE: Gate = Gate::new();

    #[agent(Items)]
    async fn batch(values: Stream<Items>) -> Result<()> {
        let mut batches = values.take(10, Duration::from_millis(100));
        while let Some(batch) = batches.next().await {
            BATCHES.lock().unwrap().push(batch);
            RELEASE.passed().await;
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn take_yields_full_batches_then_a_partial_one_and_commits_each_after_processing() {
    let broker = MemoryBroker::new();
    let app = app(&broker, "op-take", "batched");
    app.start().await.unwrap();
    let items = batched::Items.on(&app);
    for i in 0..25u64 {
        items.send("k", i).await.unwrap();
    }
    assert!(eventually(WAIT, || batched::BATCHES.lock().unwrap().len() == 1).await);
    assert_eq!(
        batched::BATCHES.lock().unwrap()[0],
        (0..10).collect::<Vec<_>>()
    );
    assert!(
        !eventually(Duration::from_millis(300), || broker
            .committed("op-take", "op-take", 0)
            .is_some())
        .await,
        "the first batch is not processed yet, but {:?} was committed",
        broker.committed("op-take", "op-take", 0)
    );
    batched::RELEASE.open();
    assert!(eventually(WAIT, || batched::BATCHES.lock().unwrap().len() == 3).await);
    let sizes: Vec<usize> = batched::BATCHES
        .lock()
        .unwrap()
        .iter()
        .map(Vec::len)
        .collect();
    assert_eq!(sizes, vec![10, 10, 5], "the last batch is cut by `within`");
    assert!(
        eventually(WAIT, || broker.committed("op-take", "op-take", 0)
            == Some(25))
        .await
    );
    app.stop().await.unwrap();
}

mod filtered {
    use super::*;

    #[topic(name = "op-filter", key = String, value = u64, partitions = 1)]
    pub struct Numbers;

    pub static EVEN: Mutex<Vec<u64>> = Mutex::new(Vec::new());

    #[agent(Numbers)]
    async fn evens(values: Stream<Numbers>) -> Result<()> {
        let mut evens = values.filter(|v| futures::future::ready(v % 2 == 0));
        while let Some(v) = evens.next().await {
            EVEN.lock().unwrap().push(v);
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_filtered_out_are_acknowledged_once_looked_at() {
    let broker = MemoryBroker::new();
    let app = app(&broker, "op-filter", "filtered");
    app.start().await.unwrap();
    let numbers = filtered::Numbers.on(&app);
    for i in 0..9u64 {
        numbers.send("k", i).await.unwrap();
    }
    assert!(eventually(WAIT, || filtered::EVEN.lock().unwrap().len() == 5).await);
    // Offsets 0..=8 are done once the agent asks for more after 8.
    assert!(
        eventually(WAIT, || broker.committed("op-filter", "op-filter", 0)
            == Some(9))
        .await
    );
    // 9 is filtered out: done as soon as it was looked at (the agent still waits for an even).
    numbers.send("k", 9).await.unwrap();
    assert!(
        eventually(WAIT, || broker.committed("op-filter", "op-filter", 0)
            == Some(10))
        .await
    );
    assert_eq!(*filtered::EVEN.lock().unwrap(), vec![0, 2, 4, 6, 8]);
    app.stop().await.unwrap();
}

mod keyed {
    use super::*;

    #[topic(name = "op-items", key = String, value = u64, partitions = 1)]
    pub struct Scores;

    pub static SEEN: Mutex<Vec<(Option<String>, u64)>> = Mutex::new(Vec::new());

    #[agent(Scores)]
    async fn scores(values: Stream<Scores>) -> Result<()> {
        let mut items = values.items().enumerate();
        while let Some((i, (key, value))) = items.next().await {
            assert_eq!(i as u64, value);
            SEEN.lock().unwrap().push((key, value));
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_yield_key_and_value_and_enumerate_counts_them() {
    let broker = MemoryBroker::new();
    let app = app(&broker, "op-items", "keyed");
    app.start().await.unwrap();
    let scores = keyed::Scores.on(&app);
    scores.send("alice", 0).await.unwrap();
    scores.send("bob", 1).await.unwrap();
    scores.record(2).send().await.unwrap();
    assert!(eventually(WAIT, || keyed::SEEN.lock().unwrap().len() == 3).await);
    assert_eq!(
        *keyed::SEEN.lock().unwrap(),
        vec![
            (Some("alice".into()), 0),
            (Some("bob".into()), 1),
            (None, 2)
        ]
    );
    assert!(
        eventually(WAIT, || broker.committed("op-items", "op-items", 0)
            == Some(3))
        .await
    );
    assert_eq!(app.health().agent_errors, 0);
    app.stop().await.unwrap();
}

mod mapped {
    use super::*;

    #[topic(name = "op-map", key = String, value = u64, partitions = 1)]
    pub struct Numbers;

    pub static SEEN: Mutex<Vec<(usize, u64)>> = Mutex::new(Vec::new());
    pub static STEP: Gate = Gate::new();

    #[agent(Numbers)]
    async fn doubled(values: Stream<Numbers>) -> Result<()> {
        let mut doubled = values.map(|v| v * 2).enumerate();
        while let Some((i, v)) = doubled.next().await {
            SEEN.lock().unwrap().push((i, v));
            if i == 2 {
                STEP.passed().await;
            }
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn map_and_enumerate_keep_the_event_held_until_the_next_is_asked_for() {
    let broker = MemoryBroker::new();
    let app = app(&broker, "op-map", "mapped");
    app.start().await.unwrap();
    let numbers = mapped::Numbers.on(&app);
    for i in 0..5u64 {
        numbers.send("k", i).await.unwrap();
    }
    assert!(eventually(WAIT, || mapped::SEEN.lock().unwrap().len() == 3).await);
    // The agent holds the third value (offset 2): 0 and 1 are done, 2 is not.
    assert!(eventually(WAIT, || broker.committed("op-map", "op-map", 0) == Some(2)).await);
    assert!(
        !eventually(Duration::from_millis(200), || broker
            .committed("op-map", "op-map", 0)
            != Some(2))
        .await
    );
    mapped::STEP.open();
    assert!(eventually(WAIT, || broker.committed("op-map", "op-map", 0) == Some(5)).await);
    assert_eq!(
        *mapped::SEEN.lock().unwrap(),
        vec![(0, 0), (1, 2), (2, 4), (3, 6), (4, 8)]
    );
    app.stop().await.unwrap();
}

mod events_filtered {
    use super::*;

    #[topic(name = "op-efilter", key = String, value = u64, partitions = 1)]
    pub struct Numbers;

    pub static KEPT: Mutex<Vec<i64>> = Mutex::new(Vec::new());

    #[agent(Numbers)]
    async fn multiples(events: Events<Numbers>) -> Result<()> {
        let mut kept = events.filter(|e| futures::future::ready(e.value % 3 == 0));
        while let Some(ev) = kept.next().await {
            KEPT.lock().unwrap().push(ev.offset);
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_filtered_out_of_an_events_stream_are_acknowledged_once_looked_at() {
    let broker = MemoryBroker::new();
    let app = app(&broker, "op-efilter", "events_filtered");
    app.start().await.unwrap();
    let numbers = events_filtered::Numbers.on(&app);
    for i in 0..7u64 {
        numbers.send("k", i).await.unwrap();
    }
    assert!(eventually(WAIT, || events_filtered::KEPT.lock().unwrap().len() == 3).await);
    // 6 was the last kept (held until the next is asked for, which the agent did); nothing is
    // left over.
    assert!(
        eventually(WAIT, || broker.committed("op-efilter", "op-efilter", 0)
            == Some(7))
        .await
    );
    // 7 and 8 are filtered out while the agent waits for a multiple of 3: done at once.
    numbers.send("k", 7).await.unwrap();
    numbers.send("k", 8).await.unwrap();
    assert!(
        eventually(WAIT, || broker.committed("op-efilter", "op-efilter", 0)
            == Some(9))
        .await
    );
    assert_eq!(*events_filtered::KEPT.lock().unwrap(), vec![0, 3, 6]);
    app.stop().await.unwrap();
}
