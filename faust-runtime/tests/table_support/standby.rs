//! Global-table and standby-copy scenarios, run on both brokers.
#![allow(dead_code)]

use crate::common::{eventually, eventually_async, unique};
use crate::table_support::*;
use faust_runtime::prelude::*;
use faust_runtime::{GlobalTableApi, Table, TopicApi};
use std::collections::BTreeMap;
use std::time::Duration;

/// Declares module `$m`: topic `$topic` (4 partitions, product -> price) and the global table
/// `prices` an agent keeps the latest price of each product in.
macro_rules! prices_module {
    ($m:ident, $topic:literal) => {
        pub mod $m {
            use faust_runtime::prelude::*;

            #[topic(name = $topic, key = String, value = u64, partitions = 4)]
            pub struct Prices;

            /// The latest price of each product, on every worker.
            #[table(name = "prices", kind = "global", key = String, value = u64, partitions = 4)]
            pub struct PriceTable;

            #[agent(Prices)]
            async fn keep(mut prices: Events<Prices>) -> Result<()> {
                while let Some(ev) = prices.next().await {
                    PriceTable.insert(ev.key.clone().unwrap_or_default(), ev.value)?;
                }
                Ok(())
            }
        }
    };
}

/// Makes worker `client` of app `id` with `standby` replicas.
pub type MakeApp<'a> = &'a dyn Fn(&str, &str, usize) -> App;

async fn prices_of<PT>(app: &App) -> BTreeMap<String, u64>
where
    PT: Table<Key = String, Value = u64>,
{
    app.scope(async { GlobalTableApi::<PT>::UNBOUND.items() })
        .await
        .unwrap()
        .into_iter()
        .collect()
}

async fn send_prices<P>(app: &App, prices: &[(String, u64)])
where
    P: faust_runtime::Topic<Key = String, Value = u64>,
{
    for (k, v) in prices {
        TopicApi::<P>::UNBOUND
            .on(app)
            .record(*v)
            .key(k.clone())
            .send_and_wait()
            .await
            .unwrap();
    }
}

/// Two workers keep a global table: both hold all of it (written by whichever owns each key's
/// partition), read it outside events, see each other's updates; a third worker has the whole
/// table as soon as it has started.
pub async fn global_table_scenario<P, PT>(make: MakeApp<'_>, wait: Duration)
where
    P: faust_runtime::Topic<Key = String, Value = u64>,
    PT: Table<Key = String, Value = u64>,
{
    let id = unique("global-table");
    let a = make(&id, "wa", 0);
    let b = make(&id, "wb", 0);
    a.start().await.unwrap();
    b.start().await.unwrap();
    let first: Vec<(String, u64)> = (0..16).map(|i| (format!("p{i}"), i)).collect();
    send_prices::<P>(&a, &first).await;
    let mut want: BTreeMap<String, u64> = first.iter().cloned().collect();
    for w in [&a, &b] {
        assert!(
            eventually_async(wait, || async { prices_of::<PT>(w).await == want }).await,
            "{}: {:?}",
            w.settings().kafka.client_id,
            prices_of::<PT>(w).await
        );
    }
    assert!(
        eventually(wait, || {
            let (ha, hb) = (a.health(), b.health());
            let (ta, tb) = (&ha.tables[0], &hb.tables[0]);
            ta.active_partitions.len() + tb.active_partitions.len() == 4
                && tb.standby_partitions.len() == 4 - tb.active_partitions.len()
        })
        .await,
        "each worker owns some partitions and follows the others: {:?} / {:?}",
        a.health().tables,
        b.health().tables
    );
    let one = b
        .scope(async { GlobalTableApi::<PT>::UNBOUND.get(&"p3".to_string()) })
        .await
        .unwrap();
    assert_eq!(one, Some(3));
    let err = b
        .scope(async { GlobalTableApi::<PT>::UNBOUND.insert("x".into(), 1) })
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("outside an agent's event"), "{err}");

    // An update made on one worker reaches the other's reads.
    send_prices::<P>(&a, &[("p1".into(), 100), ("p2".into(), 200)]).await;
    want.insert("p1".into(), 100);
    want.insert("p2".into(), 200);
    for w in [&a, &b] {
        assert!(
            eventually_async(wait, || async { prices_of::<PT>(w).await == want }).await,
            "{:?}",
            prices_of::<PT>(w).await
        );
    }

    // A worker started now has the whole table before it processes anything.
    let c = make(&id, "wc", 0);
    c.start().await.unwrap();
    assert_eq!(prices_of::<PT>(&c).await, want);
    for w in [a, b, c] {
        w.stop().await.unwrap();
    }
}

