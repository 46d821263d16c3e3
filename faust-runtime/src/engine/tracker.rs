//! Per-partition acknowledgement: which handed-over events are done, and what may be committed.
//!
//! Every record handed to the agents gets the next sequence number of its partition and a slot in
//! a ring. The slot counts the *holds* on the event: one per agent reading it, plus one per record
//! sent (or channel value put) while processing it. An [`Ack`] is one hold; dropping it releases
//! it. An event whose count reaches zero is done. The committable offset is the offset after the
//! longest prefix of done events, so events may finish in any order (agent concurrency, batches).
//!
//! An event that will not be processed (it was still queued when its partition was revoked or the
//! app stopped) is *abandoned*: it no longer holds anything up, but it never counts as done, so
//! nothing from it on is committed and the partition's next owner reads it again.
//!
//! The per-event path is lock-free: one store when the event is handed over, one atomic
//! decrement per hold released.

use crate::error::{Error, Result};
use crate::sensor::Sensors;
use crate::transport::{DeliveryListener, RecordMetadata, TopicPartition};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// Set in a slot whose event was abandoned.
const ABANDONED: u32 = 1 << 31;
const COUNT: u32 = ABANDONED - 1;

/// What the tracker does when a record sent for one of its events could not be delivered.
pub(crate) type OnDeliveryError = Arc<dyn Fn(&TopicPartition, i64, &Error) -> bool + Send + Sync>;

/// The acknowledgement state of one assigned partition; see the module docs.
pub struct PartitionTracker {
    tp: TopicPartition,
    mask: u64,
    slots: Box<[AtomicU32]>,
    offsets: Box<[AtomicI64]>,
    /// Next sequence number to hand out (written by the driver only).
    handed: AtomicU64,
    /// Every sequence number below this is done (advanced by the driver only).
    scanned: AtomicU64,
    /// `handed` when [`PartitionTracker::under_pressure`] last said yes (driver only).
    pressed_at: AtomicU64,
    /// The last offset reported as committable (next offset to read), `-1` before any.
    committed: AtomicI64,
    /// The partition was revoked (or the app is stopping): queued events are abandoned.
    revoked: AtomicBool,
    /// The driver waits for room or for the partition to settle.
    waiting: AtomicBool,
    changed: Notify,
    on_delivery_error: Option<OnDeliveryError>,
    /// Told when an event is done (skipped when there are none).
    sensors: Sensors,
}

