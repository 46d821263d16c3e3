//! Global tables and standby copies on the embedded broker: a global table is whole on every
//! worker, recovered before its agents run and readable outside events; with
//! `table_standby_replicas` a worker that takes a partition over replays none of what its
//! standby copy had already read.

#[macro_use]
mod common;
#[macro_use]
mod table_support;
#[macro_use]
#[path = "table_support/standby.rs"]
mod standby;

use faust_runtime::prelude::*;
use faust_runtime::MemoryBroker;
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

counting_module!(counting, "standby-words");
prices_module!(prices, "standby-prices");

fn maker(broker: &MemoryBroker, module: &'static str) -> impl Fn(&str, &str, usize) -> App {
    let broker = broker.clone();
    move |id: &str, client: &str, standby: usize| {
        let client = client.to_string();
        App::builder(id)
            .transport(Arc::new(broker.clone()))
            .include_module(module_path!().to_string() + "::" + module)
            .commit_interval(Duration::from_millis(50))
            .configure(move |s| {
                s.kafka.client_id = client;
                s.table_standby_replicas = standby;
            })
            .build()
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_global_table_is_whole_on_every_worker_recovered_at_start_and_read_outside_events() {
    let make = maker(&MemoryBroker::new(), "prices");
    standby::global_table_scenario::<prices::Prices, prices::PriceTable>(&make, WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_standby_copies_a_partition_taken_over_replays_nothing_already_followed() {
    let make = maker(&MemoryBroker::new(), "counting");
    let (replayed, records) =
        standby::take_over::<counting::Words>(&make, &counting::SEEN, 0, WAIT).await;
    // (All of b's partitions when the group reassigns every partition, as Kafka's does.)
    assert!(
        replayed >= records as u64,
        "without standby copies, taking a's partitions over replays their whole changelog: \
         {replayed} of {records} records"
    );
    // A broker of its own: the topic starts empty again.
    let make = maker(&MemoryBroker::new(), "counting");
    let (replayed, records) =
        standby::take_over::<counting::Words>(&make, &counting::SEEN, 1, WAIT).await;
    assert!(records > 0);
    assert_eq!(
        replayed, 0,
        "b's standby copies had read all {records} records of a's partitions"
    );
}

set_module!(sets, "standby-set-ops");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_table_partition_taken_over_from_its_standby_copy_replays_nothing() {
    let make = maker(&MemoryBroker::new(), "sets");
    let id = common::unique("standby-sets");
    let send = |app: &App, key: String, op: String| {
        let ops = sets::Ops.on(app);
        async move { ops.record(op).key(key).send_and_wait().await.unwrap() }
    };
    let seen = |id: &str| {
        sets::SEEN
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.0 == id)
            .cloned()
            .collect::<Vec<_>>()
    };
    let a = make(&id, "wa", 1);
    a.start().await.unwrap();
    let b = make(&id, "wb", 1);
    b.start().await.unwrap();
    assert!(
        common::eventually(WAIT, || {
            a.health().tables[0].active_partitions.len() == 1
                && b.health().tables[0].active_partitions.len() == 1
        })
        .await
    );
    let keys: Vec<String> = (0..8).map(|i| format!("k{i}")).collect();
    for k in &keys {
        send(&a, k.clone(), "+x".into()).await;
        send(&a, k.clone(), "+y".into()).await;
    }
    assert!(common::eventually(WAIT, || seen(&id).len() == 16).await);
    let owned_by_a = a.health().tables[0].active_partitions[0];
    let changelog = format!("{id}-members-changelog");
    // b's copy of a's partition has read every record of it.
    assert!(
        common::eventually_async(WAIT, || async {
            let records = table_support::read_all(a.transport().as_ref(), &changelog, 2).await;
            let of_a: Vec<_> = records
                .iter()
                .filter(|r| r.partition == owned_by_a)
                .collect();
            let end = of_a.last().map(|r| r.offset + 1);
            let copies = b.health().tables[0].standby_partitions.clone();
            let keys_of_a = keys
                .iter()
                .filter(|k| {
                    faust_runtime::partitioner::partition_for_key(k.as_bytes(), 2) == owned_by_a
                })
                .count();
            // One update record per key (both adds coalesced), or one per add.
            of_a.len() >= keys_of_a && end.is_some() && copies == vec![(owned_by_a, end.unwrap())]
        })
        .await,
        "{:?}",
        b.health().tables
    );
    let before = b.health().tables[0].recoveries;
    a.stop().await.unwrap();
    assert!(
        common::eventually(WAIT, || {
            let t = &b.health().tables[0];
            t.active_partitions.len() == 2 && t.recoveries > before && !t.recovering
        })
        .await
    );
    assert_eq!(b.health().tables[0].last_recovery_records, 0);
    // b answers from the copy: every key of a's partition has both members.
    for k in &keys {
        send(&b, k.clone(), "?y".into()).await;
    }
    assert!(common::eventually(WAIT, || seen(&id).len() == 24).await);
    for (_, key, op, members, found) in &seen(&id)[16..] {
        assert_eq!(op, "?y");
        assert!(found, "{key}: {members:?}");
        assert_eq!(members, &vec!["x".to_string(), "y".to_string()], "{key}");
    }
    b.stop().await.unwrap();
}
