//! `faust_runtime::testing`: workers on a test broker with injected faults — a crash without
//! the final commit, a member joining and leaving (rebalances), a broker outage, poison
//! records — and the paused clock.

use faust_runtime::prelude::*;
use faust_runtime::testing::{wait_for, TestBroker};
use faust_runtime::{AppBuilder, AppState};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

/// Counts how many times each id was processed, per test (each uses its own topic).
fn count(seen: &Mutex<BTreeMap<u64, u32>>, id: u64) {
    *seen.lock().unwrap().entry(id).or_default() += 1;
}

fn distinct(seen: &Mutex<BTreeMap<u64, u32>>) -> usize {
    seen.lock().unwrap().len()
}

fn total(seen: &Mutex<BTreeMap<u64, u32>>) -> u64 {
    seen.lock().unwrap().values().map(|n| *n as u64).sum()
}

mod rebalance {
    use super::*;
    pub static SEEN: Mutex<BTreeMap<u64, u32>> = Mutex::new(BTreeMap::new());

    #[topic(name = "harness-rebalance", key = String, value = u64, partitions = 4)]
    pub struct Ids;

    #[agent(Ids)]
    async fn process(mut ids: Stream<Ids>) -> Result<()> {
        while let Some(id) = ids.next().await {
            count(&SEEN, id);
        }
        Ok(())
    }
}

