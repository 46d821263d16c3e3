//! The worker the fault suite (`examples/tests/faults.rs`) runs, kills and restarts: its agents
//! record the id of every event they process to a file, one line each, written before the
//! event counts as done, so the suite can count what was processed, lost or repeated.
//!
//! Topics (4 partitions each): `faults-in` (error policy `skip`), `faults-dl` (`dead_letter`,
//! into `faults-dl-dlq`) and `faults-stop` (`stop`); values are `{"id": N, "pad": "..."}`.
//!
//! Environment (besides the worker's own `FAUST_*`):
//! - `FAULT_LOG`: the file processed ids are appended to (required);
//! - `FAULT_FAIL_EVERY=N`: the agent fails (returns an error) on every id with `id % N == N-1`;
//! - `FAULT_PANIC_AT=ID`: the agent panics once, on that id;
//! - `FAULT_SLOW_MS=MS`: the agent takes that long per event.
//!
//! ```text
//! FAULT_LOG=/tmp/ids cargo run --example fault_worker -- --broker kafka://localhost:9092
//! ```

use faust_runtime::prelude::*;
use faust_runtime::Error;
use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// One input.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Item {
    id: u64,
    #[serde(default)]
    pad: String,
}

/// Inputs under the policy `skip`.
#[topic(name = "faults-in", key = String, value = Item, partitions = 4, on_error = "skip")]
struct Inputs;

/// Inputs under the policy `dead_letter`.
#[topic(name = "faults-dl", key = String, value = Item, partitions = 4, on_error = "dead_letter")]
struct DeadLetterInputs;

/// Inputs under the policy `stop`.
#[topic(name = "faults-stop", key = String, value = Item, partitions = 4, on_error = "stop")]
struct StopInputs;

struct Behaviour {
    log: Mutex<File>,
    fail_every: Option<u64>,
    panic_at: Option<u64>,
    slow: Option<Duration>,
}

fn env_number(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    match v.trim().parse() {
        Ok(n) => Some(n),
        Err(_) => panic!("{name}='{v}' is not a number"),
    }
}

fn behaviour() -> &'static Behaviour {
    static B: OnceLock<Behaviour> = OnceLock::new();
    B.get_or_init(|| {
        let path = std::env::var("FAULT_LOG").expect("FAULT_LOG names the file of processed ids");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("cannot open FAULT_LOG {path}: {e}"));
        Behaviour {
            log: Mutex::new(log),
            fail_every: env_number("FAULT_FAIL_EVERY").filter(|n| *n > 0),
            panic_at: env_number("FAULT_PANIC_AT"),
            slow: env_number("FAULT_SLOW_MS").map(Duration::from_millis),
        }
    })
}

/// Processes one item: records it, then misbehaves as configured.
async fn process(item: &Item) -> Result<()> {
    static PANICKED: AtomicBool = AtomicBool::new(false);
    let b = behaviour();
    if let Some(d) = b.slow {
        tokio::time::sleep(d).await;
    }
    // One write per event, unbuffered: a SIGKILL loses no line of a finished event.
    b.log
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .write_all(format!("{}\n", item.id).as_bytes())
        .map_err(|e| Error::state(format!("fault_worker: cannot write FAULT_LOG: {e}")))?;
    if b.panic_at == Some(item.id) && !PANICKED.swap(true, Ordering::Relaxed) {
        panic!("fault_worker: panicking once, on id {}", item.id);
    }
    if let Some(n) = b.fail_every {
        if item.id % n == n - 1 {
            return Err(Error::state(format!(
                "fault_worker: failing on id {}",
                item.id
            )));
        }
    }
    Ok(())
}

/// Processes `faults-in`.
#[agent(Inputs)]
async fn inputs(mut items: Stream<Inputs>) -> Result<()> {
    while let Some(item) = items.next().await {
        process(&item).await?;
    }
    Ok(())
}

/// Processes `faults-dl`.
#[agent(DeadLetterInputs)]
async fn dead_letter_inputs(mut items: Stream<DeadLetterInputs>) -> Result<()> {
    while let Some(item) = items.next().await {
        process(&item).await?;
    }
    Ok(())
}

/// Processes `faults-stop`.
#[agent(StopInputs)]
async fn stop_inputs(mut items: Stream<StopInputs>) -> Result<()> {
    while let Some(item) = items.next().await {
        process(&item).await?;
    }
    Ok(())
}

faust_runtime::main!(id = "fault-worker");
