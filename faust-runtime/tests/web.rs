//! The worker's web server over HTTP during a run: `/health`, `/ready`, `/metrics` with values
//! checked against what the agent processed, the dashboard's JSON, a `#[page]`, a port in use,
//! and the server closed at stop.

mod common;
#[path = "common/http.rs"]
mod http;

use common::unique;
use faust_runtime::prelude::*;
use faust_runtime::MemoryBroker;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

mod webapp {
    use super::*;
    use faust_runtime::web::axum::extract::{Path, State};

    pub static SEEN: AtomicU64 = AtomicU64::new(0);

    #[topic(name = "web-in", key = String, value = u64, partitions = 2)]
    pub struct WebIn;

    #[topic(name = "web-out", value = u64, partitions = 1)]
    pub struct WebOut;

    #[agent(WebIn)]
    async fn relay(mut values: Stream<WebIn>) -> Result<()> {
        while let Some(v) = values.next().await {
            SEEN.fetch_add(1, Ordering::Relaxed);
            if v == 7 {
                return Err(faust_runtime::Error::state("seven is not relayed"));
            }
            WebOut.record(v).send().await?;
        }
        Ok(())
    }

    #[timer(interval = "20ms")]
    async fn heartbeat() -> Result<()> {
        Ok(())
    }

    #[page("/seen/{unit}")]
    async fn seen(State(app): State<App>, Path(unit): Path<String>) -> String {
        format!(
            "{} {unit} seen by {}",
            SEEN.load(Ordering::Relaxed),
            app.id()
        )
    }
}

fn local_web(s: &mut faust_runtime::Settings) {
    s.web.enabled = true;
    s.web.bind = IpAddr::V4(Ipv4Addr::LOCALHOST);
    s.web.port = 0;
}

/// The value of the metric line starting with `series` (name and labels as rendered).
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

