//! Set tables on the embedded broker: add / discard / contains / members, the changelog as
//! Faust's set operations, recovery of a changelog Python Faust wrote, and a restart.

#[macro_use]
mod common;
#[macro_use]
mod table_support;

use common::{eventually, unique};
use faust_runtime::prelude::*;
use faust_runtime::transport::{NewTopic, OutgoingRecord, Transport};
use faust_runtime::MemoryBroker;
use std::sync::Arc;
use std::time::Duration;
use table_support::*;

const WAIT: Duration = Duration::from_secs(20);

set_module!(sets, "set-ops");

fn app(broker: &MemoryBroker, id: &str, store: &str, dir: &std::path::Path) -> App {
    let (store, dir) = (store.to_string(), dir.to_path_buf());
    App::builder(id)
        .transport(Arc::new(broker.clone()))
        .include_module(module_path!().to_string() + "::sets")
        .commit_interval(Duration::from_millis(50))
        .configure(move |s| {
            s.store = store;
            s.table_dir = Some(dir);
        })
        .build()
        .unwrap()
}

/// Sends `ops` (`+m` adds `m`, `-m` discards it) for `key`, in order.
async fn send_ops(app: &App, key: &str, ops: &[&str]) {
    let t = sets::Ops.on(app);
    for op in ops {
        t.record(op.to_string())
            .key(key.to_string())
            .send_and_wait()
            .await
            .unwrap();
    }
}

fn last_members(id: &str, key: &str) -> Option<Vec<String>> {
    sets::SEEN
        .lock()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e.0 == id && e.1 == key)
        .map(|e| e.3.clone())
}

fn seen_count(id: &str) -> usize {
    sets::SEEN
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.0 == id)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_table_recovers_faust_set_operations_writes_them_and_survives_a_restart() {
    let broker = MemoryBroker::new();
    let id = unique("set-tables");
    let dir = std::env::temp_dir().join(unique("faust-rs-set-tables"));
    let changelog = format!("{id}-members-changelog");
    let kp = faust_runtime::partitioner::partition_for_key(b"k", 2);

    // What Python Faust writes for `members['k'].add('x')`, `.add('y')`, `.discard('x')`.
    broker
        .create_topic(&NewTopic {
            name: changelog.clone(),
            partitions: 2,
            replication_factor: 1,
            config: Default::default(),
        })
        .await
        .unwrap();
    for (k, v) in [
        (&b"[1,\"k\"]"[..], &b"\"x\""[..]),
        (b"[1,\"k\"]", b"\"y\""),
        (b"[2,\"k\"]", b"\"x\""),
    ] {
        let mut r = OutgoingRecord::new(changelog.clone(), Some(k.to_vec()), Some(v.to_vec()));
        r.partition = Some(kp);
        broker.send(r).await.unwrap().await.unwrap();
    }

    let a = app(&broker, &id, "memory://", &dir);
    a.start().await.unwrap();
    send_ops(&a, "k", &["+a", "+b", "-a", "+c", "?c"]).await;
    send_ops(&a, "j", &["+z", "-z"]).await;
    assert!(eventually(WAIT, || seen_count(&id) == 7).await);
    assert_eq!(
        last_members(&id, "k"),
        Some(vec!["b".into(), "c".into(), "y".into()])
    );
    assert_eq!(last_members(&id, "j"), Some(vec![]));
    let contained: Vec<bool> = sets::SEEN
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.0 == id && e.2 == "?c")
        .map(|e| e.4)
        .collect();
    assert_eq!(contained, vec![true]);
    a.stop().await.unwrap();

    // The changelog: not compacted (an operation log), the writes as Faust's update operation
    // `[15, key]` → `[[added..], [removed..]]` in the key's partition.
    let described = a
        .topics()
        .describe_topic(&changelog)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(
        described.config.get("cleanup.policy").map(String::as_str),
        Some("compact")
    );
    let records = read_all(&broker, &changelog, 2).await;
    let ours: Vec<&Rec> = records.iter().skip(3).collect();
    assert!(!ours.is_empty());
    let mut replayed: std::collections::BTreeSet<String> = ["y".to_string()].into();
    for r in ours.iter().filter(|r| r.key == b"[15,\"k\"]") {
        assert_eq!(r.partition, kp);
        let (added, removed): (Vec<String>, Vec<String>) =
            serde_json::from_slice(r.value.as_deref().unwrap()).unwrap();
        replayed.extend(added);
        for m in removed {
            replayed.remove(&m);
        }
    }
    assert_eq!(
        replayed,
        ["b", "c", "y"].iter().map(|s| s.to_string()).collect()
    );

    // Restarted, with each store: the sets are recovered before the next event.
    for (n, store) in ["memory://", "redb://", "redb://"].iter().enumerate() {
        let b = app(&broker, &id, store, &dir);
        b.start().await.unwrap();
        let member = format!("+n{n}");
        send_ops(&b, "k", &[&member]).await;
        assert!(eventually(WAIT, || seen_count(&id) == 8 + n).await);
        let mut want: Vec<String> = vec!["b".into(), "c".into(), "y".into()];
        want.extend((0..=n).map(|i| format!("n{i}")));
        want.sort();
        assert_eq!(last_members(&id, "k"), Some(want), "{store} run {n}");
        let h = b.health();
        if n == 2 {
            assert_eq!(
                h.tables[0].last_recovery_records, 0,
                "the redb store held every set already"
            );
        }
        b.stop().await.unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_table_used_outside_an_event_is_a_clear_error() {
    let broker = MemoryBroker::new();
    let dir = std::env::temp_dir().join(unique("faust-rs-set-tables"));
    let a = app(&broker, &unique("set-outside"), "memory://", &dir);
    a.start().await.unwrap();
    let err = a
        .scope(async { sets::Members.add("k".to_string(), "m".to_string()) })
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("set table 'members': add outside an agent's event"),
        "{err}"
    );
    assert_eq!(a.scope(async { sets::Members.len() }).await.unwrap(), 0);
    a.stop().await.unwrap();
}
