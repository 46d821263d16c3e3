//! Runs the quickstart example as a newcomer would, on the embedded broker, and stops it with
//! SIGINT: orders are processed, notifications printed, and the worker exits cleanly.

mod common;

use std::time::Duration;

#[test]
fn quickstart_processes_orders_and_stops_cleanly_on_sigint() {
    // The timer sends an order a second: wait for two orders and a notification.
    let f = common::run_until(
        "quickstart",
        &[],
        &[
            "Processing order: Order { id: 2,",
            "Notification for order 1: ",
        ],
        Duration::from_secs(60),
    );
    assert!(
        f.status.success(),
        "quickstart exited with {}; stderr:\n{}",
        f.status,
        f.stderr
    );
    let processed: Vec<&str> = f
        .stdout
        .lines()
        .filter(|l| l.starts_with("Processing order: Order { id: "))
        .collect();
    assert!(
        processed[0].contains("id: 1,"),
        "first order is id 1: {}",
        processed[0]
    );
}
