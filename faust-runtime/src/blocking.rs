//! The blocking timeout (Faust's `--blocking-timeout`): a warning naming the agent and the event
//! (topic, partition, offset) when processing one event takes longer than
//! [`Settings::blocking_timeout`](crate::Settings::blocking_timeout), and naming the timer when
//! one run of it does.
//!
//! Every agent instance and timer has a `Busy` slot: when it starts an event (or a run) it
//! stores the time and the event's coordinates there (a few relaxed atomic stores), and clears
//! the time when it is done. One watcher task per app looks at the slots a few times per
//! timeout and warns, once per event, about any that has been busy for longer than the
//! timeout — while it is still stuck, not only after it finished. Without the setting there are
//! no slots and no watcher.

use std::sync::atomic::{AtomicI32, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Who a slot belongs to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Worker {
    /// An agent instance reading `source`.
    Agent {
        agent: &'static str,
        source: &'static str,
    },
    /// A timer.
    Timer(&'static str),
}

/// What one agent instance or timer is doing right now; see the module docs.
#[derive(Debug)]
pub(crate) struct Busy {
    worker: Worker,
    epoch: Instant,
    /// Nanoseconds since `epoch` (plus one) when the current event started; `0` when idle.
    since: AtomicU64,
    partition: AtomicI32,
    offset: AtomicI64,
    /// The `since` value last warned about (one warning per event).
    warned: AtomicU64,
}

impl Busy {
    /// Marks the start of an event (agents) or a run (timers: partition and offset unused).
    #[inline]
    pub(crate) fn start(&self, partition: i32, offset: i64) {
        self.partition.store(partition, Ordering::Relaxed);
        self.offset.store(offset, Ordering::Relaxed);
        let now = self.epoch.elapsed().as_nanos() as u64 + 1;
        self.since.store(now, Ordering::Release);
    }

    /// Marks the end of the current event or run.
    #[inline]
    pub(crate) fn done(&self) {
        self.since.store(0, Ordering::Release);
    }

    /// The warning due for this slot at `now` (nanoseconds since the epoch), if any.
    fn check(&self, now: u64, timeout: Duration) -> Option<(Duration, i32, i64)> {
        let since = self.since.load(Ordering::Acquire);
        if since == 0 {
            return None;
        }
        let busy = Duration::from_nanos(now.saturating_sub(since - 1));
        if busy <= timeout || self.warned.swap(since, Ordering::AcqRel) == since {
            return None;
        }
        Some((
            busy,
            self.partition.load(Ordering::Relaxed),
            self.offset.load(Ordering::Relaxed),
        ))
    }
}

/// The slots of one app and its timeout.
#[derive(Debug)]
pub(crate) struct Blocking {
    timeout: Duration,
    epoch: Instant,
    slots: Mutex<Vec<Arc<Busy>>>,
}

impl Blocking {
    pub(crate) fn new(timeout: Duration) -> Self {
        Blocking {
            timeout,
            epoch: Instant::now(),
            slots: Mutex::new(Vec::new()),
        }
    }

    /// A new slot for an agent instance or a timer (at start-up, never per event).
    pub(crate) fn slot(&self, worker: Worker) -> Arc<Busy> {
        let busy = Arc::new(Busy {
            worker,
            epoch: self.epoch,
            since: AtomicU64::new(0),
            partition: AtomicI32::new(0),
            offset: AtomicI64::new(-1),
            warned: AtomicU64::new(0),
        });
        self.slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(busy.clone());
        busy
    }

    /// Warns about every slot busy for longer than the timeout; returns how many warnings.
    pub(crate) fn check_all(&self) -> usize {
        let now = self.epoch.elapsed().as_nanos() as u64;
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let mut warned = 0;
        for slot in slots.iter() {
            let Some((busy, partition, offset)) = slot.check(now, self.timeout) else {
                continue;
            };
            warned += 1;
            match slot.worker {
                Worker::Agent { agent, source } => tracing::warn!(
                    agent,
                    topic = source,
                    partition,
                    offset,
                    busy = ?busy,
                    blocking_timeout = ?self.timeout,
                    "agent '{agent}' has been processing {source}[{partition}]@{offset} for {busy:?}, longer than the blocking timeout ({:?})",
                    self.timeout
                ),
                Worker::Timer(timer) => tracing::warn!(
                    timer,
                    busy = ?busy,
                    blocking_timeout = ?self.timeout,
                    "timer '{timer}' has been running for {busy:?}, longer than the blocking timeout ({:?})",
                    self.timeout
                ),
            }
        }
        warned
    }

    /// Checks the slots a few times per timeout until `stop` turns true.
    pub(crate) async fn watch(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let every = (self.timeout / 4).clamp(Duration::from_millis(5), Duration::from_secs(1));
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            self.check_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_once_per_event_and_only_past_the_timeout() {
        let b = Blocking::new(Duration::from_millis(50));
        let slot = b.slot(Worker::Agent {
            agent: "a",
            source: "t",
        });
        assert_eq!(b.check_all(), 0, "idle");
        slot.start(3, 42);
        let now = slot.since.load(Ordering::Relaxed) - 1;
        assert!(
            slot.check(now + 10_000_000, b.timeout).is_none(),
            "10 ms in"
        );
        let (busy, p, o) = slot.check(now + 60_000_000, b.timeout).unwrap();
        assert_eq!((p, o), (3, 42));
        assert!(busy >= Duration::from_millis(60));
        assert!(
            slot.check(now + 90_000_000, b.timeout).is_none(),
            "once per event"
        );
        slot.done();
        assert!(slot.check(now + 200_000_000, b.timeout).is_none());
        slot.start(3, 43);
        let now = slot.since.load(Ordering::Relaxed) - 1;
        assert!(
            slot.check(now + 60_000_000, b.timeout).is_some(),
            "next event"
        );
    }
}
