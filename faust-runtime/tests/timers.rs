//! Timers, crontabs and tasks on the embedded broker: `on_leader` with two workers (one runs it,
//! the other takes over when it stops), failing runs counted with the schedule kept, one-shot
//! tasks, crontab schedules and their checks at start.

mod common;

use common::eventually;
use faust_runtime::prelude::*;
use faust_runtime::{Error, MemoryBroker};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

fn app(broker: &MemoryBroker, id: &str, module: &str) -> App {
    App::builder(id)
        .transport(Arc::new(broker.clone()))
        .include_module(module)
        .commit_interval(Duration::from_millis(20))
        .shutdown_timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}

fn module(m: &str) -> String {
    format!("{}::{m}", module_path!())
}

/// Which worker an app is, told apart by its transport handle (each app has its own).
fn worker_of(app: &App) -> usize {
    Arc::as_ptr(app.transport()) as *const () as usize
}

/// Runs of the leader-only timer, per worker.
static LEADER_RUNS: Mutex<Option<HashMap<usize, u64>>> = Mutex::new(None);

fn leader_runs(app: &App) -> u64 {
    LEADER_RUNS
        .lock()
        .unwrap()
        .as_ref()
        .and_then(|m| m.get(&worker_of(app)).copied())
        .unwrap_or(0)
}

mod leader {
    use super::*;

    #[timer(interval = "20ms", on_leader = true)]
    async fn only_on_the_leader() -> Result<()> {
        let me = worker_of(&App::current()?);
        *LEADER_RUNS
            .lock()
            .unwrap()
            .get_or_insert_with(HashMap::new)
            .entry(me)
            .or_default() += 1;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_on_leader_timer_runs_on_one_worker_and_moves_when_it_stops() {
    let broker = MemoryBroker::new();
    let a = app(&broker, "tm-leader", &module("leader"));
    let b = app(&broker, "tm-leader", &module("leader"));
    a.start().await.unwrap();
    b.start().await.unwrap();
    assert!(
        eventually(WAIT, || a.is_leader() != b.is_leader()).await,
        "exactly one worker leads: a {} b {}",
        a.is_leader(),
        b.is_leader()
    );
    let (leader, other) = if a.is_leader() { (a, b) } else { (b, a) };
    assert!(eventually(WAIT, || leader_runs(&leader) >= 3).await);
    assert_eq!(leader_runs(&other), 0, "the other worker never ran it");
    assert!(!other.is_leader());

    leader.stop().await.unwrap();
    assert!(
        eventually(WAIT, || other.is_leader()).await,
        "the remaining worker takes over"
    );
    assert!(eventually(WAIT, || leader_runs(&other) >= 3).await);
    other.stop().await.unwrap();
}

static FAILING_RUNS: AtomicU64 = AtomicU64::new(0);
static TASK_RUNS: AtomicU64 = AtomicU64::new(0);
static CRON_RUNS: AtomicU64 = AtomicU64::new(0);

mod jobs {
    use super::*;

    #[timer(interval = "10ms")]
    async fn fails_every_other_time() -> Result<()> {
        let n = FAILING_RUNS.fetch_add(1, Ordering::Relaxed);
        match n % 4 {
            1 => Err(Error::state("this run fails")),
            3 => panic!("this run panics"),
            _ => Ok(()),
        }
    }

    #[task]
    async fn once_after_start() {
        assert!(App::current().unwrap().is_running());
        TASK_RUNS.fetch_add(1, Ordering::Relaxed);
    }

    #[crontab("* * * * * *")]
    async fn every_second() {
        CRON_RUNS.fetch_add(1, Ordering::Relaxed);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_runs_are_counted_the_schedule_goes_on_and_tasks_run_once() {
    let broker = MemoryBroker::new();
    let app = app(&broker, "tm-jobs", &module("jobs"));
    app.start().await.unwrap();
    assert!(
        eventually(WAIT, || FAILING_RUNS.load(Ordering::Relaxed) >= 12).await,
        "the timer kept running after its failures"
    );
    assert!(
        eventually(WAIT, || app.health().timer_errors >= 6).await,
        "errors and panics counted: {}",
        app.health().timer_errors
    );
    assert!(eventually(WAIT, || TASK_RUNS.load(Ordering::Relaxed) == 1).await);
    assert!(
        eventually(WAIT, || CRON_RUNS.load(Ordering::Relaxed) >= 2).await,
        "the crontab ran every second"
    );
    app.stop().await.unwrap();
    assert_eq!(TASK_RUNS.load(Ordering::Relaxed), 1, "a task runs once");
    assert_eq!(app.health().agent_errors, 0);
}

mod bad_zone {
    use super::*;

    #[crontab("0 9 * * *", timezone = "Mars/Olympus_Mons")]
    async fn never() {}
}

#[tokio::test]
async fn a_crontab_with_an_unknown_time_zone_stops_the_start_naming_it() {
    let broker = MemoryBroker::new();
    let app = app(&broker, "tm-zone", &module("bad_zone"));
    let err = app.start().await.unwrap_err().to_string();
    assert!(
        err.contains("crontab 'never'") && err.contains("unknown time zone 'Mars/Olympus_Mons'"),
        "{err}"
    );
}