/// The last value of each key of partitions `parts` in `changelog`, and the end offset of each
/// of those partitions.
async fn changelog_state(
    app: &App,
    changelog: &str,
    parts: &[i32],
) -> (BTreeMap<String, u64>, BTreeMap<i32, i64>) {
    let mut last = BTreeMap::new();
    let mut ends = BTreeMap::new();
    for r in read_all(app.transport().as_ref(), changelog, 4).await {
        if !parts.contains(&r.partition) {
            continue;
        }
        let key: String = serde_json::from_slice(&r.key).unwrap();
        let value: u64 = serde_json::from_slice(r.value.as_deref().unwrap()).unwrap();
        last.insert(key, value);
        ends.insert(r.partition, r.offset + 1);
    }
    (last, ends)
}

/// Runs two counting workers with `standby` replicas until they split the partitions, waits
/// until the changelog holds every count of `a`'s partitions (and, with standby copies, until
/// `b`'s copies of them have read it all), stops `a`, checks `b` goes on counting, and returns
/// how many records `b`'s recovery of `a`'s partitions replayed and how many there were.
pub async fn take_over<W>(
    make: MakeApp<'_>,
    seen_by: &Seen,
    standby: usize,
    wait: Duration,
) -> (u64, usize)
where
    W: faust_runtime::Topic<Key = String, Value = String>,
{
    let id = unique("standby-takeover");
    let words_on = |app: &App| TopicApi::<W>::UNBOUND.on(app);
    let a = make(&id, "wa", standby);
    a.start().await.unwrap();
    let keys: Vec<String> = (0..16).map(|i| format!("k{i}")).collect();
    let words: Vec<&str> = keys.iter().map(String::as_str).collect();
    send_words(&words_on(&a), &words).await;
    assert!(eventually(wait, || seen(seen_by, &id).len() == 16).await);
    let b = make(&id, "wb", standby);
    b.start().await.unwrap();
    assert!(
        eventually(wait, || {
            let (ha, hb) = (a.health(), b.health());
            ha.tables[0].active_partitions.len() == 2
                && hb.tables[0].active_partitions.len() == 2
                && !hb.tables[0].recovering
        })
        .await,
        "{:?} / {:?}",
        a.health().tables,
        b.health().tables
    );
    send_words(&words_on(&a), &words).await;
    assert!(eventually(wait, || seen(seen_by, &id).len() == 32).await);
    let owned_by_a = a.health().tables[0].active_partitions.clone();
    let changelog = format!("{id}-word-counts-changelog");
    let in_a: Vec<&String> = keys
        .iter()
        .filter(|k| {
            owned_by_a.contains(&faust_runtime::partitioner::partition_for_key(
                k.as_bytes(),
                4,
            ))
        })
        .collect();
    assert!(!in_a.is_empty());
    assert!(
        eventually_async(wait, || async {
            let (last, ends) = changelog_state(&a, &changelog, &owned_by_a).await;
            let counted = in_a.iter().all(|k| last.get(*k) == Some(&2));
            let copies = &b.health().tables[0].standby_partitions;
            let caught_up = copies.len() == 2
                && ends
                    .iter()
                    .all(|(p, end)| copies.iter().any(|(cp, next)| cp == p && next == end));
            counted && (standby == 0 || caught_up)
        })
        .await,
        "a's writes did not all reach the changelog (or b's standby copies): {:?}",
        b.health().tables
    );
    let records = read_all(a.transport().as_ref(), &changelog, 4)
        .await
        .iter()
        .filter(|r| owned_by_a.contains(&r.partition))
        .count();
    let before = b.health().tables[0].recoveries;
    a.stop().await.unwrap();
    assert!(
        eventually(wait, || {
            let t = &b.health().tables[0];
            t.active_partitions.len() == 4 && t.recoveries > before && !t.recovering
        })
        .await,
        "{:?}",
        b.health().tables
    );
    let replayed = b.health().tables[0].last_recovery_records;
    // The counts go on from what a left, on b.
    send_words(&words_on(&b), &words).await;
    assert!(eventually(wait, || seen(seen_by, &id).len() == 48).await);
    for (worker, key, n) in &seen(seen_by, &id)[32..] {
        assert_eq!(worker, "wb");
        assert_eq!(*n, 3, "{key}");
    }
    let copies = b.health().tables[0].standby_partitions.clone();
    assert!(copies.is_empty(), "b owns every partition: {copies:?}");
    b.stop().await.unwrap();
    (replayed, records)
}
