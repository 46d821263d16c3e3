//! `group_by` on the Kafka-protocol test broker: the repartition topic is created at startup
//! with the source's partitions, every event arrives under its new key in its key's partition,
//! and the source and repartition offsets are committed for all of them.
//!
//! Needs `FAUST_TEST_KAFKA=kafka://host:port` (scripts/test.sh starts a broker and sets it).
//! Without it these tests fail, unless `FAUST_SKIP_KAFKA=1` asks to skip them.
#![cfg(feature = "kafka")]

#[macro_use]
mod common;

use common::{eventually, kafka_url, unique};
use faust_runtime::partitioner::partition_for_key;
use faust_runtime::prelude::*;
use faust_runtime::settings::Settings;
use faust_runtime::transport::kafka::KafkaTransport;
use faust_runtime::transport::{ConsumerConfig, TopicPartition, Transport};
use faust_runtime::Error;
use std::sync::Mutex;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);
const SOURCE: &str = "kgb-orders";
const REPARTITION: &str = "by_account-kgb-orders-account-repartition";

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Order {
    pub account: String,
    pub n: u64,
}

mod grouped {
    use super::*;

    #[topic(name = "kgb-orders", key = String, value = Order, partitions = 3)]
    pub struct Orders;

    /// (topic, partition, key, n) of every repartitioned event processed.
    pub type Seen = (String, i32, Option<String>, u64);
    pub static SEEN: Mutex<Vec<Seen>> = Mutex::new(Vec::new());

    #[agent(Orders)]
    async fn by_account(orders: Stream<Orders>) -> Result<()> {
        let mut orders = orders
            .group_by(|o: &Order| o.account.clone(), "account")?
            .events();
        while let Some(ev) = orders.next().await {
            SEEN.lock().unwrap().push((
                ev.topic.to_string(),
                ev.partition,
                ev.key.clone(),
                ev.value.n,
            ));
        }
        Ok(())
    }
}

fn transport(url: &str) -> KafkaTransport {
    let s = Settings::default();
    KafkaTransport::new(url, &s.kafka, s.broker_connect_timeout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_by_on_kafka_repartitions_and_commits_source_and_repartition_offsets() {
    let url = kafka_or_skip!();
    let t = transport(&url);
    t.connect().await.unwrap();
    for name in [SOURCE, REPARTITION] {
        match t.delete_topic(name).await {
            Ok(()) | Err(Error::UnknownTopic(_)) => {}
            Err(e) => panic!("cannot delete {name}: {e}"),
        }
    }
    let id = unique("kgb");
    let app = App::builder(&id)
        .broker(url.as_str())
        .include_module(module_path!().to_string() + "::grouped")
        .commit_interval(Duration::from_millis(200))
        .shutdown_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    app.start().await.unwrap();
    let created = app.topics().describe_topic(REPARTITION).await.unwrap();
    assert_eq!(
        created.map(|d| d.partitions),
        Some(3),
        "the source's partitions"
    );

    let orders = grouped::Orders.on(&app);
    let accounts = ["alice", "bob", "carol", "dave", "erin"];
    let mut handles = Vec::new();
    for n in 0..100u64 {
        let account = accounts[n as usize % accounts.len()].to_string();
        handles.push(
            orders
                .send_soon(format!("k{n}"), Order { account, n })
                .unwrap(),
        );
    }
    for h in handles {
        h.await.unwrap();
    }
    assert!(
        eventually(WAIT, || grouped::SEEN.lock().unwrap().len() >= 100).await,
        "seen {}",
        grouped::SEEN.lock().unwrap().len()
    );
    app.stop().await.unwrap();

    let seen = grouped::SEEN.lock().unwrap().clone();
    assert_eq!(seen.len(), 100);
    for (topic, partition, key, n) in &seen {
        let account = accounts[*n as usize % accounts.len()];
        assert_eq!(topic, REPARTITION);
        assert_eq!(key.as_deref(), Some(account));
        assert_eq!(*partition, partition_for_key(account.as_bytes(), 3));
    }
    // Order is kept for the events of one source partition under one new key.
    let source_partition = |n: u64| partition_for_key(format!("k{n}").as_bytes(), 3);
    for account in accounts {
        let mine: Vec<u64> = seen
            .iter()
            .filter(|s| s.2.as_deref() == Some(account))
            .map(|s| s.3)
            .collect();
        assert_eq!(mine.len(), 20);
        for p in 0..3 {
            let ns: Vec<u64> = mine
                .iter()
                .copied()
                .filter(|n| source_partition(*n) == p)
                .collect();
            assert!(
                ns.windows(2).all(|w| w[0] < w[1]),
                "{account} from {p}: {ns:?}"
            );
        }
    }
    // What the stopped worker committed: every source record (forwarded and delivered) and
    // every repartitioned record (processed).
    let mut consumer = t
        .consumer(ConsumerConfig {
            group_id: id.clone(),
            topics: vec![SOURCE.into()],
            from_earliest: true,
        })
        .await
        .unwrap();
    let partitions = |topic: &str| -> Vec<TopicPartition> {
        (0..3)
            .map(|p| TopicPartition {
                topic: topic.into(),
                partition: p,
            })
            .collect()
    };
    let mut source_counts = vec![0usize; 3];
    for n in 0..100u64 {
        source_counts[source_partition(n) as usize] += 1;
    }
    let mut repart_counts = vec![0usize; 3];
    for (_, p, _, _) in &seen {
        repart_counts[*p as usize] += 1;
    }
    for (tps, per) in [
        (partitions(SOURCE), source_counts),
        (partitions(REPARTITION), repart_counts),
    ] {
        let committed = consumer.committed(&tps).await.unwrap();
        let expected: Vec<Option<i64>> = per
            .iter()
            .map(|&c| if c == 0 { None } else { Some(c as i64) })
            .collect();
        assert_eq!(committed, expected, "{}", tps[0].topic);
    }
}
