//! The worker's web server on the Kafka-protocol test broker: `/ready` and `/metrics` during a
//! run (values checked against what the agent processed), and the table views with two workers
//! in one consumer group, where a key asked of the worker that does not hold it is answered with
//! the holder's value.
//!
//! Needs `FAUST_TEST_KAFKA=kafka://host:port`; fails without it unless `FAUST_SKIP_KAFKA=1`.
#![cfg(feature = "kafka")]

#[macro_use]
mod common;
#[macro_use]
mod table_support;
#[path = "common/http.rs"]
mod http;
#[path = "table_support/views.rs"]
mod views;

use common::{kafka_url, unique};
use faust_runtime::prelude::*;
use std::time::{Duration, Instant};
use table_support::*;

counting_module!(viewed, "ktbl-viewed-words");

fn app(url: &str, id: &str, client: &str) -> App {
    let client = client.to_string();
    App::builder(id)
        .broker(url)
        .include_module(module_path!().to_string() + "::viewed")
        .commit_interval(Duration::from_millis(200))
        .shutdown_timeout(Duration::from_secs(10))
        .configure(move |s| {
            s.kafka.client_id = client;
            s.kafka.session_timeout = Duration::from_secs(6);
            s.kafka.heartbeat_interval = Duration::from_millis(500);
            views::local_web(s);
        })
        .build()
        .unwrap()
}

fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

/// `GET path` until `cond` holds of the answer (60 s at most); returns the last answer.
async fn fetch_until(app: &App, path: &str, cond: impl Fn(u16, &str) -> bool) -> (u16, String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = http::get(app.web_addr().unwrap(), path)
            .await
            .unwrap_or_default();
        if cond(r.0, &r.1) || Instant::now() >= deadline {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_metrics_and_table_views_on_kafka_with_two_workers() {
    let url = kafka_or_skip!();
    fresh_kafka_topics(&url, &["ktbl-viewed-words"]).await;
    let id = unique("ktables-viewed");
    let a = app(&url, &id, "wa");
    a.start().await.unwrap();
    let (code, body) = fetch_until(&a, "/ready", |c, _| c == 200).await;
    assert_eq!(code, 200, "{body}");
    let words: Vec<String> = (0..12).map(|i| format!("v{i}")).collect();
    let mut sent: Vec<&str> = words.iter().map(String::as_str).collect();
    sent.extend(["v0", "v0", "v7"]);
    send_words(&viewed::Words.on(&a), &sent).await;

    // /metrics counts what the agent processed, on Kafka.
    let topic = r#"{topic="ktbl-viewed-words"}"#;
    let (_, text) = fetch_until(&a, "/metrics", |_, t| {
        metric(t, &format!("faust_messages_acked_total{topic}")) == Some(sent.len() as f64)
    })
    .await;
    assert_eq!(
        metric(&text, &format!("faust_messages_received_total{topic}")),
        Some(sent.len() as f64),
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            r#"faust_table_keys_updated_total{table="word-counts"}"#
        ),
        Some(sent.len() as f64)
    );
    assert!(
        metric(&text, r#"faust_sends_total{topic="ktbl-viewed-words"}"#).is_some(),
        "the test's sends went through this app's producer: {text}"
    );

    // A second worker joins; each key is answered by whichever worker holds it.
    let b = app(&url, &id, "wb");
    b.start().await.unwrap();
    views::check_routing(&[&a, &b], "word-counts", &words, |w| match w {
        "v0" => 3,
        "v7" => 2,
        _ => 1,
    })
    .await;
    let (code, body) = fetch_until(&b, "/ready", |c, _| c == 200).await;
    assert_eq!(code, 200, "{body}");
    a.stop().await.unwrap();
    b.stop().await.unwrap();
}
