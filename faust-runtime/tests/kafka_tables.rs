//! Tables on the Kafka-protocol test broker: counts right after a restart (the changelog read
//! back although the broker under-reports its end offset after batched writes), and a partition
//! moving with its state between two workers, a set table recovered after a restart, sliding
//! windows aggregating, closing once and recovering without their closed windows.
//!
//! Needs `FAUST_TEST_KAFKA=kafka://host:port`; fails without it unless `FAUST_SKIP_KAFKA=1`.
#![cfg(feature = "kafka")]

#[macro_use]
mod common;
#[macro_use]
mod table_support;
#[macro_use]
#[path = "table_support/standby.rs"]
mod standby;

use common::{eventually, kafka_url, unique};
use faust_runtime::prelude::*;
use std::time::Duration;
use table_support::*;

/// A group join and the work.
const WAIT: Duration = Duration::from_secs(60);

counting_module!(restart, "ktbl-restart-words");
counting_module!(moving, "ktbl-moving-words");
set_module!(ksets, "ktbl-set-ops");
counting_module!(nostandby, "ktbl-nostandby-words");
counting_module!(withstandby, "ktbl-standby-words");
prices_module!(kprices, "ktbl-global-prices");
windows_module!(ktumbling, "ktbl-tumbling-events");

mod kwindows {
    use faust_runtime::prelude::*;
    use std::sync::Mutex;

    /// (key, window, value) of windows.
    pub type Windows = Mutex<Vec<(String, (i64, i64), u64)>>;
    /// (event time, current()) after each update.
    pub static SEEN: Mutex<Vec<(i64, u64)>> = Mutex::new(Vec::new());
    /// Each closed window.
    pub static CLOSED: Windows = Mutex::new(Vec::new());
    /// The open windows after the last update.
    pub static OPEN: Windows = Mutex::new(Vec::new());

    #[topic(name = "ktbl-window-events", key = String, value = String, partitions = 1)]
    pub struct Events;

    pub fn closed(key: &str, window: (i64, i64), value: &u64) {
        CLOSED
            .lock()
            .unwrap()
            .push((key.to_string(), window, *value));
    }

    /// Faust's `SlidingWindow(10, 0.1, 20)`.
    #[table(name = "around", key = String, value = u64, partitions = 1,
            before = "10s", after = "100ms", expires = "20s", on_window_close = closed)]
    pub struct Around;

    #[agent(Events)]
    async fn count(mut events: faust_runtime::Events<Events>) -> Result<()> {
        while let Some(ev) = events.next().await {
            let key = ev.key.clone().unwrap_or_default();
            Around.update(key.clone(), |n| *n += 1)?;
            SEEN.lock()
                .unwrap()
                .push((ev.timestamp, Around.current(&key)?));
            *OPEN.lock().unwrap() = Around.items()?;
        }
        Ok(())
    }
}

fn app(url: &str, id: &str, module: &str, client: &str) -> App {
    app_with_standby(url, id, module, client, 0)
}

