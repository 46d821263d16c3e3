//! The word_count example: on the embedded broker it counts its sample lines and stops cleanly
//! on SIGINT; on Kafka, killed with SIGKILL mid-stream with the redb store and restarted, no
//! word ends up counted fewer times than it was sent (at least once). The Kafka test needs the
//! Kafka-protocol test broker (`FAUST_TEST_KAFKA`, set by scripts/test.sh).

mod common;

use faust_runtime::transport::kafka::KafkaTransport;
use faust_runtime::transport::{ConsumerConfig, NewTopic, OutgoingRecord, Transport};
use faust_runtime::{Settings, TopicPartition};
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn word_count_counts_its_sample_lines_and_stops_cleanly() {
    let f = common::run_until(
        "word_count",
        &[],
        &["11 words, top: the="],
        Duration::from_secs(60),
    );
    assert!(
        f.status.success(),
        "exited with {}; stderr:\n{}",
        f.status,
        f.stderr
    );
}

const LINES: i64 = 20_000;
const WORDS: i64 = 10;
const PARTITIONS: i32 = 4;
const WAIT: Duration = Duration::from_secs(120);

fn start(url: &str, version: u32, dir: &std::path::Path) -> Child {
    Command::new(common::example_binary("word_count"))
        .arg("--broker")
        .arg(url)
        .env("FAUST_VERSION", version.to_string())
        .env("FAUST_COMMIT_INTERVAL", "100ms")
        .env("FAUST_STORE", "redb://")
        .env("FAUST_TABLEDIR", dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start word_count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn word_count_killed_with_sigkill_never_counts_fewer_than_it_was_sent() {
    let url = match std::env::var("FAUST_TEST_KAFKA") {
        Ok(url) if !url.trim().is_empty() => url.trim().to_string(),
        _ => panic!("FAUST_TEST_KAFKA is not set: run scripts/test.sh, which starts a Kafka-protocol broker"),
    };
    let s = Settings::default();
    let t = KafkaTransport::new(&url, &s.kafka, s.broker_connect_timeout).unwrap();
    t.connect().await.unwrap();
    let old: Vec<String> = t
        .list_topics()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.name)
        .filter(|n| n.ends_with("-wc-words-word-repartition"))
        .collect();
    for name in old {
        let _ = t.delete_topic(&name).await;
    }
    for name in ["wc-lines", "wc-words"] {
        let _ = t.delete_topic(name).await;
        t.create_topic(&NewTopic {
            name: name.into(),
            partitions: PARTITIONS,
            replication_factor: 1,
            config: BTreeMap::new(),
        })
        .await
        .unwrap();
    }
    let mut handles = Vec::new();
    for i in 0..LINES {
        let mut r = OutgoingRecord::new("wc-lines", Some(format!("l{i}").into_bytes()), None);
        r.value = Some(format!("w{}", i % WORDS).into_bytes());
        r.partition = Some((i % PARTITIONS as i64) as i32);
        handles.push(t.send(r).await.unwrap());
    }
    for h in handles {
        h.await.unwrap();
    }

    let version = 2 + std::process::id() % 100_000;
    let dir = std::env::temp_dir().join(format!("faust-rs-word-count-{version}"));
    let mut probe = t
        .consumer(ConsumerConfig {
            group_id: format!("word-count-v{version}"),
            topics: Vec::new(),
            from_earliest: true,
        })
        .await
        .unwrap();
    let lines: Vec<TopicPartition> = (0..PARTITIONS)
        .map(|p| TopicPartition {
            topic: "wc-lines".into(),
            partition: p,
        })
        .collect();
    let committed_lines = |c: Vec<Option<i64>>| c.iter().map(|c| c.unwrap_or(0)).sum::<i64>();

    // Killed as soon as a tenth of the lines is committed.
    let mut worker = start(&url, version, &dir);
    let deadline = Instant::now() + WAIT;
    while committed_lines(probe.committed(&lines).await.unwrap()) < LINES / 10 {
        assert!(
            Instant::now() < deadline,
            "the worker did not commit a tenth of the lines"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // SAFETY: plain kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(worker.id() as i32, libc::SIGKILL) }, 0);
    worker.wait().unwrap();
    assert!(
        committed_lines(probe.committed(&lines).await.unwrap()) < LINES,
        "finished before the kill"
    );
    assert!(
        dir.join("word-counts.redb").exists(),
        "the redb store was not written"
    );

    // Restarted on the same store: it finishes every line, then stops cleanly.
    let mut worker = start(&url, version, &dir);
    let deadline = Instant::now() + WAIT;
    while committed_lines(probe.committed(&lines).await.unwrap()) < LINES {
        assert!(
            Instant::now() < deadline,
            "the restarted worker did not commit every line"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // One repartition topic, named as Faust names it.
    let repartition: Vec<String> = t
        .list_topics()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.name)
        .filter(|n| n.ends_with("-wc-words-word-repartition"))
        .collect();
    assert_eq!(repartition.len(), 1, "{repartition:?}");
    // Wait for the counts themselves, not for committed offsets to reach the end offsets: the
    // test broker under-reports end offsets after batched writes.
    let changelog = format!("word-count-v{version}-word-counts-changelog");
    let starts: Vec<(TopicPartition, i64)> = (0..PARTITIONS)
        .map(|p| {
            (
                TopicPartition {
                    topic: changelog.clone(),
                    partition: p,
                },
                0,
            )
        })
        .collect();
    // The changelog's last value of each word.
    let read_last = || async {
        let mut reader = t.partition_reader(&starts).await.unwrap();
        let mut last: BTreeMap<String, (i64, u64)> = BTreeMap::new();
        while reader
            .read(Duration::from_secs(2), &mut |m| {
                let key = String::from_utf8_lossy(m.key.unwrap_or_default()).to_string();
                let n: u64 = String::from_utf8_lossy(m.value.unwrap_or_default())
                    .parse()
                    .unwrap();
                let e = last.entry(key).or_insert((-1, 0));
                if m.offset > e.0 {
                    *e = (m.offset, n);
                }
            })
            .await
            .unwrap()
            > 0
        {}
        last
    };
    let done = |last: &BTreeMap<String, (i64, u64)>| {
        last.len() == WORDS as usize && last.values().all(|(_, n)| *n >= (LINES / WORDS) as u64)
    };
    let mut last = read_last().await;
    while !done(&last) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        last = read_last().await;
    }
    assert_eq!(unsafe { libc::kill(worker.id() as i32, libc::SIGINT) }, 0);
    assert!(worker.wait().unwrap().success());

    // Never fewer than the times each word was sent.
    assert_eq!(last.len(), WORDS as usize, "{last:?}");
    for (word, (_, n)) in &last {
        assert!(
            *n >= (LINES / WORDS) as u64,
            "{word} counted {n} times, sent {}",
            LINES / WORDS
        );
    }
    eprintln!("counts after SIGKILL and restart: {last:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