impl std::fmt::Debug for PartitionTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionTracker")
            .field("tp", &self.tp)
            .field("handed", &self.handed.load(Ordering::Relaxed))
            .field("scanned", &self.scanned.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl PartitionTracker {
    /// A tracker for `tp` with room for at least `window` events in flight.
    pub(crate) fn new(
        tp: TopicPartition,
        window: usize,
        on_delivery_error: Option<OnDeliveryError>,
        sensors: Sensors,
    ) -> Arc<Self> {
        let cap = (window.max(64) * 2).next_power_of_two();
        Arc::new(PartitionTracker {
            tp,
            mask: cap as u64 - 1,
            slots: (0..cap).map(|_| AtomicU32::new(0)).collect(),
            offsets: (0..cap).map(|_| AtomicI64::new(-1)).collect(),
            handed: AtomicU64::new(0),
            scanned: AtomicU64::new(0),
            pressed_at: AtomicU64::new(0),
            committed: AtomicI64::new(-1),
            revoked: AtomicBool::new(false),
            waiting: AtomicBool::new(false),
            changed: Notify::new(),
            on_delivery_error,
            sensors,
        })
    }

    /// The partition.
    pub fn partition(&self) -> &TopicPartition {
        &self.tp
    }

    #[inline]
    fn slot(&self, seq: u64) -> &AtomicU32 {
        &self.slots[(seq & self.mask) as usize]
    }

    /// Whether another event may be handed over without overrunning the ring (the driver waits
    /// with [`PartitionTracker::wait_room`] when not).
    #[inline]
    pub(crate) fn has_room(&self) -> bool {
        let half = (self.mask >> 1) + 1;
        let handed = self.handed.load(Ordering::Relaxed);
        if handed - self.scanned.load(Ordering::Relaxed) < half {
            return true;
        }
        self.scan();
        handed - self.scanned.load(Ordering::Relaxed) < half
    }

    /// Whether a quarter of the window is handed over and not done, and another quarter was
    /// handed over since the last time this said so (the driver then asks for held work before
    /// the window fills; at most once per quarter window of events, so that a slow agent with a
    /// full queue does not make it ask for every batch). Driver only.
    #[inline]
    pub(crate) fn under_pressure(&self) -> bool {
        let quarter = (self.mask >> 2) + 1;
        let handed = self.handed.load(Ordering::Relaxed);
        if handed - self.pressed_at.load(Ordering::Relaxed) < quarter
            || handed - self.scanned.load(Ordering::Relaxed) < quarter
        {
            return false;
        }
        self.scan();
        if handed - self.scanned.load(Ordering::Relaxed) < quarter {
            return false;
        }
        self.pressed_at.store(handed, Ordering::Relaxed);
        true
    }

    /// Hands over the event at `offset` with `holds` holds; returns its sequence number.
    /// Driver only.
    #[inline]
    pub(crate) fn begin(&self, offset: i64, holds: u32) -> u64 {
        let seq = self.handed.load(Ordering::Relaxed);
        self.offsets[(seq & self.mask) as usize].store(offset, Ordering::Relaxed);
        self.slot(seq).store(holds, Ordering::Release);
        self.handed.store(seq + 1, Ordering::Release);
        seq
    }

    /// An [`Ack`] for an event handed over with [`PartitionTracker::begin`] (one of its holds).
    #[inline]
    pub(crate) fn ack(self: &Arc<Self>, seq: u64) -> Ack {
        Ack {
            tracker: self.clone(),
            seq,
        }
    }

    #[inline]
    fn release(&self, seq: u64) {
        let Some(sensors) = self.sensors.get() else {
            let before = self.slot(seq).fetch_sub(1, Ordering::AcqRel);
            if before & COUNT == 1 && self.waiting.load(Ordering::Relaxed) {
                self.changed.notify_waiters();
            }
            return;
        };
        // Read while the hold keeps the slot from being reused.
        let offset = self.offsets[(seq & self.mask) as usize].load(Ordering::Relaxed);
        let before = self.slot(seq).fetch_sub(1, Ordering::AcqRel);
        if before == 1 {
            for s in sensors {
                s.on_message_acked(&self.tp, offset);
            }
        }
        if before & COUNT == 1 && self.waiting.load(Ordering::Relaxed) {
            self.changed.notify_waiters();
        }
    }

    #[inline]
    fn hold(&self, seq: u64) {
        self.slot(seq).fetch_add(1, Ordering::AcqRel);
    }

    fn abandon(&self, seq: u64) {
        let _ = self
            .slot(seq)
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                Some((v | ABANDONED) - 1)
            });
        if self.waiting.load(Ordering::Relaxed) {
            self.changed.notify_waiters();
        }
    }

    /// Marks the partition revoked: events still queued for the agents will be abandoned.
    pub(crate) fn revoke(&self) {
        self.revoked.store(true, Ordering::Release);
    }

    /// Whether the partition was revoked.
    #[inline]
    pub fn is_revoked(&self) -> bool {
        self.revoked.load(Ordering::Acquire)
    }

    /// Advances over done events. Driver only.
    fn scan(&self) {
        let handed = self.handed.load(Ordering::Acquire);
        let mut s = self.scanned.load(Ordering::Relaxed);
        let start = s;
        while s < handed && self.slot(s).load(Ordering::Acquire) == 0 {
            s += 1;
        }
        if s > start {
            self.scanned.store(s, Ordering::Release);
        }
    }

    /// The offset to commit if it advanced since the last call (the next offset to read).
    pub(crate) fn committable(&self) -> Option<i64> {
        self.scan();
        let s = self.scanned.load(Ordering::Acquire);
        if s == 0 {
            return None;
        }
        let next = self.offsets[((s - 1) & self.mask) as usize].load(Ordering::Relaxed) + 1;
        if next > self.committed.swap(next, Ordering::AcqRel) {
            Some(next)
        } else {
            None
        }
    }

    /// The last offset reported as committable (`-1` before any).
    pub(crate) fn last_committed(&self) -> i64 {
        self.committed.load(Ordering::Acquire)
    }

    /// Whether every handed-over event is done or abandoned (nothing is being worked on).
    pub(crate) fn settled(&self) -> bool {
        self.scan();
        let handed = self.handed.load(Ordering::Acquire);
        (self.scanned.load(Ordering::Acquire)..handed)
            .all(|s| self.slot(s).load(Ordering::Acquire) & COUNT == 0)
    }

    /// Waits until `cond` holds or the deadline; returns whether it held.
    pub(crate) async fn wait_until(
        &self,
        deadline: tokio::time::Instant,
        cond: fn(&Self) -> bool,
    ) -> bool {
        loop {
            let notified = self.changed.notified();
            self.waiting.store(true, Ordering::Relaxed);
            if cond(self) {
                self.waiting.store(false, Ordering::Relaxed);
                return true;
            }
            // The notification is a shortcut; the timeout catches a release that raced with
            // setting the flag.
            let step =
                (tokio::time::Instant::now() + std::time::Duration::from_millis(20)).min(deadline);
            let _ = tokio::time::timeout_at(step, notified).await;
            if tokio::time::Instant::now() >= deadline {
                self.waiting.store(false, Ordering::Relaxed);
                return cond(self);
            }
        }
    }
}

