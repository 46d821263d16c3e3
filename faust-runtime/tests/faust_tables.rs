//! Tables interoperating with Python Faust (faust-streaming 0.15.3) through their changelogs,
//! both directions, both JSON flavours, on the embedded broker and on the Kafka-protocol test
//! broker (`FAUST_TEST_KAFKA=kafka://host:port`; that test fails without it unless
//! `FAUST_SKIP_KAFKA=1`).
//!
//! `fixtures/faust-0.15.3-changelog.txt` holds the changelog records Faust's own table code
//! wrote for the operations `TABLE_OPS` of `scripts/faust-fixtures.py` (a plain table with str
//! keys and int values, one with int keys and record values, a tumbling and a hopping windowed
//! table, a sliding one, a set table, a global table with float values; deletes as tombstones); these tests
//! recover them into the Rust tables.
//! `fixtures/faust-rs-changelog.txt` holds what the Rust tables write for the same operations;
//! these tests check they write exactly that (and, for every table but the set table, exactly
//! Faust's bytes), and `scripts/faust-fixtures.py check` recovers it with Faust's recovery path
//! and compares the result with Faust's own tables. `FAUST_RS_BLESS=1` rewrites that fixture
//! from what the Rust tables write (then run the script's check).

#[macro_use]
mod common;
#[macro_use]
mod table_support;

use common::{eventually, unique};
use faust_runtime::codec::faust_json::JsonFlavour;
use faust_runtime::codec::set_default_json_flavour;
use faust_runtime::prelude::*;
use faust_runtime::transport::{NewTopic, OutgoingRecord, RawMessage, TopicPartition, Transport};
use faust_runtime::MemoryBroker;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const FAUST_CHANGELOG: &str = include_str!("fixtures/faust-0.15.3-changelog.txt");
const RUST_CHANGELOG: &str = include_str!("fixtures/faust-rs-changelog.txt");
const RUST_CHANGELOG_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/faust-rs-changelog.txt"
);
/// The app id the fixtures' topics are named after.
const FIXTURE_APP: &str = "tblfix";
const PARTITIONS: i32 = 4;
/// The operations' event time, ms (the script's `T0`).
const T0: i64 = 1_700_000_000_000;
const WAIT: Duration = Duration::from_secs(20);

/// The script's `TABLE_OPS`: (operation, key, argument, event time after `T0` in ms). Each is one
/// event keyed by `key` (so in the partition Faust's run put it in).
const OPS: [(&str, &str, &str, i64); 24] = [
    ("count", "apple", "", 0),
    ("count", "apple", "", 0),
    ("count", "café", "", 0),
    ("count", "fig", "", 0),
    ("forget", "fig", "", 0),
    ("order", "1", "äpple:2", 0),
    ("order", "2", "pear:1", 0),
    ("order", "2", "pear:3", 0),
    ("unorder", "1", "", 0),
    ("click", "apple", "", 3_500),
    ("click", "apple", "", 7_000),
    ("click", "apple", "", 13_500),
    ("click", "café", "", 3_500),
    ("hop", "apple", "", 12_000),
    ("slide", "apple", "", 3_500),
    ("slide", "apple", "", 3_500),
    ("slide", "apple", "", 7_636),
    ("price", "apple", "0.1", 0),
    ("price", "fig", "1e16", 0),
    ("price", "apple", "1e-07", 0),
    ("add", "k", "x", 0),
    ("add", "k", "y", 0),
    ("discard", "k", "x", 0),
    ("add", "j", "z", 0),
];

/// The tables of the fixtures, as a Rust app declares them, and an agent running operations.
pub mod tables {
    use faust_runtime::prelude::*;
    use std::sync::Mutex;

    /// (app id, operation, key, what the table says after it).
    pub static SEEN: Mutex<Vec<(String, String, String, String)>> = Mutex::new(Vec::new());

    /// `class Order(faust.Record, namespace="app.Order"): id: int; product: str; quantity: int`
    #[record(namespace = "app.Order")]
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct Order {
        pub id: u64,
        pub product: String,
        pub quantity: u32,
    }

