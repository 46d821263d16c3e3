//! `group_by` on the embedded broker: the repartition topic (name, partitions), where each
//! event lands, and what is committed on the source and the repartition topic after each step.

mod common;

use common::{eventually, Gate};
use faust_runtime::partitioner::partition_for_key;
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

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Order {
    pub account: String,
    pub n: u64,
}

mod grouped {
    use super::*;

    #[topic(name = "gb-orders", key = String, value = Order, partitions = 2)]
    pub struct Orders;

    /// (topic, partition, key, n) of every repartitioned event processed.
    pub type Seen = (String, i32, Option<String>, u64);
    pub static SEEN: Mutex<Vec<Seen>> = Mutex::new(Vec::new());
    pub static RELEASE: Gate = Gate::new();

    #[agent(Orders)]
    async fn by_account(orders: Stream<Orders>) -> Result<()> {
        let mut orders = orders
            .group_by(|o: &Order| o.account.clone(), "account")?
            .events();
        while let Some(ev) = orders.next().await {
            RELEASE.passed().await;
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

const REPARTITION: &str = "by_account-gb-orders-account-repartition";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_by_repartitions_through_an_internal_topic_and_commits_both_sides() {
    let broker = MemoryBroker::new();
    let app = app(&broker, "gb", "grouped");
    app.start().await.unwrap();
    // Defined at startup, named as Faust names it, with the source's partitions (not the app's 8).
    let topic = app.topics().describe_topic(REPARTITION).await.unwrap();
    assert_eq!(topic.map(|t| t.partitions), Some(2));

    let orders = grouped::Orders.on(&app);
    // All under one source key (partition), spread over accounts by the new key.
    let accounts = ["alice", "bob", "carol", "dave"];
    for n in 0..200u64 {
        let account = accounts[n as usize % accounts.len()].to_string();
        orders.send("same", Order { account, n }).await.unwrap();
    }
    let source_partition = partition_for_key(b"same", 2);
    // Every source event is forwarded and delivered (by the forwarding task, independently of
    // the agent): the source commits all 200 while the agent holds its first repartitioned
    // event.
    assert!(
        eventually(WAIT, || broker.committed(
            "gb",
            "gb-orders",
            source_partition
        ) == Some(200))
        .await,
        "source committed: {:?}",
        broker.committed("gb", "gb-orders", source_partition)
    );
    let end = |p| broker.end_offset(REPARTITION, p).unwrap();
    assert_eq!(
        end(0) + end(1),
        200,
        "every event went to the repartition topic"
    );
    assert!(grouped::SEEN.lock().unwrap().is_empty());
    assert_eq!(broker.committed("gb", REPARTITION, 0), None);
    assert_eq!(broker.committed("gb", REPARTITION, 1), None);

    grouped::RELEASE.open();
    assert!(eventually(WAIT, || grouped::SEEN.lock().unwrap().len() == 200).await);
    let seen = grouped::SEEN.lock().unwrap().clone();
    for (topic, partition, key, n) in &seen {
        assert_eq!(topic, REPARTITION);
        let account = accounts[*n as usize % accounts.len()];
        assert_eq!(
            key.as_deref(),
            Some(account),
            "the event carries its new key"
        );
        assert_eq!(
            *partition,
            partition_for_key(account.as_bytes(), 2),
            "{account} is in its key's partition"
        );
    }
    // Order is kept per new key.
    for account in accounts {
        let ns: Vec<u64> = seen
            .iter()
            .filter(|s| s.2.as_deref() == Some(account))
            .map(|s| s.3)
            .collect();
        assert!(ns.windows(2).all(|w| w[0] < w[1]), "{account}: {ns:?}");
        assert_eq!(ns.len(), 50);
    }
    assert!(
        eventually(WAIT, || (0..2).all(|p| broker.committed(
            "gb",
            REPARTITION,
            p
        ) == Some(end(p))))
        .await,
        "repartition committed: {:?}",
        (0..2)
            .map(|p| broker.committed("gb", REPARTITION, p))
            .collect::<Vec<_>>()
    );
    app.stop().await.unwrap();
}

mod restarted {
    use super::*;

    #[topic(name = "gb-restart", key = String, value = Order, partitions = 1)]
    pub struct Orders;

    pub static SEEN: Mutex<Vec<u64>> = Mutex::new(Vec::new());
    pub static STARTS: Mutex<u32> = Mutex::new(0);

    #[agent(Orders)]
    async fn counter(orders: Stream<Orders>) -> Result<()> {
        *STARTS.lock().unwrap() += 1;
        let mut orders = orders.group_by(|o: &Order| o.account.clone(), "account")?;
        while let Some(order) = orders.next().await {
            if order.n == 3 {
                return Err(faust_runtime::Error::state("fails on 3"));
            }
            SEEN.lock().unwrap().push(order.n);
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_restarted_after_a_failure_keeps_reading_its_repartitioned_stream() {
    let broker = MemoryBroker::new();
    let app = app(&broker, "gb-restart", "restarted");
    app.start().await.unwrap();
    let orders = restarted::Orders.on(&app);
    for n in 0..8u64 {
        let account = format!("a{}", n % 2);
        orders.send("k", Order { account, n }).await.unwrap();
    }
    assert!(eventually(WAIT, || restarted::SEEN.lock().unwrap().len() == 7).await);
    let mut seen = restarted::SEEN.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen, vec![0, 1, 2, 4, 5, 6, 7], "3 failed and was skipped");
    assert_eq!(*restarted::STARTS.lock().unwrap(), 2);
    let topic = "counter-gb-restart-account-repartition";
    assert!(
        eventually(WAIT, || broker.committed("gb-restart", "gb-restart", 0)
            == Some(8)
            && (0..1).all(|p| broker.committed("gb-restart", topic, p)
                == Some(broker.end_offset(topic, p).unwrap())))
        .await
    );
    app.stop().await.unwrap();
}

mod late {
    use super::*;

    #[topic(name = "gb-late", key = String, value = Order, partitions = 1)]
    pub struct Orders;

    pub static ERROR: Mutex<Option<String>> = Mutex::new(None);

    #[agent(Orders)]
    async fn late(mut orders: Stream<Orders>) -> Result<()> {
        let _first = orders.next().await;
        if let Err(e) = orders.group_by(|o: &Order| o.account.clone(), "account") {
            *ERROR.lock().unwrap() = Some(e.to_string());
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_by_after_the_first_read_is_a_clear_error() {
    let broker = MemoryBroker::new();
    let app = app(&broker, "gb-late", "late");
    app.start().await.unwrap();
    late::Orders
        .on(&app)
        .send(
            "k",
            Order {
                account: "a".into(),
                n: 0,
            },
        )
        .await
        .unwrap();
    assert!(eventually(WAIT, || late::ERROR.lock().unwrap().is_some()).await);
    let e = late::ERROR.lock().unwrap().clone().unwrap();
    assert!(e.contains("startup") && e.contains("late"), "{e}");
    app.stop().await.unwrap();
}

mod headed {
    use super::*;

    #[topic(name = "gb-headed", key = String, value = Order, partitions = 2)]
    pub struct Orders;

    pub static SEEN: Mutex<Vec<u64>> = Mutex::new(Vec::new());

    /// Reads values only: the forwarded records still carry the source's headers.
    #[agent(Orders)]
    async fn by_account_headed(orders: Stream<Orders>) -> Result<()> {
        let mut orders = orders.group_by(|o: &Order| o.account.clone(), "account")?;
        while let Some(order) = orders.next().await {
            SEEN.lock().unwrap().push(order.n);
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_by_forwards_each_events_headers_to_the_repartition_topic() {
    let broker = MemoryBroker::new();
    let app = app(&broker, "gb-headers", "headed");
    app.start().await.unwrap();
    let orders = headed::Orders.on(&app);
    for n in 0..20u64 {
        let account = format!("acct{}", n % 3);
        orders
            .record(Order { account, n })
            .key("k")
            .header("trace", format!("t{n}"))
            .header("origin", "test")
            .send()
            .await
            .unwrap();
    }
    assert!(eventually(WAIT, || headed::SEEN.lock().unwrap().len() == 20).await);
    let topic = "by_account_headed-gb-headed-account-repartition";
    let mut forwarded = Vec::new();
    for p in 0..2 {
        for (_, _, record) in broker.records(topic, p, 0).unwrap() {
            let order: Order = serde_json::from_slice(record.value.as_deref().unwrap()).unwrap();
            forwarded.push((order.n, record.headers.clone()));
        }
    }
    forwarded.sort_by_key(|(n, _)| *n);
    assert_eq!(forwarded.len(), 20);
    for (n, headers) in forwarded {
        let want: Vec<(String, Option<bytes::Bytes>)> = vec![
            ("trace".into(), Some(format!("t{n}").into())),
            ("origin".into(), Some("test".into())),
        ];
        assert_eq!(headers, want, "headers of order {n}");
    }
    app.stop().await.unwrap();
}

mod backlog {
    use super::*;

    #[topic(name = "gb-backlog", key = String, value = Order, partitions = 2)]
    pub struct Orders;

    pub static SEEN: Mutex<Vec<u64>> = Mutex::new(Vec::new());

    #[agent(Orders)]
    async fn by_account_backlog(orders: Stream<Orders>) -> Result<()> {
        let mut orders = orders.group_by(|o: &Order| o.account.clone(), "account")?;
        while let Some(order) = orders.next().await {
            SEEN.lock().unwrap().push(order.n);
        }
        Ok(())
    }
}

/// Records already on the topic are handed to the agent as soon as the consumer runs, which
/// can be before `start` returns: forwarding them is not "sending before the app started".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_by_forwards_a_backlog_that_is_read_while_the_app_is_still_starting() {
    let broker = MemoryBroker::new();
    let app = app(&broker, "gb-backlog", "backlog");
    let orders = backlog::Orders.on(&app);
    for n in 0..2000u64 {
        let account = format!("acct{}", n % 5);
        orders
            .record(Order { account, n })
            .key(format!("k{n}"))
            .force(true)
            .send()
            .await
            .unwrap();
    }
    app.start().await.unwrap();
    assert!(
        eventually(WAIT, || backlog::SEEN.lock().unwrap().len() == 2000).await,
        "saw {} of 2000; fatal: {:?}",
        backlog::SEEN.lock().unwrap().len(),
        app.health().fatal
    );
    assert_eq!(app.health().fatal, None);
    app.stop().await.unwrap();
}
