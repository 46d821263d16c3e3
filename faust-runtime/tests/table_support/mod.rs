//! What the table tests share: a counting agent over a word topic, and readers of what it left.
#![allow(dead_code, unused_macros)]

use faust_runtime::transport::{TopicPartition, Transport};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// (app id, worker client id, word, count after the update; 0 for a delete).
pub type Seen = Mutex<Vec<(String, String, String, u64)>>;

/// Declares module `$m`: topic `$topic` (4 partitions, keyed by word), the table `word-counts`
/// and an agent that counts each word (a word `del:x` deletes `x`), recording what it saw.
macro_rules! counting_module {
    ($m:ident, $topic:literal) => {
        pub mod $m {
            use faust_runtime::prelude::*;

            pub static SEEN: $crate::table_support::Seen = std::sync::Mutex::new(Vec::new());

            #[topic(name = $topic, key = String, value = String, partitions = 4)]
            pub struct Words;

            #[table(name = "word-counts", key = String, value = u64, default = 0, partitions = 4)]
            pub struct Counts;

            #[agent(Words)]
            async fn count(mut words: Stream<Words>) -> Result<()> {
                let app = App::current()?;
                let (id, me) = (app.id().to_string(), app.settings().kafka.client_id.clone());
                while let Some(w) = words.next().await {
                    let n = match w.strip_prefix("del:") {
                        Some(gone) => {
                            Counts.remove(&gone.to_string())?;
                            0
                        }
                        None => Counts.update(w.clone(), |n| {
                            *n += 1;
                            *n
                        })?,
                    };
                    SEEN.lock().unwrap().push((id.clone(), me.clone(), w, n));
                }
                Ok(())
            }
        }
    };
}

/// Sends each word keyed by itself (a delete `del:x` keyed by `x`), in order.
pub async fn send_words<T>(topic: &faust_runtime::TopicApi<T>, words: &[&str])
where
    T: faust_runtime::Topic<Key = String, Value = String>,
{
    for w in words {
        let key = w.strip_prefix("del:").unwrap_or(w);
        topic
            .record(w.to_string())
            .key(key.to_string())
            .send_and_wait()
            .await
            .unwrap();
    }
}

/// What app `id` saw: (worker, word, count).
pub fn seen(s: &Seen, id: &str) -> Vec<(String, String, u64)> {
    s.lock()
        .unwrap()
        .iter()
        .filter(|e| e.0 == id)
        .map(|e| (e.1.clone(), e.2.clone(), e.3))
        .collect()
}

/// The last count app `id` saw for each word.
pub fn last_counts(s: &Seen, id: &str) -> BTreeMap<String, u64> {
    seen(s, id).into_iter().map(|(_, w, n)| (w, n)).collect()
}