/// One hold on an event: while any exists the event is not done and its offset is not
/// committed. Dropping it releases the hold.
///
/// Records sent and channel values put while an agent processes an event take an `Ack` of that
/// event with them, so the event is done only once they are delivered.
pub struct Ack {
    tracker: Arc<PartitionTracker>,
    seq: u64,
}

impl Ack {
    /// Another hold on the same event.
    #[inline]
    pub fn hold(&self) -> Ack {
        self.tracker.hold(self.seq);
        Ack {
            tracker: self.tracker.clone(),
            seq: self.seq,
        }
    }

    /// Whether `other` is an event of the same tracked partition.
    #[inline]
    pub(crate) fn same_partition(&self, other: &Ack) -> bool {
        Arc::ptr_eq(&self.tracker, &other.tracker)
    }

    /// Whether this event was handed over no later than `other` (same partition).
    #[inline]
    pub(crate) fn precedes(&self, other: &Ack) -> bool {
        self.seq <= other.seq
    }

    /// Gives the hold up without the event being done: the event will not be committed.
    pub fn abandon(self) {
        let this = std::mem::ManuallyDrop::new(self);
        this.tracker.abandon(this.seq);
        // SAFETY: `this` is never used or dropped again; take the Arc out to drop it once.
        drop(unsafe { std::ptr::read(&this.tracker) });
    }

    /// Whether the event's partition was revoked (an event still queued is then not processed).
    #[inline]
    pub fn is_stale(&self) -> bool {
        self.tracker.is_revoked()
    }

    /// The partition of the event.
    pub fn partition(&self) -> &TopicPartition {
        &self.tracker.tp
    }

    /// Turns the hold into a delivery listener: released when the broker answers.
    pub(crate) fn into_listener(self) -> (Arc<dyn DeliveryListener>, u64) {
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: as in `abandon`: the Arc is moved out once and `this` is not dropped.
        let tracker = unsafe { std::ptr::read(&this.tracker) };
        (tracker, this.seq)
    }
}

impl Drop for Ack {
    #[inline]
    fn drop(&mut self) {
        self.tracker.release(self.seq);
    }
}

/// A hold on an event that is queued for an agent and not started yet. Dropped unstarted (its
/// queue closed, its partition revoked), it abandons the event instead of finishing it, so an
/// event is never committed because it was thrown away.
pub struct Queued(Option<Ack>, bool);

impl Queued {
    /// Wraps the hold of a queued event of a partition: not started if the partition is revoked
    /// before its turn.
    #[inline]
    pub fn new(ack: Ack) -> Self {
        Queued(Some(ack), true)
    }

    /// Wraps a hold that something produced while processing an event (a channel value) carries:
    /// it is processed even after the event's partition is revoked (the event waits for it).
    #[inline]
    pub fn child(ack: Ack) -> Self {
        Queued(Some(ack), false)
    }

    /// The event is being processed: the hold, or `None` when the event is stale (its partition
    /// was revoked while it waited), in which case it is abandoned.
    #[inline]
    pub fn start(mut self) -> Option<Ack> {
        let ack = self.0.take()?;
        if self.1 && ack.is_stale() {
            ack.abandon();
            return None;
        }
        Some(ack)
    }

