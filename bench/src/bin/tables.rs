//! faust-bench-tables: what a table costs an agent, and how fast recovery replays a changelog.
//!
//! ```text
//! cargo run --release -p faust-bench --bin faust-bench-tables [-- RECORDS]
//! ```
//!
//! On the embedded broker, `RECORDS` orders (default 200,000; 4 partitions, 1,000 keys) are
//! written before the app starts; three agents read them in turn, each a fresh app: one only
//! counts events, one also updates a table (`update(key, |n| *n += 1)`) with the in-memory store,
//! one with the redb store. Each is timed from start until the agent has processed every event
//! (then, untimed, until every input offset is committed: the table agents' offsets wait for
//! their changelog records), with the process's CPU time over the same window and the number of
//! changelog records written. (Timing up to the commit would measure the commit interval's
//! ticks, not the agents.) Then each store recovers the
//! whole changelog into an empty table: records per second from the table's health.
//! `FAUST_BENCH_TABLES_ONLY=plain|memory|redb` runs one of the three agents alone (to profile it).

use faust_runtime::transport::{NewTopic, OutgoingRecord};
use faust_runtime::{App, MemoryBroker, Transport};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOPIC: &str = "bench-table-orders";
const PARTITIONS: i32 = 4;

/// Events the running agent has processed.
static PROCESSED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

mod plain {
    use faust_runtime::prelude::*;

    #[topic(name = "bench-table-orders", key = String, value = u64, partitions = 4)]
    pub struct Orders;

    /// Reads every order, no table.
    #[agent(Orders)]
    async fn count(mut orders: Events<Orders>) -> Result<()> {
        let mut n = 0u64;
        while let Some(ev) = orders.next().await {
            n += ev.value;
            crate::PROCESSED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        std::hint::black_box(n);
        Ok(())
    }
}

mod counted {
    use faust_runtime::prelude::*;

    #[topic(name = "bench-table-orders", key = String, value = u64, partitions = 4)]
    pub struct Orders;

    #[table(name = "bench-counts", key = String, value = u64, default = 0, partitions = 4)]
    pub struct Counts;