/// Fetches `path` every 5 ms until `cond` holds of the answer or `WAIT` passes; returns the last
/// answer and whether it held.
async fn fetch_until(
    addr: SocketAddr,
    path: &str,
    cond: impl Fn(u16, &str) -> bool,
) -> (bool, (u16, String)) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let r = http::get(addr, path).await.unwrap_or_default();
        if cond(r.0, &r.1) {
            return (true, r);
        }
        if std::time::Instant::now() >= deadline {
            return (false, r);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn fetch(addr: SocketAddr, path: &str) -> (u16, String) {
    http::get(addr, path)
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_report_what_the_agents_processed() {
    let id = unique("web");
    let app = App::builder(id.clone())
        .transport(Arc::new(MemoryBroker::new()))
        .include_module(module_path!().to_string() + "::webapp")
        .commit_interval(Duration::from_millis(30))
        .configure(local_web)
        .build()
        .unwrap();
    assert!(app.web_addr().is_none(), "not listening before start");
    app.start().await.unwrap();
    let addr = app.web_addr().expect("listening once started");
    assert_ne!(addr.port(), 0);

    let (code, body) = fetch(addr, "/health").await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"alive\":true"), "{body}");
    let (ok, ready) = fetch_until(addr, "/ready", |code, _| code == 200).await;
    assert!(ok, "{ready:?}");
    assert!(
        ready.1.contains("\"partitions_assigned\":true"),
        "{ready:?}"
    );

    let input = webapp::WebIn.on(&app);
    let mut per_partition = [0i64; 2];
    for v in 0..10u64 {
        let meta = input
            .record(v)
            .key(format!("k{v}"))
            .send_and_wait()
            .await
            .unwrap();
        per_partition[meta.partition as usize] += 1;
    }

    let done = |text: &str| {
        metric(
            text,
            "faust_events_processed_total{agent=\"relay\",topic=\"web-in\"}",
        ) == Some(9.0)
            && (0..2).all(|p| {
                metric(
                    text,
                    &format!("faust_committed_offset{{partition=\"{p}\",topic=\"web-in\"}}"),
                ) == Some(per_partition[p] as f64)
            })
            && metric(text, "faust_messages_acked_total{topic=\"web-in\"}") == Some(10.0)
    };
    let (ok, (_, text)) = fetch_until(addr, "/metrics", |_, t| done(t)).await;
    assert!(ok, "{text}");
    let at = |series: &str| metric(&text, series);
    assert_eq!(
        at("faust_messages_received_total{topic=\"web-in\"}"),
        Some(10.0)
    );
    assert_eq!(
        at("faust_events_received_total{agent=\"relay\",topic=\"web-in\"}"),
        Some(10.0)
    );
    assert_eq!(
        at("faust_events_failed_total{agent=\"relay\",topic=\"web-in\"}"),
        Some(1.0)
    );
    assert_eq!(at("faust_agent_restarts_total{agent=\"relay\"}"), Some(1.0));
    assert_eq!(at("faust_sends_total{topic=\"web-out\"}"), Some(9.0));
    assert_eq!(
        at("faust_send_latency_seconds_count{topic=\"web-out\"}"),
        Some(9.0)
    );
    assert_eq!(at("faust_sends_total{topic=\"web-in\"}"), Some(10.0));
    assert_eq!(at("faust_assigned_partitions{topic=\"web-in\"}"), Some(2.0));
    assert_eq!(at("faust_rebalances_total{kind=\"assigned\"}"), Some(1.0));
    assert!(at("faust_timer_runs_total{timer=\"heartbeat\"}").unwrap_or(0.0) >= 1.0);
    assert!(at("faust_commits_total").unwrap_or(0.0) >= 1.0);
    assert_eq!(at("faust_producer_queue_depth"), Some(0.0));
    // The lag, refreshed with the commits, reaches zero once everything is committed.
    let (ok, (_, t)) = fetch_until(addr, "/metrics", |_, t| {
        (0..2).all(|p| {
            metric(
                t,
                &format!("faust_consumer_lag{{partition=\"{p}\",topic=\"web-in\"}}"),
            ) == Some(0.0)
                && metric(
                    t,
                    &format!("faust_end_offset{{partition=\"{p}\",topic=\"web-in\"}}"),
                ) == Some(per_partition[p] as f64)
        })
    })
    .await;
    assert!(ok, "{t}");

    // The dashboard's data says the same.
    let (code, json) = fetch(addr, "/api/dashboard").await;
    assert_eq!(code, 200);
    let d: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(d["app"], id.as_str());
    assert_eq!(d["ready"], true);
    let relay = d["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "relay")
        .unwrap();
    assert_eq!(relay["processed"], 9);
    assert_eq!(relay["failed"], 1);
    assert_eq!(relay["restarts"], 1);
    let topic = d["topics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "web-in")
        .unwrap();
    let committed: i64 = topic["assigned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["committed"].as_i64().unwrap())
        .sum();
    assert_eq!(committed, 10);
    let errors = d["errors"].as_array().unwrap();
    assert!(
        errors
            .iter()
            .any(|e| e["what"] == "agent relay" && e["error"] == "seven is not relayed"),
        "{errors:?}"
    );
    let (code, html) = fetch(addr, "/").await;
    assert_eq!(code, 200);
    assert!(html.contains("/api/dashboard"), "the page polls its data");

    let (code, topology) = fetch(addr, "/api/topology").await;
    assert_eq!(code, 200);
    let t: serde_json::Value = serde_json::from_str(&topology).unwrap();
    assert!(
        t["edges"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["from"] == "topic:web-in" && e["to"] == "agent:relay"),
        "{topology}"
    );

    // A user page, with its path parameter and the app.
    let (code, body) = fetch(addr, "/seen/records").await;
    assert_eq!(code, 200);
    assert_eq!(body, format!("10 records seen by {id}"));
    assert_eq!(fetch(addr, "/nope").await.0, 404);

    app.stop().await.unwrap();
    assert!(
        http::get(addr, "/health").await.is_err(),
        "the server is closed at stop"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_in_use_is_a_clear_start_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let app = App::builder(unique("web-taken"))
        .transport(Arc::new(MemoryBroker::new()))
        .include_module(module_path!().to_string() + "::webapp")
        .configure(|s| {
            local_web(s);
            s.web.port = port;
        })
        .build()
        .unwrap();
    let err = app.start().await.unwrap_err().to_string();
    assert!(
        err.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{err}"
    );
    assert_eq!(app.state(), faust_runtime::AppState::Stopped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_web_nothing_listens_and_no_metrics_run() {
    let app = App::builder(unique("web-off"))
        .transport(Arc::new(MemoryBroker::new()))
        .include_module(module_path!().to_string() + "::webapp")
        .build()
        .unwrap();
    app.start().await.unwrap();
    assert!(app.web_addr().is_none());
    assert!(app.metrics().is_none());
    assert!(app.sensors().is_empty());
    app.stop().await.unwrap();
}
