//! Runs the request-reply example on the embedded broker: the task's `ask` and `join` get the
//! agent's answers, and the worker stops cleanly on SIGINT.

mod common;

use std::time::Duration;

#[test]
fn request_reply_answers_ask_and_join_in_order() {
    let f = common::run_until(
        "request_reply",
        &[],
        &["all answered"],
        Duration::from_secs(60),
    );
    assert!(
        f.status.success(),
        "request_reply exited with {}; stderr:\n{}",
        f.status,
        f.stderr
    );
    assert!(
        f.stdout.contains("ask: apple costs 500 cents"),
        "{}",
        f.stdout
    );
    let joined: Vec<&str> = f
        .stdout
        .lines()
        .filter(|l| l.starts_with("join: "))
        .collect();
    assert_eq!(
        joined,
        [
            "join: banana costs 400 cents",
            "join: cherry costs 300 cents",
            "join: apple costs 125 cents"
        ]
    );
}
