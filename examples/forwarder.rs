//! A forwarding worker, the most common thing a Faust agent does: every record of `fwd-in` is
//! sent on to `fwd-out` with `send(..).await`.
//!
//! The output record is attached to the input event, so the input's offset is committed only
//! once the output is delivered: kill the worker at any moment (even with SIGKILL) and restart
//! it, and every input has an output (at least once, end to end).
//!
//! ```text
//! cargo run --example forwarder                                    # embedded broker
//! cargo run --example forwarder -- --broker kafka://localhost:9092 # a Kafka cluster
//! ```

use faust_runtime::prelude::*;

/// What comes in.
#[topic(name = "fwd-in", key = String, value = String, partitions = 4)]
struct Inputs;

/// What goes out: the input's value, prefixed with where it came from (`partition:offset:`).
#[topic(name = "fwd-out", key = String, value = String, partitions = 4)]
struct Outputs;

/// Forwards every input.
#[agent(Inputs)]
async fn forward(mut events: Events<Inputs>) -> Result<()> {
    while let Some(ev) = events.next().await {
        let key = ev.key.clone().unwrap_or_default();
        let value = format!("{}:{}:{}", ev.partition, ev.offset, ev.value);
        Outputs.send(key, value).await?;
    }
    Ok(())
}

faust_runtime::main!(id = "forwarder");