/// A changelog record.
#[derive(Debug, Clone)]
pub struct Rec {
    pub partition: i32,
    pub offset: i64,
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

/// Every record of `topic` (partitions `0..partitions`), in partition and offset order.
pub async fn read_all(t: &dyn Transport, topic: &str, partitions: i32) -> Vec<Rec> {
    let starts: Vec<(TopicPartition, i64)> = (0..partitions)
        .map(|p| {
            (
                TopicPartition {
                    topic: topic.to_string(),
                    partition: p,
                },
                0,
            )
        })
        .collect();
    let mut reader = t.partition_reader(&starts).await.unwrap();
    let mut out = Vec::new();
    while reader
        .read(Duration::from_secs(2), &mut |m| {
            out.push(Rec {
                partition: m.partition,
                offset: m.offset,
                key: m.key.unwrap_or_default().to_vec(),
                value: m.value.map(<[u8]>::to_vec),
            })
        })
        .await
        .unwrap()
        > 0
    {}
    out.sort_by_key(|r| (r.partition, r.offset));
    out
}

/// Deletes topics an earlier run left on a Kafka broker, so each run starts empty.
#[cfg(feature = "kafka")]
pub async fn fresh_kafka_topics(url: &str, names: &[&str]) {
    let s = faust_runtime::settings::Settings::default();
    let t = faust_runtime::transport::kafka::KafkaTransport::new(
        url,
        &s.kafka,
        s.broker_connect_timeout,
    )
    .unwrap();
    t.connect().await.unwrap();
    for name in names {
        match t.delete_topic(name).await {
            Ok(()) | Err(faust_runtime::Error::UnknownTopic(_)) => {}
            Err(e) => panic!("cannot delete {name}: {e}"),
        }
    }
}

/// (app id, key, operation, sorted members after it, whether `?m` found `m`).
pub type SetSeen = Mutex<Vec<(String, String, String, Vec<String>, bool)>>;

/// Declares module `$m`: topic `$topic` (2 partitions, keyed by set key), the set table
/// `members` and an agent applying each value to the key's set (`+m` adds, `-m` discards,
/// `?m` asks whether `m` is there), recording the members after each.
macro_rules! set_module {
    ($m:ident, $topic:literal) => {
        pub mod $m {
            use faust_runtime::prelude::*;

            pub static SEEN: $crate::table_support::SetSeen = std::sync::Mutex::new(Vec::new());

            #[topic(name = $topic, key = String, value = String, partitions = 2)]
            pub struct Ops;

            #[table(kind = "set", name = "members", key = String, value = String, partitions = 2)]
            pub struct Members;

            #[agent(Ops)]
            async fn apply(mut ops: Events<Ops>) -> Result<()> {
                let id = App::current()?.id().to_string();
                while let Some(ev) = ops.next().await {
                    let key = ev.key.clone().unwrap_or_default();
                    let (op, member) = ev.value.split_at(1);
                    let mut found = false;
                    match op {
                        "+" => {
                            Members.add(key.clone(), member.to_string())?;
                        }
                        "-" => {
                            Members.discard(&key, &member.to_string())?;
                        }
                        _ => found = Members.contains(&key, &member.to_string())?,
                    }
                    let mut members = Members.members(&key)?;
                    members.sort();
                    SEEN.lock()
                        .unwrap()
                        .push((id.clone(), key, ev.value.clone(), members, found));
                }
                Ok(())
            }
        }
    };
}

/// Declares module `$m`: topic `$topic` (2 partitions), a tumbling table `per-10s` (expires
/// 20 s, closed windows recorded) and a hopping table `hop`, an agent updating both per event,
/// and `scenario(app, wait)`: a fixed event-time sequence, the aggregates, the closed windows and
/// the changelog keys.
macro_rules! windows_module {
    ($m:ident, $topic:literal) => {
        pub mod $m {
            use faust_runtime::prelude::*;
            use std::sync::Mutex;

            /// (event time, current(), delta(10s)) after each update.
            pub static SEEN: Mutex<Vec<(i64, u64, u64)>> = Mutex::new(Vec::new());
            /// (key, window, value).
            pub type Windows = Mutex<Vec<(String, (i64, i64), u64)>>;
            /// Each closed window.
            pub static CLOSED: Windows = Mutex::new(Vec::new());
            /// The hopping table's windows after the last update.
            pub static HOPPING: Windows = Mutex::new(Vec::new());

            #[topic(name = $topic, key = String, value = String, partitions = 2)]
            pub struct Events;

            pub fn closed(key: &str, window: (i64, i64), value: &u64) {
                CLOSED
                    .lock()
                    .unwrap()
                    .push((key.to_string(), window, *value));
            }

            #[table(name = "per-10s", key = String, value = u64, partitions = 2,
                    tumbling = "10s", expires = "20s", on_window_close = closed)]
            pub struct PerTen;

            #[table(name = "hop", key = String, value = u64, partitions = 2, hopping = "10s", step = "5s")]
            pub struct Hop;

            #[agent(Events)]
            async fn count(mut events: faust_runtime::Events<Events>) -> Result<()> {
                while let Some(ev) = events.next().await {
                    let key = ev.key.clone().unwrap_or_default();
                    PerTen.update(key.clone(), |n| *n += 1)?;
                    Hop.update(key.clone(), |n| *n += 1)?;
                    let now = PerTen.current(&key)?;
                    let before = PerTen.delta(&key, std::time::Duration::from_secs(10))?;
                    assert_eq!(PerTen.value(&key)?, now);
                    SEEN.lock().unwrap().push((ev.timestamp, now, before));
                    *HOPPING.lock().unwrap() = Hop.items()?;
                }
                Ok(())
            }

            /// Runs the scenario on `app` (not started yet).
            pub async fn scenario(app: App, wait: std::time::Duration) {
                use $crate::common::eventually;
                use $crate::table_support::read_all;
                app.start().await.unwrap();
                let send = |t: i64| {
                    let topic = Events.on(&app);
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
                for t in [1_000, 2_000, 11_000, 12_000, 13_000] {
                    send(t).await;
                }
                assert!(eventually(wait, || SEEN.lock().unwrap().len() == 5).await);
                assert_eq!(
                    *SEEN.lock().unwrap(),
                    vec![
                        (1_000, 1, 0),
                        (2_000, 2, 0),
                        (11_000, 1, 2),
                        (12_000, 2, 2),
                        (13_000, 3, 2)
                    ],
                    "(time, current, delta 10s)"
                );
                let a = |s: i64, e: i64, n: u64| ("a".to_string(), (s, e), n);
                assert_eq!(
                    *HOPPING.lock().unwrap(),
                    vec![
                        a(-5_000, 5_000, 2),
                        a(0, 10_000, 2),
                        a(5_000, 15_000, 3),
                        a(10_000, 20_000, 3)
                    ]
                );
                assert!(CLOSED.lock().unwrap().is_empty());

                // 45 s: the windows ending at 10 s and 20 s are past their 20 s expiry and close, once.
                for t in [25_000, 45_000, 46_000] {
                    send(t).await;
                }
                assert!(eventually(wait, || SEEN.lock().unwrap().len() == 8).await);
                assert_eq!(
                    *CLOSED.lock().unwrap(),
                    vec![a(0, 10_000, 2), a(10_000, 20_000, 3)]
                );
                // A late event for a closed window changes nothing; 52 s closes the window ending at 30 s.
                send(3_000).await;
                send(52_000).await;
                assert!(eventually(wait, || SEEN.lock().unwrap().len() == 10).await);
                assert_eq!(
                    *CLOSED.lock().unwrap(),
                    vec![a(0, 10_000, 2), a(10_000, 20_000, 3), a(20_000, 30_000, 1)]
                );
                let last: Vec<(i64, u64, u64)> = SEEN.lock().unwrap()[5..].to_vec();
                assert_eq!(
                    last,
                    vec![
                        (25_000, 1, 3),
                        (45_000, 1, 0),
                        (46_000, 2, 0),
                        (3_000, 0, 0),
                        (52_000, 1, 2)
                    ]
                );

                // The changelog keys are Faust's `[key, [start, end]]`, and closed windows are tombstones.
                let changelog = format!("{}-per-10s-changelog", app.id());
                let described = app
                    .topics()
                    .describe_topic(&changelog)
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(described.config["cleanup.policy"], "compact,delete");
                assert_eq!(described.config["retention.ms"], "20000");
                // Stopping sends the writes of the last commit interval.
                app.stop().await.unwrap();
                let records = read_all(app.transport().as_ref(), &changelog, 2).await;
                let first_window: Vec<Option<&[u8]>> = records
                    .iter()
                    .filter(|r| r.key == br#"["a",[0.0,9.9]]"#)
                    .map(|r| r.value.as_deref())
                    .collect();
                assert_eq!(first_window.last(), Some(&None), "{first_window:?}");
                assert!(first_window[..first_window.len() - 1]
                    .iter()
                    .all(|v| *v == Some(&b"1"[..]) || *v == Some(&b"2"[..])));
            }
        }
    };
}
