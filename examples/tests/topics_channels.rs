//! Runs the topics-and-channels example as a newcomer would, on the embedded broker and on the
//! Kafka test broker (`FAUST_TEST_KAFKA`, set by scripts/test.sh), stops it with SIGINT, and
//! checks that every section of it did its part.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

fn example_binary() -> PathBuf {
    // target/<profile>/deps/topics_channels-<hash> -> target/<profile>/examples/topics_channels
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|p| p.parent())
        .expect("target profile dir");
    profile_dir.join("examples").join("topics_channels")
}

/// Runs the example for `run_for`, interrupts it, returns its stdout (asserting a clean exit).
fn run(args: &[&str], run_for: Duration) -> String {
    let bin = example_binary();
    assert!(
        bin.exists(),
        "{} is missing: `cargo test` builds examples; run it from the workspace",
        bin.display()
    );
    let mut child = Command::new(&bin)
        .args(args)
        .env_remove("FAUST_BROKER")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the example");
    std::thread::sleep(run_for);
    // SAFETY: plain kill(2) on our own child's pid.
    let rc = unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert_eq!(rc, 0, "could not signal the example");
    let status = child.wait().expect("wait for the example");
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("read stdout");
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("read stderr");
    assert!(
        status.success(),
        "the example exited with {status}; stdout:\n{out}\nstderr:\n{err}"
    );
    out
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
    let out = run(&[], Duration::from_millis(3500));
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
    // A consumer group joins in about 3 s on the test broker.
    let out = run(&["--broker", &url], Duration::from_secs(9));
    check_sections(&out);
}
