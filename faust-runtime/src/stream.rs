//! Streams: what an agent iterates. [`Stream<H>`] yields the values of topic or channel `H`,
//! [`Events<H>`] whole [`Event`]s. Both are `futures::Stream`s.
//!
//! Acknowledgement follows Faust: an event is done when the agent asks for the next one (or
//! returns normally), and only done events have their offsets committed.

use crate::agent::{AgentSpec, SubscribeCtx};
use crate::app::App;
use crate::channel::Channel;
use crate::codec::CodecError;
use crate::dispatch::{AckTable, Deliver, Sink};
use crate::error::{excerpt, Error, Result};
use crate::event::Event;
use crate::topic::{ErrorPolicy, Topic, TopicCodecs, TopicSpec};
use crate::transport::{DeliveryHandle, Headers, OutgoingRecord, RawMessage};
use serde::{de::DeserializeOwned, Serialize};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// A copy of a record's bytes, kept for dead-lettering when the topic's policy asks for it.
#[derive(Debug, Clone)]
pub(crate) struct RawCopy {
    pub(crate) key: Option<Vec<u8>>,
    pub(crate) value: Option<Vec<u8>>,
    pub(crate) headers: Headers,
}

/// What travels from the dispatcher to an agent's stream.
pub(crate) enum Delivery<K, V> {
    Event(Event<K, V>, Option<Box<RawCopy>>),
    /// A record that did not decode and was skipped (or dead-lettered, once `handle` resolves):
    /// acknowledged in order with the others.
    Skipped {
        partition: i32,
        offset: i64,
        handle: Option<DeliveryHandle>,
    },
}

impl<K, V> Delivery<K, V> {
    #[inline]
    fn partition(&self) -> i32 {
        match self {
            Delivery::Event(ev, _) => ev.partition,
            Delivery::Skipped { partition, .. } => *partition,
        }
    }
    #[inline]
    fn offset(&self) -> i64 {
        match self {
            Delivery::Event(ev, _) => ev.offset,
            Delivery::Skipped { offset, .. } => *offset,
        }
    }
}

/// The event an agent holds and has not acknowledged yet.
pub(crate) struct InFlight {
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) raw: Option<Box<RawCopy>>,
}

/// A batch of deliveries, handed from the dispatcher to a stream in one queue operation.
pub(crate) type Batch<K, V> = Vec<Delivery<K, V>>;

/// The receiving side of a topic stream: the queue of batches and the batch being read.
pub(crate) struct TopicSource<K, V> {
    rx: mpsc::Receiver<Batch<K, V>>,
    batch: std::vec::IntoIter<Delivery<K, V>>,
}

impl<K, V> TopicSource<K, V> {
    fn new(rx: mpsc::Receiver<Batch<K, V>>) -> Self {
        TopicSource {
            rx,
            batch: Vec::new().into_iter(),
        }
    }
}

pub(crate) enum Source<K, V> {
    Topic(TopicSource<K, V>),
    Channel(Pin<Box<async_channel::Receiver<Event<K, V>>>>),
    Failed(Option<Error>),
}

/// What a stream hands back to its agent's supervisor when the agent function ends.
pub(crate) struct Returned<K, V> {
    pub(crate) source: Source<K, V>,
    pub(crate) in_flight: Option<InFlight>,
    pub(crate) exhausted: bool,
}

pub(crate) type ReturnSlot<K, V> = Arc<Mutex<Option<Returned<K, V>>>>;

struct Core<K, V> {
    source: Source<K, V>,
    name: &'static str,
    acks: Option<Arc<AckTable>>,
    in_flight: Option<InFlight>,
    waiting: Option<(i32, i64, DeliveryHandle)>,
    exhausted: bool,
    return_slot: Option<ReturnSlot<K, V>>,
    app: Option<App>,
    /// Headers are not copied for this stream (an agent taking `Stream<T>`).
    values_only: bool,
    _guard: Option<ReaderGuard>,
}