    /// Operations: the value is `op` or `op:argument`, the key the table key.
    #[topic(name = "tblfix-ops", key = String, value = String, partitions = 4)]
    pub struct Ops;

    /// `app.Table("word-counts", key_type=str, value_type=int, default=int)`
    #[table(name = "word-counts", key = String, value = u64, default = 0, partitions = 4)]
    pub struct Counts;

    /// `app.Table("orders", key_type=int, value_type=Order)`
    #[table(name = "orders", key = u64, value = Order, partitions = 4)]
    pub struct Orders;

    /// `app.Table("clicks", default=int).tumbling(10.0, expires=3600.0)`
    #[table(name = "clicks", key = String, value = u64, default = 0, partitions = 4,
            tumbling = "10s", expires = "1h")]
    pub struct Clicks;

    /// `app.Table("hops", default=int).hopping(10.0, 5.0, expires=3600.0)`
    #[table(name = "hops", key = String, value = u64, default = 0, partitions = 4,
            hopping = "10s", step = "5s", expires = "1h")]
    pub struct Hops;

    /// `app.Table("around", default=int).using_window(SlidingWindow(10.0, 0.1, expires=3600.0))`
    #[table(name = "around", key = String, value = u64, default = 0, partitions = 4,
            before = "10s", after = "100ms", expires = "1h")]
    pub struct Around;

    /// `app.GlobalTable("prices", key_type=str, value_type=float)`
    #[table(kind = "global", name = "prices", key = String, value = f64, partitions = 4)]
    pub struct Prices;

    /// `app.SetTable("members", value_type=str)`
    #[table(kind = "set", name = "members", key = String, value = String, partitions = 4)]
    pub struct Members;

    #[agent(Ops)]
    async fn run(mut ops: Events<Ops>) -> Result<()> {
        let id = App::current()?.id().to_string();
        while let Some(ev) = ops.next().await {
            let key = ev.key.clone().unwrap_or_default();
            let (op, arg) = ev.value.split_once(':').unwrap_or((ev.value.as_str(), ""));
            let id_key = || key.parse::<u64>().unwrap_or_default();
            let said = match op {
                "count" => Counts
                    .update(key.clone(), |n| {
                        *n += 1;
                        *n
                    })?
                    .to_string(),
                "forget" => format!("{:?}", Counts.remove(&key)?),
                "order" => {
                    let (product, quantity) = arg.rsplit_once(':').unwrap_or((arg, "0"));
                    let order = Order {
                        id: id_key(),
                        product: product.to_string(),
                        quantity: quantity.parse().unwrap_or_default(),
                    };
                    Orders.insert(id_key(), order)?;
                    String::new()
                }
                "unorder" => format!("{:?}", Orders.remove(&id_key())?.map(|o| o.id)),
                "click" => {
                    Clicks.update(key.clone(), |n| *n += 1)?;
                    Clicks.current(&key)?.to_string()
                }
                "hop" => {
                    Hops.update(key.clone(), |n| *n += 1)?;
                    String::new()
                }
                "slide" => {
                    Around.update(key.clone(), |n| *n += 1)?;
                    Around.current(&key)?.to_string()
                }
                "price" => {
                    Prices.insert(key.clone(), arg.parse().unwrap_or(f64::NAN))?;
                    String::new()
                }
                "add" => {
                    Members.add(key.clone(), arg.to_string())?;
                    let mut m = Members.members(&key)?;
                    m.sort();
                    m.join(",")
                }
                "discard" => {
                    Members.discard(&key, &arg.to_string())?;
                    let mut m = Members.members(&key)?;
                    m.sort();
                    m.join(",")
                }
                other => format!("unknown operation {other}"),
            };
            SEEN.lock()
                .unwrap()
                .push((id.clone(), op.to_string(), key, said));
        }
        Ok(())
    }
}

use tables::*;

/// One changelog record of a fixture file.
#[derive(Debug, Clone, PartialEq)]
struct Line {
    flavour: JsonFlavour,
    /// The table name (`{app}-{table}-changelog`).
    table: String,
    partition: i32,
    key: String,
    value: Option<String>,
}