    /// Reads every order and adds it to its key's total.
    #[agent(Orders)]
    async fn count(mut orders: Events<Orders>) -> Result<()> {
        while let Some(mut ev) = orders.next().await {
            let key = ev.key.take().unwrap_or_default();
            Counts.update(key, |n| *n += ev.value)?;
            crate::PROCESSED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    }
}

fn app(broker: &MemoryBroker, id: &str, module: &str, store: &str, dir: &std::path::Path) -> App {
    let (store, dir) = (store.to_string(), dir.to_path_buf());
    App::builder(id)
        .transport(Arc::new(broker.clone()))
        .include_module(module_path!().to_string() + "::" + module)
        .commit_interval(Duration::from_millis(100))
        .configure(move |s| {
            s.store = store;
            s.table_dir = Some(dir);
        })
        .build()
        .expect("app")
}

async fn fill(broker: &MemoryBroker, n: u64) {
    broker
        .create_topic(&NewTopic {
            name: TOPIC.into(),
            partitions: PARTITIONS,
            replication_factor: 1,
            config: Default::default(),
        })
        .await
        .expect("topic");
    for i in 0..n {
        let key = format!("k{}", i % 1000).into_bytes();
        let h = broker
            .send(OutgoingRecord::new(TOPIC, Some(key), Some(b"1".to_vec())))
            .await
            .expect("send");
        drop(h);
    }
}

/// CPU seconds (user + system) of this process so far.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

/// Records in the changelog of app `id`'s table.
fn changelog_records(broker: &MemoryBroker, id: &str) -> i64 {
    let topic = format!("{id}-bench-counts-changelog");
    (0..PARTITIONS)
        .map(|p| broker.end_offset(&topic, p).unwrap_or(0))
        .sum()
}

/// Runs one agent over the filled topic; (seconds until it processed every event, CPU seconds
/// of the process meanwhile). Returns once every offset is committed.
async fn run(
    broker: &MemoryBroker,
    id: &str,
    module: &str,
    store: &str,
    dir: &std::path::Path,
) -> (f64, f64) {
    let a = app(broker, id, module, store, dir);
    let ends: Vec<i64> = (0..PARTITIONS)
        .map(|p| broker.end_offset(TOPIC, p).expect("end"))
        .collect();
    let n: u64 = ends.iter().map(|e| *e as u64).sum();
    PROCESSED.store(0, std::sync::atomic::Ordering::Relaxed);
    let cpu = cpu_seconds();
    let started = Instant::now();
    a.start().await.expect("start");
    while PROCESSED.load(std::sync::atomic::Ordering::Relaxed) < n {
        assert!(started.elapsed() < Duration::from_secs(600), "timed out");
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu;
    loop {
        let done =
            (0..PARTITIONS).all(|p| broker.committed(id, TOPIC, p) == Some(ends[p as usize]));
        if done {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(600), "timed out");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    a.stop().await.expect("stop");
    (secs, cpu)
}

/// Recovers the whole changelog of app `id` into an empty table with `store`; (records, seconds).
async fn recover(
    broker: &MemoryBroker,
    id: &str,
    store: &str,
    dir: &std::path::Path,
) -> (u64, f64) {
    let _ = std::fs::remove_dir_all(dir);
    let a = app(broker, id, "counted", store, dir);
    a.start().await.expect("start");
    let deadline = Instant::now() + Duration::from_secs(600);
    let (records, millis) = loop {
        let h = a.health();
        if let Some(t) = h.tables.first() {
            if t.recoveries > 0 && !t.recovering {
                break (t.recovered_records, t.last_recovery_millis);
            }
        }
        assert!(Instant::now() < deadline, "recovery timed out");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    a.stop().await.expect("stop");
    (records, millis as f64 / 1000.0)
}

#[tokio::main]
async fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("RECORDS must be a number"))
        .unwrap_or(200_000);
    let dir = std::env::temp_dir().join(format!("faust-bench-tables-{}", std::process::id()));
    let broker = MemoryBroker::new();
    fill(&broker, n).await;
    println!("{n} records, {PARTITIONS} partitions, 1000 keys, embedded broker");
    if let Ok(only) = std::env::var("FAUST_BENCH_TABLES_ONLY") {
        // For profiling one case: `plain`, `memory` or `redb`, run once after the fill.
        let (module, store) = match only.as_str() {
            "plain" => ("plain", "memory://"),
            "memory" => ("counted", "memory://"),
            "redb" => ("counted", "redb://"),
            other => panic!("FAUST_BENCH_TABLES_ONLY={other}: expected plain, memory or redb"),
        };
        let (secs, cpu) = run(&broker, "bench-only", module, store, &dir).await;
        println!(
            "{only}: {:>9.0} events/s ({secs:.2} s, CPU {cpu:.2} s)",
            n as f64 / secs
        );
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    let (plain, plain_cpu) = run(&broker, "bench-plain", "plain", "memory://", &dir).await;
    println!(
        "agent, no table:           {:>9.0} events/s ({plain:.2} s, CPU {plain_cpu:.2} s)",
        n as f64 / plain
    );
    let (memory, memory_cpu) = run(&broker, "bench-memory", "counted", "memory://", &dir).await;
    println!(
        "agent + table, memory:     {:>9.0} events/s ({memory:.2} s, {:.2}x the time of no table; CPU {memory_cpu:.2} s, {:.2}x; {} changelog records)",
        n as f64 / memory,
        memory / plain,
        memory_cpu / plain_cpu,
        changelog_records(&broker, "bench-memory"),
    );
    let _ = std::fs::remove_dir_all(&dir);
    let (redb, redb_cpu) = run(&broker, "bench-redb", "counted", "redb://", &dir).await;
    println!(
        "agent + table, redb:       {:>9.0} events/s ({redb:.2} s, {:.2}x the time of no table; CPU {redb_cpu:.2} s, {:.2}x; {} changelog records)",
        n as f64 / redb,
        redb / plain,
        redb_cpu / plain_cpu,
        changelog_records(&broker, "bench-redb"),
    );
    for store in ["memory://", "redb://"] {
        let (records, secs) = recover(&broker, "bench-memory", store, &dir).await;
        println!(
            "recovery into {store:<10} {:>9.0} records/s ({records} records in {secs:.2} s)",
            records as f64 / secs.max(1e-9)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
