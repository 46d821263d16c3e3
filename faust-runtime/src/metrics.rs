//! The app's Prometheus metrics: a [`Sensor`] filling a `prometheus` registry, served as text at
//! `/metrics` by the worker's web server (and installed with it).
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `faust_messages_received_total` | counter | `topic` |
//! | `faust_messages_acked_total` | counter | `topic` |
//! | `faust_events_received_total` | counter | `topic`, `agent` |
//! | `faust_events_processed_total` | counter | `topic`, `agent` |
//! | `faust_events_failed_total` | counter | `topic`, `agent` |
//! | `faust_event_seconds` | histogram | `topic`, `agent` |
//! | `faust_agent_restarts_total` | counter | `agent` |
//! | `faust_sends_total` | counter | `topic` |
//! | `faust_send_errors_total` | counter | `topic` |
//! | `faust_send_latency_seconds` | histogram | `topic` |
//! | `faust_commits_total` / `faust_commit_errors_total` | counter | |
//! | `faust_commit_latency_seconds` | histogram | |
//! | `faust_committed_offset` | gauge | `topic`, `partition` |
//! | `faust_end_offset` | gauge | `topic`, `partition` |
//! | `faust_consumer_lag` | gauge | `topic`, `partition` |
//! | `faust_assigned_partitions` | gauge | `topic` |
//! | `faust_rebalances_total` | counter | `kind` (`assigned`, `revoked`, `lost`) |
//! | `faust_timer_runs_total` / `faust_timer_errors_total` | counter | `timer` |
//! | `faust_timer_seconds` | histogram | `timer` |
//! | `faust_producer_queue_depth` | gauge | |
//! | `faust_table_keys_retrieved_total` / `faust_table_keys_updated_total` / `faust_table_keys_deleted_total` | counter | `table` |
//!
//! Label values are topic, agent and timer names and partition numbers only: never a broker
//! URL, a config value or an error text.

use crate::error::Error;
use crate::sensor::{EventRef, RebalanceKind, Sensor};
use crate::transport::{CommitOffset, TopicPartition};
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// How many recent errors the dashboard keeps.
const RECENT_ERRORS: usize = 50;

/// Latency buckets in seconds: 100 µs to 10 s.
const BUCKETS: &[f64] = &[
    0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// One error the dashboard lists.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RecentError {
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// What failed: `agent NAME`, `timer NAME`, `send to TOPIC`, `commit`.
    pub what: String,
    /// The event (`topic[partition]@offset`), when there was one.
    pub event: Option<String>,
    /// The error, as text.
    pub error: String,
}

/// The series a per-event hook updates, resolved once per thread (see [`Metrics::cached`]).
#[derive(Clone)]
enum Series {
    Counter(IntCounter),
    Timed(IntCounter, Histogram),
    Histogram(Histogram),
}

/// Which per-event metric a cached series belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    MessageIn,
    MessageAcked,
    EventIn,
    EventOut,
    Send,
    SendLatency,
    TableGet,
    TableSet,
    TableDel,
}

struct Cached {
    metrics: u64,
    kind: Kind,
    a: Box<str>,
    b: Box<str>,
    series: Series,
}

