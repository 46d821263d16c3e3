//! Write-behind of a table partition's changelog: the keys written since the last flush and the
//! events those writes were made for.
//!
//! A write does not send a changelog record. It marks its key *dirty* and, unless the partition
//! already holds an earlier event of the same input partition, takes a hold on the event being
//! processed. A flush (every commit interval, and whenever the consume driver needs the events
//! done: its tracker window is full, a partition is revoked, the app stops) sends one record per
//! dirty key with the key's value at that moment (a tombstone when it has none), so several writes
//! of one key in between become one record. The holds move to a `FlushHold` shared by those
//! records and are released once all of them are delivered.
//!
//! Holding only the earliest event of each input partition is enough for at-least-once: an
//! input offset is committed only after the longest prefix of done events, and no event at or
//! after a held one is in that prefix, so no offset past a write whose record is not delivered is
//! committed. The records carry the latest values, which may include writes of later events too:
//! after a crash those events are replayed onto them (at-least-once, never fewer).

use crate::engine::context;
use crate::engine::tracker::Ack;
use crate::error::{Error, Result};
use crate::transport::{DeliveryListener, RecordMetadata};
use std::hash::Hash;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// The writes of one table partition not yet sent to the changelog; see the module docs.
pub(crate) struct Pending<K> {
    dirty: std::collections::HashSet<K, foldhash::fast::RandomState>,
    holds: Vec<Ack>,
}

impl<K> Default for Pending<K> {
    fn default() -> Self {
        Pending {
            dirty: Default::default(),
            holds: Vec::new(),
        }
    }
}

impl<K: Hash + Eq + Clone> Pending<K> {
    /// `key` was written while processing the current event (cloned only when it is not dirty
    /// yet).
    #[inline]
    pub(crate) fn touch(&mut self, key: &K) {
        if !self.dirty.contains(key) {
            self.dirty.insert(key.clone());
        }
        self.hold_current();
    }

    /// Like [`Pending::touch`], with an owned key.
    #[inline]
    pub(crate) fn touch_owned(&mut self, key: K) {
        if !self.dirty.contains(&key) {
            self.dirty.insert(key);
        }
        self.hold_current();
    }

    #[inline]
    fn hold_current(&mut self) {
        context::hold_earliest(&mut self.holds);
    }

    /// Whether nothing waits for a flush.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.dirty.is_empty() && self.holds.is_empty()
    }

    /// Takes the dirty keys (`each` sees every one) and the holds, for a flush.
    pub(crate) fn take(&mut self, mut each: impl FnMut(&K)) -> Vec<Ack> {
        for k in self.dirty.drain() {
            each(&k);
        }
        std::mem::take(&mut self.holds)
    }
}

impl<K> Drop for Pending<K> {
    fn drop(&mut self) {
        // Writes that never reached the changelog: their events must not count as done.
        for a in self.holds.drain(..) {
            a.abandon();
        }
    }
}

/// The holds of one flush, released once every record of the flush is delivered (or, when one
/// failed or was dropped undelivered, handed the failure as the event's own send would be:
/// the topic's error policy decides).
pub(crate) struct FlushHold {
    topic: &'static str,
    expected: usize,
    delivered: AtomicUsize,
    failure: Mutex<Option<String>>,
    holds: Vec<Ack>,
    /// Where the offset after the last delivered record goes (tables keeping standby copies:
    /// a revoked partition is followed from there, not from before the worker's own writes).
    written: Option<std::sync::Arc<std::sync::atomic::AtomicI64>>,
}

impl FlushHold {
    /// A hold of `holds` until `expected` records of `topic` are delivered.
    pub(crate) fn new(topic: &'static str, expected: usize, holds: Vec<Ack>) -> Self {
        FlushHold {
            topic,
            expected,
            delivered: AtomicUsize::new(0),
            failure: Mutex::new(None),
            holds,
            written: None,
        }
    }

    /// Notes the offset after each delivered record in `written` (its highest).
    pub(crate) fn noting_offsets(
        mut self,
        written: Option<std::sync::Arc<std::sync::atomic::AtomicI64>>,
    ) -> Self {
        self.written = written;
        self
    }
}

