//! Channel cases: small values through a `#[channel]` into an agent, against a tokio mpsc of the
//! same capacity between two tasks.

use crate::measure::{CaseResult, Probe, Window};
use crate::Opts;
use faust_runtime::App;
use std::sync::Arc;

/// Queue capacity of both the channel and the mpsc.
pub const CAPACITY: usize = 1000;

/// A small value (16 bytes, no heap).
#[derive(Debug, Clone, Copy)]
pub struct Tick {
    /// Sequence number.
    pub seq: u64,
    /// Some payload.
    pub value: u64,
}

/// The app of the channel case: one channel, one counting agent.
pub mod app {
    use super::Tick;
    use crate::measure::Probe;
    use faust_runtime::prelude::*;
    use std::sync::LazyLock;

    /// Marks the agent's last value (the sender marks the first).
    pub static PROBE: LazyLock<Probe> = LazyLock::new(Probe::new);

    /// The channel.
    #[channel(value = Tick, maxsize = 1000)]
    pub struct Ticks;

    /// Counts values until the expected number arrived.
    #[agent(Ticks)]
    async fn count_ticks(mut ticks: Stream<Ticks>) -> Result<()> {
        let target = PROBE.target();
        let mut seen = 0u64;
        while let Some(t) = ticks.next().await {
            std::hint::black_box(t.seq ^ t.value);
            seen += 1;
            if seen == target {
                PROBE.last();
            }
        }
        Ok(())
    }
}

/// `records` values sent with `Ticks.send(..).await` from a task into an agent. Measured from
/// the first send to the agent's last value.
pub async fn channel_agent(case: &str, opts: &Opts) -> Result<CaseResult, String> {
    let n = opts.channel_records;
    app::PROBE.arm(n);
    let app = App::builder("bench-channel").include_module(module_path!().to_string() + "::app");
    let app = crate::tune(app).build().map_err(|e| e.to_string())?;
    app.start().await.map_err(|e| e.to_string())?;
    let sender = {
        let ticks = app::Ticks.on(&app);
        tokio::spawn(async move {
            app::PROBE.first();
            for seq in 0..n {
                if let Err(e) = ticks
                    .send(Tick {
                        seq,
                        value: seq ^ 0x5555,
                    })
                    .await
                {
                    return Err(e.to_string());
                }
            }
            Ok(())
        })
    };
    let waited = app::PROBE.wait(opts.timeout).await;
    let sent = sender.await.map_err(|e| e.to_string())?;
    app.stop().await.map_err(|e| e.to_string())?;
    sent?;
    let (first, last) = waited?;
    Ok(CaseResult::new(case, n, Window::between(first, last), None))
}

/// The same values through a tokio mpsc (capacity [`CAPACITY`]) between two tasks.
pub async fn mpsc(case: &str, opts: &Opts) -> Result<CaseResult, String> {
    let n = opts.channel_records;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Tick>(CAPACITY);
    let probe = Arc::new(Probe::new());
    probe.arm(n);
    let receiver = {
        let probe = probe.clone();
        tokio::spawn(async move {
            let target = probe.target();
            let mut seen = 0u64;
            while let Some(t) = rx.recv().await {
                std::hint::black_box(t.seq ^ t.value);
                seen += 1;
                if seen == target {
                    probe.last();
                }
            }
        })
    };
    let sender = {
        let probe = probe.clone();
        tokio::spawn(async move {
            probe.first();
            for seq in 0..n {
                if tx
                    .send(Tick {
                        seq,
                        value: seq ^ 0x5555,
                    })
                    .await
                    .is_err()
                {
                    break;
                }
            }
        })
    };
    let (first, last) = probe.wait(opts.timeout).await?;
    let _ = sender.await;
    let _ = receiver.await;
    Ok(CaseResult::new(case, n, Window::between(first, last), None))
}
