//! Standby copies: partitions of a table that another worker owns, kept warm on this one by
//! following their changelog, so that taking one over replays only what the follower had not
//! read yet (Faust's standby replicas and global tables).
//!
//! - A **global table** keeps every partition: all of them are recovered at startup, before any
//!   agent runs, and the partitions this worker does not own are followed from then on.
//! - With **`table_standby_replicas`** above 0, every table (of any kind) keeps a
//!   standby copy of each of its partitions this worker does not own. Faust places each standby
//!   on `table_standby_replicas` chosen workers; here the group's assignment is Kafka's, so every
//!   worker keeps a copy of every partition it does not own: at least as many replicas as asked
//!   for, at the cost of memory on each worker.
//! - An assigned standby partition becomes active as it is (recovery reads only the records
//!   after the follower's position); a revoked partition becomes a standby copy again instead of
//!   leaving memory. Standby partitions are not part of a table's `len`, `items` or web views
//!   (a global table's reads see them).
//!
//! One follower task per table reads the standby partitions outside the consumer group; it
//! applies records to a partition only while the partition is a standby copy here.

use super::runtime::TableRuntime;
use crate::app::App;
use crate::transport::{RawMessage, TopicPartition};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How long one read waits for records.
const READ_WAIT: Duration = Duration::from_millis(250);
/// The pause after a read that found nothing (some readers answer at once when there is
/// nothing to read), or after a failed one.
const IDLE_PAUSE: Duration = Duration::from_millis(100);

/// Starts the follower of `table`'s standby partitions; it ends when the app stops or the table
/// is closed.
pub(crate) fn spawn_follower(app: &App, table: &Arc<dyn TableRuntime>) {
    let app = app.clone();
    let table: Weak<dyn TableRuntime> = Arc::downgrade(table);
    tokio::spawn(async move {
        loop {
            let Some(t) = table.upgrade() else { return };
            let Some(slots) = t.slots() else { return };
            let generation = slots.generation();
            let starts: Vec<(TopicPartition, i64)> = slots
                .followed()
                .into_iter()
                .map(|(p, next)| {
                    (
                        TopicPartition {
                            topic: t.changelog().to_string(),
                            partition: p,
                        },
                        next,
                    )
                })
                .collect();
            let name = t.name();
            drop(t);
            if starts.is_empty() {
                if pause(&app, IDLE_PAUSE).await {
                    return;
                }
                continue;
            }
            let mut reader = match app.transport().partition_reader(&starts).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(table = name, error = %e, "cannot follow the table's standby partitions");
                    if pause(&app, Duration::from_secs(1)).await {
                        return;
                    }
                    continue;
                }
            };
            loop {
                let Some(t) = table.upgrade() else { return };
                if t.slots().map(|s| s.generation()) != Some(generation) {
                    break;
                }
                let mut dropped: Vec<i32> = Vec::new();
                let mut applied = 0u64;
                let mut sink = |m: &RawMessage<'_>| {
                    if dropped.contains(&m.partition) {
                        return;
                    }
                    match t.apply_followed(m.partition, m.offset, m.key, m.value) {
                        Ok(true) => applied += 1,
                        Ok(false) => {}
                        Err(e) => {
                            // Not silently skipped: the copy is dropped, and taking the partition
                            // over replays it (and fails there, naming the record, if it is bad).
                            tracing::error!(table = t.name(), partition = m.partition, error = %e,
                                "a standby copy cannot follow its changelog; it is dropped");
                            dropped.push(m.partition);
                        }
                    }
                };
                let read = tokio::select! {
                    r = reader.read(READ_WAIT, &mut sink) => r,
                    _ = app.stopping() => return,
                };
                t.stats().followed(applied);
                if let Some(slots) = t.slots() {
                    for p in dropped {
                        slots.deactivate_standby(p);
                    }
                }
                drop(t);
                match read {
                    Ok(0) => {
                        if pause(&app, IDLE_PAUSE).await {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(table = name, error = %e, "reading the table's changelog for its standby copies failed; reading anew");
                        if pause(&app, Duration::from_secs(1)).await {
                            return;
                        }
                        break;
                    }
                }
            }
        }
    });
}

/// Waits `d`; whether the app stops meanwhile.
async fn pause(app: &App, d: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => false,
        _ = app.stopping() => true,
    }
}

/// At startup, once `table` is made: a global table recovers every partition (before any agent
/// runs) and follows them; with `table_standby_replicas` set, a table follows every partition
/// until the assignment makes some of them active.
pub(crate) async fn start(
    app: &App,
    spec: &'static super::TableSpec,
    table: &Arc<dyn TableRuntime>,
) -> crate::error::Result<()> {
    let global = spec.kind == super::TableKind::Global;
    let wanted = global || app.settings().table_standby_replicas > 0;
    if !wanted {
        return Ok(());
    }
    let Some(slots) = table.slots() else {
        tracing::warn!(
            table = spec.name,
            "this kind of table keeps no standby copies: its partitions are recovered when assigned"
        );
        return Ok(());
    };
    slots.keep_standby();
    let all: Vec<i32> = (0..table.partitions()).collect();
    if global {
        super::recovery::recover(app, table, &all).await?;
    }
    for p in all {
        table.follow(p)?;
    }
    spawn_follower(app, table);
    Ok(())
}

/// The partitions `table` keeps as standby copies (for the web views).
pub(crate) fn partitions(table: &dyn TableRuntime) -> Vec<i32> {
    table
        .slots()
        .map(|s| s.followed().into_iter().map(|(p, _)| p).collect())
        .unwrap_or_default()
}
