//! `isolated_partitions = true`: one agent instance per assigned partition (Faust's isolated
//! partitions). An instance starts when its partition is assigned (at the latest with the
//! partition's first record) and reads only that partition; when the partition is revoked, the
//! instance's stream ends (its agent function sees `None` and returns) and a later assignment
//! starts a new one. Offsets are tracked per partition as for any agent.

use crate::engine::driver::{Deliver, PartitionHook, Subscriber};
use crate::engine::Ack;
use crate::transport::{RawMessage, TopicPartition};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Makes the subscriber of one partition's instance (and starts the instance).
pub(crate) type Factory = Box<dyn FnMut(i32) -> Box<dyn Subscriber> + Send>;

/// Partitions assigned and revoked since the subscriber last looked.
#[derive(Default)]
struct Changes {
    pending: AtomicBool,
    assigned: Mutex<Vec<i32>>,
    revoked: Mutex<Vec<i32>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Routes each record to its partition's instance.
pub(crate) struct IsolatedSubscriber {
    parts: HashMap<i32, Box<dyn Subscriber>>,
    make: Factory,
    changes: Arc<Changes>,
}

impl IsolatedSubscriber {
    /// Applies the assignments and revocations the hooks noted (only after a rebalance).
    #[cold]
    fn apply(&mut self) {
        self.changes.pending.store(false, Ordering::Release);
        for p in std::mem::take(&mut *lock(&self.changes.revoked)) {
            if let Some(mut sub) = self.parts.remove(&p) {
                // Dropping the queue ends the instance's stream.
                sub.close();
            }
        }
        for p in std::mem::take(&mut *lock(&self.changes.assigned)) {
            if !self.parts.contains_key(&p) {
                let sub = (self.make)(p);
                self.parts.insert(p, sub);
            }
        }
    }

    #[inline]
    fn check(&mut self) {
        if self.changes.pending.load(Ordering::Acquire) {
            self.apply();
        }
    }
}

impl Subscriber for IsolatedSubscriber {
    #[inline]
    fn deliver(&mut self, msg: &RawMessage<'_>, ack: Ack) -> Deliver {
        self.check();
        let make = &mut self.make;
        self.parts
            .entry(msg.partition)
            .or_insert_with(|| make(msg.partition))
            .deliver(msg, ack)
    }

    fn flush(&mut self) -> Deliver {
        self.check();
        let mut waits = Vec::new();
        for sub in self.parts.values_mut() {
            match sub.flush() {
                Deliver::Sent => {}
                Deliver::Wait(w) => waits.push(w),
                Deliver::Fatal(e) => return Deliver::Fatal(e),
            }
        }
        if waits.is_empty() {
            return Deliver::Sent;
        }
        Deliver::Wait(Box::pin(async move {
            for w in waits {
                w.await?;
            }
            Ok(())
        }))
    }

    fn purge(&mut self) {
        self.check();
        for sub in self.parts.values_mut() {
            sub.purge();
        }
    }

    fn close(&mut self) {
        for (_, mut sub) in self.parts.drain() {
            sub.close();
        }
    }
}

/// The subscriber of an isolated agent on `topic`, and the hooks that tell it of assignments
/// and revocations.
pub(crate) fn subscriber(
    topic: &'static str,
    make: Factory,
) -> (IsolatedSubscriber, PartitionHook, PartitionHook) {
    let changes = Arc::new(Changes::default());
    let note = |changes: Arc<Changes>, revoked: bool| -> PartitionHook {
        Arc::new(move |tps: Vec<TopicPartition>| {
            let ours: Vec<i32> = tps
                .iter()
                .filter(|tp| tp.topic == topic)
                .map(|tp| tp.partition)
                .collect();
            if !ours.is_empty() {
                let list = if revoked {
                    &changes.revoked
                } else {
                    &changes.assigned
                };
                lock(list).extend(ours);
                changes.pending.store(true, Ordering::Release);
            }
            Box::pin(async {}) as futures::future::BoxFuture<'static, ()>
        })
    };
    let assigned = note(changes.clone(), false);
    let revoked = note(changes.clone(), true);
    (
        IsolatedSubscriber {
            parts: HashMap::new(),
            make,
            changes,
        },
        assigned,
        revoked,
    )
}