    /// Whether the event's partition was revoked (never for a child hold).
    pub fn is_stale(&self) -> bool {
        self.1 && self.0.as_ref().is_some_and(Ack::is_stale)
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        if let Some(a) = self.0.take() {
            a.abandon();
        }
    }
}

impl std::fmt::Debug for Queued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Queued({:?})", self.0)
    }
}

impl std::fmt::Debug for Ack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ack({}#{})", self.tracker.tp, self.seq)
    }
}

impl DeliveryListener for PartitionTracker {
    fn delivered(&self, token: u64, result: &Result<RecordMetadata>) {
        match result {
            Ok(_) => self.release(token),
            Err(e) => {
                let offset = self.offsets[(token & self.mask) as usize].load(Ordering::Relaxed);
                let go_on = self
                    .on_delivery_error
                    .as_ref()
                    .map(|f| f(&self.tp, offset, e))
                    .unwrap_or(true);
                if go_on {
                    self.release(token);
                } else {
                    self.abandon(token);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker() -> Arc<PartitionTracker> {
        PartitionTracker::new(
            TopicPartition {
                topic: "t".into(),
                partition: 0,
            },
            64,
            None,
            Sensors::default(),
        )
    }

    #[test]
    fn commits_the_longest_done_prefix_whatever_the_completion_order() {
        let t = tracker();
        let acks: Vec<Ack> = (0..5).map(|i| t.ack(t.begin(10 + i, 1))).collect();
        assert_eq!(t.committable(), None);
        let mut acks: Vec<Option<Ack>> = acks.into_iter().map(Some).collect();
        acks[2].take();
        acks[1].take();
        assert_eq!(t.committable(), None, "offset 10 is not done yet");
        acks[0].take();
        assert_eq!(t.committable(), Some(13), "10, 11, 12 done");
        assert_eq!(t.committable(), None, "nothing new");
        acks[4].take();
        assert_eq!(t.committable(), None, "13 still held");
        acks[3].take();
        assert_eq!(t.committable(), Some(15));
        assert!(t.settled());
    }

    #[test]
    fn offsets_with_gaps_commit_after_the_last_done() {
        let t = tracker();
        drop(t.ack(t.begin(5, 1)));
        drop(t.ack(t.begin(9, 1)));
        assert_eq!(t.committable(), Some(10));
    }

    #[test]
    fn extra_holds_keep_an_event_open() {
        let t = tracker();
        let a = t.ack(t.begin(0, 1));
        let sent = a.hold();
        drop(a);
        assert_eq!(t.committable(), None);
        assert!(!t.settled());
        let (listener, token) = sent.into_listener();
        listener.delivered(
            token,
            &Ok(RecordMetadata {
                topic: "o".into(),
                partition: 0,
                offset: 0,
                timestamp: 0,
            }),
        );
        assert_eq!(t.committable(), Some(1));
    }

    #[test]
    fn abandoned_events_settle_but_never_commit() {
        let t = tracker();
        drop(t.ack(t.begin(0, 1)));
        let queued = t.ack(t.begin(1, 1));
        drop(t.ack(t.begin(2, 1)));
        queued.abandon();
        assert!(t.settled());
        assert_eq!(
            t.committable(),
            Some(1),
            "only offset 0 is done before the gap"
        );
        assert_eq!(t.committable(), None);
    }

    #[test]
    fn queued_events_dropped_unstarted_are_abandoned_not_done() {
        let t = tracker();
        let q = Queued::new(t.ack(t.begin(0, 1)));
        drop(q);
        assert!(t.settled());
        assert_eq!(t.committable(), None);
        let q = Queued::new(t.ack(t.begin(1, 1)));
        t.revoke();
        assert!(q.start().is_none(), "a stale event is not started");
    }

    #[test]
    fn several_holders_all_release() {
        let t = tracker();
        let seq = t.begin(0, 2);
        let a = t.ack(seq);
        let b = t.ack(seq);
        drop(a);
        assert_eq!(t.committable(), None);
        drop(b);
        assert_eq!(t.committable(), Some(1));
    }

    #[test]
    fn room_frees_as_events_finish() {
        let t = tracker();
        let cap = t.slots.len() / 2;
        let held: Vec<Ack> = (0..cap).map(|i| t.ack(t.begin(i as i64, 1))).collect();
        assert!(!t.has_room());
        drop(held);
        assert!(t.has_room());
    }
}