impl Line {
    fn text(&self) -> String {
        format!(
            "{}\t{}\t{}\t{}\t{}",
            self.flavour,
            faust_runtime::table::changelog_topic(FIXTURE_APP, &self.table),
            self.partition,
            self.key,
            self.value.as_deref().unwrap_or("-")
        )
    }
}

fn lines(text: &str, flavour: JsonFlavour) -> Vec<Line> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.splitn(5, '\t').collect();
            assert_eq!(f.len(), 5, "a fixture line has five fields: {l:?}");
            let table = f[1]
                .strip_prefix(&format!("{FIXTURE_APP}-"))
                .and_then(|t| t.strip_suffix("-changelog"))
                .unwrap_or_else(|| panic!("not a changelog of app {FIXTURE_APP}: {}", f[1]));
            Line {
                flavour: f[0].parse().unwrap(),
                table: table.to_string(),
                partition: f[2].parse().unwrap(),
                key: f[3].to_string(),
                value: (f[4] != "-").then(|| f[4].to_string()),
            }
        })
        .filter(|l| l.flavour == flavour)
        .collect()
}

const TABLES: [&str; 7] = [
    "around",
    "clicks",
    "hops",
    "members",
    "orders",
    "prices",
    "word-counts",
];

/// Where a test runs.
#[derive(Clone)]
enum Broker {
    Memory(MemoryBroker),
    #[cfg_attr(not(feature = "kafka"), allow(dead_code))]
    Kafka(String),
}

impl Broker {
    fn app(&self, id: &str, store: &str, dir: &std::path::Path) -> App {
        let (store, dir) = (store.to_string(), dir.to_path_buf());
        let b = App::builder(id)
            .include_module(module_path!().to_string() + "::tables")
            .commit_interval(Duration::from_millis(20));
        let b = match self {
            Broker::Memory(m) => b.transport(Arc::new(m.clone())),
            Broker::Kafka(url) => b.broker(url).shutdown_timeout(Duration::from_secs(10)),
        };
        let kafka = matches!(self, Broker::Kafka(_));
        b.configure(move |s| {
            s.store = store;
            s.table_dir = Some(dir);
            if kafka {
                s.kafka.session_timeout = Duration::from_secs(6);
                s.kafka.heartbeat_interval = Duration::from_millis(500);
            }
        })
        .build()
        .unwrap()
    }

    /// A transport of its own, for writing and reading changelogs directly.
    async fn transport(&self) -> Arc<dyn Transport> {
        match self {
            Broker::Memory(m) => Arc::new(m.clone()),
            #[cfg(feature = "kafka")]
            Broker::Kafka(url) => {
                let s = faust_runtime::settings::Settings::default();
                let t = faust_runtime::transport::kafka::KafkaTransport::new(
                    url,
                    &s.kafka,
                    s.broker_connect_timeout,
                )
                .unwrap();
                t.connect().await.unwrap();
                Arc::new(t)
            }
            #[cfg(not(feature = "kafka"))]
            Broker::Kafka(_) => unreachable!("built without Kafka"),
        }
    }

    /// The broker for a new run, with no operations topic yet (a new app's group reads that
    /// topic from the start): a new embedded broker, or the Kafka broker without the topic.
    async fn fresh(&self) -> Broker {
        match self {
            Broker::Memory(_) => Broker::Memory(MemoryBroker::new()),
            Broker::Kafka(url) => {
                #[cfg(feature = "kafka")]
                table_support::fresh_kafka_topics(url, &["tblfix-ops"]).await;
                Broker::Kafka(url.clone())
            }
        }
    }
}

/// Every partition of the changelogs of app `id`, from offset 0.
fn changelog_partitions(id: &str) -> Vec<(TopicPartition, i64)> {
    TABLES
        .iter()
        .flat_map(|t| {
            let topic = faust_runtime::table::changelog_topic(id, t);
            (0..PARTITIONS).map(move |p| {
                (
                    TopicPartition {
                        topic: topic.clone(),
                        partition: p,
                    },
                    0,
                )
            })
        })
        .collect()
}

/// Sends operation `op` of [`OPS`] as an event.
async fn send_op(app: &App, (op, key, arg, dt): (&str, &str, &str, i64)) {
    let value = if arg.is_empty() {
        op.to_string()
    } else {
        format!("{op}:{arg}")
    };
    Ops.on(app)
        .record(value)
        .key(key.to_string())
        .timestamp(T0 + dt)
        .send_and_wait()
        .await
        .unwrap();
}

