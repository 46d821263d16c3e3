//! Table reads, writes and deletes reach the sensors (Faust's `on_table_get` / `on_table_set` /
//! `on_table_del`) and the Prometheus metrics, on the embedded broker.

#[macro_use]
mod common;
#[macro_use]
mod table_support;
#[path = "common/http.rs"]
mod http;

use common::{eventually, unique};
use faust_runtime::prelude::*;
use faust_runtime::sensor::Sensor;
use faust_runtime::MemoryBroker;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use table_support::*;

const WAIT: Duration = Duration::from_secs(20);

counting_module!(counting, "tbl-sensed-words");

/// (table, "get" | "set" | "del") -> calls.
#[derive(Default)]
struct TableOps(Mutex<BTreeMap<(String, &'static str), u64>>);

impl TableOps {
    fn add(&self, table: &str, op: &'static str) {
        *self
            .0
            .lock()
            .unwrap()
            .entry((table.to_string(), op))
            .or_default() += 1;
    }
    fn get(&self, op: &'static str) -> u64 {
        self.0
            .lock()
            .unwrap()
            .get(&("word-counts".to_string(), op))
            .copied()
            .unwrap_or(0)
    }
}

impl Sensor for TableOps {
    fn on_table_get(&self, table: &str) {
        self.add(table, "get");
    }
    fn on_table_set(&self, table: &str) {
        self.add(table, "set");
    }
    fn on_table_del(&self, table: &str) {
        self.add(table, "del");
    }
}

fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_reads_writes_and_deletes_reach_the_sensors_and_the_metrics() {
    let broker = MemoryBroker::new();
    let id = unique("tables-sensed");
    let ops = Arc::new(TableOps::default());
    let app = App::builder(id.as_str())
        .transport(Arc::new(broker.clone()))
        .include_module(module_path!().to_string() + "::counting")
        .commit_interval(Duration::from_millis(50))
        .sensor(ops.clone())
        .configure(|s| {
            s.web.enabled = true;
            s.web.bind = IpAddr::V4(Ipv4Addr::LOCALHOST);
            s.web.port = 0;
        })
        .build()
        .unwrap();
    app.start().await.unwrap();
    // Four updates (a read and a write each) and one delete.
    let words = ["apple", "pear", "apple", "fig", "del:pear"];
    send_words(&counting::Words.on(&app), &words).await;
    assert!(eventually(WAIT, || seen(&counting::SEEN, &id).len() == words.len()).await);
    assert_eq!((ops.get("get"), ops.get("set"), ops.get("del")), (4, 4, 1));

    let addr = app.web_addr().expect("the web server is listening");
    let (status, text) = http::get(addr, "/metrics").await.unwrap();
    assert_eq!(status, 200);
    let table = r#"{table="word-counts"}"#;
    assert_eq!(
        metric(&text, &format!("faust_table_keys_retrieved_total{table}")),
        Some(4.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, &format!("faust_table_keys_updated_total{table}")),
        Some(4.0)
    );
    assert_eq!(
        metric(&text, &format!("faust_table_keys_deleted_total{table}")),
        Some(1.0)
    );
    app.stop().await.unwrap();
}
