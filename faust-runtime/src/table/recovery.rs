//! Recovery: replaying a table's changelog partitions into the table when they become active on
//! this worker, before any event of those partitions reaches an agent.
//!
//! Runs from the consume driver's assignment hook, so the driver hands out no record of the
//! assigned partitions until it is done. Each partition is read from the offset after the last
//! one its store holds (from the start with the in-memory store). The end offset the broker
//! reports is not trusted alone (the Kafka-protocol test broker reports it too low after
//! batched writes): reading goes on until the reported end is reached *and* no record arrives
//! for `table_recovery_idle`. Progress is logged every few seconds and at the end (records,
//! seconds), and counted in [`TableHealth`].

use super::runtime::TableRuntime;
use crate::app::App;
use crate::error::{Error, Result};
use crate::transport::TopicPartition;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long recovery waits for records while it is still behind the reported end offset before
/// logging that it still waits.
const BEHIND_WAIT: Duration = Duration::from_secs(5);

/// Recovery counters of one table.
#[derive(Debug, Default)]
pub struct RecoveryStats {
    recovering: AtomicBool,
    recoveries: AtomicU64,
    records: AtomicU64,
    last_records: AtomicU64,
    last_millis: AtomicU64,
    followed: AtomicU64,
}

/// What health shows of one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableHealth {
    /// Table name.
    pub name: String,
    /// Changelog topic.
    pub changelog: String,
    /// Store kind (`memory`, `redb`).
    pub store: String,
    /// Partitions active on this worker.
    pub active_partitions: Vec<i32>,
    /// The partitions this worker keeps as standby copies (owned by another worker; see
    /// [`super::standby`]), each with the changelog offset its copy has read up to (the next
    /// offset to read).
    pub standby_partitions: Vec<(i32, i64)>,
    /// Changelog records the standby copies have applied.
    pub standby_records: u64,
    /// Whether a recovery is running.
    pub recovering: bool,
    /// Recoveries done (one per assignment that activated partitions).
    pub recoveries: u64,
    /// Changelog records replayed in all recoveries.
    pub recovered_records: u64,
    /// Records replayed by the last recovery.
    pub last_recovery_records: u64,
    /// Duration of the last recovery, milliseconds.
    pub last_recovery_millis: u64,
}

impl RecoveryStats {
    /// `n` changelog records were applied to standby copies.
    pub(crate) fn followed(&self, n: u64) {
        self.followed.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn health(&self, t: &dyn TableRuntime, active: Vec<i32>) -> TableHealth {
        TableHealth {
            name: t.name().to_string(),
            changelog: t.changelog().to_string(),
            store: t.store_kind().to_string(),
            active_partitions: active,
            standby_partitions: t.slots().map(|s| s.followed()).unwrap_or_default(),
            standby_records: self.followed.load(Ordering::Relaxed),
            recovering: self.recovering.load(Ordering::Relaxed),
            recoveries: self.recoveries.load(Ordering::Relaxed),
            recovered_records: self.records.load(Ordering::Relaxed),
            last_recovery_records: self.last_records.load(Ordering::Relaxed),
            last_recovery_millis: self.last_millis.load(Ordering::Relaxed),
        }
    }
}

/// Activates `partitions` of `table` and replays their changelog; see the module docs.
pub(crate) async fn recover(
    app: &App,
    table: &Arc<dyn TableRuntime>,
    partitions: &[i32],
) -> Result<()> {
    let stats = table.stats();
    stats.recovering.store(true, Ordering::Relaxed);
    let r = replay(app, table, partitions).await;
    stats.recovering.store(false, Ordering::Relaxed);
    r
}

async fn replay(app: &App, table: &Arc<dyn TableRuntime>, partitions: &[i32]) -> Result<()> {
    let started = Instant::now();
    let topic = table.changelog();
    let mut starts = Vec::with_capacity(partitions.len());
    for &p in partitions {
        let from = table.activate(p)?;
        starts.push((
            TopicPartition {
                topic: topic.to_string(),
                partition: p,
            },
            from,
        ));
    }
    let mut reader = app.transport().partition_reader(&starts).await?;
    let mut next: HashMap<i32, i64> = HashMap::new();
    let mut ends: HashMap<i32, i64> = HashMap::new();
    for (tp, from) in &starts {
        next.insert(tp.partition, *from);
        ends.insert(tp.partition, reader.end_offset(tp).await?);
    }
    let idle = app.settings().table_recovery_idle;
    let mut records = 0u64;
    let mut failed: Option<Error> = None;
    let mut last_log = Instant::now();
    loop {
        let behind = next.iter().any(|(p, n)| *n < ends[p]);
        let wait = if behind { BEHIND_WAIT } else { idle };
        let n = reader
            .read(wait, &mut |m| {
                if failed.is_some() {
                    return;
                }
                let Some(pos) = next.get_mut(&m.partition) else {
                    return;
                };
                if m.offset < *pos {
                    return;
                }
                *pos = m.offset + 1;
                records += 1;
                if let Err(e) = table.apply(m.partition, m.offset, m.key, m.value) {
                    failed = Some(e);
                }
            })
            .await?;
        if let Some(e) = failed {
            return Err(e);
        }
        if n == 0 && !behind {
            break;
        }
        if last_log.elapsed() >= Duration::from_secs(5) {
            last_log = Instant::now();
            tracing::info!(
                table = table.name(),
                records,
                seconds = started.elapsed().as_secs_f64(),
                behind,
                "table recovery in progress"
            );
        }
    }
    table.flush()?;
    let stats = table.stats();
    stats.recoveries.fetch_add(1, Ordering::Relaxed);
    stats.records.fetch_add(records, Ordering::Relaxed);
    stats.last_records.store(records, Ordering::Relaxed);
    stats
        .last_millis
        .store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
    tracing::info!(
        table = table.name(),
        ?partitions,
        records,
        seconds = started.elapsed().as_secs_f64(),
        store = table.store_kind(),
        "table recovered"
    );
    Ok(())
}
