//! Producing: non-blocking enqueue into librdkafka, one producer per distinct
//! (`acks`, idempotence) combination, each created on first use.
//!
//! A send hands the record to librdkafka (which copies the bytes) and returns at once; the
//! [`DeliveryHandle`] resolves from librdkafka's delivery report. Every failed delivery is logged
//! and counted in the transport's health, whether or not anyone awaits its handle.
//!
//! When librdkafka's local queue is full (`queue.buffering.max.messages`/`kbytes`), [`enqueue`]
//! gives the record back and [`room`] resolves once delivery reports have freed space: the caller
//! waits (async backpressure); nothing is dropped, no thread blocks, no task is spawned.

use super::{ClientCtx, Shared};
use crate::error::{Error, Result};
use crate::transport::{
    now_millis, Acks, DeliveryGuarantee, DeliveryHandle, DeliveryNotice, Enqueued, OutgoingRecord,
    RecordMetadata,
};
use futures::channel::oneshot;
use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// What a delivery report resolves: the handle, and whoever else is to be told. Allocated on
/// the sending thread and freed on librdkafka's: kept small enough for glibc's fast bins (at
/// most 120 bytes), whose frees from another thread take no arena lock.
pub(crate) struct Reply {
    handle: oneshot::Sender<Result<RecordMetadata>>,
    /// Behind a mutex only because librdkafka's opaque must be `Sync`; taken once.
    notice: Mutex<DeliveryNotice>,
    /// The record's topic, for the metadata (a static name is borrowed, not copied per report).
    topic: std::borrow::Cow<'static, str>,
}

/// A librdkafka producer whose delivery reports resolve [`DeliveryHandle`]s.
pub(super) type KafkaProducer = ThreadedProducer<ClientCtx>;

impl ProducerContext for ClientCtx {
    type DeliveryOpaque = Box<Reply>;

    fn delivery(&self, result: &DeliveryResult<'_>, reply: Box<Reply>) {
        let Reply {
            handle,
            notice,
            topic,
        } = *reply;
        let outcome = match result {
            Ok(msg) => Ok(RecordMetadata {
                topic,
                partition: msg.partition(),
                offset: msg.offset(),
                timestamp: msg.timestamp().to_millis().unwrap_or_else(now_millis),
            }),
            Err((err, msg)) => {
                self.health
                    .record(&format!("delivery to '{}'", msg.topic()), err);
                Err(Error::Delivery {
                    topic: msg.topic().to_string(),
                    reason: err.to_string(),
                })
            }
        };
        let notice = notice.into_inner().unwrap_or_else(|p| p.into_inner());
        if !notice.is_empty() {
            notice.notify(&outcome);
        }
        // The handle may have been dropped: nobody to tell (the error is counted above).
        let _ = handle.send(outcome);
        if self.room_wanted.load(Ordering::Relaxed) {
            self.room_wanted.store(false, Ordering::Relaxed);
            self.room.notify_waiters();
        }
    }
}

/// The lazily created producers.
pub(crate) struct Producers {
    /// acks=0, acks=1, acks=all, idempotent (acks=all).
    slots: [OnceLock<Arc<KafkaProducer>>; 4],
    create: Mutex<()>,
}

impl Producers {
    pub(crate) fn new() -> Self {
        Producers {
            slots: Default::default(),
            create: Mutex::new(()),
        }
    }

    fn created(&self) -> Vec<Arc<KafkaProducer>> {
        self.slots.iter().filter_map(|s| s.get().cloned()).collect()
    }
}

fn slot_of(acks: Acks, guarantee: DeliveryGuarantee) -> (usize, Acks, bool) {
    match (guarantee, acks) {
        // The idempotent producer needs acks=all.
        (DeliveryGuarantee::ExactlyOnce, _) => (3, Acks::All, true),
        (_, Acks::None) => (0, Acks::None, false),
        (_, Acks::Leader) => (1, Acks::Leader, false),
        (_, Acks::All) => (2, Acks::All, false),
    }
}

fn millis(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms.fract() == 0.0 {
        format!("{}", ms as u64)
    } else {
        format!("{ms}")
    }
}

