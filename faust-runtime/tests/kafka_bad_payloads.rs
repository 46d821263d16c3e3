//! The bad-payload scenarios of `bad_payloads.rs`, on a real Kafka-protocol broker.
//!
//! Needs `FAUST_TEST_KAFKA=kafka://host:port` (scripts/test.sh starts a broker and sets it).
//! Without it these tests fail, unless `FAUST_SKIP_KAFKA=1` asks to skip them. Each test deletes
//! its topics first, so runs against a long-lived broker start from empty topics.
#![cfg(feature = "kafka")]

#[macro_use]
mod common;

use common::kafka_url;
#[path = "support/bad_payloads.rs"]
mod scenarios;

use faust_runtime::settings::Settings;
use faust_runtime::transport::kafka::KafkaTransport;
use faust_runtime::transport::Transport;
use faust_runtime::Error;
use scenarios::Env;
use std::time::Duration;

/// The environment of one scenario, with `topics` deleted; `None` when skipping.
async fn env(topics: &[&str]) -> Option<Env> {
    let url = kafka_url()?;
    let settings = Settings {
        broker: url.clone(),
        broker_connect_timeout: Duration::from_secs(20),
        ..Settings::default()
    };
    let admin = KafkaTransport::new(
        &settings.broker,
        &settings.kafka,
        settings.broker_connect_timeout,
    )
    .expect("kafka transport");
    admin.connect().await.expect("connect to the test broker");
    for t in topics {
        assert!(scenarios::TOPICS.contains(t), "{t} is not a scenario topic");
        match admin.delete_topic(t).await {
            Ok(()) | Err(Error::UnknownTopic(_)) => {}
            Err(e) => panic!("cannot delete test topic {t}: {e}"),
        }
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    Some(Env {
        url,
        memory: None,
        run: format!("{}-{nanos}", std::process::id()),
        // Consumer group joins take seconds, and some scenarios join several groups.
        patience: Duration::from_secs(60),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_skip_logs_counts_commits_past_and_goes_on() {
    let Some(env) = env(&["bp-skip-orders", "bp-skip-lines"]).await else {
        return;
    };
    scenarios::skip::run(&env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_dead_letter_forwards_original_bytes_and_headers() {
    let topics = [
        "bp-dl-orders",
        "bp-dl-orders-dlq",
        "bp-dl-named",
        "bp-dl-named-target",
    ];
    let Some(env) = env(&topics).await else {
        return;
    };
    scenarios::dead_letter::run(&env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_app_wide_default_policy_applies_to_undeclared_topics() {
    let Some(env) = env(&["bp-def-orders", "bp-def-orders-dlq"]).await else {
        return;
    };
    scenarios::app_default::run(&env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_stop_fails_the_app_and_keeps_the_bad_record_uncommitted() {
    let Some(env) = env(&["bp-stop-orders"]).await else {
        return;
    };
    scenarios::stop::run(&env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_unserializable_values_never_reach_the_broker() {
    let topics = [
        "bp-send-orders",
        "bp-send-raw",
        "bp-send-grid",
        "bp-send-numbers",
    ];
    let Some(env) = env(&topics).await else {
        return;
    };
    scenarios::send_errors::run(&env).await;
}
