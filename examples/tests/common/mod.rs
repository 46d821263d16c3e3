//! Running an example binary as a newcomer would: start it, wait until its output shows what a
//! test waits for (with a deadline), interrupt it with SIGINT, and collect what it printed.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The binary of example `name` (`cargo test` builds the examples next to the test binaries).
pub fn example_binary(name: &str) -> PathBuf {
    // target/<profile>/deps/<test>-<hash> -> target/<profile>/examples/<name>
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|p| p.parent())
        .expect("target profile dir");
    let bin = profile_dir.join("examples").join(name);
    assert!(
        bin.exists(),
        "{} is missing: `cargo test` builds examples; run it from the workspace",
        bin.display()
    );
    bin
}

/// What an interrupted example printed, and how it exited.
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs example `name` with `args` until every one of `wait_for` appears in a line of its
/// stdout (or `deadline` passes, which fails the test), then sends SIGINT and waits for it.
pub fn run_until(name: &str, args: &[&str], wait_for: &[&str], deadline: Duration) -> Finished {
    let mut child: Child = Command::new(example_binary(name))
        .args(args)
        .env_remove("FAUST_BROKER")
        .env("RUST_LOG", "warn")
        .env("FAUST_WEB_PORT", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the example");
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let reader = {
        let lines = lines.clone();
        let stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        })
    };
    let until = Instant::now() + deadline;
    loop {
        let seen = |needle: &&str| lines.lock().unwrap().iter().any(|l| l.contains(*needle));
        if wait_for.iter().all(&seen) {
            break;
        }
        if Instant::now() >= until {
            let _ = child.kill();
            panic!(
                "the example did not print {:?} within {deadline:?}; it printed:\n{}",
                wait_for.iter().filter(|n| !seen(n)).collect::<Vec<_>>(),
                lines.lock().unwrap().join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: plain kill(2) on our own child's pid.
    let rc = unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert_eq!(rc, 0, "could not signal the example");
    let status = child.wait().expect("wait for the example");
    reader.join().expect("stdout reader");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    let stdout = lines.lock().unwrap().join("\n");
    Finished {
        status,
        stdout,
        stderr,
    }
}