thread_local! {
    /// This thread's resolved series: the per-event hooks find theirs here by label values
    /// instead of hashing them into the registry's locked map every time.
    static SERIES: std::cell::RefCell<Vec<Cached>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Series cached per thread at most (beyond, the cache starts over).
const CACHED_MAX: usize = 512;

/// The metrics sensor; see the module docs.
pub struct Metrics {
    /// Tells this instance's cached series from another's.
    id: u64,
    registry: Registry,
    messages_in: IntCounterVec,
    messages_acked: IntCounterVec,
    events_in: IntCounterVec,
    events_out: IntCounterVec,
    events_failed: IntCounterVec,
    event_seconds: HistogramVec,
    restarts: IntCounterVec,
    sends: IntCounterVec,
    send_errors: IntCounterVec,
    send_latency: HistogramVec,
    commits: IntCounter,
    commit_errors: IntCounter,
    commit_latency: Histogram,
    committed: IntGaugeVec,
    end_offset: IntGaugeVec,
    lag: IntGaugeVec,
    assigned_gauge: IntGaugeVec,
    rebalances: IntCounterVec,
    timer_runs: IntCounterVec,
    timer_errors: IntCounterVec,
    timer_seconds: HistogramVec,
    queue_depth: IntGauge,
    table_gets: IntCounterVec,
    table_sets: IntCounterVec,
    table_dels: IntCounterVec,
    assigned: Mutex<BTreeMap<String, BTreeSet<i32>>>,
    errors: Mutex<VecDeque<RecentError>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Metrics {
    /// A fresh registry with every metric of the module docs.
    pub fn new() -> Self {
        let registry = Registry::new();
        fn reg<T: prometheus::core::Collector + Clone + 'static>(r: &Registry, c: T) -> T {
            // Names are fixed and distinct: registering cannot fail.
            let _ = r.register(Box::new(c.clone()));
            c
        }
        let counter = |name: &str, help: &str, labels: &[&str]| {
            reg(
                &registry,
                IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"),
            )
        };
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            reg(
                &registry,
                IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric"),
            )
        };
        let histogram = |name: &str, help: &str, labels: &[&str]| {
            reg(
                &registry,
                HistogramVec::new(
                    HistogramOpts::new(name, help).buckets(BUCKETS.to_vec()),
                    labels,
                )
                .expect("valid metric"),
            )
        };
        let messages_in = counter(
            "faust_messages_received_total",
            "Records read from the broker and handed to the agents",
            &["topic"],
        );
        let messages_acked = counter(
            "faust_messages_acked_total",
            "Records done (every agent finished them and what they sent is delivered)",
            &["topic"],
        );
        let events_in = counter(
            "faust_events_received_total",
            "Events an agent's stream yielded",
            &["topic", "agent"],
        );
        let events_out = counter(
            "faust_events_processed_total",
            "Events an agent finished",
            &["topic", "agent"],
        );
        let events_failed = counter(
            "faust_events_failed_total",
            "Events an agent failed on (error or panic)",
            &["topic", "agent"],
        );
        let event_seconds = histogram(
            "faust_event_seconds",
            "Time an agent spent on one event",
            &["topic", "agent"],
        );
        let restarts = counter(
            "faust_agent_restarts_total",
            "Agent instances restarted after a failure",
            &["agent"],
        );
        let sends = counter(
            "faust_sends_total",
            "Records handed to the producer",
            &["topic"],
        );
        let send_errors = counter(
            "faust_send_errors_total",
            "Records that could not be delivered",
            &["topic"],
        );
        let send_latency = histogram(
            "faust_send_latency_seconds",
            "Time from handing a record to the producer to the broker's acknowledgement",
            &["topic"],
        );
        let commits = reg(
            &registry,
            IntCounter::new("faust_commits_total", "Offset commits").expect("valid metric"),
        );
        let commit_errors = reg(
            &registry,
            IntCounter::new("faust_commit_errors_total", "Offset commits that failed")
                .expect("valid metric"),
        );
        let commit_latency = reg(
            &registry,
            Histogram::with_opts(
                HistogramOpts::new("faust_commit_latency_seconds", "Time one commit took")
                    .buckets(BUCKETS.to_vec()),
            )
            .expect("valid metric"),
        );
        let committed = gauge(
            "faust_committed_offset",
            "Last committed offset (the next offset to read)",
            &["topic", "partition"],
        );
        let end_offset = gauge(
            "faust_end_offset",
            "End of the partition's log (high watermark) at the last check",
            &["topic", "partition"],
        );
        let lag = gauge(
            "faust_consumer_lag",
            "Records in the partition past the committed offset",
            &["topic", "partition"],
        );
        let assigned_gauge = gauge(
            "faust_assigned_partitions",
            "Partitions of the topic assigned to this worker",
            &["topic"],
        );
        let rebalances = counter(
            "faust_rebalances_total",
            "Rebalances seen by this worker",
            &["kind"],
        );
        let timer_runs = counter("faust_timer_runs_total", "Timer runs", &["timer"]);
        let timer_errors = counter(
            "faust_timer_errors_total",
            "Timer runs that failed",
            &["timer"],
        );
        let timer_seconds = histogram("faust_timer_seconds", "Time one timer run took", &["timer"]);
        let queue_depth = reg(
            &registry,
            IntGauge::new(
                "faust_producer_queue_depth",
                "Records waiting for the producer or for the broker's acknowledgement",
            )
            .expect("valid metric"),
        );
        let table_gets = counter(
            "faust_table_keys_retrieved_total",
            "Table keys read",
            &["table"],
        );
        let table_sets = counter(
            "faust_table_keys_updated_total",
            "Table keys written",
            &["table"],
        );
        let table_dels = counter(
            "faust_table_keys_deleted_total",
            "Table keys deleted",
            &["table"],
        );
        static IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        Metrics {
            id: IDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            registry,
            messages_in,
            messages_acked,
            events_in,
            events_out,
            events_failed,
            event_seconds,
            restarts,
            sends,
            send_errors,
            send_latency,
            commits,
            commit_errors,
            commit_latency,
            committed,
            end_offset,
            lag,
            assigned_gauge,
            rebalances,
            timer_runs,
            timer_errors,
            timer_seconds,
            queue_depth,
            table_gets,
            table_sets,
            table_dels,
            assigned: Mutex::new(BTreeMap::new()),
            errors: Mutex::new(VecDeque::new()),
        }
    }

    /// The registry (to add metrics of your own, or to gather them).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Sets the producer queue depth (the web server does before every scrape).
    pub fn set_queue_depth(&self, depth: usize) {
        self.queue_depth.set(depth as i64);
    }

    /// Every metric in Prometheus' text exposition format.
    pub fn render(&self) -> String {
        prometheus::TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap_or_else(|e| format!("# metrics could not be encoded: {e}\n"))
    }

    /// The partitions assigned to this worker, per topic.
    pub fn assigned(&self) -> BTreeMap<String, BTreeSet<i32>> {
        lock(&self.assigned).clone()
    }

    /// The latest errors, oldest first.
    pub fn recent_errors(&self) -> Vec<RecentError> {
        lock(&self.errors).iter().cloned().collect()
    }

    /// Runs `f` on the series of `kind` for label values `a`, `b` (resolved with `make` the
    /// first time this thread needs it).
    #[inline]
    fn cached(
        &self,
        kind: Kind,
        a: &str,
        b: &str,
        make: impl FnOnce() -> Series,
        f: impl FnOnce(&Series),
    ) {
        SERIES.with(|cache| {
            let mut cache = cache.borrow_mut();
            if let Some(c) = cache
                .iter()
                .find(|c| c.metrics == self.id && c.kind == kind && *c.a == *a && *c.b == *b)
            {
                f(&c.series);
                return;
            }
            if cache.len() >= CACHED_MAX {
                cache.clear();
            }
            let series = make();
            f(&series);
            cache.push(Cached {
                metrics: self.id,
                kind,
                a: a.into(),
                b: b.into(),
                series,
            });
        });
    }

    #[inline]
    fn count(&self, kind: Kind, vec: &IntCounterVec, a: &str, b: Option<&str>) {
        self.cached(
            kind,
            a,
            b.unwrap_or(""),
            || match b {
                Some(b) => Series::Counter(vec.with_label_values(&[a, b])),
                None => Series::Counter(vec.with_label_values(&[a])),
            },
            |s| {
                if let Series::Counter(c) = s {
                    c.inc();
                }
            },
        );
    }

    fn error(&self, what: String, event: Option<String>, error: &str) {
        let mut q = lock(&self.errors);
        if q.len() == RECENT_ERRORS {
            q.pop_front();
        }
        q.push_back(RecentError {
            at_ms: now_ms(),
            what,
            event,
            error: crate::redact::redact_url(error).into_owned(),
        });
    }
}

