//! Sensors on the embedded broker: every hook is called for what actually happened (records in
//! and done, agent events, failures and restarts, sends, commits, rebalances, timer runs), and
//! the blocking timeout names the stuck agent's event and the stuck timer.

mod common;

use common::{eventually, unique, Gate};
use faust_runtime::prelude::*;
use faust_runtime::sensor::{EventRef, RebalanceKind, Sensor};
use faust_runtime::transport::{CommitOffset, TopicPartition};
use faust_runtime::MemoryBroker;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

/// An agent failure as reported: agent, event (topic, partition, offset), error.
type Failure = (String, Option<(String, i32, i64)>, String);

#[derive(Default, Debug, Clone)]
struct Seen {
    messages_in: BTreeMap<String, u64>,
    acked: BTreeMap<String, u64>,
    events_in: BTreeMap<(String, String), u64>,
    events_out: BTreeMap<(String, String), u64>,
    errors: Vec<Failure>,
    restarts: Vec<String>,
    sends: BTreeMap<String, u64>,
    sent: BTreeMap<String, u64>,
    committed: BTreeMap<(String, i32), i64>,
    assigned: Vec<TopicPartition>,
    timer_runs: BTreeMap<String, u64>,
    lag: BTreeMap<(String, i32), (Option<i64>, i64)>,
}

#[derive(Default)]
struct Recorder(Mutex<Seen>);

impl Recorder {
    fn seen(&self) -> Seen {
        self.0.lock().unwrap().clone()
    }
}

impl Sensor for Recorder {
    fn on_message_in(&self, tp: &TopicPartition, _offset: i64) {
        *self
            .0
            .lock()
            .unwrap()
            .messages_in
            .entry(tp.topic.clone())
            .or_default() += 1;
    }
    fn on_message_acked(&self, tp: &TopicPartition, _offset: i64) {
        *self
            .0
            .lock()
            .unwrap()
            .acked
            .entry(tp.topic.clone())
            .or_default() += 1;
    }
    fn on_stream_event_in(&self, e: &EventRef<'_>) {
        *self
            .0
            .lock()
            .unwrap()
            .events_in
            .entry((e.agent.into(), e.source.into()))
            .or_default() += 1;
    }
    fn on_stream_event_out(&self, e: &EventRef<'_>, _took: Duration) {
        *self
            .0
            .lock()
            .unwrap()
            .events_out
            .entry((e.agent.into(), e.source.into()))
            .or_default() += 1;
    }
    fn on_agent_error(&self, agent: &str, event: Option<&EventRef<'_>>, error: &str) {
        self.0.lock().unwrap().errors.push((
            agent.into(),
            event.map(|e| (e.source.to_string(), e.partition, e.offset)),
            error.into(),
        ));
    }
    fn on_agent_restart(&self, agent: &str) {
        self.0.lock().unwrap().restarts.push(agent.into());
    }
    fn on_send_initiated(&self, topic: &str) {
        *self
            .0
            .lock()
            .unwrap()
            .sends
            .entry(topic.into())
            .or_default() += 1;
    }
    fn on_send_completed(&self, topic: &str, _latency: Duration) {
        *self.0.lock().unwrap().sent.entry(topic.into()).or_default() += 1;
    }
    fn on_commit(&self, offsets: &[CommitOffset], _l: Duration, error: Option<&Error>) {
        assert!(error.is_none(), "{error:?}");
        let mut s = self.0.lock().unwrap();
        for o in offsets {
            s.committed.insert((o.topic.clone(), o.partition), o.offset);
        }
    }
    fn on_partition_offsets(&self, tp: &TopicPartition, committed: Option<i64>, end: i64) {
        self.0
            .lock()
            .unwrap()
            .lag
            .insert((tp.topic.clone(), tp.partition), (committed, end));
    }
    fn on_rebalance(&self, kind: RebalanceKind, partitions: &[TopicPartition]) {
        if kind == RebalanceKind::Assigned {
            self.0
                .lock()
                .unwrap()
                .assigned
                .extend_from_slice(partitions);
        }
    }
    fn on_timer_run(&self, timer: &str, _took: Duration, _error: Option<&str>) {
        *self
            .0
            .lock()
            .unwrap()
            .timer_runs
            .entry(timer.into())
            .or_default() += 1;
    }
}

use faust_runtime::Error;

mod sensed {
    use super::*;

    #[topic(name = "sensed-in", key = String, value = u64, partitions = 2)]
    pub struct SensedIn;

    #[topic(name = "sensed-out", value = u64, partitions = 1)]
    pub struct SensedOut;

    #[agent(SensedIn)]
    async fn doubler(mut values: Stream<SensedIn>) -> Result<()> {
        while let Some(v) = values.next().await {
            if v == 13 {
                return Err(faust_runtime::Error::state("thirteen"));
            }
            SensedOut.record(v * 2).send().await?;
        }
        Ok(())
    }

