//! Records that do not decode, on the embedded broker: never a panic, never silently dropped.
//! Each error policy (skip, dead_letter, stop, and the app-wide default) end to end, and sends
//! that cannot be serialized. The same scenarios run on Kafka in `kafka_bad_payloads.rs`.

#[path = "support/bad_payloads.rs"]
mod scenarios;

use faust_runtime::MemoryBroker;
use scenarios::Env;
use std::time::Duration;

/// A private, named embedded broker for one scenario.
fn env(name: &str) -> Env {
    let url = format!("memory://{name}");
    Env {
        memory: Some(MemoryBroker::from_url(&url).expect("memory broker")),
        url,
        run: "memory".into(),
        patience: Duration::from_secs(15),
    }
}

#[tokio::test]
async fn skip_logs_counts_commits_past_and_goes_on() {
    scenarios::skip::run(&env("bad-payloads-skip")).await;
}

#[tokio::test]
async fn dead_letter_forwards_original_bytes_and_headers() {
    scenarios::dead_letter::run(&env("bad-payloads-dead-letter")).await;
}

#[tokio::test]
async fn app_wide_default_policy_applies_to_undeclared_topics() {
    scenarios::app_default::run(&env("bad-payloads-app-default")).await;
}

#[tokio::test]
async fn stop_fails_the_app_and_keeps_the_bad_record_uncommitted() {
    scenarios::stop::run(&env("bad-payloads-stop")).await;
}

#[tokio::test]
async fn unserializable_values_never_reach_the_broker() {
    scenarios::send_errors::run(&env("bad-payloads-send")).await;
}