fn producer<'s>(shared: &'s Shared, record: &OutgoingRecord) -> Result<&'s Arc<KafkaProducer>> {
    let (slot, acks, idempotent) = slot_of(
        record.acks.unwrap_or(shared.settings.acks),
        record.delivery_guarantee.unwrap_or_default(),
    );
    let p = &shared.producers;
    if let Some(existing) = p.slots[slot].get() {
        return Ok(existing);
    }
    let _creating = p.create.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(existing) = p.slots[slot].get() {
        return Ok(existing);
    }
    let k = &shared.settings;
    let mut c = shared.base_config();
    c.set("partitioner", "murmur2_random")
        .set("linger.ms", millis(k.linger));
    if let Some(size) = k.batch_size {
        c.set("batch.size", size.to_string());
    }
    if let Some(compression) = &k.compression {
        c.set("compression.type", compression);
    }
    for (key, value) in &k.producer {
        c.set(key, value);
    }
    c.set("acks", acks.as_kafka()).set(
        "enable.idempotence",
        if idempotent { "true" } else { "false" },
    );
    let created: KafkaProducer = c.create_with_context(shared.ctx.clone()).map_err(|e| {
        Error::config(super::client_creation_error(
            &format!(
                "producer (acks={}, idempotence={idempotent})",
                acks.as_kafka()
            ),
            &e,
        ))
    })?;
    // The slot is empty and we hold the creation lock: this sets it.
    Ok(p.slots[slot].get_or_init(|| Arc::new(created)))
}

fn headers_of(record: &OutgoingRecord) -> Option<OwnedHeaders> {
    if record.headers.is_empty() {
        return None;
    }
    let mut h = OwnedHeaders::new_with_capacity(record.headers.len());
    for (key, value) in &record.headers {
        h = h.insert(Header {
            key,
            value: value.as_deref(),
        });
    }
    Some(h)
}

fn is_queue_full(e: &KafkaError) -> bool {
    matches!(
        e,
        KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)
    )
}

/// Hands a record to librdkafka; see the module docs.
pub(super) fn enqueue(shared: &Arc<Shared>, mut record: OutgoingRecord) -> Result<Enqueued> {
    let producer = producer(shared, &record)?;
    let (tx, rx) = oneshot::channel();
    let notice = std::mem::take(&mut record.notice);
    let base = BaseRecord {
        topic: &record.topic,
        partition: record.partition,
        payload: record.value.as_deref(),
        key: record.key.as_deref(),
        timestamp: record.timestamp,
        headers: headers_of(&record),
        delivery_opaque: Box::new(Reply {
            handle: tx,
            notice: Mutex::new(notice),
            topic: record.topic.clone(),
        }),
    };
    match producer.send::<[u8], [u8]>(base) {
        Ok(()) => {}
        Err((e, back)) if is_queue_full(&e) => {
            record.notice = back
                .delivery_opaque
                .notice
                .into_inner()
                .unwrap_or_else(|p| p.into_inner());
            return Ok(Enqueued::Full(record));
        }
        Err((e, _)) => {
            return Err(Error::Delivery {
                topic: record.topic.to_string(),
                reason: format!("cannot enqueue the record: {e}"),
            })
        }
    }
    Ok(Enqueued::Queued(DeliveryHandle::report(rx, record.topic)))
}

/// Resolves once a delivery report may have made room in librdkafka's queue (or after a short
/// while, in case the report came before we started waiting).
pub(super) async fn room(shared: &Arc<Shared>) {
    let ctx = &shared.ctx;
    let notified = ctx.room.notified();
    ctx.room_wanted.store(true, Ordering::Relaxed);
    let _ = tokio::time::timeout(Duration::from_millis(5), notified).await;
}

/// Records handed to the producers and not acknowledged yet.
pub(super) fn in_flight(shared: &Arc<Shared>) -> usize {
    shared
        .producers
        .created()
        .iter()
        .map(|p| p.in_flight_count().max(0) as usize)
        .sum()
}

/// Waits until every record enqueued so far is acknowledged, or `timeout` passes.
pub(super) async fn flush(shared: &Arc<Shared>, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let producers = shared.producers.created();
    if producers.is_empty() {
        return Ok(());
    }
    let url = shared.url.clone();
    shared
        .blocking(move || {
            let mut unacked = 0;
            let mut last = None;
            for producer in producers {
                let left = deadline.saturating_duration_since(Instant::now());
                if let Err(e) = producer.flush(left) {
                    unacked += producer.in_flight_count().max(0);
                    last = Some(e);
                }
            }
            match last {
                None => Ok(()),
                Some(e) => Err(Error::broker(
                    url,
                    format!("{unacked} records not acknowledged within {timeout:?}: {e}"),
                )),
            }
        })
        .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_delivery_reply_fits_glibcs_fast_bins() {
        // 120 bytes is the largest request glibc serves from a fast bin by default.
        assert!(std::mem::size_of::<super::Reply>() <= 120);
    }
}