impl<K, V> Core<K, V> {
    #[inline]
    fn ack_in_flight(&mut self) {
        if let Some(f) = self.in_flight.take() {
            if let Some(t) = &self.acks {
                t.ack(f.partition, f.offset);
            }
        }
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<Event<K, V>>> {
        self.ack_in_flight();
        loop {
            if let Some((p, o, h)) = &mut self.waiting {
                match Pin::new(h).poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(_)) => {
                        if let Some(t) = &self.acks {
                            t.ack(*p, *o);
                        }
                        self.waiting = None;
                    }
                    Poll::Ready(Err(e)) => {
                        let err = Error::Delivery {
                            topic: format!("dead-letter topic of {}", self.name),
                            reason: format!(
                                "record {}[{}]@{} could not be dead-lettered: {e}",
                                self.name, p, o
                            ),
                        };
                        tracing::error!(error = %err, "stopping: a record could not be dead-lettered");
                        if let Some(app) = &self.app {
                            app.fail(err);
                        }
                        self.waiting = None;
                        self.exhausted = true;
                        return Poll::Ready(None);
                    }
                }
            }
            if self.exhausted {
                return Poll::Ready(None);
            }
            match &mut self.source {
                Source::Topic(src) => {
                    let item = match src.batch.next() {
                        Some(item) => item,
                        None => match src.rx.poll_recv(cx) {
                            Poll::Pending => return Poll::Pending,
                            Poll::Ready(None) => {
                                self.exhausted = true;
                                return Poll::Ready(None);
                            }
                            Poll::Ready(Some(batch)) => {
                                src.batch = batch.into_iter();
                                continue;
                            }
                        },
                    };
                    match item {
                        Delivery::Event(ev, raw) => {
                            self.in_flight = Some(InFlight {
                                partition: ev.partition,
                                offset: ev.offset,
                                raw,
                            });
                            return Poll::Ready(Some(ev));
                        }
                        Delivery::Skipped {
                            partition,
                            offset,
                            handle: None,
                        } => {
                            if let Some(t) = &self.acks {
                                t.ack(partition, offset);
                            }
                        }
                        Delivery::Skipped {
                            partition,
                            offset,
                            handle: Some(h),
                        } => self.waiting = Some((partition, offset, h)),
                    }
                }
                Source::Channel(rx) => {
                    // async_channel's Receiver is a Stream.
                    match futures::Stream::poll_next(rx.as_mut(), cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(None) => {
                            self.exhausted = true;
                            return Poll::Ready(None);
                        }
                        Poll::Ready(Some(ev)) => return Poll::Ready(Some(ev)),
                    }
                }
                Source::Failed(e) => {
                    if let Some(e) = e.take() {
                        tracing::error!(stream = self.name, error = %e, "stream could not start");
                    }
                    self.exhausted = true;
                    return Poll::Ready(None);
                }
            }
        }
    }
}

impl<K, V> Drop for Core<K, V> {
    fn drop(&mut self) {
        if let Some(slot) = self.return_slot.take() {
            let source = std::mem::replace(&mut self.source, Source::Failed(None));
            let ret = Returned {
                source,
                in_flight: self.in_flight.take(),
                exhausted: self.exhausted,
            };
            if let Ok(mut s) = slot.lock() {
                *s = Some(ret);
            }
        }
    }
}

/// The values of topic or channel `H`, in partition order: an agent's input.
pub struct Stream<H: Channel> {
    core: Core<H::Key, H::Value>,
}

/// The events (key, value, headers, topic, partition, offset, timestamp) of topic or channel `H`.
pub struct Events<H: Channel> {
    core: Core<H::Key, H::Value>,
}

impl<H: Channel> Stream<H> {
    fn with_source(source: Source<H::Key, H::Value>, name: &'static str) -> Self {
        Stream {
            core: Core {
                source,
                name,
                acks: None,
                in_flight: None,
                waiting: None,
                exhausted: false,
                return_slot: None,
                app: None,
                values_only: false,
                _guard: None,
            },
        }
    }

    /// A stream that ends at once, logging why it could not start.
    pub(crate) fn failed(e: Error) -> Self {
        Self::with_source(Source::Failed(Some(e)), "<failed>")
    }

    pub(crate) fn from_channel(
        rx: async_channel::Receiver<Event<H::Key, H::Value>>,
        name: &'static str,
    ) -> Self {
        Self::with_source(Source::Channel(Box::pin(rx)), name)
    }

    pub(crate) fn from_returned(
        ret: Returned<H::Key, H::Value>,
        name: &'static str,
        acks: Option<Arc<AckTable>>,
        app: App,
        values_only: bool,
    ) -> Self {
        let mut s = Self::with_source(ret.source, name);
        s.core.exhausted = ret.exhausted;
        s.core.acks = acks;
        s.core.app = Some(app);
        s.core.values_only = values_only;
        s
    }

