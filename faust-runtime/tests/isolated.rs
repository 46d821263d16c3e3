//! `isolated_partitions = true` on the embedded broker: one instance per assigned partition,
//! each reading only its partition; a second worker joining takes partitions away, and the
//! instances of the revoked partitions end; offsets are committed per partition.

mod common;

use common::eventually;
use faust_runtime::prelude::*;
use faust_runtime::MemoryBroker;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

/// (partition, task) of every event processed.
static SEEN: Mutex<Vec<(i32, tokio::task::Id)>> = Mutex::new(Vec::new());
/// Instances running now, per worker (told apart by its transport handle).
static LIVE: Mutex<Option<HashMap<usize, i64>>> = Mutex::new(None);

fn worker_of(app: &App) -> usize {
    Arc::as_ptr(app.transport()) as *const () as usize
}

fn live_change(app: &App, by: i64) {
    *LIVE
        .lock()
        .unwrap()
        .get_or_insert_with(HashMap::new)
        .entry(worker_of(app))
        .or_default() += by;
}

fn live(app: &App) -> i64 {
    LIVE.lock()
        .unwrap()
        .as_ref()
        .and_then(|m| m.get(&worker_of(app)).copied())
        .unwrap_or(0)
}

mod isolated {
    use super::*;

    #[topic(name = "iso-in", key = String, value = u64, partitions = 4)]
    pub struct In;

    #[agent(In, isolated_partitions = true)]
    async fn per_partition(mut events: Events<In>) {
        let app = App::current().unwrap();
        live_change(&app, 1);
        while let Some(e) = events.next().await {
            SEEN.lock().unwrap().push((e.partition, tokio::task::id()));
        }
        live_change(&app, -1);
    }
}

fn app(broker: &MemoryBroker) -> App {
    App::builder("iso-app")
        .transport(Arc::new(broker.clone()))
        .include_module(format!("{}::isolated", module_path!()))
        .commit_interval(Duration::from_millis(20))
        .shutdown_timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_assigned_partition_gets_its_own_instance_started_and_stopped_with_it() {
    let broker = MemoryBroker::new();
    let a = app(&broker);
    a.start().await.unwrap();
    let input = isolated::In.on(&a);
    for i in 0..200u64 {
        input.send_soon(format!("k{i}"), i).unwrap();
    }
    assert!(eventually(WAIT, || SEEN.lock().unwrap().len() == 200).await);
    assert!(eventually(WAIT, || live(&a) == 4).await);
    {
        let seen = SEEN.lock().unwrap();
        let mut task_of: HashMap<i32, HashSet<tokio::task::Id>> = HashMap::new();
        for (p, t) in seen.iter() {
            task_of.entry(*p).or_default().insert(*t);
        }
        assert_eq!(task_of.len(), 4, "every partition got records");
        assert!(
            task_of.values().all(|ts| ts.len() == 1),
            "one instance per partition: {task_of:?}"
        );
        let tasks: HashSet<_> = task_of.values().flatten().collect();
        assert_eq!(tasks.len(), 4, "a different instance for each partition");
    }
    let committed = || {
        (0..4)
            .map(|p| broker.committed("iso-app", "iso-in", p).unwrap_or(0))
            .sum::<i64>()
    };
    assert!(
        eventually(WAIT, || committed() == 200).await,
        "{}",
        committed()
    );

    // A second worker joins: the partitions it takes are revoked here, their instances end.
    let b = app(&broker);
    b.start().await.unwrap();
    // (An instance starts at the latest with its partition's first record.)
    for i in 200..400u64 {
        input.send_soon(format!("k{i}"), i).unwrap();
    }
    assert!(
        eventually(WAIT, || live(&a) + live(&b) == 4 && live(&a) < 4).await,
        "instances of the revoked partitions ended here and started there: a {} b {}",
        live(&a),
        live(&b)
    );
    assert!(eventually(WAIT, || SEEN.lock().unwrap().len() >= 400).await);
    b.stop().await.unwrap();
    a.stop().await.unwrap();
    assert!(eventually(WAIT, || live(&a) == 0 && live(&b) == 0).await);
    let committed = (0..4)
        .map(|p| broker.committed("iso-app", "iso-in", p).unwrap_or(0))
        .sum::<i64>();
    assert_eq!(committed, 400);
}
