//! The transports' `Consumer` interface, the same checks on the embedded broker and on Kafka:
//! rebalances reported as values, assign, pause / resume / seek, commits and the committed and
//! end offset queries.

mod common;

use common::{kafka_url, unique};
use faust_runtime::transport::{
    CommitOffset, Consumer, ConsumerConfig, Flow, NewTopic, OutgoingRecord, Polled, RawMessage,
    Rebalance, RecordSink, Transport,
};
use faust_runtime::{MemoryBroker, Settings, TopicPartition};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Offsets of the records polled.
#[derive(Default)]
struct Offsets(Vec<i64>);

impl RecordSink for Offsets {
    fn record(&mut self, msg: &RawMessage<'_>) -> Flow {
        self.0.push(msg.offset);
        Flow::Continue
    }
}

/// Polls until `want` records arrived (answering the first assignment), or the deadline.
async fn poll_records(c: &mut dyn Consumer, sink: &mut Offsets, want: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while sink.0.len() < want {
        assert!(Instant::now() < deadline, "got {:?}, wanted {want}", sink.0);
        match c.poll(sink).unwrap() {
            Polled::Rebalance(Rebalance::Assigned(tps)) => {
                let starts: Vec<_> = tps.into_iter().map(|tp| (tp, None)).collect();
                c.assign(&starts).await.unwrap();
            }
            Polled::Rebalance(other) => panic!("unexpected {other:?}"),
            Polled::Records(_) => {}
            Polled::Idle => {
                let _ = tokio::time::timeout(Duration::from_millis(100), c.ready()).await;
            }
        }
    }
}

async fn exercise(t: &dyn Transport) {
    let topic = unique("ci-topic");
    t.create_topic(&NewTopic {
        name: topic.clone(),
        partitions: 1,
        replication_factor: 1,
        config: BTreeMap::new(),
    })
    .await
    .unwrap();
    // One record per request, so every broker reports the end offset right.
    for i in 0..5 {
        let r = OutgoingRecord::new(topic.clone(), None, Some(format!("{i}").into_bytes()));
        t.send(r).await.unwrap().await.unwrap();
    }
    let tp = TopicPartition {
        topic: topic.clone(),
        partition: 0,
    };
    let mut c = t
        .consumer(ConsumerConfig {
            group_id: unique("ci-group"),
            topics: vec![topic.clone()],
            from_earliest: true,
        })
        .await
        .unwrap();
    let mut got = Offsets::default();
    poll_records(c.as_mut(), &mut got, 5).await;
    assert_eq!(got.0, vec![0, 1, 2, 3, 4]);
    assert_eq!(c.end_offset(&tp).await.unwrap(), 5);
    assert_eq!(
        c.committed(std::slice::from_ref(&tp)).await.unwrap(),
        vec![None]
    );
    c.commit(
        &[CommitOffset {
            topic: topic.clone(),
            partition: 0,
            offset: 3,
        }],
        true,
    )
    .await
    .unwrap();
    assert_eq!(
        c.committed(std::slice::from_ref(&tp)).await.unwrap(),
        vec![Some(3)]
    );

    // Seek back: the records from there come again.
    c.seek(&tp, 2).await.unwrap();
    let mut again = Offsets::default();
    poll_records(c.as_mut(), &mut again, 3).await;
    assert_eq!(again.0, vec![2, 3, 4]);

    // Paused, a partition delivers nothing; resumed, it goes on.
    c.pause(std::slice::from_ref(&tp)).unwrap();
    let r = OutgoingRecord::new(topic.clone(), None, Some(b"5".to_vec()));
    t.send(r).await.unwrap().await.unwrap();
    let mut paused = Offsets::default();
    let until = Instant::now() + Duration::from_millis(500);
    while Instant::now() < until {
        c.poll(&mut paused).unwrap();
        let _ = tokio::time::timeout(Duration::from_millis(50), c.ready()).await;
    }
    assert!(
        paused.0.is_empty(),
        "a paused partition delivered {:?}",
        paused.0
    );
    c.resume(std::slice::from_ref(&tp)).unwrap();
    let mut resumed = Offsets::default();
    poll_records(c.as_mut(), &mut resumed, 1).await;
    assert_eq!(resumed.0, vec![5]);
    c.close(&[]).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_brokers_consumer_follows_the_interface() {
    exercise(&MemoryBroker::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kafka_consumer_follows_the_interface() {
    let Some(url) = kafka_url() else { return };
    let s = Settings::default();
    let t = faust_runtime::transport::kafka::KafkaTransport::new(
        &url,
        &s.kafka,
        s.broker_connect_timeout,
    )
    .unwrap();
    t.connect().await.unwrap();
    exercise(&t).await;
}

/// As on Kafka: a deleted topic's committed offsets go with it (a topic created again under the
/// name is read from its start), and a commit for a topic that does not exist is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_topic_takes_its_committed_offsets_with_it_on_the_embedded_broker() {
    let broker = MemoryBroker::new();
    let topic = unique("ci-deleted");
    let tp = TopicPartition {
        topic: topic.clone(),
        partition: 0,
    };
    let new_topic = NewTopic {
        name: topic.clone(),
        partitions: 1,
        replication_factor: 1,
        config: BTreeMap::new(),
    };
    broker.create_topic(&new_topic).await.unwrap();
    for i in 0..3 {
        let r = OutgoingRecord::new(topic.clone(), None, Some(format!("{i}").into_bytes()));
        broker.send(r).await.unwrap().await.unwrap();
    }
    let group = unique("ci-deleted-group");
    let mut c = broker
        .consumer(ConsumerConfig {
            group_id: group.clone(),
            topics: vec![topic.clone()],
            from_earliest: true,
        })
        .await
        .unwrap();
    let mut got = Offsets::default();
    poll_records(c.as_mut(), &mut got, 3).await;
    let commit = |offset| {
        [CommitOffset {
            topic: topic.clone(),
            partition: 0,
            offset,
        }]
    };
    c.commit(&commit(3), true).await.unwrap();
    assert_eq!(broker.committed(&group, &topic, 0), Some(3));

    broker.delete_topic(&topic).await.unwrap();
    assert_eq!(
        broker.committed(&group, &topic, 0),
        None,
        "gone with the topic"
    );
    c.commit(&commit(3), true).await.unwrap();
    assert_eq!(
        broker.committed(&group, &topic, 0),
        None,
        "a commit for a missing topic is refused"
    );
    broker.create_topic(&new_topic).await.unwrap();
    assert_eq!(
        c.committed(std::slice::from_ref(&tp)).await.unwrap(),
        vec![None]
    );
}
