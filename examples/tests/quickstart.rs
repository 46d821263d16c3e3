//! Runs the quickstart example as a newcomer would, on the embedded broker, and stops it with
//! SIGINT: orders are processed, notifications printed, and the worker exits cleanly.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

fn example_binary() -> PathBuf {
    // target/<profile>/deps/quickstart-<hash> -> target/<profile>/examples/quickstart
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|p| p.parent())
        .expect("target profile dir");
    profile_dir.join("examples").join("quickstart")
}

#[test]
fn quickstart_processes_orders_and_stops_cleanly_on_sigint() {
    let bin = example_binary();
    assert!(
        bin.exists(),
        "{} is missing: `cargo test` builds examples; run it from the workspace",
        bin.display()
    );
    let mut child = Command::new(&bin)
        .env_remove("FAUST_BROKER")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start quickstart");
    std::thread::sleep(Duration::from_millis(3600));
    // SAFETY: plain kill(2) on our own child's pid.
    let rc = unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert_eq!(rc, 0, "could not signal the example");
    let status = child.wait().expect("wait for quickstart");
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
        "quickstart exited with {status}; stderr:\n{err}"
    );
    let processed: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("Processing order: Order { id: "))
        .collect();
    assert!(
        processed.len() >= 2,
        "expected at least two processed orders in ~3.6 s, got:\n{out}\nstderr:\n{err}"
    );
    assert!(
        processed[0].contains("id: 1,"),
        "first order is id 1: {}",
        processed[0]
    );
    assert!(
        out.contains("Notification for order 1: "),
        "the channel agent printed no notification:\n{out}"
    );
}
