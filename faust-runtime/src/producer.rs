//! The one way records leave an app: every topic send, dead-letter copy and (later) changelog
//! write goes through [`App::produce`] or [`App::produce_soon`].
//!
//! - A record sent while an agent processes an event is attached to that event: the event's
//!   offset is committed only once the broker acknowledged the record.
//! - `produce` is Faust's `await topic.send()`: it returns once the record is handed to the
//!   producer, with a [`DeliveryHandle`] (Faust's `FutureMessage`) that resolves on the broker's
//!   acknowledgement. A full producer queue makes the caller wait; no task per record.
//! - `produce_soon` cannot wait: when the queue is full, the record joins an in-order overflow
//!   list that one background task feeds to the producer as room appears.

use crate::app::App;
use crate::engine::context;
use crate::error::{Error, Result};
use crate::sensor::SendProbe;
use crate::transport::{DeliveryHandle, Enqueued, OutgoingRecord};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::oneshot;

type Reply = oneshot::Sender<Result<DeliveryHandle>>;

/// Records `produce_soon` could not hand to a full producer queue, in order.
#[derive(Default)]
pub(crate) struct Overflow {
    queue: Mutex<VecDeque<(OutgoingRecord, Reply)>>,
    /// How many records the queue holds, readable without its lock (the common case, an empty
    /// queue, costs no lock per send).
    pub(crate) waiting: AtomicUsize,
    /// The task feeding the queue to the producer is running.
    feeding: Mutex<bool>,
    drained: tokio::sync::Notify,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Attaches `record` to the event being processed, if any.
#[inline]
fn attach(record: &mut OutgoingRecord) {
    if record.notice.listener.is_none() {
        if let Some(ack) = context::attach() {
            record.notice.listener = Some(ack.into_listener());
        }
    }
}

/// Tells the sensors a send begins and gives the record a probe for its outcome; returns the
/// topic, for a send refused before it was enqueued. Nothing happens without sensors.
#[inline]
fn probe(app: &App, record: &mut OutgoingRecord) -> Option<std::borrow::Cow<'static, str>> {
    let sensors = app.observe().sensors.shared()?;
    for s in sensors.iter() {
        s.on_send_initiated(&record.topic);
    }
    record.notice.probe = Some(Box::new(SendProbe {
        sensors,
        topic: record.topic.clone(),
        started: std::time::Instant::now(),
    }));
    Some(record.topic.clone())
}

/// Tells the sensors a send was refused before it reached the producer.
#[cold]
fn refused(app: &App, topic: &str, e: &Error) {
    app.observe()
        .sensors
        .each(|s| s.on_send_error(topic, e, Duration::ZERO));
}

impl App {
    /// Hands `record` to the producer, waiting while its queue is full; see the module docs.
    pub(crate) async fn produce(&self, mut record: OutgoingRecord) -> Result<DeliveryHandle> {
        attach(&mut record);
        let topic = probe(self, &mut record);
        let r = self.transport().send(record).await;
        if let (Err(e), Some(t)) = (&r, &topic) {
            refused(self, t, e);
        }
        r
    }

    /// Hands `record` to the producer without waiting; see the module docs.
    pub(crate) fn produce_soon(&self, mut record: OutgoingRecord) -> Result<DeliveryHandle> {
        attach(&mut record);
        if let Some(topic) = probe(self, &mut record) {
            let r = self.produce_soon_probed(record);
            if let Err(e) = &r {
                refused(self, &topic, e);
            }
            return r;
        }
        self.produce_soon_probed(record)
    }

    #[inline]
    fn produce_soon_probed(&self, mut record: OutgoingRecord) -> Result<DeliveryHandle> {
        let overflow = &self.core_producer();
        if overflow.waiting.load(Ordering::Acquire) == 0 {
            match self.transport().enqueue(record)? {
                Enqueued::Queued(h) => return Ok(h),
                Enqueued::Full(r) => record = r,
            }
        }
        let (tx, rx) = oneshot::channel();
        let topic = record.topic.to_string();
        {
            let mut q = lock(&overflow.queue);
            q.push_back((record, tx));
            overflow.waiting.store(q.len(), Ordering::Release);
        }
        self.feed_overflow();
        Ok(DeliveryHandle::pending(async move {
            match rx.await {
                Ok(Ok(h)) => h.await,
                Ok(Err(e)) => Err(e),
                Err(_) => Err(Error::Delivery {
                    topic,
                    reason: "the app stopped before the record reached the producer".into(),
                }),
            }
        }))
    }

    pub(crate) fn core_producer(&self) -> &Overflow {
        &self.core_ref().producer
    }

    /// Starts the task that feeds the overflow list to the producer, unless it runs.
    fn feed_overflow(&self) {
        {
            let mut feeding = lock(&self.core_producer().feeding);
            if *feeding {
                return;
            }
            *feeding = true;
        }
        let app = self.clone();
        tokio::spawn(async move {
            let overflow = app.core_producer();
            let transport = app.transport().clone();
            loop {
                let next = {
                    let mut q = lock(&overflow.queue);
                    let next = q.pop_front();
                    overflow.waiting.store(q.len(), Ordering::Release);
                    if next.is_none() {
                        *lock(&overflow.feeding) = false;
                    }
                    next
                };
                let Some((record, reply)) = next else {
                    overflow.drained.notify_waiters();
                    return;
                };
                let _ = reply.send(transport.send(record).await);
            }
        });
    }
}

/// Waits (up to `timeout`) until the overflow list is handed over and the producer flushed.
pub(crate) async fn flush(app: &App, timeout: Duration) -> Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    let overflow = app.core_producer();
    loop {
        let notified = overflow.drained.notified();
        if lock(&overflow.queue).is_empty() && !*lock(&overflow.feeding) {
            break;
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return Err(Error::state(format!(
                "{} records still waited for producer queue space after {timeout:?}",
                lock(&overflow.queue).len()
            )));
        }
    }
    let left = deadline.saturating_duration_since(tokio::time::Instant::now());
    app.transport().flush(left).await
}
