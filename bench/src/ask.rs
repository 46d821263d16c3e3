//! `ask` round-trip latency: one caller asks an agent that yields each value back, one request
//! at a time, on the embedded broker and on Kafka; the median and the 99th percentile of the
//! round trips (send the request, the agent reads and answers it, the reply is read and matched).

use crate::Opts;
use faust_runtime::App;
use std::time::{Duration, Instant};

/// The agent asked.
pub mod app {
    use faust_runtime::prelude::*;

    /// Requests to the echo agent.
    #[topic(name = "bench-ask", key = String, value = u64, partitions = 4)]
    pub struct AskTopic;

    /// Answers every request with its own value.
    #[agent(AskTopic, handle = Echo)]
    pub async fn echo(mut stream: Stream<AskTopic>, out: Yield<u64>) -> Result<()> {
        while let Some(v) = stream.next().await {
            out.send(v).await?;
        }
        Ok(())
    }
}

/// Round trips of `asks` sequential asks (after `warmup` that are not counted), sorted.
async fn round_trips(broker: &str, asks: u64, warmup: u64) -> Result<Vec<Duration>, String> {
    let app = crate::tune(
        App::builder(format!("faust-bench-ask-{}", std::process::id()))
            .broker(broker)
            .include_module(module_path!().to_string() + "::app"),
    )
    .build()
    .map_err(|e| e.to_string())?;
    app.start().await.map_err(|e| e.to_string())?;
    let echo = app::Echo.on(&app).timeout(Duration::from_secs(60));
    let mut took = Vec::with_capacity(asks as usize);
    for i in 0..warmup + asks {
        let t = Instant::now();
        let v = echo.ask(i).await.map_err(|e| e.to_string())?;
        let d = t.elapsed();
        if v != i {
            return Err(format!("asked {i}, got {v}"));
        }
        if i >= warmup {
            took.push(d);
        }
    }
    app.stop().await.map_err(|e| e.to_string())?;
    took.sort();
    Ok(took)
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Measures on the embedded broker and, with `--broker`, on Kafka; prints a Markdown table.
pub async fn run(opts: &Opts) -> Result<(), String> {
    let mut rows = Vec::new();
    let asks = opts.records.clamp(1, 100_000);
    rows.push((
        "Embedded broker (`memory://`)",
        round_trips("memory://", asks, 100).await?,
    ));
    if let Some(url) = &opts.broker {
        rows.push((
            "Kafka (tansu, loopback)",
            round_trips(url, asks, 100).await?,
        ));
    }
    println!("| `ask` round trip | asks | median | p99 | max |");
    println!("|---|---:|---:|---:|---:|");
    for (label, t) in rows {
        println!(
            "| {label} | {} | {:.3} ms | {:.3} ms | {:.3} ms |",
            t.len(),
            quantile(&t, 0.5).as_secs_f64() * 1e3,
            quantile(&t, 0.99).as_secs_f64() * 1e3,
            t.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        );
    }
    Ok(())
}
