//! The live dashboard: one HTML page with its script (`dashboard.html`, compiled into the
//! binary, no build step, nothing loaded from elsewhere) that polls `/api/dashboard` and draws
//! agents, topics with their partitions, committed offsets and lag, timers, recent errors, and
//! draws the app's topology (`/api/topology`) as SVG.

use crate::app::App;
use crate::registry::Selection;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use prometheus::proto::MetricFamily;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

const PAGE: &str = include_str!("dashboard.html");

pub(crate) async fn page() -> Html<&'static str> {
    Html(PAGE)
}

/// Values of one metric family by their label values (in the family's label order).
struct Values(BTreeMap<Vec<(String, String)>, f64>);

impl Values {
    fn of(families: &[MetricFamily], name: &str) -> Values {
        let mut out = BTreeMap::new();
        for f in families.iter().filter(|f| f.name() == name) {
            let counter = f.get_field_type() == prometheus::proto::MetricType::COUNTER;
            for m in f.get_metric() {
                let labels = m
                    .get_label()
                    .iter()
                    .map(|l| (l.name().to_string(), l.value().to_string()))
                    .collect();
                let v = if counter {
                    m.get_counter().get_value()
                } else {
                    m.get_gauge().get_value()
                };
                out.insert(labels, v);
            }
        }
        Values(out)
    }

    /// The sum over every series whose labels include all of `want`.
    fn sum(&self, want: &[(&str, &str)]) -> u64 {
        self.0
            .iter()
            .filter(|(labels, _)| {
                want.iter()
                    .all(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|(_, v)| *v)
            .sum::<f64>() as u64
    }

    fn get(&self, want: &[(&str, &str)]) -> Option<i64> {
        self.0
            .iter()
            .find(|(labels, _)| {
                want.iter()
                    .all(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|(_, v)| *v as i64)
    }
}

#[derive(Serialize)]
struct Agent {
    name: &'static str,
    source: &'static str,
    concurrency: usize,
    received: u64,
    processed: u64,
    failed: u64,
    restarts: u64,
}

#[derive(Serialize)]
struct PartitionRow {
    partition: i32,
    committed: Option<i64>,
    end: Option<i64>,
    lag: Option<i64>,
}

#[derive(Serialize)]
struct TopicRow {
    name: String,
    partitions: Option<i32>,
    assigned: Vec<PartitionRow>,
    received: u64,
    sent: u64,
    send_errors: u64,
}

#[derive(Serialize)]
struct TimerRow {
    name: &'static str,
    interval_ms: u128,
    runs: u64,
    errors: u64,
}

#[derive(Serialize)]
struct Dashboard {
    app: String,
    state: String,
    ready: bool,
    broker: String,
    now_ms: u64,
    producer_queue: usize,
    agents: Vec<Agent>,
    topics: Vec<TopicRow>,
    timers: Vec<TimerRow>,
    errors: Vec<crate::metrics::RecentError>,
}

pub(crate) async fn topology(State(app): State<App>) -> Response {
    match crate::topology::Topology::of(&app) {
        Ok(t) => Json(t).into_response(),
        Err(e) => (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("the topology is not available: {e}"),
        )
            .into_response(),
    }
}

pub(crate) async fn data(State(app): State<App>) -> Response {
    Json(snapshot(&app)).into_response()
}

fn snapshot(app: &App) -> Dashboard {
    let sel = Selection::collect(app.modules()).unwrap_or_default();
    let (families, assigned, errors) = match app.metrics() {
        Some(m) => (m.registry().gather(), m.assigned(), m.recent_errors()),
        None => (Vec::new(), BTreeMap::new(), Vec::new()),
    };
    let events_in = Values::of(&families, "faust_events_received_total");
    let events_out = Values::of(&families, "faust_events_processed_total");
    let failed = Values::of(&families, "faust_events_failed_total");
    let restarts = Values::of(&families, "faust_agent_restarts_total");
    let messages = Values::of(&families, "faust_messages_received_total");
    let sends = Values::of(&families, "faust_sends_total");
    let send_errors = Values::of(&families, "faust_send_errors_total");
    let committed = Values::of(&families, "faust_committed_offset");
    let end = Values::of(&families, "faust_end_offset");
    let lag = Values::of(&families, "faust_consumer_lag");
    let timer_runs = Values::of(&families, "faust_timer_runs_total");
    let timer_errors = Values::of(&families, "faust_timer_errors_total");

    let agents = sel
        .agents
        .iter()
        .map(|a| Agent {
            name: a.name,
            source: app.resolve_source((a.source)()).name(),
            concurrency: a.concurrency,
            received: events_in.sum(&[("agent", a.name)]),
            processed: events_out.sum(&[("agent", a.name)]),
            failed: failed.sum(&[("agent", a.name)]),
            restarts: restarts.sum(&[("agent", a.name)]),
        })
        .collect();

    let mut names: BTreeSet<String> = sel.topics.iter().map(|t| t.name.to_string()).collect();
    names.extend(assigned.keys().cloned());
    for (labels, _) in sends.0.iter() {
        names.extend(
            labels
                .iter()
                .filter(|(k, _)| k == "topic")
                .map(|(_, v)| v.clone()),
        );
    }
    let topics = names
        .into_iter()
        .map(|name| {
            let rows = assigned
                .get(&name)
                .map(|set| {
                    set.iter()
                        .map(|p| {
                            let ps = p.to_string();
                            let at = [("topic", name.as_str()), ("partition", ps.as_str())];
                            PartitionRow {
                                partition: *p,
                                committed: committed.get(&at),
                                end: end.get(&at),
                                lag: lag.get(&at),
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            TopicRow {
                partitions: app.partitions_of(&name).ok(),
                received: messages.sum(&[("topic", &name)]),
                sent: sends.sum(&[("topic", &name)]),
                send_errors: send_errors.sum(&[("topic", &name)]),
                assigned: rows,
                name,
            }
        })
        .collect();

    let timers = sel
        .timers
        .iter()
        .map(|t| TimerRow {
            name: t.name,
            interval_ms: t.interval.as_millis(),
            runs: timer_runs.sum(&[("timer", t.name)]),
            errors: timer_errors.sum(&[("timer", t.name)]),
        })
        .collect();

    Dashboard {
        app: app.id().to_string(),
        state: format!("{:?}", app.state()),
        ready: app.state() == crate::AppState::Running && app.observe().is_assigned(),
        broker: crate::redact::redact_url(app.transport().url()).into_owned(),
        now_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        producer_queue: super::queue_depth(app),
        agents,
        topics,
        timers,
        errors,
    }
}
