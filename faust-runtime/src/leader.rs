//! Leader election, as Faust does it: the app's consumer group also subscribes to the topic
//! `{app_id}-__assignor-__leader` (one partition); the worker assigned its partition 0 is the
//! group's leader. Timers, crontabs and tasks declared with `on_leader = true` run only there.
//! When the leader stops (or loses the partition in a rebalance), the group assigns the
//! partition to another worker, which becomes the leader from then on. Nothing is written to
//! the topic.
//!
//! The topic is created (and subscribed to) only by apps that have an `on_leader` timer.

use crate::app::App;
use crate::engine::driver::{Deliver, PartitionHook, Subscriber};
use crate::engine::Ack;
use crate::transport::{RawMessage, TopicPartition};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::watch;

/// The leader election topic of app `app_id` (Faust's name).
pub fn leader_topic(app_id: &str) -> String {
    format!("{app_id}-__assignor-__leader")
}

/// Whether this worker leads its group, and a way to wait for it.
#[derive(Debug)]
pub(crate) struct Leadership {
    leader: AtomicBool,
    changed: watch::Sender<bool>,
}

impl Default for Leadership {
    fn default() -> Self {
        Leadership {
            leader: AtomicBool::new(false),
            changed: watch::channel(false).0,
        }
    }
}

impl Leadership {
    pub(crate) fn is_leader(&self) -> bool {
        self.leader.load(Ordering::Acquire)
    }

    fn set(&self, on: bool, app_id: &str) {
        if self.leader.swap(on, Ordering::AcqRel) != on {
            if on {
                tracing::info!(app = app_id, "this worker is the group's leader");
            } else {
                tracing::info!(app = app_id, "this worker is no longer the group's leader");
            }
            self.changed.send_replace(on);
        }
    }

    /// Resolves once this worker is the leader.
    pub(crate) async fn wait(&self) {
        let mut rx = self.changed.subscribe();
        let _ = rx.wait_for(|l| *l).await;
    }
}

/// Reads nothing of its own: records on the election topic (none are written) are done at once.
struct Ignore;

impl Subscriber for Ignore {
    fn deliver(&mut self, _msg: &RawMessage<'_>, ack: Ack) -> Deliver {
        drop(ack);
        Deliver::Sent
    }
    fn flush(&mut self) -> Deliver {
        Deliver::Sent
    }
    fn purge(&mut self) {}
    fn close(&mut self) {}
}

/// What the app's consumer needs to take part in the election: the subscriber of the topic and
/// the hooks telling the app when it gains and loses partition 0.
pub(crate) fn election(app: &App) -> (String, Box<dyn Subscriber>, PartitionHook, PartitionHook) {
    let topic = leader_topic(app.id());
    let is_ours = {
        let topic = topic.clone();
        move |tps: &[TopicPartition]| tps.iter().any(|tp| tp.topic == topic && tp.partition == 0)
    };
    let gained = {
        let app = app.clone();
        let is_ours = is_ours.clone();
        Arc::new(move |tps: Vec<TopicPartition>| {
            if is_ours(&tps) {
                app.core_ref().leadership.set(true, app.id());
            }
            Box::pin(async {}) as futures::future::BoxFuture<'static, ()>
        }) as PartitionHook
    };
    let lost = {
        let app = app.clone();
        Arc::new(move |tps: Vec<TopicPartition>| {
            if is_ours(&tps) {
                app.core_ref().leadership.set(false, app.id());
            }
            Box::pin(async {}) as futures::future::BoxFuture<'static, ()>
        }) as PartitionHook
    };
    (topic, Box::new(Ignore), gained, lost)
}