/// What app `id`'s agent said after each operation: (operation, key, said).
fn seen(id: &str) -> Vec<(String, String, String)> {
    SEEN.lock()
        .unwrap()
        .iter()
        .filter(|e| e.0 == id)
        .map(|e| (e.1.clone(), e.2.clone(), e.3.clone()))
        .collect()
}

async fn wait_until(what: &str, cond: impl FnMut() -> bool) {
    assert!(eventually(WAIT, cond).await, "timed out: {what}");
}

/// Every table's state in the partitions active on `app`, sorted, as text.
async fn contents(app: &App) -> BTreeMap<&'static str, Vec<String>> {
    app.scope(async {
        let mut out = BTreeMap::new();
        let mut counts: Vec<String> = Counts
            .items()
            .unwrap()
            .into_iter()
            .map(|(k, n)| format!("{k}={n}"))
            .collect();
        counts.sort();
        out.insert("word-counts", counts);
        let mut orders: Vec<String> = Orders
            .items()
            .unwrap()
            .into_iter()
            .map(|(k, o)| format!("{k}={o:?}"))
            .collect();
        orders.sort();
        out.insert("orders", orders);
        let windows = |items: Vec<(String, (i64, i64), u64)>| {
            let mut v: Vec<String> = items
                .into_iter()
                .map(|(k, (s, e), n)| format!("{k}@{}..{}={n}", s - T0, e - T0))
                .collect();
            v.sort();
            v
        };
        out.insert("clicks", windows(Clicks.items().unwrap()));
        out.insert("hops", windows(Hops.items().unwrap()));
        out.insert("around", windows(Around.items().unwrap()));
        let mut members: Vec<String> = Members
            .items()
            .unwrap()
            .into_iter()
            .map(|(k, mut m)| {
                m.sort();
                format!("{k}={}", m.join(","))
            })
            .collect();
        members.sort();
        out.insert("members", members);
        let mut prices: Vec<String> = Prices
            .items()
            .unwrap()
            .into_iter()
            .map(|(k, p)| format!("{k}={p:e}"))
            .collect();
        prices.sort();
        out.insert("prices", prices);
        out
    })
    .await
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Writes Faust's changelog records (flavour `flavour`) into the changelogs of a new app, starts
/// it with `store`, and checks the tables hold what Faust's tables held, and go on from there.
async fn recover_faust_changelog(broker: &Broker, flavour: JsonFlavour, store: &str) {
    let records = lines(FAUST_CHANGELOG, flavour);
    assert_eq!(records.len(), 25, "{flavour}");
    let broker = &broker.fresh().await;
    let transport = broker.transport().await;
    let id = unique("faust-tables");
    let dir = std::env::temp_dir().join(unique("faust-rs-faust-tables"));
    for t in TABLES {
        transport
            .create_topic(&NewTopic {
                name: faust_runtime::table::changelog_topic(&id, t),
                partitions: PARTITIONS,
                replication_factor: 1,
                config: Default::default(),
            })
            .await
            .unwrap();
    }
    for r in &records {
        let topic = faust_runtime::table::changelog_topic(&id, &r.table);
        let mut rec = OutgoingRecord::new(
            topic,
            Some(r.key.as_bytes().to_vec()),
            r.value.as_ref().map(|v| v.as_bytes().to_vec()),
        );
        rec.partition = Some(r.partition);
        transport.send(rec).await.unwrap().await.unwrap();
    }

    let a = broker.app(&id, store, &dir);
    a.start().await.unwrap();
    let what = format!("{flavour} {store}");
    wait_until(&format!("{what}: every table recovered"), || {
        let h = a.health();
        h.tables.len() == TABLES.len()
            && h.tables
                .iter()
                .all(|t| t.recoveries > 0 && !t.recovering && t.active_partitions.len() == 4)
    })
    .await;
    let got = contents(&a).await;
    let order = |id: u64, product: &str, quantity: u32| {
        format!(
            "{id}={:?}",
            Order {
                id,
                product: product.into(),
                quantity
            }
        )
    };
    let want: BTreeMap<&str, Vec<String>> = [
        ("word-counts", strings(&["apple=2", "café=1"])),
        ("orders", vec![order(2, "pear", 3)]),
        (
            "clicks",
            strings(&[
                "apple@0..10000=2",
                "apple@10000..20000=1",
                "café@0..10000=1",
            ]),
        ),
        (
            "hops",
            strings(&["apple@10000..20000=1", "apple@5000..15000=1"]),
        ),
        (
            "around",
            strings(&["apple@-2364..7736=1", "apple@-6500..3600=2"]),
        ),
        ("members", strings(&["j=z", "k=y"])),
        ("prices", strings(&["apple=1e-7", "fig=1e16"])),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want, "{what}");
    let h = a.health();
    let replayed: u64 = h.tables.iter().map(|t| t.recovered_records).sum();
    assert_eq!(replayed, records.len() as u64, "{what}");

    // The recovered keys are the ones the Rust tables read and write: counting goes on
    // from Faust's counts, a click lands in Faust's window (a sliding update at the time of a
    // Faust one in that window), a member joins Faust's set.
    for op in [
        ("count", "apple", "", 0),
        ("click", "apple", "", 15_000),
        ("click", "café", "", 9_000),
        ("slide", "apple", "", 7_636),
        ("add", "k", "w", 0),
    ] {
        send_op(&a, op).await;
    }
    wait_until(&format!("{what}: five operations"), || seen(&id).len() == 5).await;
    let mut said = seen(&id);
    said.sort();
    assert_eq!(
        said,
        vec![
            ("add".into(), "k".into(), "w,y".into()),
            ("click".into(), "apple".into(), "2".into()),
            ("click".into(), "café".into(), "2".into()),
            ("count".into(), "apple".into(), "3".into()),
            ("slide".into(), "apple".into(), "2".into()),
        ],
        "{what}"
    );
    a.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changelog_written_by_python_faust_recovers_into_the_rust_tables() {
    for flavour in [JsonFlavour::Stdlib, JsonFlavour::Orjson] {
        for store in ["memory://", "redb://"] {
            recover_faust_changelog(&Broker::Memory(MemoryBroker::new()), flavour, store).await;
        }
    }
}

/// One record of app `id`'s changelogs, with its offset.
fn record(id: &str, flavour: JsonFlavour, m: &RawMessage<'_>) -> (i64, Line) {
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
    let table = m
        .topic
        .strip_prefix(&format!("{id}-"))
        .and_then(|t| t.strip_suffix("-changelog"))
        .unwrap()
        .to_string();
    (
        m.offset,
        Line {
            flavour,
            table,
            partition: m.partition,
            key: text(m.key.unwrap()),
            value: m.value.map(text),
        },
    )
}

/// Runs the operations Faust's check replays (all but `hop`) through a Rust app, one event at a
/// time (each writes one changelog record, so no two are coalesced), and returns the changelog
/// records, in table, partition and offset order.
async fn rust_changelog(broker: &Broker, flavour: JsonFlavour) -> Vec<Line> {
    let broker = &broker.fresh().await;
    let transport = broker.transport().await;
    let id = unique("rust-tables");
    let dir = std::env::temp_dir().join(unique("faust-rs-rust-tables"));
    let a = broker.app(&id, "memory://", &dir);
    a.start().await.unwrap();
    // Read the changelogs while the operations run: each operation waits for its record.
    let mut reader = transport
        .partition_reader(&changelog_partitions(&id))
        .await
        .unwrap();
    let mut out: Vec<(i64, Line)> = Vec::new();
    let ops: Vec<_> = OPS.iter().filter(|o| o.0 != "hop").collect();
    for (i, op) in ops.iter().enumerate() {
        send_op(&a, **op).await;
        let deadline = tokio::time::Instant::now() + WAIT;
        while out.len() < i + 1 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{flavour}: no changelog record for {op:?}"
            );
            reader
                .read(Duration::from_millis(200), &mut |m| {
                    out.push(record(&id, flavour, m))
                })
                .await
                .unwrap();
        }
    }
    a.stop().await.unwrap();
    // Nothing more: one record per operation, none written at stop.
    reader
        .read(Duration::from_millis(500), &mut |m| {
            out.push(record(&id, flavour, m))
        })
        .await
        .unwrap();
    out.sort_by(|(ao, a), (bo, b)| (&a.table, a.partition, ao).cmp(&(&b.table, b.partition, bo)));
    let _ = std::fs::remove_dir_all(&dir);
    let out: Vec<Line> = out.into_iter().map(|(_, l)| l).collect();
    assert_eq!(out.len(), ops.len(), "one record per operation: {out:#?}");
    out
}

