//! The command line parsed and run in-process against the embedded broker: `send` into a
//! running worker of the same process (memory:// lives in one process), values the topic
//! cannot carry refused before anything is sent, `#[command]` subcommands with clap arguments,
//! and the exit codes.

mod common;

use common::{eventually, unique, Order};
use faust_runtime::clap;
use faust_runtime::cli::Main;
use faust_runtime::prelude::*;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

#[topic(name = "cli-orders", key = String, value = Order, partitions = 2)]
pub struct Orders;

static SEEN: Mutex<Vec<(Option<String>, u64, i32)>> = Mutex::new(Vec::new());

#[agent(Orders)]
async fn record_orders(mut events: Events<Orders>) {
    while let Some(e) = events.next().await {
        SEEN.lock()
            .unwrap()
            .push((e.key.clone(), e.value.id, e.partition));
    }
}

#[derive(clap::Args)]
struct Greet {
    /// Who to greet.
    name: String,
    /// How many times.
    #[arg(long, default_value_t = 1)]
    times: u32,
}

static GREETED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Greets someone.
#[faust_runtime::command]
async fn greet(app: App, args: Greet) -> Result<()> {
    for _ in 0..args.times {
        GREETED
            .lock()
            .unwrap()
            .push(format!("{}:{}", app.id(), args.name));
    }
    Ok(())
}

/// Always fails.
#[faust_runtime::command(name = "fail-now")]
async fn fail_now(_app: App) -> Result<()> {
    Err(faust_runtime::Error::state("it failed"))
}

fn cli(args: &[&str]) -> ExitCode {
    let mut all = vec!["cli-test"];
    all.extend_from_slice(args);
    Main::new(App::builder("cli-sender").include_module(module_path!())).run_from(all)
}

fn seen() -> Vec<(Option<String>, u64, i32)> {
    SEEN.lock().unwrap().clone()
}

#[test]
fn send_reaches_the_running_agent_and_a_wrong_value_sends_nothing() {
    let url = format!("memory://{}", unique("cli-send"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let worker = App::builder("cli-worker")
        .broker(url.as_str())
        .include_module(module_path!())
        .build()
        .unwrap();
    rt.block_on(worker.start()).unwrap();

    // Not an Order: refused before sending, exit 2.
    let bad = r#"{"id": "seven", "product": "p", "quantity": 1}"#;
    assert_eq!(
        cli(&[
            "send",
            "--broker",
            &url,
            "cli-orders",
            bad,
            "--partition",
            "0"
        ]),
        ExitCode::from(2)
    );
    // A partition the topic does not have: exit 2.
    let good = r#"{"id": 7, "product": "p", "quantity": 1}"#;
    assert_eq!(
        cli(&[
            "send",
            "--broker",
            &url,
            "cli-orders",
            good,
            "--partition",
            "9"
        ]),
        ExitCode::from(2)
    );
    assert_eq!(
        cli(&[
            "send",
            "--broker",
            &url,
            "cli-orders",
            good,
            "-k",
            "alice",
            "--partition",
            "0",
            "-r",
            "3"
        ]),
        ExitCode::SUCCESS
    );
    // To the topic an agent reads.
    let other = r#"{"id": 8, "product": "q", "quantity": 2}"#;
    assert_eq!(
        cli(&[
            "send",
            "--broker",
            &url,
            "@record_orders",
            other,
            "--key",
            "\"bob\"",
            "--partition",
            "0"
        ]),
        ExitCode::SUCCESS
    );
    let expected = vec![
        (Some("alice".to_string()), 7, 0),
        (Some("alice".to_string()), 7, 0),
        (Some("alice".to_string()), 7, 0),
        (Some("bob".to_string()), 8, 0),
    ];
    // Same partition, so in order: had the wrong value been sent, it would come first.
    let done = rt.block_on(eventually(Duration::from_secs(10), || seen().len() >= 4));
    assert!(done, "the agent saw {:?}", seen());
    assert_eq!(seen(), expected);

    assert_eq!(
        cli(&["send", "--broker", &url, "no-such-topic", "1"]),
        ExitCode::from(2)
    );
    assert_eq!(
        cli(&["send", "--broker", &url, "@no_such_agent", "1"]),
        ExitCode::from(2)
    );
    rt.block_on(worker.stop()).unwrap();
    assert_eq!(seen(), expected);
}

#[test]
fn user_commands_get_their_parsed_arguments_and_exit_codes() {
    let url = format!("memory://{}", unique("cli-cmd"));
    assert_eq!(
        cli(&["--broker", &url, "greet", "bob", "--times", "2"]),
        ExitCode::SUCCESS
    );
    assert_eq!(
        GREETED.lock().unwrap().clone(),
        vec!["cli-sender:bob".to_string(), "cli-sender:bob".to_string()]
    );
    // Missing argument, unknown option: bad arguments.
    assert_eq!(cli(&["greet"]), ExitCode::from(2));
    assert_eq!(cli(&["greet", "x", "--loud"]), ExitCode::from(2));
    // A command that fails: a failure at run time.
    assert_eq!(cli(&["fail-now"]), ExitCode::from(1));
    assert_eq!(GREETED.lock().unwrap().len(), 2);
}

#[test]
fn bad_arguments_and_configuration_exit_with_2() {
    assert_eq!(cli(&["--broker"]), ExitCode::from(2));
    assert_eq!(cli(&["--broker", "redis://x", "agents"]), ExitCode::from(2));
    assert_eq!(
        cli(&["--broker", "kafka://%%%", "agents"]),
        ExitCode::from(2)
    );
    assert_eq!(cli(&["--web-port", "http"]), ExitCode::from(2));
    assert_eq!(cli(&["--no-such-flag"]), ExitCode::from(2));
    // Worker options do not apply to other commands.
    assert_eq!(cli(&["--web-port", "1", "agents"]), ExitCode::from(2));
    assert_eq!(cli(&["topics", "explode"]), ExitCode::from(2));
    assert_eq!(
        cli(&["send", "cli-orders", "1", "--repeat", "0"]),
        ExitCode::from(2)
    );
    assert_eq!(cli(&["--help"]), ExitCode::SUCCESS);
    assert_eq!(cli(&["agents", "--json"]), ExitCode::SUCCESS);
    // A runtime failure: deleting a topic that does not exist.
    let url = format!("memory://{}", unique("cli-topics"));
    assert_eq!(
        cli(&["--broker", &url, "topics", "delete", "absent"]),
        ExitCode::from(1)
    );
    assert_eq!(
        cli(&[
            "--broker",
            &url,
            "topics",
            "create",
            "made",
            "--partitions",
            "3"
        ]),
        ExitCode::SUCCESS
    );
}