impl Sensor for Metrics {
    fn on_message_in(&self, tp: &TopicPartition, _offset: i64) {
        self.count(Kind::MessageIn, &self.messages_in, &tp.topic, None);
    }

    fn on_message_acked(&self, tp: &TopicPartition, _offset: i64) {
        self.count(Kind::MessageAcked, &self.messages_acked, &tp.topic, None);
    }

    fn on_stream_event_in(&self, e: &EventRef<'_>) {
        self.count(Kind::EventIn, &self.events_in, e.source, Some(e.agent));
    }

    fn on_stream_event_out(&self, e: &EventRef<'_>, took: Duration) {
        self.cached(
            Kind::EventOut,
            e.source,
            e.agent,
            || {
                Series::Timed(
                    self.events_out.with_label_values(&[e.source, e.agent]),
                    self.event_seconds.with_label_values(&[e.source, e.agent]),
                )
            },
            |s| {
                if let Series::Timed(c, h) = s {
                    c.inc();
                    h.observe(took.as_secs_f64());
                }
            },
        );
    }

    fn on_agent_error(&self, agent: &str, event: Option<&EventRef<'_>>, error: &str) {
        let source = event.map_or("", |e| e.source);
        self.events_failed.with_label_values(&[source, agent]).inc();
        self.error(
            format!("agent {agent}"),
            event.map(|e| format!("{}[{}]@{}", e.source, e.partition, e.offset)),
            error,
        );
    }

