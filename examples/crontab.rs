//! A crontab job (Faust's `@app.crontab`), a one-shot task and a leader-only timer.
//!
//! `tick` runs at every second divisible by two (a six-field expression: seconds first), on the
//! group's leader only: start this example twice against one Kafka cluster and only one of the
//! two prints ticks; stop that one and the other takes over. `nightly` shows the usual form, a
//! five-field expression in a time zone (09:30 on weekdays, Paris time); it will not fire during
//! a short demo. A run that fails is logged and counted, and the schedule goes on.
//!
//! ```text
//! cargo run --example crontab                                    # embedded broker
//! cargo run --example crontab -- --broker kafka://localhost:9092 # a Kafka cluster
//! ```

use faust_runtime::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};

static TICKS: AtomicU64 = AtomicU64::new(0);

/// Every two seconds, on the leader only.
#[crontab("*/2 * * * * *", on_leader = true)]
async fn tick() -> Result<()> {
    let n = TICKS.fetch_add(1, Ordering::Relaxed) + 1;
    println!("crontab run {n} (this worker leads its group)");
    Ok(())
}

/// 09:30 on weekdays, Paris time.
#[crontab("30 9 * * mon-fri", timezone = "Europe/Paris")]
async fn nightly() -> Result<()> {
    println!("good morning, Paris");
    Ok(())
}

/// Once, after the app has started.
#[task]
async fn started() {
    println!("task: the app has started");
}

faust_runtime::main!(id = "crontab-example");
