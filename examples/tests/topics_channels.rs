//! Runs the topics-and-channels example as a newcomer would, on the embedded broker and on the
//! Kafka test broker (`FAUST_TEST_KAFKA`, set by scripts/test.sh), stops it with SIGINT, and
//! checks that every section of it did its part.

mod common;

use std::time::Duration;

/// What must have happened before the example is interrupted (its shutdown code runs after).
const WHILE_RUNNING: &[&str] = &[
    "[basic] Processing order order-1",
    "[channels] Notification from orders: order order-1 processed",
    "[advanced] key=Some(\"user-123\")",
    "[partitioning] \"alice\" hashes to partition",
];

/// Runs the example until its sections ran, interrupts it, returns its stdout (asserting a
/// clean exit).
fn run(args: &[&str]) -> String {
    let f = common::run_until(
        "topics_channels",
        args,
        WHILE_RUNNING,
        Duration::from_secs(60),
    );
    assert!(
        f.status.success(),
        "the example exited with {}; stdout:\n{}\nstderr:\n{}",
        f.status,
        f.stdout,
        f.stderr
    );
    f.stdout
}

fn check_sections(out: &str) {
    let has = |needle: &str| {
        assert!(
            out.lines().any(|l| l.contains(needle)),
            "no line with {needle:?} in:\n{out}"
        )
    };
    // Startup code, with the topic manager and a typed topic created before start.
    has("[startup] topics-channels-app on ");
    has("[manager] scratch-counts (alloc::string::String -> u64, 3 partitions): sent to partition");
    has("[manager] topics: ");
    has(
        "[startup] user-events: 8 partitions, retention.ms=Some(\"604800000\"), \
         cleanup.policy=Some(\"compact\"), segment.bytes=Some(\"1073741824\"), \
         min.cleanable.dirty.ratio=Some(\"0.5\")",
    );
    // Basic usage: the timer's orders processed by the agent.
    has("[basic] Processing order order-1: $9.99");
    // Channels: from the startup code and from the orders agent.
    has("[channels] Notification from startup: topics-channels-app is starting");
    has("[channels] Notification from orders: order order-1 processed");
    // Advanced: headers from the forced send and from the timer's, every event field.
    has("headers=[source=startup] topic=user-events");
    has("[advanced] key=Some(\"user-123\") value={\"action\": \"login\", \"city\": \"Zürich\"} headers=[source=web, version=1.0] topic=user-events partition=");
    // Partitioning.
    has("explicit partition: 2");
    has("[partitioning] partition 99: topic 'user-activity' has 4 partitions; partition 99 does not exist");
    // Shutdown code after the stop.
    has("[manager] deleted scratch-counts;");
    has("[shutdown] topics-channels-app stopped: Stopped");
    // The key's partition is the one the broker put it on.
    let line = out
        .lines()
        .find(|l| l.starts_with("[partitioning] \"alice\" hashes to partition"))
        .expect("partitioning line");
    let nums: Vec<&str> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(nums[0], nums[1], "{line}");
}

#[test]
fn every_section_runs_on_the_embedded_broker() {
    let out = run(&[]);
    check_sections(&out);
}

#[test]
fn every_section_runs_on_kafka() {
    let url = match std::env::var("FAUST_TEST_KAFKA") {
        Ok(url) if !url.trim().is_empty() => url.trim().to_string(),
        _ if std::env::var("FAUST_SKIP_KAFKA").as_deref() == Ok("1") => {
            eprintln!("FAUST_SKIP_KAFKA=1: skipping this Kafka test");
            return;
        }
        _ => panic!(
            "FAUST_TEST_KAFKA is not set: run scripts/test.sh, which starts a Kafka-protocol broker \
             (or set FAUST_SKIP_KAFKA=1 to skip the Kafka tests)"
        ),
    };
    let out = run(&["--broker", &url]);
    check_sections(&out);
}
