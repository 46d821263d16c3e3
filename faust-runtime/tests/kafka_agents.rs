//! Agent handles and agent features on the Kafka-protocol test broker: request-reply between two
//! apps, with the requests committed once answered.
//!
//! Needs `FAUST_TEST_KAFKA=kafka://host:port` (scripts/test.sh starts a broker and sets it).
//! Without it these tests fail, unless `FAUST_SKIP_KAFKA=1` asks to skip them.
#![cfg(feature = "kafka")]

#[macro_use]
mod common;

use common::{kafka_url, unique};
use faust_runtime::prelude::*;
use faust_runtime::settings::Settings;
use faust_runtime::transport::kafka::KafkaTransport;
use faust_runtime::transport::{ConsumerConfig, TopicPartition, Transport};
use faust_runtime::Error;
use std::time::Duration;

/// Long enough for group joins (~3 s each with the default session timeout) plus the work.
const WAIT: Duration = Duration::from_secs(60);

fn app(url: &str, id: &str, module: Option<&str>) -> App {
    let mut b = App::builder(id)
        .broker(url)
        .commit_interval(Duration::from_millis(200))
        .shutdown_timeout(Duration::from_secs(10));
    b = match module {
        Some(m) => b.include_module(module_path!().to_string() + "::" + m),
        // A client: no agents of this file.
        None => b.include_module(module_path!().to_string() + "::nothing"),
    };
    b.build().unwrap()
}

#[allow(dead_code)]
mod nothing {}

/// Deletes a topic left by an earlier run on the same broker.
async fn fresh_topic(url: &str, name: &str) {
    let s = Settings::default();
    let t = KafkaTransport::new(url, &s.kafka, s.broker_connect_timeout).unwrap();
    t.connect().await.unwrap();
    match t.delete_topic(name).await {
        Ok(()) | Err(Error::UnknownTopic(_)) => {}
        Err(e) => panic!("cannot delete {name}: {e}"),
    }
}

/// The offsets group `group` committed for `partitions` partitions of `topic`.
async fn committed(url: &str, group: &str, topic: &str, partitions: i32) -> Vec<Option<i64>> {
    let s = Settings::default();
    let t = KafkaTransport::new(url, &s.kafka, s.broker_connect_timeout).unwrap();
    t.connect().await.unwrap();
    let mut c = t
        .consumer(ConsumerConfig {
            group_id: group.to_string(),
            topics: vec![topic.to_string()],
            from_earliest: true,
        })
        .await
        .unwrap();
    let tps: Vec<TopicPartition> = (0..partitions)
        .map(|p| TopicPartition {
            topic: topic.to_string(),
            partition: p,
        })
        .collect();
    c.committed(&tps).await.unwrap()
}

mod doubler {
    use super::*;

    #[topic(name = "ka-numbers", key = String, value = u64, partitions = 2)]
    pub struct Numbers;

    #[agent(Numbers, handle = Doubler)]
    pub async fn double(mut stream: Stream<Numbers>, out: Yield<u64>) -> Result<()> {
        while let Some(n) = stream.next().await {
            out.send(n * 2).await?;
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_app_asks_an_agent_of_another_and_the_answered_requests_are_committed() {
    let url = kafka_or_skip!();
    fresh_topic(&url, "ka-numbers").await;
    let group = unique("ka-server");
    let server = app(&url, &group, Some("doubler"));
    server.start().await.unwrap();
    // A client: built, not started (it has nothing to run), asking.
    let client = app(&url, &unique("ka-client"), None);

    let doubler = doubler::Doubler.on(&client).timeout(WAIT);
    assert_eq!(doubler.ask_key("a", 21).await.unwrap(), 42);
    let joined = doubler.join([1, 2, 3, 4]).await.unwrap();
    assert_eq!(joined, [2, 4, 6, 8]);
    client.stop().await.unwrap();
    server.stop().await.unwrap();

    let offsets = committed(&url, &group, "ka-numbers", 2).await;
    let total: i64 = offsets.iter().map(|o| o.unwrap_or(0)).sum();
    assert_eq!(total, 5, "every answered request is committed: {offsets:?}");
}