    pub(crate) fn set_return_slot(&mut self, slot: ReturnSlot<H::Key, H::Value>) {
        self.core.return_slot = Some(slot);
    }

    pub(crate) fn values_only(&self) -> bool {
        self.core.values_only
    }

    pub(crate) fn acks(&self) -> Option<Arc<AckTable>> {
        self.core.acks.clone()
    }

    /// The topic or channel name.
    pub fn name(&self) -> &'static str {
        self.core.name
    }

    /// The same stream, yielding whole events.
    ///
    /// An agent declared with `Stream<T>` reads values only: the runtime does not copy headers
    /// out of the records for it, so its events carry no headers. Declare the agent with
    /// `Events<T>` to get them.
    pub fn events(mut self) -> Events<H> {
        let name = self.core.name;
        if self.core.values_only {
            tracing::warn!(
                stream = name,
                "events() on an agent's Stream<T>: headers are not copied for it; declare the agent with Events<T> to get them"
            );
        }
        Events {
            core: std::mem::replace(
                &mut self.core,
                Core {
                    source: Source::Failed(None),
                    name,
                    acks: None,
                    in_flight: None,
                    waiting: None,
                    exhausted: true,
                    return_slot: None,
                    app: None,
                    values_only: false,
                    _guard: None,
                },
            ),
        }
    }

    /// Waits for the next value; `None` when the stream ended (app stopping). Acknowledges the
    /// previous value.
    pub async fn next(&mut self) -> Option<H::Value> {
        futures::StreamExt::next(self).await
    }

    /// Acknowledges the current event now instead of when the next one is asked for.
    pub fn ack(&mut self) {
        self.core.ack_in_flight();
    }
}

impl<H: Channel> Events<H> {
    /// The topic or channel name.
    pub fn name(&self) -> &'static str {
        self.core.name
    }

    /// Waits for the next event; `None` when the stream ended. Acknowledges the previous event.
    pub async fn next(&mut self) -> Option<Event<H::Key, H::Value>> {
        futures::StreamExt::next(self).await
    }

    /// Acknowledges the current event now.
    pub fn ack(&mut self) {
        self.core.ack_in_flight();
    }
}

impl<H: Channel> futures::Stream for Stream<H> {
    type Item = H::Value;
    #[inline]
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<H::Value>> {
        // Core is Unpin (no self-references), so this is sound without pinning projections.
        let this = self.get_mut();
        this.core.poll_event(cx).map(|o| o.map(|e| e.value))
    }
}

impl<H: Channel> futures::Stream for Events<H> {
    type Item = Event<H::Key, H::Value>;
    #[inline]
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().core.poll_event(cx)
    }
}

impl<H: Channel> Unpin for Stream<H> {}
impl<H: Channel> Unpin for Events<H> {}

impl<H: Channel> fmt::Debug for Stream<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Stream({})", self.core.name)
    }
}

impl<H: Channel> fmt::Debug for Events<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Events({})", self.core.name)
    }
}

// ---------------------------------------------------------------------------------------------
// Topic sinks: decode in the consumer task, queue to the agent.

/// Batch size, the senders and the stream sides of an agent's queues.
type BatchQueues<K, V> = (
    usize,
    Vec<mpsc::Sender<Batch<K, V>>>,
    Vec<TopicSource<K, V>>,
);

/// Largest batch handed to a stream in one queue operation.
const MAX_BATCH: usize = 64;

/// Queues for `instances` streams with room for about `buffer` events each: batches of at most
/// [`MAX_BATCH`] (fewer for tiny buffers), `buffer / batch` batches deep.
fn batch_queues<K, V>(buffer: usize, instances: usize) -> BatchQueues<K, V> {
    let buffer = buffer.max(1);
    let batch = buffer.min(MAX_BATCH);
    let depth = (buffer / batch).max(1);
    let (mut txs, mut rxs) = (Vec::new(), Vec::new());
    for _ in 0..instances.max(1) {
        let (tx, rx) = mpsc::channel(depth);
        txs.push(tx);
        rxs.push(TopicSource::new(rx));
    }
    (batch, txs, rxs)
}