/// Checks what the Rust tables write for the operations, in both flavours; `bless` rewrites the
/// fixture instead of comparing with it.
async fn check_rust_changelog(broker: &Broker, bless: bool) {
    let mut blessed = vec![
        "# Changelog records the faust-rs tables write for TABLE_OPS of scripts/faust-fixtures.py"
            .to_string(),
        "# (all but `hop`), both flavours; faust_tables.rs checks faust-rs writes exactly these,"
            .to_string(),
        "# `scripts/faust-fixtures.py check` recovers them into Faust's tables (FAUST_RS_BLESS=1 rewrites)."
            .to_string(),
        "# flavour<TAB>topic<TAB>partition<TAB>key<TAB>value (- for a tombstone), in topic, partition, offset order"
            .to_string(),
    ];
    for flavour in [JsonFlavour::Stdlib, JsonFlavour::Orjson] {
        // The tables encode in the process-wide flavour, as Faust does with or without orjson.
        set_default_json_flavour(flavour);
        let ours = rust_changelog(broker, flavour).await;
        set_default_json_flavour(JsonFlavour::Stdlib);
        let text: Vec<String> = ours.iter().map(Line::text).collect();
        if bless {
            blessed.extend(text);
        } else {
            let want: Vec<String> = lines(RUST_CHANGELOG, flavour)
                .iter()
                .map(Line::text)
                .collect();
            assert_eq!(text, want, "{flavour}: what faust-rs writes changed");
        }
        // Every table but the set table writes Faust's own bytes, record for record; the set
        // table writes Faust's update operation where Faust wrote add / discard.
        let faust: Vec<String> = lines(FAUST_CHANGELOG, flavour)
            .iter()
            .filter(|l| l.table != "hops" && l.table != "members")
            .map(Line::text)
            .collect();
        let plain: Vec<String> = ours
            .iter()
            .filter(|l| l.table != "members")
            .map(Line::text)
            .collect();
        assert_eq!(plain, faust, "{flavour}: the bytes Faust writes");
        let sets: Vec<(i32, &str, Option<&str>)> = ours
            .iter()
            .filter(|l| l.table == "members")
            .map(|l| (l.partition, l.key.as_str(), l.value.as_deref()))
            .collect();
        assert_eq!(
            sets,
            vec![
                (0, r#"[15,"k"]"#, Some(r#"[["x"],[]]"#)),
                (0, r#"[15,"k"]"#, Some(r#"[["y"],[]]"#)),
                (0, r#"[15,"k"]"#, Some(r#"[[],["x"]]"#)),
                (2, r#"[15,"j"]"#, Some(r#"[["z"],[]]"#)),
            ],
            "{flavour}"
        );
    }
    if bless {
        std::fs::write(RUST_CHANGELOG_PATH, blessed.join("\n") + "\n").unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_tables_write_the_changelog_faust_recovers() {
    let bless = std::env::var("FAUST_RS_BLESS").as_deref() == Ok("1");
    check_rust_changelog(&Broker::Memory(MemoryBroker::new()), bless).await;
}

/// Both directions on the Kafka-protocol test broker, one after the other (they share the
/// operations topic).
#[cfg(feature = "kafka")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faust_and_rust_changelogs_interoperate_on_kafka() {
    use common::kafka_url;
    let url = kafka_or_skip!();
    let broker = Broker::Kafka(url);
    recover_faust_changelog(&broker, JsonFlavour::Stdlib, "memory://").await;
    recover_faust_changelog(&broker, JsonFlavour::Orjson, "redb://").await;
    check_rust_changelog(&broker, false).await;
}
