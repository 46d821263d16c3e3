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
