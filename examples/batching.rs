//! Batching with `take(max, within)`.
//!
//! A timer sends a burst of 25 readings every second. The agent takes them in batches of up
//! to 10, or fewer once 500 ms passed since a batch's first reading (never an empty batch), and
//! prints each batch's size and mean. A batch's offsets are committed once it is processed, when
//! the agent asks for the next batch.
//!
//! ```text
//! cargo run --example batching                                   # embedded broker, no setup
//! cargo run --example batching -- --broker kafka://localhost:9092 # a Kafka cluster
//! ```

use faust_runtime::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Sensor readings, keyed by sensor.
#[topic(name = "readings", key = String, value = f64, partitions = 1)]
struct Readings;

/// Prints the size and mean of each batch.
#[agent(Readings)]
async fn batches(readings: Stream<Readings>) -> Result<()> {
    let mut batches = readings.take(10, Duration::from_millis(500));
    let mut n = 0;
    while let Some(batch) = batches.next().await {
        n += 1;
        let mean = batch.iter().sum::<f64>() / batch.len() as f64;
        println!("batch {n}: {} readings, mean {mean:.2}", batch.len());
    }
    Ok(())
}

static BURST: AtomicU64 = AtomicU64::new(0);

/// Sends 25 readings at once, every second: two full batches and one cut by `within`.
#[timer(interval = "1s")]
async fn burst() -> Result<()> {
    let b = BURST.fetch_add(1, Ordering::Relaxed);
    for i in 0..25u64 {
        Readings.send_soon("sensor-1", (b * 25 + i) as f64 / 10.0)?;
    }
    Ok(())
}

faust_runtime::main!(id = "batching-app");