struct TopicSink<K, V> {
    senders: Vec<mpsc::Sender<Batch<K, V>>>,
    /// The batch being filled for each instance.
    pending: Vec<Batch<K, V>>,
    batch: usize,
    /// The agent reads values only (`Stream<T>`): headers are not copied out of the record.
    /// (Keys are still decoded, so an undecodable key meets the topic's error policy.)
    values_only: bool,
    codecs: Arc<TopicCodecs>,
    topic: &'static str,
    agent: &'static str,
    policy: ErrorPolicy,
    dead_letter: String,
    acks: Arc<AckTable>,
    app: App,
}

impl<K, V> TopicSink<K, V>
where
    K: DeserializeOwned + Send + 'static,
    V: DeserializeOwned + Send + 'static,
{
    #[allow(clippy::too_many_arguments)] // private constructor, every field named at the call
    fn new(
        senders: Vec<mpsc::Sender<Batch<K, V>>>,
        batch: usize,
        values_only: bool,
        codecs: Arc<TopicCodecs>,
        spec: &'static TopicSpec,
        agent: &'static str,
        policy: ErrorPolicy,
        acks: Arc<AckTable>,
        app: App,
    ) -> Self {
        TopicSink {
            pending: senders.iter().map(|_| Vec::with_capacity(batch)).collect(),
            senders,
            batch,
            values_only,
            codecs,
            topic: spec.name,
            agent,
            policy,
            dead_letter: spec.dead_letter_topic(),
            acks,
            app,
        }
    }

    /// Hands instance `i`'s batch to its stream.
    fn send_batch(&mut self, i: usize) -> Deliver {
        let mut batch = std::mem::replace(&mut self.pending[i], Vec::with_capacity(self.batch));
        // Events of partitions revoked since they were decoded belong to the next owner.
        if batch.iter().any(|d| self.acks.is_revoked(d.partition())) {
            batch.retain(|d| !self.acks.is_revoked(d.partition()));
        }
        if batch.is_empty() {
            return Deliver::Sent;
        }
        for d in &batch {
            self.acks.handed_over(d.partition(), d.offset());
        }
        let tx = &self.senders[i];
        match tx.try_send(batch) {
            Ok(()) => Deliver::Sent,
            Err(mpsc::error::TrySendError::Full(batch)) => {
                let tx = tx.clone();
                let agent = self.agent;
                Deliver::Wait(Box::pin(async move {
                    tx.send(batch)
                        .await
                        .map_err(|_| Error::Closed(format!("stream of agent '{agent}'")))
                }))
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                Deliver::Fatal(Error::Closed(format!("stream of agent '{}'", self.agent)))
            }
        }
    }

    #[inline]
    fn decode(&self, msg: &RawMessage<'_>) -> Result<Event<K, V>> {
        let key = match msg.key {
            None => None,
            Some(k) => Some(
                self.codecs
                    .key
                    .loads::<K>(k)
                    .map_err(|e| self.err(msg, "key", k, e))?,
            ),
        };
        let value = match msg.value {
            Some(v) => self
                .codecs
                .value
                .loads::<V>(v)
                .map_err(|e| self.err(msg, "value", v, e))?,
            None => self
                .codecs
                .value
                .loads_tombstone::<V>()
                .map_err(|e| self.err(msg, "value", b"", e))?,
        };
        Ok(Event {
            key,
            value,
            headers: match msg.headers {
                Some(h) if !self.values_only => h.to_headers(),
                _ => Vec::new(),
            },
            topic: self.topic,
            partition: msg.partition,
            offset: msg.offset,
            timestamp: msg.timestamp,
        })
    }

    #[cold]
    fn err(&self, msg: &RawMessage<'_>, what: &'static str, bytes: &[u8], e: CodecError) -> Error {
        let codec = if what == "key" {
            &self.codecs.key
        } else {
            &self.codecs.value
        };
        Error::Deserialize {
            topic: self.topic.to_string(),
            partition: msg.partition,
            offset: msg.offset,
            what,
            codec: codec.name().to_string(),
            reason: if msg.value.is_none() && what == "value" {
                format!("tombstone (no value): {e}")
            } else {
                e.to_string()
            },
            excerpt: excerpt(bytes),
        }
    }

    #[cold]
    fn bad_record(
        &self,
        msg: &RawMessage<'_>,
        err: Error,
    ) -> std::result::Result<Delivery<K, V>, Error> {
        match self.policy {
            ErrorPolicy::Stop => {
                tracing::error!(agent = self.agent, error = %err, "undecodable record; policy is stop");
                Err(err)
            }
            ErrorPolicy::Skip => {
                tracing::warn!(agent = self.agent, error = %err, "skipping undecodable record");
                self.app.stats().record_skipped();
                Ok(Delivery::Skipped {
                    partition: msg.partition,
                    offset: msg.offset,
                    handle: None,
                })
            }
            ErrorPolicy::DeadLetter => {
                let raw = raw_copy(msg);
                let record = dead_letter_record(
                    &self.dead_letter,
                    msg.topic,
                    msg.partition,
                    msg.offset,
                    raw,
                    &err.to_string(),
                );
                tracing::warn!(agent = self.agent, error = %err, dead_letter = %self.dead_letter, "dead-lettering undecodable record");
                let handle = self.app.transport().send(record)?;
                self.app.stats().record_dead_lettered();
                Ok(Delivery::Skipped {
                    partition: msg.partition,
                    offset: msg.offset,
                    handle: Some(handle),
                })
            }
        }
    }
}

