//! The table views of the web server on the embedded broker: two workers share a table's
//! partitions, and `/table/{name}/{key}` asked of either answers with the value held by the
//! worker whose partition has the key; `/table` and `/table/{name}`; unknown tables and keys.

#[macro_use]
mod common;
#[macro_use]
mod table_support;
#[path = "common/http.rs"]
mod http;
#[path = "table_support/views.rs"]
mod views;

use common::{eventually, unique};
use faust_runtime::prelude::*;
use faust_runtime::MemoryBroker;
use std::sync::Arc;
use std::time::Duration;
use table_support::*;

const WAIT: Duration = Duration::from_secs(30);

counting_module!(counting, "tbl-view-words");

fn app(broker: &MemoryBroker, id: &str, client: &str) -> App {
    let client = client.to_string();
    App::builder(id)
        .transport(Arc::new(broker.clone()))
        .include_module(module_path!().to_string() + "::counting")
        .commit_interval(Duration::from_millis(50))
        .configure(move |s| {
            s.kafka.client_id = client;
            views::local_web(s);
        })
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_is_answered_by_the_worker_holding_it_whichever_worker_is_asked() {
    let broker = MemoryBroker::new();
    let id = unique("tables-views");
    let a = app(&broker, &id, "wa");
    a.start().await.unwrap();
    let b = app(&broker, &id, "wb");
    b.start().await.unwrap();
    let words: Vec<String> = (0..12).map(|i| format!("w{i}")).collect();
    let mut sent: Vec<&str> = words.iter().map(String::as_str).collect();
    sent.extend(["w0", "w0", "w5"]);
    send_words(&counting::Words.on(&a), &sent).await;
    assert!(eventually(WAIT, || seen(&counting::SEEN, &id).len() == sent.len()).await);

    views::check_routing(&[&a, &b], "word-counts", &words, |w| match w {
        "w0" => 3,
        "w5" => 2,
        _ => 1,
    })
    .await;

    // The list of tables, an unknown table, a key no one holds.
    let addr = a.web_addr().unwrap();
    let (code, body) = http::get(addr, "/table").await.unwrap();
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v[0]["name"], "word-counts");
    assert_eq!(v[0]["changelog"], format!("{id}-word-counts-changelog"));
    let (code, body) = http::get(addr, "/table/nope").await.unwrap();
    assert_eq!(code, 404);
    assert!(body.contains("no table 'nope'"), "{body}");
    let (code, body) = http::get(b.web_addr().unwrap(), "/table/word-counts/never-sent")
        .await
        .unwrap();
    assert_eq!(code, 404, "{body}");

    // A worker that stops says so: the other forgets it at once, not after the 15 s a silent
    // worker takes to be forgotten.
    a.stop().await.unwrap();
    let forgotten = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (_, body) = http::get(b.web_addr().unwrap(), "/table/word-counts")
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        if v["peers"].as_array().is_some_and(Vec::is_empty) {
            break;
        }
        assert!(
            std::time::Instant::now() < forgotten,
            "the stopped worker is still a peer: {v}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    b.stop().await.unwrap();
}
