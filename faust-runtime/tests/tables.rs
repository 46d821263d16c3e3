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

    // The changelog: `{app_id}-{table}-changelog`, one record per write, in the partition of the
    // event (the word's partition of the source topic), key and value as Faust JSON, the delete a
    // tombstone.
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
    assert_eq!(records.len(), words.len());
    let apple_p = faust_runtime::partitioner::partition_for_key(b"apple", 4);
    let apple: Vec<&Rec> = records.iter().filter(|r| r.key == b"\"apple\"").collect();
    assert_eq!(apple.len(), 3);
    assert!(apple.iter().all(|r| r.partition == apple_p));
    let values: Vec<Option<&[u8]>> = apple.iter().map(|r| r.value.as_deref()).collect();
    assert_eq!(values, vec![Some(&b"1"[..]), Some(b"2"), Some(b"3")]);
    let fig: Vec<Option<&[u8]>> = records
        .iter()
        .filter(|r| r.key == b"\"fig\"")
        .map(|r| r.value.as_deref())
        .collect();
    assert_eq!(
        fig,
        vec![Some(&b"1"[..]), None],
        "the delete is a tombstone"
    );

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
    assert_eq!(t.recovered_records, words.len() as u64);
    assert!(!t.recovering);
    b.stop().await.unwrap();
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
            ha.tables[0].active_partitions.len() == 2 && hb.tables[0].active_partitions.len() == 2
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
