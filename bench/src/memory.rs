//! Embedded-broker cases: an agent reading a `memory://` topic, against a plain serde_json decode
//! loop over the same bytes and a tokio mpsc carrying the already decoded structs.

use crate::data::{self, Order};
use crate::measure::{CaseResult, Mark, Probe, Window};
use crate::Opts;
use faust_runtime::transport::{NewTopic, OutgoingRecord};
use faust_runtime::{App, MemoryBroker, Transport};
use std::sync::Arc;
use std::time::Instant;

/// The app of the embedded-broker case: one topic, one counting agent.
pub mod app {
    use crate::data::Order;
    use crate::measure::Probe;
    use faust_runtime::prelude::*;
    use std::sync::LazyLock;

    /// Marks the agent's first and last record.
    pub static PROBE: LazyLock<Probe> = LazyLock::new(Probe::new);

    /// The embedded-broker topic.
    #[topic(name = "bench-memory-orders", key = String, value = Order, partitions = 4)]
    pub struct MemoryOrders;

    /// Counts orders until the expected number arrived.
    #[agent(MemoryOrders)]
    async fn count_memory_orders(orders: Stream<MemoryOrders>) -> Result<()> {
        PROBE.count(orders).await;
        Ok(())
    }
}

/// Agent reading `records` orders from a `memory://` topic filled before the app starts.
/// Measured from the agent's first record to its last.
pub async fn topic_agent(case: &str, opts: &Opts) -> Result<CaseResult, String> {
    let n = opts.records;
    let broker = MemoryBroker::new();
    broker
        .create_topic(&NewTopic {
            name: "bench-memory-orders".into(),
            partitions: 4,
            replication_factor: 1,
            config: Default::default(),
        })
        .await
        .map_err(|e| e.to_string())?;
    for i in 0..n {
        let (key, value) = data::record_bytes(i);
        let handle = broker
            .send(OutgoingRecord {
                topic: "bench-memory-orders".into(),
                partition: None,
                key: Some(key),
                value: Some(value),
                headers: Vec::new(),
                timestamp: None,
                acks: None,
                delivery_guarantee: None,
                notice: Default::default(),
            })
            .await
            .map_err(|e| e.to_string())?;
        drop(handle);
    }
    app::PROBE.arm(n);
    let app = App::builder("bench-memory")
        .transport(Arc::new(broker))
        .include_module(module_path!().to_string() + "::app");
    let app = crate::tune(app).build().map_err(|e| e.to_string())?;
    let started = Instant::now();
    app.start().await.map_err(|e| e.to_string())?;
    let waited = app::PROBE.wait(opts.timeout).await;
    app.stop().await.map_err(|e| e.to_string())?;
    let (first, last) = waited?;
    Ok(CaseResult::new(
        case,
        n,
        Window::between(first, last),
        Some(first.at.saturating_duration_since(started)),
    ))
}

/// A plain loop decoding the same bytes with serde_json on one thread (key as a string, value as
/// an order), no queue, no task switch.
pub fn json_loop(case: &str, opts: &Opts) -> Result<CaseResult, String> {
    let n = opts.records;
    let records: Vec<(Vec<u8>, Vec<u8>)> = (0..n).map(data::record_bytes).collect();
    let start = Mark::now();
    for (k, v) in &records {
        let decoded = data::decode(Some(k), v)?;
        std::hint::black_box(decoded);
    }
    let end = Mark::now();
    Ok(CaseResult::new(case, n, Window::between(start, end), None))
}

/// Already-decoded orders (with their keys) through a tokio mpsc between two tasks, with the
/// agent stream's default buffer size. Measured from the first send to the last receive.
pub async fn mpsc_structs(case: &str, opts: &Opts) -> Result<CaseResult, String> {
    let n = opts.records;
    let items: Vec<(Option<String>, Order)> = (0..n)
        .map(|i| (Some(data::key(i)), data::order(i)))
        .collect();
    let capacity = faust_runtime::Settings::default().stream_buffer_maxsize;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(Option<String>, Order)>(capacity);
    let probe: Arc<Probe> = Arc::new(Probe::new());
    probe.arm(n);
    let receiver = {
        let probe = probe.clone();
        tokio::spawn(async move {
            let target = probe.target();
            let mut seen = 0u64;
            while let Some(item) = rx.recv().await {
                std::hint::black_box(&item);
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
            for item in items {
                if tx.send(item).await.is_err() {
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