fn app_with_standby(url: &str, id: &str, module: &str, client: &str, standby: usize) -> App {
    let client = client.to_string();
    App::builder(id)
        .broker(url)
        .include_module(module_path!().to_string() + "::" + module)
        .commit_interval(Duration::from_millis(200))
        .shutdown_timeout(Duration::from_secs(10))
        .configure(move |s| {
            s.kafka.client_id = client;
            s.kafka.session_timeout = Duration::from_secs(6);
            s.kafka.heartbeat_interval = Duration::from_millis(500);
            s.table_standby_replicas = standby;
        })
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_are_right_after_a_restart_on_kafka() {
    let url = kafka_or_skip!();
    fresh_kafka_topics(&url, &["ktbl-restart-words"]).await;
    let id = unique("ktables-restart");
    let a = app(&url, &id, "restart", "w1");
    a.start().await.unwrap();
    // Many writes per partition, handed to the producer together: the broker stores them in
    // multi-record batches, whose end offset it reports too low. 100 keys, so a flush sends
    // many records even when it coalesces the writes of a key.
    let words: Vec<String> = (0..400).map(|i| format!("w{}", i % 100)).collect();
    let t = restart::Words.on(&a);
    let mut handles = Vec::new();
    for w in &words {
        handles.push(t.send_soon(w.clone(), w.clone()).unwrap());
    }
    for h in handles {
        h.await.unwrap();
    }
    assert!(eventually(WAIT, || seen(&restart::SEEN, &id).len() == 400).await);
    a.stop().await.unwrap();
    let before = last_counts(&restart::SEEN, &id);
    assert!(before.values().all(|n| *n == 4), "{before:?}");

    let changelog = format!("{id}-word-counts-changelog");
    let records = read_all(a.transport().as_ref(), &changelog, 4).await;
    // At most one record per update; writes of one key in a commit interval may be one record.
    assert!(
        (100..=400).contains(&records.len()),
        "{} changelog records",
        records.len()
    );
    let w0 = faust_runtime::partitioner::partition_for_key(b"w0", 4);
    let last_w0 = records.iter().rfind(|r| r.key == b"\"w0\"").unwrap();
    assert_eq!(
        (last_w0.partition, last_w0.value.as_deref()),
        (w0, Some(&b"4"[..]))
    );

    let b = app(&url, &id, "restart", "w1");
    b.start().await.unwrap();
    let t = restart::Words.on(&b);
    for i in 0..10 {
        let w = format!("w{i}");
        t.send(w.clone(), w).await.unwrap();
    }
    assert!(eventually(WAIT, || seen(&restart::SEEN, &id).len() == 410).await);
    let after = &seen(&restart::SEEN, &id)[400..];
    for (_, w, n) in after {
        assert_eq!(*n, 5, "{w}: the restarted worker did not recover the table");
    }
    let h = b.health();
    assert_eq!(
        h.tables[0].recovered_records,
        records.len() as u64,
        "{:?}",
        h.tables
    );
    b.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_moves_with_its_state_between_two_workers_on_kafka() {
    let url = kafka_or_skip!();
    fresh_kafka_topics(&url, &["ktbl-moving-words"]).await;
    let id = unique("ktables-moving");
    let a = app(&url, &id, "moving", "wa");
    a.start().await.unwrap();
    let keys: Vec<String> = (0..16).map(|i| format!("k{i}")).collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let t = moving::Words.on(&a);
    send_words(&t, &keys).await;
    send_words(&t, &keys).await;
    assert!(eventually(WAIT, || seen(&moving::SEEN, &id).len() == 32).await);

    let b = app(&url, &id, "moving", "wb");
    b.start().await.unwrap();
    assert!(
        eventually(WAIT, || {
            let (ha, hb) = (a.health(), b.health());
            ha.tables[0].active_partitions.len() == 2
                && hb.tables[0].active_partitions.len() == 2
                && !ha.tables[0].recovering
                && !hb.tables[0].recovering
        })
        .await,
        "the partitions did not split: {:?} / {:?}",
        a.health().tables,
        b.health().tables
    );
    send_words(&t, &keys).await;
    assert!(eventually(WAIT, || seen(&moving::SEEN, &id).len() == 48).await);
    let third = &seen(&moving::SEEN, &id)[32..];
    assert!(
        third.iter().any(|(w, _, _)| w == "wb"),
        "worker b processed nothing"
    );
    for (worker, key, n) in third {
        assert_eq!(
            *n, 3,
            "{key} counted {n} by {worker}: its state did not move"
        );
    }
    assert!(b.health().tables[0].recovered_records > 0);
    a.stop().await.unwrap();
    b.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_table_is_recovered_after_a_restart_on_kafka() {
    let url = kafka_or_skip!();
    fresh_kafka_topics(&url, &["ktbl-set-ops"]).await;
    let id = unique("ktables-sets");
    let members = |id: &str, key: &str| {
        ksets::SEEN
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|e| e.0 == id && e.1 == key)
            .map(|e| e.3.clone())
    };
    let count = |id: &str| {
        ksets::SEEN
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.0 == id)
            .count()
    };
    let a = app(&url, &id, "ksets", "w1");
    a.start().await.unwrap();
    let t = ksets::Ops.on(&a);
    for op in ["+a", "+b", "-a", "+c"] {
        t.send("k".to_string(), op.to_string()).await.unwrap();
    }
    assert!(eventually(WAIT, || count(&id) == 4).await);
    assert_eq!(
        members(&id, "k"),
        Some(vec!["b".to_string(), "c".to_string()])
    );
    a.stop().await.unwrap();

    let b = app(&url, &id, "ksets", "w1");
    b.start().await.unwrap();
    ksets::Ops
        .on(&b)
        .send("k".to_string(), "+d".to_string())
        .await
        .unwrap();
    assert!(eventually(WAIT, || count(&id) == 5).await);
    assert_eq!(
        members(&id, "k"),
        Some(vec!["b".to_string(), "c".to_string(), "d".to_string()]),
        "the restarted worker did not recover the set"
    );
    assert!(b.health().tables[0].last_recovery_records >= 1);
    b.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sliding_windows_aggregate_close_once_and_recover_on_kafka() {
    // An event time whose windows' bounds in seconds are not all the nearest floats to their
    // milliseconds (see the faust_wire fixtures).
    const B: i64 = 1_779_191_672_636;
    let url = kafka_or_skip!();
    fresh_kafka_topics(&url, &["ktbl-window-events"]).await;
    let id = unique("ktables-windows");
    let seen = |n: usize| eventually(WAIT, move || kwindows::SEEN.lock().unwrap().len() == n);
    let send = |app: &App, t: i64| {
        let topic = kwindows::Events.on(app);
        async move {
            topic
                .record("x".to_string())
                .key("a".to_string())
                .timestamp(t)
                .send_and_wait()
                .await
                .unwrap();
        }
    };
    let a = app(&url, &id, "kwindows", "w1");
    a.start().await.unwrap();
    for t in [B, B, B + 3_000, B + 20_100] {
        send(&a, t).await;
    }
    assert!(seen(4).await);
    assert_eq!(
        *kwindows::SEEN.lock().unwrap(),
        vec![(B, 1), (B, 2), (B + 3_000, 1), (B + 20_100, 1)]
    );
    let w = |s: i64, e: i64, n: u64| ("a".to_string(), (s, e), n);
    // B + 20.1 s: the window of B (ends B + 0.1 s) is past its 20 s expiry and closes, once.
    assert_eq!(
        *kwindows::CLOSED.lock().unwrap(),
        vec![w(B - 10_000, B + 100, 2)]
    );
    a.stop().await.unwrap();
    let changelog = format!("{id}-around-changelog");
    let records = read_all(a.transport().as_ref(), &changelog, 1).await;
    let closed: Vec<Option<&[u8]>> = records
        .iter()
        .filter(|r| r.key == br#"["a",[1779191662.636,1779191672.7359998]]"#)
        .map(|r| r.value.as_deref())
        .collect();
    assert_eq!(closed.last(), Some(&None), "{records:?}");

    // A restart recovers the open windows, not the closed one.
    let b = app(&url, &id, "kwindows", "w1");
    b.start().await.unwrap();
    send(&b, B + 3_000).await;
    assert!(seen(5).await);
    assert_eq!(kwindows::SEEN.lock().unwrap()[4], (B + 3_000, 2));
    assert_eq!(
        *kwindows::OPEN.lock().unwrap(),
        vec![w(B - 7_000, B + 3_100, 2), w(B + 10_100, B + 20_200, 1)]
    );
    assert_eq!(kwindows::CLOSED.lock().unwrap().len(), 1);
    b.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_global_table_is_whole_on_every_worker_on_kafka() {
    let url = kafka_or_skip!();
    fresh_kafka_topics(&url, &["ktbl-global-prices"]).await;
    let make = |id: &str, client: &str, standby: usize| {
        app_with_standby(&url, id, "kprices", client, standby)
    };
    standby::global_table_scenario::<kprices::Prices, kprices::PriceTable>(&make, WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_standby_copies_a_partition_taken_over_replays_nothing_already_followed_on_kafka() {
    let url = kafka_or_skip!();
    fresh_kafka_topics(&url, &["ktbl-nostandby-words", "ktbl-standby-words"]).await;
    let make = |id: &str, client: &str, standby: usize| {
        let module = if standby == 0 {
            "nostandby"
        } else {
            "withstandby"
        };
        app_with_standby(&url, id, module, client, standby)
    };
    let (replayed, records) =
        standby::take_over::<nostandby::Words>(&make, &nostandby::SEEN, 0, WAIT).await;
    // (All of b's partitions when the group reassigns every partition, as Kafka's does.)
    assert!(
        replayed >= records as u64,
        "without standby copies, taking a's partitions over replays their whole changelog: \
         {replayed} of {records} records"
    );
    let (replayed, records) =
        standby::take_over::<withstandby::Words>(&make, &withstandby::SEEN, 1, WAIT).await;
    assert!(records > 0);
    assert_eq!(
        replayed, 0,
        "b's standby copies had read all {records} records of a's partitions"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tumbling_and_hopping_windows_aggregate_a_fixed_event_time_sequence_on_kafka() {
    let url = kafka_or_skip!();
    fresh_kafka_topics(&url, &["ktbl-tumbling-events"]).await;
    let app = app(&url, &unique("ktables-tumbling"), "ktumbling", "w1");
    ktumbling::scenario(app, WAIT).await;
}
