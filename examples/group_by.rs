//! Repartitioning with `group_by`.
//!
//! A timer sends a withdrawal every 200 ms, keyed by its id, so one account's withdrawals are
//! spread over every partition. The agent repartitions them by account
//! (`withdrawals_by_account-withdrawals-account-repartition`, created at startup with the
//! source's 4 partitions): each account's withdrawals then land in one partition, in order, so
//! one worker sees them all and can keep a per-account total.
//!
//! ```text
//! cargo run --example group_by                                   # embedded broker, no setup
//! cargo run --example group_by -- --broker kafka://localhost:9092 # a Kafka cluster
//! ```

use faust_runtime::prelude::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// A withdrawal, as JSON on the `withdrawals` topic.
#[derive(Serialize, Deserialize, Clone, Debug)]
struct Withdrawal {
    id: u64,
    account: String,
    amount: u64,
}

/// Withdrawals keyed by their id.
#[topic(name = "withdrawals", key = String, value = Withdrawal, partitions = 4)]
struct Withdrawals;

/// Totals per account, from the withdrawals repartitioned by account.
#[agent(Withdrawals)]
async fn withdrawals_by_account(withdrawals: Stream<Withdrawals>) -> Result<()> {
    // Before the first read: the repartition topic is subscribed at startup.
    let mut by_account = withdrawals
        .group_by(|w: &Withdrawal| w.account.clone(), "account")?
        .events();
    let mut totals: HashMap<String, u64> = HashMap::new();
    while let Some(ev) = by_account.next().await {
        let total = totals.entry(ev.value.account.clone()).or_default();
        *total += ev.value.amount;
        println!(
            "account {} (partition {} of {}): withdrawal {} of {}, total {}",
            ev.value.account, ev.partition, ev.topic, ev.value.id, ev.value.amount, total
        );
    }
    Ok(())
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Sends a withdrawal every 200 ms from one of three accounts.
#[timer(interval = "200ms")]
async fn withdraw() -> Result<()> {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let accounts = ["alice", "bob", "carol"];
    let w = Withdrawal {
        id,
        account: accounts[(id % 3) as usize].to_string(),
        amount: id % 7 + 1,
    };
    Withdrawals.send(format!("w-{id}"), w).await?;
    Ok(())
}

faust_runtime::main!(id = "withdrawals-app");
