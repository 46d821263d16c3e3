//! The forwarder example killed with SIGKILL mid-stream on Kafka, then restarted: every input
//! offset that was committed has its output, and after the restart every input has one (at
//! least once, end to end). Needs the Kafka-protocol test broker (`FAUST_TEST_KAFKA`, set by
//! scripts/test.sh).

mod common;

use faust_runtime::engine::driver::run_for_test;
use faust_runtime::transport::kafka::KafkaTransport;
use faust_runtime::transport::{ConsumerConfig, NewTopic, OutgoingRecord, Transport};
use faust_runtime::{Settings, TopicPartition};
use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const INPUTS: i64 = 50_000;
const PARTITIONS: i32 = 4;
const WAIT: Duration = Duration::from_secs(90);

fn kafka_url() -> String {
    match std::env::var("FAUST_TEST_KAFKA") {
        Ok(url) if !url.trim().is_empty() => url.trim().to_string(),
        _ => panic!(
            "FAUST_TEST_KAFKA is not set: run scripts/test.sh, which starts a Kafka-protocol broker"
        ),
    }
}

fn start_forwarder(url: &str, version: u32) -> Child {
    Command::new(common::example_binary("forwarder"))
        .arg("--broker")
        .arg(url)
        .env("FAUST_VERSION", version.to_string())
        .env("FAUST_COMMIT_INTERVAL", "100ms")
        .env("FAUST_WEB_PORT", "0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the forwarder")
}

async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The inputs (partition, offset) that have an output, from the outputs read so far.
fn covered(outputs: &[String]) -> BTreeSet<(i32, i64)> {
    outputs
        .iter()
        .filter_map(|v| {
            let mut parts = v.splitn(3, ':');
            let p = parts.next()?.parse().ok()?;
            let o = parts.next()?.parse().ok()?;
            Some((p, o))
        })
        .collect()
}

// The record callback returns the runtime's `Result`, whose error type is what it is.
#[allow(clippy::result_large_err)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarder_killed_with_sigkill_loses_no_output_of_a_committed_input() {
    let url = kafka_url();
    let s = Settings::default();
    let t = Arc::new(KafkaTransport::new(&url, &s.kafka, s.broker_connect_timeout).unwrap());
    t.connect().await.unwrap();
    for name in ["fwd-in", "fwd-out"] {
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
    for i in 0..INPUTS {
        let mut r = OutgoingRecord::new("fwd-in", Some(format!("k{i}").into_bytes()), None);
        r.value = Some(format!("\"v{i}\"").into_bytes());
        r.partition = Some((i % PARTITIONS as i64) as i32);
        handles.push(t.send(r).await.unwrap());
    }
    for h in handles {
        h.await.unwrap();
    }

    // Everything that reaches fwd-out, read by a consumer of its own.
    let outputs = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = outputs.clone();
    let (stop_reader, reader_stop) = tokio::sync::watch::channel(false);
    let reader = {
        let t = t.clone();
        let group = format!("fwd-reader-{}", std::process::id());
        tokio::spawn(async move {
            let consumer = t
                .consumer(ConsumerConfig {
                    group_id: group,
                    topics: vec!["fwd-out".into()],
                    from_earliest: true,
                })
                .await
                .unwrap();
            run_for_test(
                consumer,
                &["fwd-out"],
                reader_stop,
                Duration::from_millis(500),
                move |m| {
                    let v = String::from_utf8_lossy(m.value.unwrap_or_default());
                    seen.lock().unwrap().push(v.trim_matches('"').to_string());
                    Ok(())
                },
            )
            .await
        })
    };

    let version = 2 + std::process::id() % 100_000;
    // A client of the worker's group that only reads its committed offsets.
    let group = format!("forwarder-v{version}");
    let mut probe = t
        .consumer(ConsumerConfig {
            group_id: group,
            topics: Vec::new(),
            from_earliest: true,
        })
        .await
        .unwrap();
    let tps: Vec<TopicPartition> = (0..PARTITIONS)
        .map(|p| TopicPartition {
            topic: "fwd-in".into(),
            partition: p,
        })
        .collect();
    let mut worker = start_forwarder(&url, version);
    // Killed mid-stream, as soon as it has committed a tenth of the inputs.
    let deadline = Instant::now() + WAIT;
    loop {
        let committed = probe.committed(&tps).await.unwrap();
        if committed.iter().map(|c| c.unwrap_or(0)).sum::<i64>() >= INPUTS / 10 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the worker did not commit a tenth of the inputs"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // SAFETY: plain kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(worker.id() as i32, libc::SIGKILL) }, 0);
    worker.wait().unwrap();

    // What the killed worker committed.
    let committed = probe.committed(&tps).await.unwrap();
    let committed_inputs: i64 = committed.iter().map(|c| c.unwrap_or(0)).sum();
    assert!(
        committed_inputs > 0,
        "the worker committed nothing: {committed:?}"
    );
    assert!(
        committed_inputs < INPUTS,
        "the worker finished before the kill"
    );
    // Every committed input has its output (outputs are acknowledged before the commit).
    wait_until("the outputs of every committed input", || {
        let have = covered(&outputs.lock().unwrap());
        tps.iter()
            .zip(&committed)
            .all(|(tp, c)| (0..c.unwrap_or(0)).all(|o| have.contains(&(tp.partition, o))))
    })
    .await;

    // Restarted, the worker finishes the rest: it commits every input, and every input has an
    // output. (Waiting for its commits also means it runs, signal handler included, before
    // it is asked to stop.)
    let mut worker = start_forwarder(&url, version);
    let deadline = Instant::now() + WAIT;
    loop {
        let committed = probe.committed(&tps).await.unwrap();
        if committed.iter().map(|c| c.unwrap_or(0)).sum::<i64>() == INPUTS {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the restarted worker did not commit every input: {committed:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_until("an output for every input", || {
        covered(&outputs.lock().unwrap()).len() as i64 == INPUTS
    })
    .await;
    assert_eq!(unsafe { libc::kill(worker.id() as i32, libc::SIGINT) }, 0);
    let status = worker.wait().unwrap();
    assert!(
        status.success(),
        "the restarted worker exited with {status}"
    );
    let total = outputs.lock().unwrap().len() as i64;
    eprintln!(
        "forwarder: {INPUTS} inputs, {committed_inputs} committed before SIGKILL, {total} outputs ({} reprocessed)",
        total - INPUTS
    );
    stop_reader.send_replace(true);
    reader.await.unwrap().unwrap();
}
