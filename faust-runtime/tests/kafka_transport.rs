//! The Kafka transport against a real Kafka-protocol broker, at the transport level.
//!
//! Needs `FAUST_TEST_KAFKA=kafka://host:port` (scripts/test.sh starts a broker and sets it).
//! Without it these tests fail, unless `FAUST_SKIP_KAFKA=1` asks to skip them.
#![cfg(feature = "kafka")]

#[macro_use]
mod common;

use bytes::Bytes;
use common::{eventually, kafka_url, unique};
use faust_runtime::engine::driver::run_for_test;
use faust_runtime::partitioner::partition_for_key;
use faust_runtime::settings::Settings;
use faust_runtime::topic::{Acks, DeliveryGuarantee};
use faust_runtime::transport::kafka::KafkaTransport;
use faust_runtime::transport::{
    ConsumerConfig, Headers, NewTopic, OutgoingRecord, RecordMetadata, Transport,
};
use faust_runtime::Error;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

fn settings(url: &str) -> Settings {
    Settings {
        broker: url.to_string(),
        broker_connect_timeout: Duration::from_secs(20),
        ..Settings::default()
    }
}

async fn transport(url: &str) -> Arc<KafkaTransport> {
    transport_with(settings(url)).await
}

async fn transport_with(s: Settings) -> Arc<KafkaTransport> {
    let t = KafkaTransport::new(&s.broker, &s.kafka, s.broker_connect_timeout).expect("transport");
    t.connect().await.expect("connect");
    Arc::new(t)
}

async fn create(t: &KafkaTransport, name: &str, partitions: i32) {
    t.create_topic(&NewTopic {
        name: name.to_string(),
        partitions,
        replication_factor: 1,
        config: BTreeMap::new(),
    })
    .await
    .expect("create topic");
}

fn record(topic: &str) -> OutgoingRecord {
    OutgoingRecord {
        topic: topic.to_string().into(),
        partition: None,
        key: None,
        value: None,
        headers: Vec::new(),
        timestamp: None,
        acks: None,
        delivery_guarantee: None,
        notice: Default::default(),
    }
}

/// A received record, copied out of the dispatcher.
#[derive(Debug, Clone, PartialEq)]
struct Got {
    partition: i32,
    offset: i64,
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Option<Headers>,
}

/// A consumer running in the background with a test dispatcher that collects every record.
struct Running {
    got: Arc<Mutex<Vec<Got>>>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<faust_runtime::Result<()>>,
}

impl Running {
    fn count(&self) -> usize {
        self.got.lock().unwrap().len()
    }

