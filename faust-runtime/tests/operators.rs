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