fn raw_copy(msg: &RawMessage<'_>) -> RawCopy {
    RawCopy {
        key: msg.key.map(<[u8]>::to_vec),
        value: msg.value.map(<[u8]>::to_vec),
        headers: msg.headers.map(|h| h.to_headers()).unwrap_or_default(),
    }
}

/// The record forwarded to a dead-letter topic: original key, value and headers, plus headers
/// naming where it came from and why it failed.
pub(crate) fn dead_letter_record(
    dlq: &str,
    topic: &str,
    partition: i32,
    offset: i64,
    raw: RawCopy,
    error: &str,
) -> OutgoingRecord {
    let mut headers = raw.headers;
    headers.push(("faust-error".into(), Some(error.as_bytes().to_vec().into())));
    headers.push((
        "faust-error-topic".into(),
        Some(topic.as_bytes().to_vec().into()),
    ));
    headers.push((
        "faust-error-partition".into(),
        Some(partition.to_string().into_bytes().into()),
    ));
    headers.push((
        "faust-error-offset".into(),
        Some(offset.to_string().into_bytes().into()),
    ));
    OutgoingRecord {
        topic: dlq.to_string(),
        partition: None,
        key: raw.key,
        value: raw.value,
        headers,
        timestamp: None,
        acks: None,
        delivery_guarantee: None,
    }
}

impl<K, V> Sink for TopicSink<K, V>
where
    K: DeserializeOwned + Send + 'static,
    V: DeserializeOwned + Send + 'static,
{
    #[inline]
    fn deliver(&mut self, msg: &RawMessage<'_>) -> Deliver {
        let item = match self.decode(msg) {
            Ok(ev) => {
                let raw = if self.policy == ErrorPolicy::DeadLetter {
                    Some(Box::new(raw_copy(msg)))
                } else {
                    None
                };
                Delivery::Event(ev, raw)
            }
            Err(e) => match self.bad_record(msg, e) {
                Ok(d) => d,
                Err(e) => return Deliver::Fatal(e),
            },
        };
        let n = self.senders.len();
        let i = if n == 1 {
            0
        } else {
            msg.partition as usize % n
        };
        self.pending[i].push(item);
        if self.pending[i].len() >= self.batch {
            self.send_batch(i)
        } else {
            Deliver::Sent
        }
    }

    fn flush(&mut self) -> Deliver {
        let mut waits = Vec::new();
        for i in 0..self.pending.len() {
            if self.pending[i].is_empty() {
                continue;
            }
            match self.send_batch(i) {
                Deliver::Sent => {}
                Deliver::Wait(w) => waits.push(w),
                fatal @ Deliver::Fatal(_) => return fatal,
            }
        }
        match waits.len() {
            0 => Deliver::Sent,
            1 => waits.pop().map_or(Deliver::Sent, Deliver::Wait),
            _ => Deliver::Wait(Box::pin(async move {
                for w in waits {
                    w.await?;
                }
                Ok(())
            })),
        }
    }

    fn acks(&self) -> Arc<AckTable> {
        self.acks.clone()
    }
}