    async fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.count() < n {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    async fn stop(self) -> (faust_runtime::Result<()>, Vec<Got>) {
        self.stop.send_replace(true);
        let r = tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("consumer stops in time")
            .expect("consumer task");
        let got = self.got.lock().unwrap().clone();
        (r, got)
    }
}

/// Starts `consume` for `topic` in `group`; `fail_at` makes the sink fail on that offset.
// The sink returns the runtime's `Result`, whose error type is what it is.
#[allow(clippy::result_large_err)]
fn start_consumer(
    t: &Arc<KafkaTransport>,
    topic: &str,
    partitions: usize,
    group: &str,
    fail_at: Option<i64>,
) -> Running {
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    let (stop, rx) = watch::channel(false);
    let config = ConsumerConfig {
        group_id: group.to_string(),
        topics: vec![topic.to_string()],
        from_earliest: true,
    };
    let transport = t.clone();
    let topic = topic.to_string();
    let _ = partitions;
    let task = tokio::spawn(async move {
        let consumer = transport.consumer(config).await?;
        run_for_test(
            consumer,
            &[topic.as_str()],
            rx,
            Duration::from_millis(200),
            move |m| {
                if Some(m.offset) == fail_at {
                    return Err(Error::state(format!("test failure at offset {}", m.offset)));
                }
                sink.lock().unwrap().push(Got {
                    partition: m.partition,
                    offset: m.offset,
                    timestamp: m.timestamp,
                    key: m.key.map(<[u8]>::to_vec),
                    value: m.value.map(<[u8]>::to_vec),
                    // An empty list and no list both mean "no headers".
                    headers: m.headers.map(|h| h.to_headers()).filter(|h| !h.is_empty()),
                });
                Ok(())
            },
        )
        .await
    });
    Running { got, stop, task }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_are_created_described_listed_and_deleted() {
    let url = kafka_or_skip!();
    let t = transport(&url).await;
    let name = unique("kt-admin");
    let config: BTreeMap<String, String> = [
        ("retention.ms", "3600000"),
        ("cleanup.policy", "compact"),
        ("max.message.bytes", "2097152"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    t.create_topic(&NewTopic {
        name: name.clone(),
        partitions: 3,
        replication_factor: 1,
        config: config.clone(),
    })
    .await
    .expect("create");

    let described = t.describe_topic(&name).await.unwrap().expect("described");
    assert_eq!(described.name, name);
    assert_eq!(described.partitions, 3);
    for (k, v) in &config {
        assert_eq!(
            described.config.get(k),
            Some(v),
            "config {k} in {:?}",
            described.config
        );
    }

    let again = t
        .create_topic(&NewTopic {
            name: name.clone(),
            partitions: 3,
            replication_factor: 1,
            config: BTreeMap::new(),
        })
        .await;
    assert!(
        matches!(again, Err(Error::TopicExists(ref n)) if *n == name),
        "{again:?}"
    );

    let listed = t.list_topics().await.unwrap();
    let mine = listed.iter().find(|d| d.name == name).expect("listed");
    assert_eq!(mine.partitions, 3);
    assert!(
        listed.iter().all(|d| !d.name.starts_with("__")),
        "{listed:?}"
    );

    t.delete_topic(&name).await.expect("delete");
    assert_eq!(t.describe_topic(&name).await.unwrap(), None);
    assert!(t
        .list_topics()
        .await
        .unwrap()
        .iter()
        .all(|d| d.name != name));
    let gone = t.delete_topic(&name).await;
    assert!(
        matches!(gone, Err(Error::UnknownTopic(ref n)) if *n == name),
        "{gone:?}"
    );
    assert_eq!(t.describe_topic(&unique("kt-never")).await.unwrap(), None);

    let bad = t
        .create_topic(&NewTopic {
            name: unique("kt-bad"),
            partitions: 0,
            replication_factor: 1,
            config: BTreeMap::new(),
        })
        .await;
    assert!(matches!(bad, Err(Error::Config(_))), "{bad:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_keep_key_headers_timestamp_and_partition() {
    let url = kafka_or_skip!();
    let t = transport(&url).await;
    let topic = unique("kt-roundtrip");
    create(&t, &topic, 4).await;

    let headers: Headers = vec![
        ("trace".into(), Some(Bytes::from_static(b"abc"))),
        ("null".into(), None),
        ("trace".into(), Some(Bytes::from_static(b"second"))),
        ("empty".into(), Some(Bytes::new())),
    ];
    let sent = vec![
        OutgoingRecord {
            partition: Some(3),
            key: Some(b"k1".to_vec()),
            value: Some(b"v1".to_vec()),
            headers: headers.clone(),
            timestamp: Some(1_600_000_000_123),
            ..record(&topic)
        },
        OutgoingRecord {
            partition: Some(3),
            key: None,
            value: Some(b"no key".to_vec()),
            timestamp: Some(1_600_000_000_456),
            ..record(&topic)
        },
        OutgoingRecord {
            partition: Some(3),
            key: Some(b"tomb".to_vec()),
            value: None,
            ..record(&topic)
        },
        OutgoingRecord {
            partition: Some(1),
            key: Some(b"k2".to_vec()),
            value: Some(Vec::new()),
            timestamp: Some(1_600_000_000_789),
            ..record(&topic)
        },
    ];
    let mut metas = Vec::new();
    for r in &sent {
        // One record per batch: awaited in turn.
        metas.push(t.send(r.clone()).await.unwrap().await.expect("delivered"));
    }
    assert_eq!(
        metas[0],
        RecordMetadata {
            topic: topic.clone().into(),
            partition: 3,
            offset: 0,
            timestamp: 1_600_000_000_123
        }
    );
    assert_eq!((metas[1].partition, metas[1].offset), (3, 1));
    assert_eq!((metas[2].partition, metas[2].offset), (3, 2));
    assert!(metas[2].timestamp > 1_600_000_000_000, "{:?}", metas[2]);
    assert_eq!((metas[3].partition, metas[3].offset), (1, 0));

    let c = start_consumer(&t, &topic, 4, &unique("kt-roundtrip-g"), None);
    assert!(
        c.wait_for(4, Duration::from_secs(30)).await,
        "got {} of 4",
        c.count()
    );
    let (r, mut got) = c.stop().await;
    r.expect("consumer result");
    got.sort_by_key(|g| (g.partition, g.offset));
    assert_eq!(got.len(), 4, "{got:?}");
    assert_eq!(
        got[0],
        Got {
            partition: 1,
            offset: 0,
            timestamp: 1_600_000_000_789,
            key: Some(b"k2".to_vec()),
            value: Some(Vec::new()),
            headers: None,
        }
    );
    assert_eq!(
        got[1],
        Got {
            partition: 3,
            offset: 0,
            timestamp: 1_600_000_000_123,
            key: Some(b"k1".to_vec()),
            value: Some(b"v1".to_vec()),
            headers: Some(headers),
        }
    );
    assert_eq!(got[2].key, None);
    assert_eq!(got[2].value.as_deref(), Some(&b"no key"[..]));
    assert_eq!(got[2].timestamp, 1_600_000_000_456);
    assert_eq!(got[3].key.as_deref(), Some(&b"tomb"[..]));
    assert_eq!(got[3].value, None, "a tombstone stays a tombstone");
    assert_eq!(got[3].timestamp, metas[2].timestamp);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_land_on_the_partition_the_partitioner_computes() {
    let url = kafka_or_skip!();
    let t = transport(&url).await;
    let topic = unique("kt-keys");
    create(&t, &topic, 8).await;
    let mut handles = Vec::new();
    for i in 0..200 {
        let key = format!("key-{i}").into_bytes();
        let h = t
            .send(OutgoingRecord {
                key: Some(key.clone()),
                value: Some(b"x".to_vec()),
                ..record(&topic)
            })
            .await
            .unwrap();
        handles.push((key, h));
    }
    let mut used = std::collections::BTreeSet::new();
    for (key, h) in handles {
        let meta = h.await.expect("delivered");
        assert_eq!(
            meta.partition,
            partition_for_key(&key, 8),
            "key {}",
            String::from_utf8_lossy(&key)
        );
        used.insert(meta.partition);
    }
    assert_eq!(used.len(), 8, "200 keys spread over all partitions");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_broker_fails_connect_after_the_deadline() {
    // Runs without a broker: a closed loopback port.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("kafka://127.0.0.1:{port}");
    let s = Settings {
        broker: url.clone(),
        broker_connect_timeout: Duration::from_millis(1500),
        ..Settings::default()
    };
    let t = KafkaTransport::new(&s.broker, &s.kafka, s.broker_connect_timeout)
        .expect("transport builds without I/O");
    let started = Instant::now();
    let err = t.connect().await.expect_err("no broker there");
    let took = started.elapsed();
    match &err {
        Error::Broker { broker, reason } => {
            assert_eq!(broker, &url);
            assert!(reason.contains("attempts"), "{reason}");
        }
        other => panic!("expected a broker error, got {other:?}"),
    }
    assert!(err.to_string().contains(&url), "{err}");
    assert!(
        took >= Duration::from_millis(1400),
        "gave up too early: {took:?}"
    );
    assert!(took < Duration::from_secs(8), "gave up too late: {took:?}");
    let h = t.health();
    assert!(h.errors >= 1, "the failed connect is counted: {h:?}");
    assert!(
        h.last_error.unwrap_or_default().contains("not reachable"),
        "the failed connect is the last error"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_consumer_resumes_from_committed_offsets() {
    let url = kafka_or_skip!();
    let t = transport(&url).await;
    let topic = unique("kt-resume");
    let group = unique("kt-resume-g");
    create(&t, &topic, 2).await;
    for i in 0..20 {
        t.send(OutgoingRecord {
            partition: Some(i % 2),
            value: Some(format!("first-{i}").into_bytes()),
            ..record(&topic)
        })
        .await
        .unwrap()
        .await
        .unwrap();
    }
    let c = start_consumer(&t, &topic, 2, &group, None);
    assert!(
        c.wait_for(20, Duration::from_secs(30)).await,
        "got {}",
        c.count()
    );
    let (r, got) = c.stop().await;
    r.unwrap();
    assert_eq!(got.len(), 20);

    for i in 0..6 {
        t.send(OutgoingRecord {
            partition: Some(i % 2),
            value: Some(format!("second-{i}").into_bytes()),
            ..record(&topic)
        })
        .await
        .unwrap()
        .await
        .unwrap();
    }
    let c = start_consumer(&t, &topic, 2, &group, None);
    assert!(
        c.wait_for(6, Duration::from_secs(30)).await,
        "got {}",
        c.count()
    );
    // Anything more would be reprocessing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (r, got) = c.stop().await;
    r.unwrap();
    let values: Vec<String> = got
        .iter()
        .map(|g| String::from_utf8_lossy(g.value.as_deref().unwrap()).into_owned())
        .collect();
    assert_eq!(got.len(), 6, "{values:?}");
    assert!(
        values.iter().all(|v| v.starts_with("second-")),
        "{values:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispatch_error_stops_the_consumer_and_commits_what_is_done() {
    let url = kafka_or_skip!();
    let t = transport(&url).await;
    let topic = unique("kt-fatal");
    let group = unique("kt-fatal-g");
    create(&t, &topic, 1).await;
    for i in 0..10 {
        t.send(OutgoingRecord {
            value: Some(format!("v{i}").into_bytes()),
            partition: Some(0),
            ..record(&topic)
        })
        .await
        .unwrap()
        .await
        .unwrap();
    }
    let c = start_consumer(&t, &topic, 1, &group, Some(5));
    let r = tokio::time::timeout(Duration::from_secs(30), c.task)
        .await
        .expect("consumer stops by itself")
        .unwrap();
    let err = r.expect_err("the sink failed");
    assert!(err.to_string().contains("offset 5"), "{err}");
    let offsets: Vec<i64> = c.got.lock().unwrap().iter().map(|g| g.offset).collect();
    assert_eq!(offsets, vec![0, 1, 2, 3, 4]);

    // The same group starts again at the failed record.
    let c = start_consumer(&t, &topic, 1, &group, None);
    assert!(
        c.wait_for(5, Duration::from_secs(30)).await,
        "got {}",
        c.count()
    );
    let (r, got) = c.stop().await;
    r.unwrap();
    let offsets: Vec<i64> = got.iter().map(|g| g.offset).collect();
    assert_eq!(offsets, vec![5, 6, 7, 8, 9]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_producer_flavour_delivers_and_a_full_queue_loses_nothing() {
    let url = kafka_or_skip!();
    let mut s = settings(&url);
    // A tiny local queue so that sends find it full.
    s.kafka
        .producer
        .insert("queue.buffering.max.messages".into(), "5".into());
    let t = transport_with(s).await;
    let topic = unique("kt-produce");
    create(&t, &topic, 2).await;

    let mut handles = Vec::new();
    for i in 0..300u32 {
        let (acks, guarantee) = match i % 4 {
            0 => (Some(Acks::None), None),
            1 => (Some(Acks::Leader), None),
            2 => (None, None),
            _ => (None, Some(DeliveryGuarantee::ExactlyOnce)),
        };
        handles.push(
            t.send(OutgoingRecord {
                key: Some(i.to_be_bytes().to_vec()),
                value: Some(b"payload".to_vec()),
                acks,
                delivery_guarantee: guarantee,
                ..record(&topic)
            })
            .await
            .expect("enqueued or handed to the retry task"),
        );
    }
    t.flush(Duration::from_secs(30)).await.expect("flush");
    for h in handles {
        h.await.expect("delivered");
    }
    assert_eq!(t.health().errors, 0, "{:?}", t.health());

    let c = start_consumer(&t, &topic, 2, &unique("kt-produce-g"), None);
    assert!(
        c.wait_for(300, Duration::from_secs(30)).await,
        "got {}",
        c.count()
    );
    let (r, got) = c.stop().await;
    r.unwrap();
    assert_eq!(got.len(), 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_failures_are_reported_and_counted() {
    let url = kafka_or_skip!();
    let mut s = settings(&url);
    s.kafka
        .producer
        .insert("message.timeout.ms".into(), "2000".into());
    let t = transport_with(s).await;
    let topic = unique("kt-fail");
    create(&t, &topic, 1).await;
    // Partition 7 does not exist: refused at once or failed by the delivery report.
    match t
        .send(OutgoingRecord {
            partition: Some(7),
            value: Some(b"x".to_vec()),
            ..record(&topic)
        })
        .await
    {
        Err(e) => assert!(matches!(e, Error::Delivery { .. }), "{e:?}"),
        Ok(h) => {
            let e = h.await.expect_err("cannot be delivered");
            assert!(matches!(e, Error::Delivery { .. }), "{e:?}");
            let health = t.health();
            assert!(health.errors >= 1, "{health:?}");
            assert!(health.last_error.unwrap().contains(&topic));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// The sink returns the runtime's `Result`, whose error type is what it is.
#[allow(clippy::result_large_err)]
async fn a_producer_sending_to_many_topics_puts_every_record_on_its_own_topic() {
    let url = kafka_or_skip!();
    let t = transport(&url).await;
    // More topics than the producer keeps in its short list of topic handles (16).
    let topics: Vec<String> = (0..20).map(|i| unique(&format!("kt-many-{i}"))).collect();
    for topic in &topics {
        create(&t, topic, 1).await;
    }
    // Twice round, so that every topic's handle is both made and found again.
    let mut handles = Vec::new();
    for round in 0..2 {
        for topic in &topics {
            let h = t
                .send(OutgoingRecord {
                    value: Some(format!("{topic}/{round}").into_bytes()),
                    ..record(topic)
                })
                .await
                .unwrap();
            handles.push(h);
        }
    }
    for h in handles {
        h.await.expect("delivered");
    }
    let got: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let sink = got.clone();
    let (stop, rx) = watch::channel(false);
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    let consumer = t
        .consumer(ConsumerConfig {
            group_id: unique("kt-many-group"),
            topics: topics.clone(),
            from_earliest: true,
        })
        .await
        .unwrap();
    let run = run_for_test(consumer, &names, rx, Duration::from_millis(200), move |m| {
        let value = String::from_utf8_lossy(m.value.unwrap_or_default()).into_owned();
        sink.lock().unwrap().push((m.topic.to_string(), value));
        Ok(())
    });
    let watch_got = async {
        let all = eventually(Duration::from_secs(60), || got.lock().unwrap().len() >= 40).await;
        stop.send_replace(true);
        all
    };
    let (r, all) = tokio::join!(run, watch_got);
    assert!(all, "every record read in time");
    r.expect("consumer ran");
    let mut got = got.lock().unwrap().clone();
    got.sort();
    let mut want: Vec<(String, String)> = topics
        .iter()
        .flat_map(|t| (0..2).map(move |round| (t.clone(), format!("{t}/{round}"))))
        .collect();
    want.sort();
    assert_eq!(got, want);
}
