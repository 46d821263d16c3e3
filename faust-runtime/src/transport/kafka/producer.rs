//! Producing: non-blocking enqueue into librdkafka, one producer per distinct
//! (`acks`, idempotence) combination, each created on first use.
//!
//! A send hands the record to librdkafka (which copies the bytes) and returns at once; the
//! [`DeliveryHandle`] resolves from librdkafka's delivery report. Every failed delivery is logged
//! and counted in the transport's health, whether or not anyone awaits its handle.
//!
//! When librdkafka's local queue is full (`queue.buffering.max.messages`/`kbytes`), the record is
//! neither dropped nor does the caller's thread block: it goes to a task that retries the enqueue
//! with a short backoff until it fits (or `delivery.timeout.ms` passes, which fails its handle).
//! [`flush`] waits for those records too.

use super::{ClientCtx, Shared};
use crate::channel::now_millis;
use crate::error::{Error, Result};
use crate::topic::{Acks, DeliveryGuarantee};
use crate::transport::{DeliveryHandle, OutgoingRecord, RecordMetadata};
use futures::channel::oneshot;
use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// What a delivery report resolves.
type Reply = oneshot::Sender<Result<RecordMetadata>>;

/// A librdkafka producer whose delivery reports resolve [`DeliveryHandle`]s.
pub(super) type KafkaProducer = ThreadedProducer<ClientCtx>;

impl ProducerContext for ClientCtx {
    type DeliveryOpaque = Box<Reply>;

    fn delivery(&self, result: &DeliveryResult<'_>, reply: Box<Reply>) {
        let outcome = match result {
            Ok(msg) => Ok(RecordMetadata {
                topic: msg.topic().to_string(),
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
        // The handle may have been dropped: nobody to tell (the error is counted above).
        let _ = reply.send(outcome);
    }
}

/// The lazily created producers and the records waiting for queue space.
pub(crate) struct Producers {
    /// acks=0, acks=1, acks=all, idempotent (acks=all).
    slots: [OnceLock<Arc<KafkaProducer>>; 4],
    create: Mutex<()>,
    retrying: AtomicUsize,
    retried: Notify,
}

impl Producers {
    pub(crate) fn new() -> Self {
        Producers {
            slots: Default::default(),
            create: Mutex::new(()),
            retrying: AtomicUsize::new(0),
            retried: Notify::new(),
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
        record.acks.unwrap_or(shared.settings.kafka.acks),
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
    let k = &shared.settings.kafka;
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
        Error::config(format!(
            "cannot create the Kafka producer (acks={}, idempotence={idempotent}): {e}",
            acks.as_kafka()
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

fn pending(rx: oneshot::Receiver<Result<RecordMetadata>>, topic: String) -> DeliveryHandle {
    DeliveryHandle::pending(async move {
        match rx.await {
            Ok(r) => r,
            Err(_) => Err(Error::Delivery {
                topic,
                reason: "the producer was closed before the broker acknowledged the record".into(),
            }),
        }
    })
}

/// Enqueues a record; see the module docs.
pub(super) fn send(shared: &Arc<Shared>, record: OutgoingRecord) -> Result<DeliveryHandle> {
    let producer = producer(shared, &record)?;
    let (tx, rx) = oneshot::channel();
    let queue_full = {
        let base = BaseRecord {
            topic: record.topic.as_str(),
            partition: record.partition,
            payload: record.value.as_deref(),
            key: record.key.as_deref(),
            timestamp: record.timestamp,
            headers: headers_of(&record),
            delivery_opaque: Box::new(tx),
        };
        match producer.send::<[u8], [u8]>(base) {
            Ok(()) => None,
            Err((e, back)) if is_queue_full(&e) => Some((back.headers, back.delivery_opaque)),
            Err((e, _)) => {
                return Err(Error::Delivery {
                    topic: record.topic.clone(),
                    reason: format!("cannot enqueue the record: {e}"),
                })
            }
        }
    };
    let Some((headers, reply)) = queue_full else {
        return Ok(pending(rx, record.topic));
    };
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return Err(Error::Delivery {
            topic: record.topic,
            reason: "the producer queue is full and there is no async runtime to wait on".into(),
        });
    };
    let topic = record.topic.clone();
    shared.producers.retrying.fetch_add(1, Ordering::AcqRel);
    let producer = producer.clone();
    rt.spawn(retry_enqueue(
        shared.clone(),
        producer,
        record,
        headers,
        reply,
    ));
    Ok(pending(rx, topic))
}

/// Retries the enqueue of a record that found librdkafka's queue full.
async fn retry_enqueue(
    shared: Arc<Shared>,
    producer: Arc<KafkaProducer>,
    record: OutgoingRecord,
    mut headers: Option<OwnedHeaders>,
    mut reply: Box<Reply>,
) {
    struct Done<'a>(&'a Shared);
    impl Drop for Done<'_> {
        fn drop(&mut self) {
            if self.0.producers.retrying.fetch_sub(1, Ordering::AcqRel) == 1 {
                self.0.producers.retried.notify_waiters();
            }
        }
    }
    let _done = Done(&shared);
    let give_up = Instant::now() + delivery_timeout(&shared);
    let mut backoff = Duration::from_millis(1);
    loop {
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_millis(50));
        let base = BaseRecord {
            topic: record.topic.as_str(),
            partition: record.partition,
            payload: record.value.as_deref(),
            key: record.key.as_deref(),
            timestamp: record.timestamp,
            headers: headers.take(),
            delivery_opaque: reply,
        };
        match producer.send::<[u8], [u8]>(base) {
            Ok(()) => return,
            Err((e, back)) if is_queue_full(&e) && Instant::now() < give_up => {
                headers = back.headers;
                reply = back.delivery_opaque;
            }
            Err((e, back)) => {
                shared
                    .ctx
                    .health
                    .record(&format!("delivery to '{}'", record.topic), &e);
                let _ = back.delivery_opaque.send(Err(Error::Delivery {
                    topic: record.topic.clone(),
                    reason: format!("cannot enqueue the record: {e}"),
                }));
                return;
            }
        }
    }
}

fn delivery_timeout(shared: &Shared) -> Duration {
    let p = &shared.settings.kafka.producer;
    p.get("delivery.timeout.ms")
        .or_else(|| p.get("message.timeout.ms"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis)
        .unwrap_or(Duration::from_secs(300))
}

/// Waits until every record enqueued so far (including those waiting for queue space) is
/// acknowledged, or `timeout` passes.
pub(super) async fn flush(shared: &Arc<Shared>, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let p = &shared.producers;
    loop {
        let notified = p.retried.notified();
        if p.retrying.load(Ordering::Acquire) == 0 {
            break;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || tokio::time::timeout(left, notified).await.is_err() {
            return Err(Error::broker(
                &shared.url,
                format!(
                    "{} records still waited for producer queue space after {timeout:?}",
                    p.retrying.load(Ordering::Acquire)
                ),
            ));
        }
    }
    let producers = p.created();
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