/// Subscribes `instances` streams of agent `agent` to topic `T` (generated code calls this).
pub fn subscribe_topic<T>(
    ctx: &mut SubscribeCtx<'_>,
    agent: &'static AgentSpec,
    instances: usize,
) -> Result<Vec<Stream<T>>>
where
    T: Topic,
    T::Key: Serialize + DeserializeOwned,
    T::Value: Serialize + DeserializeOwned,
{
    let spec = T::spec();
    let app = ctx.app().clone();
    let partitions = app.partitions_of(spec.name)?;
    let buffer = spec
        .declared_maxsize()
        .unwrap_or(app.settings().stream_buffer_maxsize)
        .max(1);
    let acks = AckTable::new(partitions as usize);
    let (batch, senders, sources) = batch_queues(buffer, instances);
    let values_only = ctx.values_only();
    let mut streams = Vec::with_capacity(instances);
    for src in sources {
        let mut s = Stream::<T>::with_source(Source::Topic(src), spec.name);
        s.core.values_only = values_only;
        s.core.acks = Some(acks.clone());
        s.core.app = Some(app.clone());
        streams.push(s);
    }
    let policy = app.error_policy_of(spec);
    let codecs = Arc::new(spec.codecs()?.clone());
    let sink = TopicSink::<T::Key, T::Value>::new(
        senders,
        batch,
        values_only,
        codecs,
        spec,
        agent.name,
        policy,
        acks,
        app,
    );
    ctx.add_sink(spec.name, partitions as usize, Box::new(sink));
    Ok(streams)
}

/// Subscribes `instances` streams of agent `agent` to channel `C` (generated code calls this).
pub fn subscribe_channel<C: Channel>(
    ctx: &mut SubscribeCtx<'_>,
    _agent: &'static AgentSpec,
    instances: usize,
) -> Result<Vec<Stream<C>>> {
    let queue = ctx.app().channel_queue::<C>()?;
    let name = C::__source().name();
    Ok((0..instances.max(1))
        .map(|_| {
            let mut s = Stream::<C>::from_channel(queue.rx.clone(), name);
            s.core.app = Some(ctx.app().clone());
            s
        })
        .collect())
}

/// Stops a reader's consumer when its stream is dropped.
pub(crate) struct ReaderGuard {
    stop: tokio::sync::watch::Sender<bool>,
}

impl Drop for ReaderGuard {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// A stream reading topic `T` from the earliest offset with its own consumer (no commits).
pub(crate) fn reader_stream<T>(app: &App) -> Stream<T>
where
    T: Topic,
    T::Key: Serialize + DeserializeOwned,
    T::Value: Serialize + DeserializeOwned,
{
    let spec = T::spec();
    match spec.codecs() {
        Ok(codecs) => reader_stream_with::<T>(app, spec, Arc::new(codecs.clone())),
        Err(e) => Stream::failed(e),
    }
}

/// A stream reading topic `spec` from the earliest offset with its own consumer (no commits),
/// decoding with `codecs` into `H`'s key and value types (the topic's own, or a schema's).
///
/// A reader does not dead-letter: it reads from the start each time and commits nothing, so it
/// would forward the same bad records again on every read. Under `dead_letter` it skips them
/// (logged and counted) and leaves dead-lettering to the agents.
pub(crate) fn reader_stream_with<H>(
    app: &App,
    spec: &'static TopicSpec,
    codecs: Arc<TopicCodecs>,
) -> Stream<H>
where
    H: Channel,
    H::Key: DeserializeOwned,
    H::Value: DeserializeOwned,
{
    let inner = || -> Result<Stream<H>> {
        let partitions = app.partitions_of(spec.name)?;
        let (batch, senders, mut sources) = batch_queues(app.settings().stream_buffer_maxsize, 1);
        let source = sources
            .pop()
            .ok_or_else(|| Error::state("no reader queue"))?;
        let acks = AckTable::new(partitions as usize);
        let policy = match app.error_policy_of(spec) {
            ErrorPolicy::DeadLetter => ErrorPolicy::Skip,
            other => other,
        };
        let sink = TopicSink::<H::Key, H::Value>::new(
            senders,
            batch,
            false,
            codecs,
            spec,
            "<reader>",
            policy,
            acks.clone(),
            app.clone(),
        );
        let stop = app.spawn_reader(spec.name, partitions as usize, Box::new(sink))?;
        let mut s = Stream::<H>::with_source(Source::Topic(source), spec.name);
        s.core.acks = Some(acks);
        s.core.app = Some(app.clone());
        s.core._guard = Some(ReaderGuard { stop });
        Ok(s)
    };
    inner().unwrap_or_else(Stream::failed)
}
