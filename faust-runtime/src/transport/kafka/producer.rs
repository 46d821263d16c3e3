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

use super::topic_handles::TopicHandles;
use super::{ClientCtx, Shared};
use crate::error::{Error, Result};
use crate::transport::{
    now_millis, Acks, DeliveryGuarantee, DeliveryHandle, DeliveryNotice, Enqueued, OutgoingRecord,
    RecordMetadata,
};
use futures::channel::oneshot;
use rdkafka::bindings as rdsys;
use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::IntoOpaque;
use std::ffi::{c_char, c_void};
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

/// A producer and the handles of the topics it sends to (released first, as librdkafka asks).
pub(crate) struct Slot {
    topics: TopicHandles,
    producer: Arc<KafkaProducer>,
}

/// The lazily created producers.
pub(crate) struct Producers {
    /// acks=0, acks=1, acks=all, idempotent (acks=all).
    slots: [OnceLock<Slot>; 4],
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
        self.slots
            .iter()
            .filter_map(|s| s.get().map(|s| s.producer.clone()))
            .collect()
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

fn producer<'s>(shared: &'s Shared, record: &OutgoingRecord) -> Result<&'s Slot> {
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
    Ok(p.slots[slot].get_or_init(|| Slot {
        topics: TopicHandles::default(),
        producer: Arc::new(created),
    }))
}

/// The record's headers as librdkafka's (owned by librdkafka once the record is accepted), or
/// null for none.
fn native_headers(record: &OutgoingRecord) -> *mut rdsys::rd_kafka_headers_t {
    if record.headers.is_empty() {
        return std::ptr::null_mut();
    }
    // SAFETY: a new header list, filled with pointers and lengths of live slices, which
    // librdkafka copies.
    unsafe {
        let h = rdsys::rd_kafka_headers_new(record.headers.len());
        for (key, value) in &record.headers {
            let (v, len) = match value {
                Some(v) => (v.as_ptr() as *const c_void, v.len() as isize),
                None => (std::ptr::null(), 0),
            };
            rdsys::rd_kafka_header_add(
                h,
                key.as_ptr() as *const c_char,
                key.len() as isize,
                v,
                len,
            );
        }
        h
    }
}

fn bytes_of(b: Option<&[u8]>) -> (*mut c_void, usize) {
    match b {
        Some(b) => (b.as_ptr() as *mut c_void, b.len()),
        None => (std::ptr::null_mut(), 0),
    }
}

fn is_queue_full(e: &KafkaError) -> bool {
    matches!(
        e,
        KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)
    )
}

/// Hands a record to librdkafka; see the module docs. The record names its topic by handle (see
/// [`TopicHandles`]); librdkafka copies the key, value and headers.
pub(super) fn enqueue(shared: &Arc<Shared>, mut record: OutgoingRecord) -> Result<Enqueued> {
    let slot = producer(shared, &record)?;
    let rk = slot.producer.client().native_ptr();
    let rkt = slot
        .topics
        .get(rk, &record.topic)
        .map_err(|reason| Error::Delivery {
            topic: record.topic.to_string(),
            reason,
        })?;
    let (tx, rx) = oneshot::channel();
    let reply = Box::new(Reply {
        handle: tx,
        notice: Mutex::new(std::mem::take(&mut record.notice)),
        topic: record.topic.clone(),
    });
    let opaque = reply.into_ptr();
    let headers = native_headers(&record);
    let (value, value_len) = bytes_of(record.value.as_deref());
    let (key, key_len) = bytes_of(record.key.as_deref());
    // SAFETY: `rk` and `rkt` are live (the slot holds them); the pointers are to live slices,
    // which librdkafka copies (`RD_KAFKA_MSG_F_COPY`); on success librdkafka owns the headers
    // and hands `opaque` back in the delivery report, exactly as `BaseProducer::send` does.
    let err = unsafe {
        rdsys::rd_kafka_producev(
            rk,
            rdsys::rd_kafka_vtype_t::RD_KAFKA_VTYPE_RKT,
            rkt,
            rdsys::rd_kafka_vtype_t::RD_KAFKA_VTYPE_PARTITION,
            record.partition.unwrap_or(-1),
            rdsys::rd_kafka_vtype_t::RD_KAFKA_VTYPE_MSGFLAGS,
            rdsys::RD_KAFKA_MSG_F_COPY,
            rdsys::rd_kafka_vtype_t::RD_KAFKA_VTYPE_VALUE,
            value,
            value_len,
            rdsys::rd_kafka_vtype_t::RD_KAFKA_VTYPE_KEY,
            key,
            key_len,
            rdsys::rd_kafka_vtype_t::RD_KAFKA_VTYPE_OPAQUE,
            opaque,
            rdsys::rd_kafka_vtype_t::RD_KAFKA_VTYPE_TIMESTAMP,
            record.timestamp.unwrap_or(0),
            rdsys::rd_kafka_vtype_t::RD_KAFKA_VTYPE_HEADERS,
            headers,
            rdsys::rd_kafka_vtype_t::RD_KAFKA_VTYPE_END,
        )
    };
    if err == rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        return Ok(Enqueued::Queued(DeliveryHandle::report(rx, record.topic)));
    }
    // Refused: the reply and the headers are still ours.
    // SAFETY: `opaque` came from `into_ptr` above and librdkafka did not keep it.
    let reply = unsafe { Box::<Reply>::from_ptr(opaque) };
    if !headers.is_null() {
        // SAFETY: librdkafka took no ownership of the list it refused.
        unsafe { rdsys::rd_kafka_headers_destroy(headers) };
    }
    let e = KafkaError::MessageProduction(RDKafkaErrorCode::from(err));
    if is_queue_full(&e) {
        record.notice = reply.notice.into_inner().unwrap_or_else(|p| p.into_inner());
        return Ok(Enqueued::Full(record));
    }
    Err(Error::Delivery {
        topic: record.topic.to_string(),
        reason: format!("cannot enqueue the record: {e}"),
    })
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