fn rebalance_app() -> AppBuilder {
    App::builder("harness-rebalance-app")
        .include_module(module_path!().to_string() + "::rebalance")
        .commit_interval(Duration::from_millis(20))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_member_joins_and_leaves_cleanly_without_losing_or_repeating() {
    let broker = TestBroker::new();
    let group = "harness-rebalance-app";
    let first = broker.start(rebalance_app()).await.unwrap();
    wait_for("the first member to hold all 4 partitions", WAIT, || {
        first.assigned().len() == 4
    })
    .await
    .unwrap();
    for id in 0..200u64 {
        broker
            .send_json("harness-rebalance", Some(&format!("k{id}")), &id)
            .await
            .unwrap();
    }
    wait_for("the first 200 committed", WAIT, || {
        broker.lag(group, "harness-rebalance").unwrap() == 0
    })
    .await
    .unwrap();

    // A second member joins: the partitions are split 2/2.
    let second = broker.start(rebalance_app()).await.unwrap();
    wait_for("a 2/2 split", WAIT, || {
        first.assigned().len() == 2 && second.assigned().len() == 2
    })
    .await
    .unwrap();
    assert!(first.assigned().is_disjoint(&second.assigned()));
    assert_eq!(broker.group_members(group).len(), 2);
    for id in 200..400u64 {
        broker
            .send_json("harness-rebalance", Some(&format!("k{id}")), &id)
            .await
            .unwrap();
    }
    wait_for("400 committed", WAIT, || {
        broker.lag(group, "harness-rebalance").unwrap() == 0
    })
    .await
    .unwrap();

    // It leaves cleanly (final commit): the first takes everything back, repeats nothing.
    second.stop().await.unwrap();
    wait_for("the first member to hold all 4 again", WAIT, || {
        first.assigned().len() == 4
    })
    .await
    .unwrap();
    for id in 400..600u64 {
        broker
            .send_json("harness-rebalance", Some(&format!("k{id}")), &id)
            .await
            .unwrap();
    }
    wait_for("600 committed", WAIT, || {
        broker.lag(group, "harness-rebalance").unwrap() == 0
    })
    .await
    .unwrap();
    first.stop().await.unwrap();
    assert_eq!(distinct(&rebalance::SEEN), 600, "lost records");
    assert_eq!(total(&rebalance::SEEN), 600, "records processed twice");
}

mod crash {
    use super::*;
    pub static SEEN: Mutex<BTreeMap<u64, u32>> = Mutex::new(BTreeMap::new());

    #[topic(name = "harness-crash-in", key = String, value = u64, partitions = 2)]
    pub struct In;

    #[topic(name = "harness-crash-out", key = String, value = u64, partitions = 2)]
    pub struct Out;

    #[agent(In)]
    async fn forward(mut events: Events<In>) -> Result<()> {
        while let Some(ev) = events.next().await {
            count(&SEEN, ev.value);
            Out.send(ev.key.clone().unwrap_or_default(), ev.value)
                .await?;
        }
        Ok(())
    }
}

fn crash_app() -> AppBuilder {
    App::builder("harness-crash-app")
        .include_module(module_path!().to_string() + "::crash")
        // Commits only when the paused clock is advanced past it.
        .commit_interval(Duration::from_secs(3600))
}

#[tokio::test(start_paused = true)]
async fn a_crashed_worker_commits_nothing_more_and_its_restart_processes_the_rest_again() {
    let broker = TestBroker::new();
    let group = "harness-crash-app";
    let worker = broker.start(crash_app()).await.unwrap();
    for id in 0..50u64 {
        broker
            .send_json("harness-crash-in", Some(&format!("k{id}")), &id)
            .await
            .unwrap();
    }
    wait_for("50 processed", WAIT, || distinct(&crash::SEEN) == 50)
        .await
        .unwrap();
    // The paused clock reaches the commit interval: the 50 are committed.
    tokio::time::advance(Duration::from_secs(3601)).await;
    wait_for("50 committed", WAIT, || {
        broker.lag(group, "harness-crash-in").unwrap() == 0
    })
    .await
    .unwrap();
    for id in 50..80u64 {
        broker
            .send_json("harness-crash-in", Some(&format!("k{id}")), &id)
            .await
            .unwrap();
    }
    wait_for("80 processed", WAIT, || distinct(&crash::SEEN) == 80)
        .await
        .unwrap();
    worker.crash().await;
    assert!(worker.is_crashed());
    // No final commit: the 30 after the last commit are still the group's lag.
    assert_eq!(broker.lag(group, "harness-crash-in").unwrap(), 30);
    assert!(broker.group_members(group).is_empty());

    let restarted = broker.start(crash_app()).await.unwrap();
    wait_for("the 30 processed again", WAIT, || {
        total(&crash::SEEN) == 110
    })
    .await
    .unwrap();
    restarted.stop().await.unwrap();
    assert_eq!(broker.lag(group, "harness-crash-in").unwrap(), 0);
    let seen = crash::SEEN.lock().unwrap();
    assert!((0..50).all(|id| seen[&id] == 1));
    assert!((50..80).all(|id| seen[&id] == 2));
    // Every input has its output; the reprocessed ones twice at most.
    let outs: Vec<u64> = broker
        .records("harness-crash-out")
        .unwrap()
        .iter()
        .map(|r| r.value_json().unwrap())
        .collect();
    assert_eq!(outs.iter().collect::<BTreeSet<_>>().len(), 80);
    assert!(outs.len() <= 110, "{} outputs", outs.len());
}

mod outage {
    use super::*;
    pub static SEEN: Mutex<BTreeMap<u64, u32>> = Mutex::new(BTreeMap::new());

    #[topic(name = "harness-outage-in", key = String, value = u64, partitions = 2)]
    pub struct In;

    #[topic(name = "harness-outage-out", key = String, value = u64, partitions = 2)]
    pub struct Out;

    #[agent(In)]
    async fn forward(mut events: Events<In>) -> Result<()> {
        while let Some(ev) = events.next().await {
            count(&SEEN, ev.value);
            Out.send(ev.key.clone().unwrap_or_default(), ev.value)
                .await?;
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_holds_sends_and_commits_and_the_worker_resumes_when_it_ends() {
    let broker = TestBroker::new();
    let group = "harness-outage-app";
    let worker = broker
        .start(
            App::builder(group)
                .include_module(module_path!().to_string() + "::outage")
                .commit_interval(Duration::from_millis(20)),
        )
        .await
        .unwrap();
    for id in 0..40u64 {
        broker
            .send_json("harness-outage-in", Some(&format!("k{id}")), &id)
            .await
            .unwrap();
    }
    wait_for("40 processed", WAIT, || distinct(&outage::SEEN) == 40)
        .await
        .unwrap();
    // The driver handed everything over; cut while the last outputs may still be on their way.
    broker.cut();
    assert!(broker.is_down());
    // Records written meanwhile (by producers the outage does not cut off) wait for it.
    for id in 40..80u64 {
        broker
            .send_json("harness-outage-in", Some(&format!("k{id}")), &id)
            .await
            .unwrap();
    }
    wait_for("a failed commit in the worker's health", WAIT, || {
        worker.app().health().transport.errors > 0
    })
    .await
    .unwrap();
    assert_eq!(worker.app().state(), AppState::Running);
    broker.restore();
    wait_for("everything committed after the outage", WAIT, || {
        broker.lag(group, "harness-outage-in").unwrap() == 0
    })
    .await
    .unwrap();
    worker.stop().await.unwrap();
    assert_eq!(distinct(&outage::SEEN), 80);
    let outs: BTreeSet<u64> = broker
        .records("harness-outage-out")
        .unwrap()
        .iter()
        .map(|r| r.value_json().unwrap())
        .collect();
    assert_eq!(outs.len(), 80, "an output was lost in the outage");
}

mod idle {
    use super::*;

    #[topic(name = "harness-idle", key = String, value = u64, partitions = 1)]
    pub struct Ids;

    #[agent(Ids)]
    async fn process(mut ids: Stream<Ids>) -> Result<()> {
        while ids.next().await.is_some() {}
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_started_during_an_outage_connects_once_the_broker_is_back() {
    let broker = TestBroker::new();
    broker.cut();
    let worker = broker
        .build(
            App::builder("harness-outage-start")
                .include_module(module_path!().to_string() + "::idle")
                .configure(|s| s.broker_connect_timeout = Duration::from_secs(30)),
        )
        .unwrap();
    let app = worker.app().clone();
    let started = tokio::spawn(async move { app.start().await });
    tokio::task::yield_now().await;
    assert!(!started.is_finished());
    broker.restore();
    started.await.unwrap().unwrap();
    worker.stop().await.unwrap();

    // Not back within the connect timeout: start fails with a broker error.
    broker.cut();
    let worker = broker
        .build(
            App::builder("harness-outage-start-2")
                .include_module(module_path!().to_string() + "::idle")
                .configure(|s| s.broker_connect_timeout = Duration::from_millis(50)),
        )
        .unwrap();
    let err = worker.app().start().await.unwrap_err();
    assert!(err.to_string().contains("not reachable"), "{err}");
}

mod poison {
    use super::*;
    pub static SEEN: Mutex<BTreeMap<u64, u32>> = Mutex::new(BTreeMap::new());

    #[topic(name = "harness-poison", key = String, value = u64, partitions = 2, on_error = "dead_letter")]
    pub struct Ids;

    #[agent(Ids)]
    async fn process(mut ids: Stream<Ids>) -> Result<()> {
        while let Some(id) = ids.next().await {
            count(&SEEN, id);
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_records_go_to_the_dead_letter_topic_byte_for_byte() {
    let broker = TestBroker::new();
    let group = "harness-poison-app";
    let worker = broker
        .start(
            App::builder(group)
                .include_module(module_path!().to_string() + "::poison")
                .commit_interval(Duration::from_millis(20)),
        )
        .await
        .unwrap();
    let mut bad = Vec::new();
    for id in 0..100u64 {
        if id % 10 == 3 {
            let bytes = format!("{{not json {id}");
            broker
                .send("harness-poison", Some(&format!("k{id}")), &bytes)
                .await
                .unwrap();
            bad.push(bytes);
        } else {
            broker
                .send_json("harness-poison", Some(&format!("k{id}")), &id)
                .await
                .unwrap();
        }
    }
    wait_for("everything committed", WAIT, || {
        broker.lag(group, "harness-poison").unwrap() == 0
    })
    .await
    .unwrap();
    assert_eq!(worker.app().state(), AppState::Running);
    assert_eq!(worker.app().health().dead_lettered, 10);
    worker.stop().await.unwrap();
    assert_eq!(distinct(&poison::SEEN), 90);
    let mut dlq: Vec<String> = broker
        .records("harness-poison-dlq")
        .unwrap()
        .iter()
        .map(|r| String::from_utf8(r.value.as_deref().unwrap().to_vec()).unwrap())
        .collect();
    dlq.sort();
    bad.sort();
    assert_eq!(dlq, bad);
}

mod slow {
    use super::*;
    pub static SEEN: Mutex<BTreeMap<u64, u32>> = Mutex::new(BTreeMap::new());

    #[topic(name = "harness-slow", key = String, value = u64, partitions = 1)]
    pub struct Ids;

    #[agent(Ids)]
    async fn process(mut ids: Stream<Ids>) -> Result<()> {
        while let Some(id) = ids.next().await {
            tokio::time::sleep(Duration::from_millis(10)).await;
            count(&SEEN, id);
        }
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_slow_agent_behind_a_backlog_has_its_processed_events_committed_as_it_goes() {
    let broker = TestBroker::new();
    let group = "harness-slow-app";
    broker.create_topic("harness-slow", 1).await.unwrap();
    for id in 0..3000u64 {
        broker.send_json("harness-slow", None, &id).await.unwrap();
    }
    let worker = broker
        .start(
            App::builder(group)
                .include_module(module_path!().to_string() + "::slow")
                .commit_interval(Duration::from_millis(100)),
        )
        .await
        .unwrap();
    // 10 ms per event on the paused clock: 500 events take 5 virtual seconds, 50 commit
    // intervals; what is committed trails what is processed by about one interval.
    wait_for("500 processed", Duration::from_secs(60), || {
        distinct(&slow::SEEN) >= 500
    })
    .await
    .unwrap();
    let processed = distinct(&slow::SEEN) as i64;
    wait_for(
        "the commit of what was processed",
        Duration::from_millis(300),
        || {
            let committed = broker.committed(group, "harness-slow").unwrap()[0].unwrap_or(0);
            committed >= processed - 20
        },
    )
    .await
    .unwrap_or_else(|e| {
        panic!(
            "{e}: {processed} processed, {:?} committed",
            broker.committed(group, "harness-slow").unwrap()
        )
    });
    worker.stop().await.unwrap();
}