impl DeliveryListener for FlushHold {
    fn delivered(&self, _token: u64, result: &Result<RecordMetadata>) {
        match result {
            Ok(meta) => {
                if let Some(w) = &self.written {
                    w.fetch_max(meta.offset + 1, Ordering::AcqRel);
                }
                self.delivered.fetch_add(1, Ordering::AcqRel);
            }
            Err(e) => {
                let mut f = self.failure.lock().unwrap_or_else(|p| p.into_inner());
                if f.is_none() {
                    *f = Some(e.to_string());
                }
            }
        }
    }
}

impl Drop for FlushHold {
    fn drop(&mut self) {
        let failure = self
            .failure
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let delivered = *self.delivered.get_mut();
        if failure.is_none() && delivered >= self.expected {
            // Dropping the holds releases them: their events are done.
            self.holds.clear();
            return;
        }
        let reason = failure.unwrap_or_else(|| {
            format!(
                "{} of {} changelog records were dropped before the broker answered",
                self.expected - delivered,
                self.expected
            )
        });
        let err: Result<RecordMetadata> = Err(Error::Delivery {
            topic: self.topic.to_string(),
            reason,
        });
        for a in self.holds.drain(..) {
            let (listener, token) = a.into_listener();
            listener.delivered(token, &err);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::tracker::PartitionTracker;
    use crate::sensor::Sensors;
    use crate::transport::TopicPartition;
    use std::sync::Arc;

    fn tracker(stop_on_error: bool) -> Arc<PartitionTracker> {
        let on_error: crate::engine::tracker::OnDeliveryError =
            Arc::new(move |_: &TopicPartition, _: i64, _: &Error| !stop_on_error);
        PartitionTracker::new(
            TopicPartition {
                topic: "in".into(),
                partition: 0,
            },
            64,
            Some(on_error),
            Sensors::default(),
        )
    }

    fn meta() -> Result<RecordMetadata> {
        Ok(RecordMetadata {
            topic: "t-changelog".into(),
            partition: 0,
            offset: 0,
            timestamp: 0,
        })
    }

    #[test]
    fn the_held_event_and_those_after_it_commit_only_after_every_record_is_delivered() {
        let t = tracker(true);
        let events: Vec<Ack> = (0..3).map(|i| t.ack(t.begin(i, 1))).collect();
        let hold = Arc::new(FlushHold::new("t-changelog", 2, vec![events[1].hold()]));
        let records: Vec<Arc<dyn DeliveryListener>> = vec![hold.clone(), hold.clone()];
        drop(hold);
        drop(events);
        assert_eq!(
            t.committable(),
            Some(1),
            "only the event before the held one"
        );
        records[0].delivered(0, &meta());
        let mut records = records;
        drop(records.remove(0));
        assert_eq!(t.committable(), None, "one record is not delivered yet");
        records[0].delivered(0, &meta());
        drop(records);
        assert_eq!(t.committable(), Some(3));
    }

    #[test]
    fn a_record_dropped_undelivered_or_refused_goes_to_the_error_policy() {
        // Policy `stop`: the held event is abandoned, nothing from it on commits.
        let t = tracker(true);
        let e = t.ack(t.begin(0, 1));
        let hold = Arc::new(FlushHold::new("t-changelog", 2, vec![e.hold()]));
        drop(e);
        hold.delivered(0, &meta());
        drop(hold);
        assert!(t.settled());
        assert_eq!(t.committable(), None);

        // Policy `skip`: a refused record lets the event count as done.
        let t = tracker(false);
        let e = t.ack(t.begin(0, 1));
        let hold = Arc::new(FlushHold::new("t-changelog", 1, vec![e.hold()]));
        drop(e);
        hold.delivered(
            0,
            &Err(Error::Delivery {
                topic: "t-changelog".into(),
                reason: "refused".into(),
            }),
        );
        drop(hold);
        assert_eq!(t.committable(), Some(1));
    }

    #[test]
    fn pending_writes_dropped_unflushed_abandon_their_events() {
        let t = tracker(false);
        let e = t.ack(t.begin(0, 1));
        let mut p: Pending<String> = Pending::default();
        p.holds.push(e.hold());
        p.dirty.insert("k".into());
        drop(e);
        drop(p);
        assert!(t.settled());
        assert_eq!(t.committable(), None);
    }
}
