//! Runs the crontab example on the embedded broker: the task runs once, the leader-only crontab
//! job runs on schedule (this single worker leads), and the worker stops cleanly on SIGINT.

mod common;

use std::time::Duration;

#[test]
fn crontab_job_runs_on_schedule_and_the_task_once() {
    let f = common::run_until(
        "crontab",
        &[],
        &["task: the app has started", "crontab run 2 "],
        Duration::from_secs(60),
    );
    assert!(
        f.status.success(),
        "crontab exited with {}; stderr:\n{}",
        f.status,
        f.stderr
    );
    assert_eq!(
        f.stdout.lines().filter(|l| l.starts_with("task: ")).count(),
        1,
        "{}",
        f.stdout
    );
}