    fn on_agent_restart(&self, agent: &str) {
        self.restarts.with_label_values(&[agent]).inc();
    }

    fn on_send_initiated(&self, topic: &str) {
        self.count(Kind::Send, &self.sends, topic, None);
    }

    fn on_send_completed(&self, topic: &str, latency: Duration) {
        self.cached(
            Kind::SendLatency,
            topic,
            "",
            || Series::Histogram(self.send_latency.with_label_values(&[topic])),
            |s| {
                if let Series::Histogram(h) = s {
                    h.observe(latency.as_secs_f64());
                }
            },
        );
    }

    fn on_send_error(&self, topic: &str, error: &Error, _latency: Duration) {
        self.send_errors.with_label_values(&[topic]).inc();
        self.error(format!("send to {topic}"), None, &error.to_string());
    }

    fn on_commit(&self, offsets: &[CommitOffset], latency: Duration, error: Option<&Error>) {
        self.commit_latency.observe(latency.as_secs_f64());
        match error {
            Some(e) => {
                self.commit_errors.inc();
                self.error("commit".into(), None, &e.to_string());
            }
            None => {
                self.commits.inc();
                for o in offsets {
                    let partition = o.partition.to_string();
                    let labels = [o.topic.as_str(), partition.as_str()];
                    self.committed.with_label_values(&labels).set(o.offset);
                    // Between two end-offset checks, the lag shrinks with the commits (the
                    // log ends at least where the group committed).
                    if let Ok(end) = self.end_offset.get_metric_with_label_values(&labels) {
                        let end = end.get().max(o.offset);
                        self.end_offset.with_label_values(&labels).set(end);
                        self.lag.with_label_values(&labels).set(end - o.offset);
                    }
                }
            }
        }
    }

    fn on_partition_offsets(&self, tp: &TopicPartition, committed: Option<i64>, end: i64) {
        let partition = tp.partition.to_string();
        let labels = [tp.topic.as_str(), partition.as_str()];
        self.end_offset.with_label_values(&labels).set(end);
        let done = committed.unwrap_or(0);
        if let Some(c) = committed {
            self.committed.with_label_values(&labels).set(c);
        }
        self.lag.with_label_values(&labels).set((end - done).max(0));
    }

    fn on_rebalance(&self, kind: RebalanceKind, partitions: &[TopicPartition]) {
        let name = match kind {
            RebalanceKind::Assigned => "assigned",
            RebalanceKind::Revoked => "revoked",
            RebalanceKind::Lost => "lost",
        };
        self.rebalances.with_label_values(&[name]).inc();
        let mut assigned = lock(&self.assigned);
        for tp in partitions {
            let set = assigned.entry(tp.topic.clone()).or_default();
            if kind == RebalanceKind::Assigned {
                set.insert(tp.partition);
            } else {
                set.remove(&tp.partition);
                let partition = tp.partition.to_string();
                let labels = [tp.topic.as_str(), partition.as_str()];
                let _ = self.lag.remove_label_values(&labels);
                let _ = self.end_offset.remove_label_values(&labels);
                let _ = self.committed.remove_label_values(&labels);
            }
        }
        for (topic, set) in assigned.iter() {
            self.assigned_gauge
                .with_label_values(&[topic.as_str()])
                .set(set.len() as i64);
        }
    }

