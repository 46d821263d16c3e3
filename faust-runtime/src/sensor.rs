//! Sensors: hooks the engine calls as records move through an app (Faust's `Sensor`).
//!
//! Implement [`Sensor`] (every method has an empty default) and register it with
//! [`AppBuilder::sensor`](crate::AppBuilder::sensor); the app's Prometheus metrics
//! ([`crate::metrics::Metrics`]) are one sensor among others, so statsd, OpenTelemetry or a
//! test probe plug in the same way.
//!
//! The set of sensors is fixed when the app is built. With none registered the engine skips
//! every hook (one branch per event, no clock read); with some, each hook is a plain call on
//! each sensor: nothing is allocated or locked for it. Hooks run on the engine's tasks (the
//! consume driver, the agents' tasks, the producer's delivery callbacks): keep them short and
//! never block in them.
//!
//! ```
//! use faust_runtime::sensor::{EventRef, Sensor};
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use std::sync::Arc;
//!
//! #[derive(Default)]
//! struct Counting(AtomicU64);
//!
//! impl Sensor for Counting {
//!     fn on_stream_event_out(&self, _event: &EventRef<'_>, _took: std::time::Duration) {
//!         self.0.fetch_add(1, Ordering::Relaxed);
//!     }
//! }
//!
//! let counting = Arc::new(Counting::default());
//! let app = faust_runtime::App::builder("sensed").sensor(counting.clone()).build()?;
//! assert_eq!(app.sensors().len(), 1);
//! # Ok::<(), faust_runtime::Error>(())
//! ```

use crate::error::Error;
use crate::transport::{CommitOffset, TopicPartition};
use std::sync::Arc;
use std::time::Duration;

/// One event as an agent's stream sees it.
#[derive(Debug, Clone, Copy)]
pub struct EventRef<'a> {
    /// The agent reading it.
    pub agent: &'a str,
    /// Its topic or channel.
    pub source: &'a str,
    /// Its partition (`0` for channels).
    pub partition: i32,
    /// Its offset (`-1` for channels).
    pub offset: i64,
}

/// What a rebalance did to this worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebalanceKind {
    /// Partitions were assigned.
    Assigned,
    /// Partitions were revoked (their work finished and committed first).
    Revoked,
    /// Partitions were lost (taken away without a chance to commit).
    Lost,
}

/// Hooks called by the engine; see the module docs. Every method defaults to doing nothing.
#[allow(unused_variables)]
pub trait Sensor: Send + Sync + 'static {
    /// A record was read from the broker and handed to the agents of its topic.
    fn on_message_in(&self, tp: &TopicPartition, offset: i64) {}

    /// The record at `offset` is done: every agent finished it and what was sent while
    /// processing it is delivered (its offset may now be committed).
    fn on_message_acked(&self, tp: &TopicPartition, offset: i64) {}

    /// An agent's stream yielded an event to the agent.
    fn on_stream_event_in(&self, event: &EventRef<'_>) {}

    /// The agent finished the event (it asked for the next one); `took` is the time since it
    /// got it.
    fn on_stream_event_out(&self, event: &EventRef<'_>, took: Duration) {}

    /// The agent failed (error or panic) while processing `event` (`None`: outside of an
    /// event); `error` is the failure as text.
    fn on_agent_error(&self, agent: &str, event: Option<&EventRef<'_>>, error: &str) {}

    /// A failed agent instance is restarted.
    fn on_agent_restart(&self, agent: &str) {}

    /// A record is handed to the producer.
    fn on_send_initiated(&self, topic: &str) {}

    /// The broker acknowledged a record `latency` after it was handed to the producer.
    fn on_send_completed(&self, topic: &str, latency: Duration) {}

    /// A record could not be delivered.
    fn on_send_error(&self, topic: &str, error: &Error, latency: Duration) {}

    /// Offsets were committed (`error`: the commit failed, it is retried with the next one).
    fn on_commit(&self, offsets: &[CommitOffset], latency: Duration, error: Option<&Error>) {}

    /// The partition's log ends at `end_offset` and its committed offset is `committed`
    /// (reported with the periodic commit: `end_offset - committed` is the consumer lag).
    fn on_partition_offsets(&self, tp: &TopicPartition, committed: Option<i64>, end_offset: i64) {}

    /// A rebalance assigned, revoked or lost partitions.
    fn on_rebalance(&self, kind: RebalanceKind, partitions: &[TopicPartition]) {}

    /// A timer ran for `took`; `error` is its failure as text.
    fn on_timer_run(&self, timer: &str, took: Duration, error: Option<&str>) {}

    /// A key of `table` was read (`get`, `contains_key`, and the read of an `update`; a
    /// windowed table's `current`, `now`, `delta`, `value`).
    fn on_table_get(&self, table: &str) {}

    /// A key of `table` was written (`insert`, `update`; one call per `update` of a windowed
    /// table, whatever the number of windows it changed).
    fn on_table_set(&self, table: &str) {}

    /// A key of `table` was deleted (`remove`).
    fn on_table_del(&self, table: &str) {}
}

/// The sensors of an app, fixed when it is built: `None` when there are none, so the engine's
/// hooks cost one branch.
#[derive(Clone, Default)]
pub(crate) struct Sensors(Option<Arc<[Arc<dyn Sensor>]>>);

impl Sensors {
    pub(crate) fn new(list: Vec<Arc<dyn Sensor>>) -> Self {
        if list.is_empty() {
            Sensors(None)
        } else {
            Sensors(Some(list.into()))
        }
    }

    /// The sensors, `None` when there are none.
    #[inline]
    pub(crate) fn get(&self) -> Option<&[Arc<dyn Sensor>]> {
        self.0.as_deref()
    }

    /// Calls `f` on every sensor.
    #[inline]
    pub(crate) fn each(&self, f: impl Fn(&dyn Sensor)) {
        if let Some(list) = &self.0 {
            for s in list.iter() {
                f(&**s);
            }
        }
    }

    /// The shared list, `None` when there are none.
    #[inline]
    pub(crate) fn shared(&self) -> Option<Arc<[Arc<dyn Sensor>]>> {
        self.0.clone()
    }

    pub(crate) fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |l| l.len())
    }
}

impl std::fmt::Debug for Sensors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sensors({})", self.len())
    }
}

/// What a record carries to its delivery callback when sensors watch sends: the sensors, its
/// topic and when it was handed over.
pub(crate) struct SendProbe {
    pub(crate) sensors: Arc<[Arc<dyn Sensor>]>,
    pub(crate) topic: std::borrow::Cow<'static, str>,
    pub(crate) started: std::time::Instant,
}

impl SendProbe {
    /// Tells the sensors how the send ended.
    pub(crate) fn finish<T>(self, result: &crate::Result<T>) {
        let latency = self.started.elapsed();
        for s in self.sensors.iter() {
            match result {
                Ok(_) => s.on_send_completed(&self.topic, latency),
                Err(e) => s.on_send_error(&self.topic, e, latency),
            }
        }
    }
}

impl std::fmt::Debug for SendProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SendProbe({})", self.topic)
    }
}