    #[timer(interval = "20ms")]
    async fn ticking() -> Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensors_see_records_events_failures_sends_commits_rebalances_and_timers() {
    let recorder = Arc::new(Recorder::default());
    let app = App::builder(unique("sensed"))
        .transport(Arc::new(MemoryBroker::new()))
        .include_module(module_path!().to_string() + "::sensed")
        .commit_interval(Duration::from_millis(30))
        .sensor(recorder.clone())
        .build()
        .unwrap();
    assert_eq!(app.sensors().len(), 1);
    app.start().await.unwrap();
    let input = sensed::SensedIn.on(&app);
    let mut per_partition: BTreeMap<i32, i64> = BTreeMap::new();
    for v in 0..20u64 {
        let meta = input
            .record(v)
            .key(format!("k{v}"))
            .send_and_wait()
            .await
            .unwrap();
        *per_partition.entry(meta.partition).or_default() += 1;
    }
    let committed_all = |s: &Seen| {
        per_partition
            .iter()
            .all(|(p, n)| s.committed.get(&("sensed-in".to_string(), *p)) == Some(n))
    };
    assert!(
        eventually(WAIT, || {
            let s = recorder.seen();
            committed_all(&s) && s.acked.get("sensed-in") == Some(&20)
        })
        .await,
        "{:?}",
        recorder.seen()
    );
    let key = ("doubler".to_string(), "sensed-in".to_string());
    assert!(
        eventually(WAIT, || recorder.seen().events_out.get(&key) == Some(&19)).await,
        "{:?}",
        recorder.seen()
    );
    let s = recorder.seen();
    assert_eq!(s.messages_in.get("sensed-in"), Some(&20));
    assert_eq!(s.events_in.get(&key), Some(&20));
    // 13 failed: reported with its coordinates, the agent restarted, nothing sent for it.
    assert_eq!(s.errors.len(), 1, "{:?}", s.errors);
    let (agent, event, error) = &s.errors[0];
    assert_eq!(agent, "doubler");
    assert!(error.contains("thirteen"), "{error}");
    let (topic, _, offset) = event.clone().expect("the failing event");
    assert_eq!(topic, "sensed-in");
    assert!(offset >= 0);
    assert_eq!(s.restarts, vec!["doubler".to_string()]);
    assert_eq!(s.sends.get("sensed-out"), Some(&19));
    assert_eq!(s.sent.get("sensed-out"), Some(&19));
    assert_eq!(s.sends.get("sensed-in"), Some(&20), "the test's own sends");
    let mut assigned: Vec<i32> = s
        .assigned
        .iter()
        .filter(|tp| tp.topic == "sensed-in")
        .map(|tp| tp.partition)
        .collect();
    assigned.sort();
    assert_eq!(assigned, vec![0, 1]);
    assert!(s.timer_runs.get("ticking").copied().unwrap_or(0) >= 1);
    // The lag report: once everything is committed, nothing is left behind.
    assert!(
        eventually(WAIT, || {
            let s = recorder.seen();
            per_partition
                .iter()
                .all(|(p, n)| s.lag.get(&("sensed-in".to_string(), *p)) == Some(&(Some(*n), *n)))
        })
        .await,
        "{:?}",
        recorder.seen().lag
    );
    app.stop().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// The blocking timeout.

static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_writer(|| LogWriter)
            .with_ansi(false)
            .with_max_level(tracing::Level::WARN)
            .try_init();
    });
}

fn logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}

mod blocked {
    use super::*;

    pub static SLOW: Gate = Gate::new();
    pub static STUCK: Gate = Gate::new();

    #[topic(name = "blocked-in", value = u64, partitions = 1)]
    pub struct BlockedIn;

    #[agent(BlockedIn)]
    async fn slow(mut values: Stream<BlockedIn>) -> Result<()> {
        while let Some(v) = values.next().await {
            if v == 1 {
                SLOW.passed().await;
            }
        }
        Ok(())
    }

    #[timer(interval = "10ms")]
    async fn stuck_timer() -> Result<()> {
        STUCK.passed().await;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_timeout_names_the_stuck_agent_event_and_timer() {
    capture_logs();
    let app = App::builder(unique("blocked"))
        .transport(Arc::new(MemoryBroker::new()))
        .include_module(module_path!().to_string() + "::blocked")
        .blocking_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    app.start().await.unwrap();
    let input = blocked::BlockedIn.on(&app);
    input.record(0).send_and_wait().await.unwrap();
    input.record(1).send_and_wait().await.unwrap();
    assert!(
        eventually(WAIT, || logs()
            .contains("agent 'slow' has been processing blocked-in[0]@1"))
        .await,
        "{}",
        logs()
    );
    assert!(
        eventually(WAIT, || logs()
            .contains("timer 'stuck_timer' has been running"))
        .await,
        "{}",
        logs()
    );
    let agent_warnings = logs().matches("processing blocked-in[0]@1").count();
    assert_eq!(agent_warnings, 1, "one warning per event: {}", logs());
    assert!(!logs().contains("blocked-in[0]@0"), "{}", logs());
    blocked::SLOW.open();
    blocked::STUCK.open();
    app.stop().await.unwrap();
}

#[test]
fn a_zero_blocking_timeout_is_refused() {
    let err = App::builder("zero")
        .blocking_timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("blocking_timeout"), "{err}");
}