    fn on_timer_run(&self, timer: &str, took: Duration, error: Option<&str>) {
        self.timer_runs.with_label_values(&[timer]).inc();
        self.timer_seconds
            .with_label_values(&[timer])
            .observe(took.as_secs_f64());
        if let Some(e) = error {
            self.timer_errors.with_label_values(&[timer]).inc();
            self.error(format!("timer {timer}"), None, e);
        }
    }

    fn on_table_get(&self, table: &str) {
        self.count(Kind::TableGet, &self.table_gets, table, None);
    }

    fn on_table_set(&self, table: &str) {
        self.count(Kind::TableSet, &self.table_sets, table, None);
    }

    fn on_table_del(&self, table: &str) {
        self.count(Kind::TableDel, &self.table_dels, table, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(topic: &str, partition: i32) -> TopicPartition {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }

    #[test]
    fn two_registries_on_one_thread_count_apart() {
        let (a, b) = (Metrics::new(), Metrics::new());
        for _ in 0..3 {
            a.on_message_in(&tp("t", 0), 0);
        }
        b.on_message_in(&tp("t", 0), 0);
        a.on_message_in(&tp("u", 0), 0);
        assert!(a
            .render()
            .contains("faust_messages_received_total{topic=\"t\"} 3"));
        assert!(a
            .render()
            .contains("faust_messages_received_total{topic=\"u\"} 1"));
        assert!(b
            .render()
            .contains("faust_messages_received_total{topic=\"t\"} 1"));
    }

    #[test]
    fn hooks_become_prometheus_text() {
        let m = Metrics::new();
        let e = EventRef {
            agent: "count",
            source: "orders",
            partition: 1,
            offset: 7,
        };
        for _ in 0..3 {
            m.on_message_in(&tp("orders", 1), 7);
            m.on_stream_event_in(&e);
            m.on_stream_event_out(&e, Duration::from_millis(2));
        }
        m.on_agent_error("count", Some(&e), "boom at kafka://u:hunter2@host:9092");
        m.on_send_initiated("totals");
        m.on_send_completed("totals", Duration::from_millis(1));
        m.on_rebalance(RebalanceKind::Assigned, &[tp("orders", 0), tp("orders", 1)]);
        m.on_partition_offsets(&tp("orders", 1), Some(5), 9);
        m.on_commit(
            &[CommitOffset {
                topic: "orders".into(),
                partition: 1,
                offset: 6,
            }],
            Duration::from_millis(3),
            None,
        );
        m.on_timer_run("tick", Duration::from_millis(1), Some("late"));
        m.set_queue_depth(4);
        let text = m.render();
        for line in [
            "faust_messages_received_total{topic=\"orders\"} 3",
            "faust_events_received_total{agent=\"count\",topic=\"orders\"} 3",
            "faust_events_processed_total{agent=\"count\",topic=\"orders\"} 3",
            "faust_events_failed_total{agent=\"count\",topic=\"orders\"} 1",
            "faust_sends_total{topic=\"totals\"} 1",
            "faust_send_latency_seconds_count{topic=\"totals\"} 1",
            "faust_assigned_partitions{topic=\"orders\"} 2",
            "faust_consumer_lag{partition=\"1\",topic=\"orders\"} 3",
            "faust_end_offset{partition=\"1\",topic=\"orders\"} 9",
            "faust_committed_offset{partition=\"1\",topic=\"orders\"} 6",
            "faust_commits_total 1",
            "faust_rebalances_total{kind=\"assigned\"} 1",
            "faust_timer_runs_total{timer=\"tick\"} 1",
            "faust_timer_errors_total{timer=\"tick\"} 1",
            "faust_producer_queue_depth 4",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        let errors = m.recent_errors();
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].event.as_deref(), Some("orders[1]@7"));
        assert!(!errors[0].error.contains("hunter2"), "{:?}", errors[0]);
        m.on_rebalance(RebalanceKind::Revoked, &[tp("orders", 1)]);
        let text = m.render();
        assert!(text.contains("faust_assigned_partitions{topic=\"orders\"} 1"));
        assert!(
            !text.contains("faust_consumer_lag{partition=\"1\""),
            "{text}"
        );
    }
}
