//! How to check that an agent is at least once under a rebalance, with
//! `faust_runtime::testing`: the app runs in-process on a test broker; a second worker joins
//! mid-stream (the group rebalances) and then the first one crashes without its final commit.
//! Every input must still have its output.

use faust_runtime::prelude::*;
use faust_runtime::testing::{wait_for, TestBroker};
use faust_runtime::AppBuilder;
use std::collections::BTreeSet;
use std::time::Duration;

// The app under test: an agent that enriches orders and sends them on.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Order {
    id: u64,
    amount: u32,
}

#[topic(name = "orders", key = String, value = Order, partitions = 4)]
struct Orders;

#[topic(name = "orders-priced", key = String, value = Order, partitions = 4)]
struct Priced;

#[agent(Orders)]
async fn price(mut orders: Events<Orders>) -> Result<()> {
    while let Some(ev) = orders.next().await {
        let mut order = ev.value.clone();
        order.amount *= 2;
        Priced
            .send(ev.key.clone().unwrap_or_default(), order)
            .await?;
    }
    Ok(())
}

fn app() -> AppBuilder {
    App::builder("pricing").commit_interval(Duration::from_millis(50))
}

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_order_is_priced_when_a_worker_joins_and_another_crashes() {
    let broker = TestBroker::new();
    let first = broker.start(app()).await.unwrap();
    let send = |from: u64, to: u64| {
        let broker = broker.clone();
        async move {
            for id in from..to {
                let order = Order { id, amount: 1 };
                broker
                    .send_json("orders", Some(&format!("o{id}")), &order)
                    .await
                    .unwrap();
            }
        }
    };
    send(0, 1000).await;

    // A second worker joins while the first is busy: the group rebalances.
    let second = broker.start(app()).await.unwrap();
    send(1000, 2000).await;
    wait_for("both workers to hold partitions", WAIT, || {
        !first.assigned().is_empty() && !second.assigned().is_empty()
    })
    .await
    .unwrap();

    // The first one dies without committing; the second takes its partitions over.
    first.crash().await;
    send(2000, 3000).await;
    wait_for("every order committed", WAIT, || {
        broker.lag("pricing", "orders").unwrap() == 0
    })
    .await
    .unwrap();
    second.stop().await.unwrap();

    let priced: Vec<Order> = broker
        .records("orders-priced")
        .unwrap()
        .iter()
        .map(|r| r.value_json().unwrap())
        .collect();
    let ids: BTreeSet<u64> = priced.iter().map(|o| o.id).collect();
    assert_eq!(ids.len(), 3000, "orders without a priced output");
    assert!(priced.iter().all(|o| o.amount == 2));
    // At least once, not exactly once: what the crashed worker had not committed was priced
    // again by the other.
    println!("{} outputs for 3000 orders", priced.len());
}
