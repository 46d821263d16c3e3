//! Tables on the embedded broker: changelog bytes and partitions, counts right after a restart,
//! deletes as tombstones, state moving with its partition between two workers, a table used
//! outside an event.

#[macro_use]
mod common;
#[macro_use]
mod table_support;

use common::{eventually, unique};
use faust_runtime::prelude::*;
use faust_runtime::MemoryBroker;
use std::sync::Arc;
use std::time::Duration;
use table_support::*;

const WAIT: Duration = Duration::from_secs(20);

counting_module!(counting, "tbl-words");

fn app(broker: &MemoryBroker, id: &str, client: &str) -> App {
    let client = client.to_string();
    App::builder(id)
        .transport(Arc::new(broker.clone()))
        .include_module(module_path!().to_string() + "::counting")
        .commit_interval(Duration::from_millis(50))
        .configure(move |s| s.kafka.client_id = client)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changelog_records_are_faust_json_in_the_event_partition_and_counts_survive_a_restart() {
    let broker = MemoryBroker::new();
    let id = unique("tables-restart");
    let a = app(&broker, &id, "w1");
    a.start().await.unwrap();
    let words = ["apple", "pear", "apple", "fig", "apple", "pear", "del:fig"];
    send_words(&counting::Words.on(&a), &words).await;
    assert!(eventually(WAIT, || seen(&counting::SEEN, &id).len() == words.len()).await);
    a.stop().await.unwrap();
    assert_eq!(last_counts(&counting::SEEN, &id)["apple"], 3);

    // The changelog: `{app_id}-{table}-changelog`, in the partition of the event (the word's
    // partition of the source topic), key and value as Faust JSON, the delete a tombstone. Writes
    // of one key within a commit interval may be coalesced: each key's records carry increasing
    // counts and end with its last value.
    let changelog = format!("{id}-word-counts-changelog");
    let described = a
        .topics()
        .describe_topic(&changelog)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(described.partitions, 4);
    assert_eq!(
        described.config.get("cleanup.policy").map(String::as_str),
        Some("compact")
    );
    let records = read_all(a.transport().as_ref(), &changelog, 4).await;
    assert!(records.len() >= 3 && records.len() <= words.len());
    let apple_p = faust_runtime::partitioner::partition_for_key(b"apple", 4);
    let apple: Vec<&Rec> = records.iter().filter(|r| r.key == b"\"apple\"").collect();
    assert!(apple.iter().all(|r| r.partition == apple_p));
    let values: Vec<u64> = apple
        .iter()
        .map(|r| {
            std::str::from_utf8(r.value.as_deref().unwrap())
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert!(values.windows(2).all(|w| w[0] < w[1]), "{values:?}");
    assert_eq!(values.last(), Some(&3));
    let fig: Vec<Option<&[u8]>> = records
        .iter()
        .filter(|r| r.key == b"\"fig\"")
        .map(|r| r.value.as_deref())
        .collect();
    assert_eq!(fig.last(), Some(&None), "the delete is a tombstone");
    assert!(fig[..fig.len() - 1].iter().all(|v| *v == Some(&b"1"[..])));

    // Restarted: the table is recovered before the first new event is processed.
    let b = app(&broker, &id, "w1");
    b.start().await.unwrap();
    send_words(&counting::Words.on(&b), &["apple", "fig", "pear"]).await;
    assert!(eventually(WAIT, || seen(&counting::SEEN, &id).len() == words.len() + 3).await);
    let after: Vec<(String, u64)> = seen(&counting::SEEN, &id)[words.len()..]
        .iter()
        .map(|(_, w, n)| (w.clone(), *n))
        .collect();
    let mut after = after;
    after.sort();
    assert_eq!(
        after,
        vec![("apple".into(), 4), ("fig".into(), 1), ("pear".into(), 3)],
        "counts continue from the recovered table; the deleted key starts again"
    );
    let h = b.health();
    assert_eq!(h.tables.len(), 1);
    let t = &h.tables[0];
    assert_eq!(t.name, "word-counts");
    assert_eq!(t.active_partitions, vec![0, 1, 2, 3]);
    assert_eq!(t.recovered_records, records.len() as u64);
    assert!(!t.recovering);
    b.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_of_one_key_within_a_commit_interval_become_one_record_sent_before_the_commit() {
    let broker = MemoryBroker::new();
    let id = unique("tables-coalesce");
    let a = App::builder(&id)
        .transport(Arc::new(broker.clone()))
        .include_module(module_path!().to_string() + "::counting")
        .commit_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    a.start().await.unwrap();
    let words = vec!["apple"; 300];
    send_words(&counting::Words.on(&a), &words).await;
    assert!(eventually(WAIT, || seen(&counting::SEEN, &id).len() == words.len()).await);
    let changelog = format!("{id}-word-counts-changelog");
    let apple_p = faust_runtime::partitioner::partition_for_key(b"apple", 4);
    // Nothing is committed yet, and the writes wait for the next flush.
    assert_eq!(broker.committed(&id, "tbl-words", apple_p), None);
    assert!(read_all(&broker, &changelog, 4).await.is_empty());
    // Stopping flushes the writes, then commits the events they were made for.
    a.stop().await.unwrap();
    let records = read_all(&broker, &changelog, 4).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].key, b"\"apple\"");
    assert_eq!(records[0].value.as_deref(), Some(&b"300"[..]));
    assert_eq!(records[0].partition, apple_p);
    assert_eq!(broker.committed(&id, "tbl-words", apple_p), Some(300));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_moves_with_its_state_to_the_worker_that_takes_it_over() {
    let broker = MemoryBroker::new();
    let id = unique("tables-rebalance");
    let a = app(&broker, &id, "wa");
    a.start().await.unwrap();
    let keys: Vec<String> = (0..16).map(|i| format!("k{i}")).collect();
    let first: Vec<&str> = keys.iter().map(String::as_str).collect();
    send_words(&counting::Words.on(&a), &first).await;
    send_words(&counting::Words.on(&a), &first).await;
    assert!(eventually(WAIT, || seen(&counting::SEEN, &id).len() == 32).await);

    // A second worker joins: half of the partitions move to it, with their counts.
    let b = app(&broker, &id, "wb");
    b.start().await.unwrap();
    assert!(
        eventually(WAIT, || {
            let (ha, hb) = (a.health(), b.health());
            // Recovered, not only assigned: a partition counts as active from its assignment.
            ha.tables[0].active_partitions.len() == 2
                && hb.tables[0].active_partitions.len() == 2
                && hb.tables[0].recoveries > 0
                && !hb.tables[0].recovering
        })
        .await,
        "the partitions did not split: {:?} / {:?}",
        a.health().tables,
        b.health().tables
    );
    let hb = b.health();
    assert!(hb.tables[0].recovered_records > 0, "{:?}", hb.tables);
    send_words(&counting::Words.on(&a), &first).await;
    assert!(eventually(WAIT, || seen(&counting::SEEN, &id).len() == 48).await);
    let third = &seen(&counting::SEEN, &id)[32..];
    assert!(
        third.iter().any(|(w, _, _)| w == "wb"),
        "worker b processed nothing"
    );
    assert!(
        third.iter().any(|(w, _, _)| w == "wa"),
        "worker a processed nothing"
    );
    for (worker, key, n) in third {
        assert_eq!(
            *n, 3,
            "{key} counted {n} by {worker}: its state did not move"
        );
    }
    a.stop().await.unwrap();
    b.stop().await.unwrap();
}

mod outside {
    use super::*;

    #[table(name = "outside", key = String, value = u64)]
    pub struct Lonely;

    #[timer(interval = "1h")]
    async fn unused() {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_used_outside_an_event_is_a_clear_error() {
    let app = App::builder(unique("tables-outside"))
        .include_module(module_path!().to_string() + "::outside")
        .build()
        .unwrap();
    app.start().await.unwrap();
    let err = app
        .scope(async { outside::Lonely.insert("a".into(), 1) })
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("table 'outside': insert outside an agent's event"),
        "{err}"
    );
    let len = app.scope(async { outside::Lonely.len() }).await.unwrap();
    assert_eq!(
        len, 0,
        "reading every local partition works anywhere the app is current"
    );
    app.stop().await.unwrap();
}

fn app_with_store(broker: &MemoryBroker, id: &str, store: &str, dir: &std::path::Path) -> App {
    let (store, dir) = (store.to_string(), dir.to_path_buf());
    App::builder(id)
        .transport(Arc::new(broker.clone()))
        .include_module(module_path!().to_string() + "::counting")
        .commit_interval(Duration::from_millis(50))
        .configure(move |s| {
            s.store = store;
            s.table_dir = Some(dir);
        })
        .build()
        .unwrap()
}

/// Runs app `id` with `store` over `words`, waiting until they are processed; returns the
/// counts it saw and how many changelog records its recovery replayed.
async fn run_words(
    broker: &MemoryBroker,
    id: &str,
    store: &str,
    dir: &std::path::Path,
    words: &[&str],
) -> (Vec<(String, u64)>, u64) {
    let app = app_with_store(broker, id, store, dir);
    app.start().await.unwrap();
    let before = seen(&counting::SEEN, id).len();
    send_words(&counting::Words.on(&app), words).await;
    assert!(
        eventually(WAIT, || seen(&counting::SEEN, id).len()
            == before + words.len())
        .await
    );
    let replayed = app.health().tables[0].last_recovery_records;
    app.stop().await.unwrap();
    let counts = seen(&counting::SEEN, id)[before..]
        .iter()
        .map(|(_, w, n)| (w.clone(), *n))
        .collect();
    (counts, replayed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redb_store_keeps_tables_across_restarts_and_replays_only_newer_changelog_records() {
    let broker = MemoryBroker::new();
    let id = unique("tables-redb");
    let dir = std::env::temp_dir().join(unique("faust-rs-tables"));
    let c = |w: &str, n: u64| (w.to_string(), n);

    let (counts, replayed) = run_words(&broker, &id, "redb://", &dir, &["a", "b", "a"]).await;
    assert_eq!(counts, vec![c("a", 1), c("b", 1), c("a", 2)]);
    assert_eq!(replayed, 0, "an empty changelog");
    assert!(dir.join("word-counts.redb").exists());

    // Restarted on the same files: nothing newer in the changelog, nothing replayed.
    let (counts, replayed) = run_words(&broker, &id, "redb://", &dir, &["a", "del:b"]).await;
    assert_eq!(counts, vec![c("a", 3), c("del:b", 0)]);
    assert_eq!(replayed, 0, "the store already held the whole changelog");

    // A run with the in-memory store writes three changelog records the files do not have.
    let changelog = format!("{id}-word-counts-changelog");
    let written = read_all(&broker, &changelog, 4).await.len() as u64;
    assert!((3..=5).contains(&written), "{written} records");
    let (counts, replayed) = run_words(&broker, &id, "memory://", &dir, &["a", "b", "c"]).await;
    assert_eq!(counts, vec![c("a", 4), c("b", 1), c("c", 1)]);
    assert_eq!(
        replayed, written,
        "the in-memory store replays the whole changelog"
    );

    // Back on the files: only those three are replayed, and the counts are right.
    let (counts, replayed) = run_words(&broker, &id, "redb://", &dir, &["a", "b", "c"]).await;
    assert_eq!(counts, vec![c("a", 5), c("b", 2), c("c", 2)]);
    assert_eq!(replayed, 3);
    std::fs::remove_dir_all(&dir).unwrap();
}

windows_module!(windows, "tbl-events");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tumbling_and_hopping_windows_aggregate_a_fixed_event_time_sequence() {
    let broker = MemoryBroker::new();
    let app = App::builder(unique("tables-windows"))
        .transport(Arc::new(broker.clone()))
        .include_module(module_path!().to_string() + "::windows")
        .build()
        .unwrap();
    windows::scenario(app, WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changelog_record_that_does_not_decode_fails_the_worker_naming_it() {
    use faust_runtime::transport::{NewTopic, OutgoingRecord, Transport};
    let broker = MemoryBroker::new();
    let id = unique("tables-bad-changelog");
    let changelog = format!("{id}-word-counts-changelog");
    broker
        .create_topic(&NewTopic {
            name: changelog.clone(),
            partitions: 4,
            replication_factor: 1,
            config: [("cleanup.policy".to_string(), "compact".to_string())].into(),
        })
        .await
        .unwrap();
    let mut bad = OutgoingRecord::new(
        changelog.clone(),
        Some(b"\"apple\"".to_vec()),
        Some(b"\"many\"".to_vec()),
    );
    bad.partition = Some(2);
    broker.send(bad).await.unwrap().await.unwrap();
    let a = app(&broker, &id, "w1");
    a.start().await.unwrap();
    let err = tokio::time::timeout(WAIT, a.wait())
        .await
        .expect("the worker did not fail")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("table 'word-counts' could not recover partitions")
            && err.contains(&format!(
                "{changelog}[2]@0 cannot be applied: the value does not decode"
            )),
        "{err}"
    );
    assert!(seen(&counting::SEEN, &id).is_empty());
}
