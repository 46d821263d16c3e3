//! A hand-written `main` that reuses the whole command line with one call, plus an app
//! command (`#[command]`).
//!
//! ```text
//! cargo run --example cli_app                      # the worker (embedded broker)
//! cargo run --example cli_app -- --help            # every command and option
//! cargo run --example cli_app -- graph --format dot
//! cargo run --example cli_app -- announce hello --times 2
//! ```
//!
//! A timer puts a tick on the `cli-app-ticks` topic every 100 ms; the agent prints each one.
//! With `CLI_APP_WORK_MS=N` the agent takes N ms over each tick (a slow agent, to see that a
//! stop finishes the tick in flight).

use faust_runtime::clap;
use faust_runtime::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Ticks, as JSON numbers.
#[topic(name = "cli-app-ticks", value = u64, partitions = 1)]
struct Ticks;

static NEXT: AtomicU64 = AtomicU64::new(0);

#[timer(interval = "100ms")]
async fn tick() -> Result<()> {
    Ticks
        .record(NEXT.fetch_add(1, Ordering::Relaxed))
        .send()
        .await?;
    Ok(())
}

#[agent(Ticks)]
async fn print_ticks(mut ticks: Stream<Ticks>) {
    let work = std::env::var("CLI_APP_WORK_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis);
    while let Some(n) = ticks.next().await {
        println!("processing tick {n}");
        if let Some(w) = work {
            tokio::time::sleep(w).await;
        }
        println!("processed tick {n}");
    }
}

#[derive(clap::Args)]
struct Announce {
    /// What to print.
    message: String,
    /// How many times.
    #[arg(long, default_value_t = 1)]
    times: u32,
}

/// Prints a message (an app command with clap arguments).
#[faust_runtime::command]
async fn announce(app: App, args: Announce) -> Result<()> {
    for _ in 0..args.times {
        println!("{}: {}", app.id(), args.message);
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    faust_runtime::cli::run(App::builder("cli-app").include_module(module_path!()))
}
