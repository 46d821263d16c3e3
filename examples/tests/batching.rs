//! Runs the batching example on the embedded broker: bursts of 25 readings come as batches of
//! 10, 10 and 5 (the last cut by `within`).

mod common;

use std::time::Duration;

#[test]
fn batching_example_cuts_bursts_into_full_and_partial_batches() {
    let f = common::run_until(
        "batching",
        &[],
        &["batch 3: 5 readings"],
        Duration::from_secs(60),
    );
    assert!(
        f.status.success(),
        "exited with {}; stderr:\n{}",
        f.status,
        f.stderr
    );
    let sizes: Vec<&str> = f
        .stdout
        .lines()
        .filter(|l| l.starts_with("batch "))
        .take(3)
        .map(|l| l.split_whitespace().nth(2).unwrap())
        .collect();
    assert_eq!(sizes, ["10", "10", "5"], "stdout:\n{}", f.stdout);
}
