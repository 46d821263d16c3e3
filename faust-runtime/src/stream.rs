//! Streams: what an agent iterates. [`Stream<H>`] yields the values of topic or channel `H`,
//! [`Events<H>`] whole [`Event`]s. Both are `futures::Stream`s.
//!
//! Acknowledgement follows Faust: the event an agent took is done when the agent asks for the
//! next one (or returns normally). An [`Event`] taken from [`Events<H>`] also holds its offset up
//! until it is dropped, so a combinator that reads ahead (`chunks`, `ready_chunks`,
//! `buffer_unordered`) never gets an offset committed before the events it holds are processed.
//! Records sent while an event is processed belong to it: its offset is committed only once they
//! are delivered (see [`crate::engine`]).

use crate::agent::{AgentSpec, SubscribeCtx};
use crate::app::App;
use crate::channel::Channel;
use crate::decoder::{Decoder, HeadersWanted};
use crate::engine::context::{self, Current};
use crate::engine::driver::{Deliver, Subscriber};
use crate::engine::{Ack, Queued};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::observe::{Open, StreamProbe};
use crate::topic::{ErrorPolicy, Topic, TopicCodecs, TopicSpec};
use crate::transport::{RawMessage, SharedRecord};
use serde::{de::DeserializeOwned, Serialize};
use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

pub(crate) use crate::decoder::{dead_letter_record, RawCopy};
pub use crate::transport::Headers;

/// What travels to an agent's stream: the event, its bytes when they may be dead-lettered, and
/// the agent's hold on it.
pub(crate) struct Delivery<K, V> {
    pub(crate) event: Event<K, V>,
    pub(crate) raw: Option<Box<RawCopy>>,
    pub(crate) ack: Option<Queued>,
    /// Where to answer, when the record is a request ([`crate::reply`]).
    pub(crate) reply: Option<Box<crate::reply::ReplyTo>>,
}

/// A record handed to an agent's stream as the transport's shared bytes, decoded in the agent's
/// task.
pub(crate) struct Encoded {
    pub(crate) record: SharedRecord,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) timestamp: i64,
    /// Which of the stream's topics it came from (a handle covering several).
    pub(crate) topic: u16,
    pub(crate) ack: Option<Queued>,
}

/// A batch handed to a stream in one queue operation. (`K`, `V`: the stream's types, which
/// decode the batch.)
pub(crate) struct Batch<K, V>(Vec<Encoded>, PhantomData<fn() -> (K, V)>);

/// Decodes records handed over as shared bytes, in the stream.
pub(crate) trait DecodeShared<K, V>: Send + Sync {
    /// The delivery for `e`; `None` when it is skipped (it did not decode, or is stale); `Err`
    /// when the worker must stop (the app is failed already).
    fn decode_shared(&self, e: Encoded) -> Result<Option<Delivery<K, V>>>;
}

impl<K, V> DecodeShared<K, V> for Decoder<K, V>
where
    K: DeserializeOwned + Send + 'static,
    V: DeserializeOwned + Send + 'static,
{
    fn decode_shared(&self, e: Encoded) -> Result<Option<Delivery<K, V>>> {
        let mut msg = RawMessage {
            topic: self.topic,
            partition: e.partition,
            offset: e.offset,
            timestamp: e.timestamp,
            key: e.record.key.as_deref(),
            value: e.record.value.as_deref(),
            headers: if e.record.headers.is_empty() {
                None
            } else {
                Some(&e.record.headers)
            },
            shared: Some(&e.record),
        };
        // A request: by its headers, or wrapped in Faust's envelope (then the value inside is
        // what the agent gets).
        let mut reply = if e.record.headers.is_empty() {
            None
        } else {
            crate::reply::from_headers(&e.record.headers, e.record.key.as_ref())
        };
        if reply.is_none() {
            if let Some(v) = msg.value.filter(|v| crate::reply::looks_like_request(v)) {
                if let Some((to, inner)) = crate::reply::unwrap_request(v, e.record.key.as_ref()) {
                    reply = Some(to);
                    msg.value = Some(inner);
                    msg.shared = None;
                }
            }
        }
        match self.decode_caught(&msg) {
            Ok(event) => Ok(Some(Delivery {
                event,
                raw: self.keep_raw(&msg),
                ack: e.ack,
                reply,
            })),
            Err(err) => match e.ack.map(Queued::start) {
                // Stale: the partition's next owner meets this record.
                Some(None) => Ok(None),
                Some(Some(ack)) => match self.bad_record(&msg, err, ack) {
                    Ok(()) => Ok(None),
                    Err(fatal) => {
                        self.app.fail(fatal);
                        Err(Error::state("stopping: a record cannot be processed"))
                    }
                },
                None => {
                    tracing::warn!(agent = self.agent, error = %err, "skipping undecodable record");
                    Ok(None)
                }
            },
        }
    }
}

/// The queue an agent's instances read their batches from: its own for a single instance (the
/// cheaper queue), one shared by all of them for `concurrency > 1` (as Faust's concurrent agents
/// share one stream).
pub(crate) enum BatchRx<K, V> {
    One(tokio::sync::mpsc::Receiver<Batch<K, V>>),
    Shared(Pin<Box<async_channel::Receiver<Batch<K, V>>>>),
}

/// The sending side of [`BatchRx`].
enum BatchTx<K, V> {
    One(tokio::sync::mpsc::Sender<Batch<K, V>>),
    Shared(async_channel::Sender<Batch<K, V>>),
}

impl<K, V> Clone for BatchTx<K, V> {
    fn clone(&self) -> Self {
        match self {
            BatchTx::One(tx) => BatchTx::One(tx.clone()),
            BatchTx::Shared(tx) => BatchTx::Shared(tx.clone()),
        }
    }
}

impl<K, V> BatchRx<K, V> {
    #[inline]
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Batch<K, V>>> {
        match self {
            BatchRx::One(rx) => rx.poll_recv(cx),
            BatchRx::Shared(rx) => futures::Stream::poll_next(rx.as_mut(), cx),
        }
    }
}

/// The queues of `instances` streams with room for `depth` batches each.
fn batch_queues<K, V>(depth: usize, instances: usize) -> (BatchTx<K, V>, Vec<BatchRx<K, V>>) {
    if instances <= 1 {
        let (tx, rx) = tokio::sync::mpsc::channel(depth);
        (BatchTx::One(tx), vec![BatchRx::One(rx)])
    } else {
        let (tx, rx) = async_channel::bounded(depth * instances);
        let rxs = (0..instances)
            .map(|_| BatchRx::Shared(Box::pin(rx.clone())))
            .collect();
        (BatchTx::Shared(tx), rxs)
    }
}

/// The receiving side of a topic stream: the queue of batches and the batch being read.
pub(crate) struct TopicSource<K, V> {
    rx: BatchRx<K, V>,
    encoded: std::vec::IntoIter<Encoded>,
    /// One per topic of the handle (most handles: one).
    decoders: Vec<Arc<dyn DecodeShared<K, V>>>,
    /// A pattern's decoders, one per topic matched so far: `decoders` is refreshed from it when
    /// a record of a newly matched topic arrives.
    matched: Option<SharedDecoders<K, V>>,
}

/// The decoders of the topics a pattern matched, in the order they were matched.
type SharedDecoders<K, V> = Arc<Mutex<Vec<Arc<dyn DecodeShared<K, V>>>>>;

impl<K, V> TopicSource<K, V> {
    fn new(rx: BatchRx<K, V>, decoder: Arc<dyn DecodeShared<K, V>>) -> Self {
        Self::of_topics(rx, vec![decoder])
    }

    fn of_topics(rx: BatchRx<K, V>, decoders: Vec<Arc<dyn DecodeShared<K, V>>>) -> Self {
        TopicSource {
            rx,
            encoded: Vec::new().into_iter(),
            decoders,
            matched: None,
        }
    }

    /// The decoder of the stream's topic number `i`.
    #[inline]
    fn decoder(&mut self, i: usize) -> Option<&Arc<dyn DecodeShared<K, V>>> {
        if i >= self.decoders.len() {
            let shared = self.matched.as_ref()?;
            self.decoders = shared.lock().unwrap_or_else(|p| p.into_inner()).clone();
        }
        self.decoders.get(i)
    }

    #[inline]
    pub(crate) fn poll_delivery(&mut self, cx: &mut Context<'_>) -> Poll<Option<Delivery<K, V>>> {
        loop {
            if let Some(e) = self.encoded.next() {
                let Some(decoder) = self.decoder(usize::from(e.topic)) else {
                    continue;
                };
                match decoder.decode_shared(e) {
                    Ok(Some(d)) => return Poll::Ready(Some(d)),
                    Ok(None) => continue,
                    Err(_) => return Poll::Ready(None),
                }
            }
            match self.rx.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some(Batch(v, _))) => self.encoded = v.into_iter(),
            }
        }
    }
}

impl<K, V> Source<K, V> {
    /// The next delivery of the source of stream `name`.
    #[inline]
    pub(crate) fn poll_delivery(
        &mut self,
        cx: &mut Context<'_>,
        name: &str,
    ) -> Poll<Option<Delivery<K, V>>> {
        match self {
            Source::Topic(src) => src.poll_delivery(cx),
            Source::Grouped(g) => g.poll_delivery(cx),
            Source::Channel(ch) => ch.poll_delivery(cx),
            Source::Failed(e) => {
                if let Some(e) = e.take() {
                    tracing::error!(stream = name, error = %e, "stream could not start");
                }
                Poll::Ready(None)
            }
        }
    }
}

pub(crate) enum Source<K, V> {
    Topic(TopicSource<K, V>),
    /// A repartitioned stream: forwards its source, reads the repartition topic.
    Grouped(Box<crate::group_by::Grouped<K, V>>),
    Channel(ChannelSource<K, V>),
    Failed(Option<Error>),
}

/// A channel's queue as a stream reads it.
pub(crate) struct ChannelSource<K, V> {
    rx: Pin<Box<async_channel::Receiver<Delivery<K, V>>>>,
    room: Arc<crate::channel_queue::Room>,
}

impl<K, V> ChannelSource<K, V> {
    /// The next value; a value taken may wake the senders waiting for room.
    #[inline]
    fn poll_delivery(&mut self, cx: &mut Context<'_>) -> Poll<Option<Delivery<K, V>>> {
        let next = futures::Stream::poll_next(self.rx.as_mut(), cx);
        if let Poll::Ready(Some(_)) = &next {
            self.room.taken(&self.rx);
        }
        next
    }
}

/// What a stream hands back to its agent's supervisor when the agent function ends.
pub(crate) struct Returned<K, V> {
    pub(crate) source: Source<K, V>,
    pub(crate) exhausted: bool,
    /// Events yielded since the agent (re)started.
    pub(crate) yielded: u64,
    /// The stream's switch of header copying (see [`HeadersWanted`]).
    pub(crate) headers: Option<HeadersWanted>,
    /// Where the agent's events are reported (sensors, blocking timeout).
    pub(crate) probe: Option<Arc<StreamProbe>>,
    pub(crate) agent: Option<&'static AgentSpec>,
}

pub(crate) type ReturnSlot<K, V> = Arc<Mutex<Option<Returned<K, V>>>>;

pub(crate) struct Core<K, V> {
    pub(crate) source: Source<K, V>,
    name: &'static str,
    exhausted: bool,
    return_slot: Option<ReturnSlot<K, V>>,
    pub(crate) app: Option<App>,
    /// The stream was made for an agent taking `Stream<T>` (values).
    pub(crate) values_only: bool,
    /// For such a stream on a topic: whether its records' headers are copied.
    pub(crate) headers: Option<HeadersWanted>,
    /// The current event when the stream is read outside an agent's task.
    local: Option<Current>,
    /// Events are done only when acknowledged explicitly ([`Events::noack`]).
    noack: bool,
    yielded: u64,
    /// Sensors and blocking timeout: `None` when nothing watches the agent.
    probe: Option<Arc<StreamProbe>>,
    /// The event the agent holds, as the probe saw it start.
    open: Option<Open>,
    /// The agent reading the stream.
    pub(crate) agent: Option<&'static AgentSpec>,
    /// Given up at the first read (see the startup window in `crate::startup`).
    pub(crate) arrival: Option<crate::startup::Arrival>,
    /// Where each event is also sent ([`Stream::echo`]).
    pub(crate) echo: Vec<crate::through::EchoFn<K, V>>,
    _guard: Option<ReaderGuard>,
}

impl<K, V> Core<K, V> {
    pub(crate) fn new(source: Source<K, V>, name: &'static str) -> Self {
        Core {
            source,
            name,
            exhausted: false,
            return_slot: None,
            app: None,
            values_only: false,
            headers: None,
            local: None,
            noack: false,
            yielded: 0,
            probe: None,
            open: None,
            agent: None,
            arrival: None,
            echo: Vec::new(),
            _guard: None,
        }
    }

    /// The topic or channel name.
    pub(crate) fn name(&self) -> &'static str {
        self.name
    }

    /// Takes the current event's hold out (an operator keeps it, e.g. for a batch).
    #[inline]
    pub(crate) fn take_current(&mut self) -> Option<Current> {
        match context::replace(None, None) {
            Ok(prev) => prev,
            Err(_) => self.local.take(),
        }
    }

    /// Makes `cur` the current event (what is sent from now on belongs to it), answered at
    /// `reply` when it is a request; the previous one is finished.
    #[inline]
    pub(crate) fn set_current(&mut self, cur: Current, reply: Option<Box<crate::reply::ReplyTo>>) {
        if let Err(cur) = context::replace(Some(cur), reply) {
            self.local = cur;
        }
    }

    /// Finishes the current event (Faust's implicit acknowledgement).
    #[inline]
    pub(crate) fn finish_current(&mut self) {
        self.local = None;
        if let Ok(prev) = context::replace(None, None) {
            drop(prev);
        }
    }

    #[inline]
    fn next_delivery(&mut self, cx: &mut Context<'_>) -> Poll<Option<Delivery<K, V>>> {
        self.source.poll_delivery(cx, self.name)
    }

    /// The next event; `with_hold` gives the event a hold of its own (events mode). The
    /// previous event is finished by the time this returns: replaced by the next one when one
    /// is ready, else released.
    pub(crate) fn poll_event(
        &mut self,
        cx: &mut Context<'_>,
        with_hold: bool,
    ) -> Poll<Option<Event<K, V>>> {
        if let Some(p) = &self.probe {
            if let Some(open) = self.open.take() {
                p.event_out(self.name, open);
            }
        }
        if self.arrival.is_some() {
            self.arrival = None;
        }
        loop {
            let polled = if self.exhausted {
                Poll::Ready(None)
            } else {
                self.next_delivery(cx)
            };
            let Delivery {
                mut event,
                raw,
                ack,
                reply,
            } = match polled {
                Poll::Ready(Some(d)) => d,
                // Waiting or ended: the previous event is done.
                end => {
                    self.exhausted |= end.is_ready();
                    self.finish_current();
                    return end.map(|_| None);
                }
            };
            match ack.map(Queued::start) {
                // Its partition was revoked while it waited: the next owner processes it.
                Some(None) => continue,
                Some(Some(ack)) => {
                    if with_hold {
                        event.ack = Some(crate::event::EventAck::new(ack.hold(), self.noack));
                    }
                    let cur = Current {
                        ack,
                        raw,
                        offset: event.offset,
                        timestamp: event.timestamp,
                    };
                    self.set_current(cur, reply);
                }
                None => self.finish_current(),
            }
            if !self.echo.is_empty() && !self.run_echoes(&event) {
                self.exhausted = true;
                return Poll::Ready(None);
            }
            self.yielded += 1;
            if let Some(p) = &self.probe {
                self.open = Some(p.event_in(self.name, event.partition, event.offset));
            }
            return Poll::Ready(Some(event));
        }
    }
}

impl<K, V> Drop for Core<K, V> {
    fn drop(&mut self) {
        if let Some(p) = &self.probe {
            p.idle();
        }
        if let Some(slot) = self.return_slot.take() {
            let source = std::mem::replace(&mut self.source, Source::Failed(None));
            let ret = Returned {
                source,
                exhausted: self.exhausted,
                yielded: self.yielded,
                headers: self.headers.take(),
                probe: self.probe.take(),
                agent: self.agent,
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
    /// Buffers up to `max` values at a time (Faust's `stream.take(max, within=)`): yields a batch
    /// once it holds `max` values, or once `within` has passed since its first value, never an
    /// empty one. The batch's offsets are committed after it is processed (when the next batch
    /// is asked for), and what is sent while processing it belongs to all of its events.
    ///
    /// This is Faust's `take`; `futures`' `take(n)` (the first `n` items) is still there as
    /// `StreamExt::take(stream, n)`.
    pub fn take(
        self,
        max: usize,
        within: std::time::Duration,
    ) -> crate::operators::Batches<H, H::Value> {
        crate::operators::Batches::new(self.into_core(), max, within, false, |e| e.value)
    }

    /// Key and value of every event (Faust's `stream.items()`).
    pub fn items(self) -> crate::operators::Items<H> {
        crate::operators::Items::new(self.into_core())
    }

    pub(crate) fn into_core(mut self) -> Core<H::Key, H::Value> {
        if let Some(h) = &self.core.headers {
            // `take` and `items` on values yield no headers.
            h.set(false);
        }
        let mut empty = Core::new(Source::Failed(None), self.core.name);
        empty.exhausted = true;
        std::mem::replace(&mut self.core, empty)
    }

    pub(crate) fn from_core(core: Core<H::Key, H::Value>) -> Self {
        Stream { core }
    }

    pub(crate) fn core_mut(&mut self) -> &mut Core<H::Key, H::Value> {
        &mut self.core
    }

    pub(crate) fn with_source(source: Source<H::Key, H::Value>, name: &'static str) -> Self {
        Stream {
            core: Core::new(source, name),
        }
    }

    /// A stream that ends at once, logging why it could not start.
    pub(crate) fn failed(e: Error) -> Self {
        Self::with_source(Source::Failed(Some(e)), "<failed>")
    }

    pub(crate) fn from_channel(
        queue: &crate::channel::ChannelQueue<H::Key, H::Value>,
        name: &'static str,
    ) -> Self {
        Self::with_source(
            Source::Channel(ChannelSource {
                rx: Box::pin(queue.rx.clone()),
                room: queue.room.clone(),
            }),
            name,
        )
    }

    pub(crate) fn from_returned(
        ret: Returned<H::Key, H::Value>,
        name: &'static str,
        app: App,
        values_only: bool,
    ) -> Self {
        let mut s = Self::with_source(ret.source, name);
        s.core.exhausted = ret.exhausted;
        s.core.app = Some(app);
        s.core.values_only = values_only;
        s.core.headers = ret.headers;
        s.core.probe = ret.probe;
        s.core.agent = ret.agent;
        s
    }

    /// Binds the stream to the agent reading it, while the app starts.
    pub(crate) fn bind_agent(&mut self, agent: &'static AgentSpec, app: &App) {
        self.core.agent = Some(agent);
        self.core.arrival = app.startup().arrival();
    }

    pub(crate) fn set_return_slot(&mut self, slot: ReturnSlot<H::Key, H::Value>) {
        self.core.return_slot = Some(slot);
    }

    pub(crate) fn values_only(&self) -> bool {
        self.core.values_only
    }

    /// The topic or channel name.
    pub fn name(&self) -> &'static str {
        self.core.name
    }

    /// The same stream, yielding whole events (Faust's `stream.events()`), headers included:
    /// the same events an agent declared with `Events<T>` gets.
    ///
    /// An agent taking `Stream<T>` that only reads values costs nothing for headers: the
    /// runtime stops copying them out of the records once the agent reads its first value. Call
    /// `events()` before reading values (as `Events<T>` agents do by construction); called
    /// later, the events already buffered for the stream at that moment carry no headers.
    pub fn events(mut self) -> Events<H> {
        let name = self.core.name;
        if let Some(h) = &self.core.headers {
            h.set(true);
        }
        let mut core = Core::new(Source::Failed(None), name);
        core.exhausted = true;
        Events {
            core: std::mem::replace(&mut self.core, core),
        }
    }

    /// Waits for the next value; `None` when the stream ended (app stopping). The previous value
    /// is done (acknowledged) as this is called.
    pub async fn next(&mut self) -> Option<H::Value> {
        futures::StreamExt::next(self).await
    }

    /// Acknowledges the current event now instead of when the next one is asked for.
    pub fn ack(&mut self) {
        self.core.finish_current();
    }
}

impl<H: Channel> Events<H> {
    /// Buffers up to `max` events at a time; see [`Stream::take`].
    pub fn take(
        mut self,
        max: usize,
        within: std::time::Duration,
    ) -> crate::operators::Batches<H, Event<H::Key, H::Value>> {
        let mut empty = Core::new(Source::Failed(None), self.core.name);
        empty.exhausted = true;
        let core = std::mem::replace(&mut self.core, empty);
        crate::operators::Batches::new(core, max, within, true, |e| e)
    }

    /// The topic or channel name.
    pub fn name(&self) -> &'static str {
        self.core.name
    }

    /// Waits for the next event; `None` when the stream ended. The previous event is done once
    /// this is called and the previous event is dropped.
    pub async fn next(&mut self) -> Option<Event<H::Key, H::Value>> {
        futures::StreamExt::next(self).await
    }

    /// Gives up the stream's own hold on the current event now (the event itself still holds
    /// its offset until it is dropped or [`Event::ack`]ed).
    pub fn ack(&mut self) {
        self.core.finish_current();
    }

    /// The same stream without automatic acknowledgement (Faust's `stream.noack()`): an event
    /// is done only once [`Event::ack`] is called on it (and what was sent while processing it
    /// is delivered). An event dropped unacknowledged is never committed, so neither is
    /// anything after it in its partition: the next owner reads it again.
    pub fn noack(mut self) -> Self {
        self.core.noack = true;
        self
    }
}

impl<H: Channel> futures::Stream for Stream<H> {
    type Item = H::Value;
    #[inline]
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<H::Value>> {
        // Core is Unpin (no self-references), so this is sound without pinning projections.
        let this = self.get_mut();
        if let Some(h) = &this.core.headers {
            // Values only from here on: the subscriber stops copying headers.
            h.set(false);
        }
        this.core.poll_event(cx, false).map(|o| o.map(|e| e.value))
    }
}

impl<H: Channel> futures::Stream for Events<H> {
    type Item = Event<H::Key, H::Value>;
    #[inline]
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().core.poll_event(cx, true)
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
// Topic subscribers: hand each record to the agent's queue as bytes (shared with the embedded
// broker, copied out of librdkafka's buffers), decoded in the agent's own task: decoding runs in
// parallel over the agents and instances, and what it allocates is freed on the thread that
// allocated it.

/// Largest batch handed to a stream in one queue operation.
const MAX_BATCH: usize = 64;

/// Batch size and queue depth for a stream buffer of about `buffer` events.
fn batch_shape(buffer: usize) -> (usize, usize) {
    let buffer = buffer.max(1);
    let batch = buffer.min(MAX_BATCH);
    (batch, (buffer / batch).max(1))
}

struct TopicSubscriber<K, V> {
    /// Index of its topic among the stream's (a handle covering several).
    topic: u16,
    /// The agent's queue; `None` once closed.
    tx: Option<BatchTx<K, V>>,
    /// The batch being filled.
    pending: Vec<Encoded>,
    batch: usize,
    decoder: Arc<Decoder<K, V>>,
    /// Every reader of the queue is gone: this agent's share of each record is done at once.
    ended: bool,
    /// Where records borrowed from a client library are copied to: many share one allocation
    /// (freed once the last of them is decoded), instead of two per record.
    arena: crate::arena::Arena,
}

impl<K, V> TopicSubscriber<K, V>
where
    K: DeserializeOwned + Send + 'static,
    V: DeserializeOwned + Send + 'static,
{
    fn new(tx: BatchTx<K, V>, batch: usize, decoder: Arc<Decoder<K, V>>) -> Self {
        TopicSubscriber {
            topic: 0,
            tx: Some(tx),
            pending: Vec::new(),
            batch,
            decoder,
            ended: false,
            arena: crate::arena::Arena::default(),
        }
    }

    /// Hands the batches to the stream.
    fn send_batch(&mut self) -> Deliver {
        if self.pending.is_empty() {
            return Deliver::Sent;
        }
        let batch = Batch(
            std::mem::replace(&mut self.pending, Vec::with_capacity(self.batch)),
            PhantomData,
        );
        use tokio::sync::mpsc::error::TrySendError as OneError;
        // A closed queue means the agent ended: its events are abandoned with the batch.
        let full = match &self.tx {
            None => return Deliver::Sent,
            Some(BatchTx::One(tx)) => match tx.try_send(batch) {
                Ok(()) => return Deliver::Sent,
                Err(OneError::Full(b)) => b,
                Err(OneError::Closed(b)) => {
                    self.end(b);
                    return Deliver::Sent;
                }
            },
            Some(BatchTx::Shared(tx)) => match tx.try_send(batch) {
                Ok(()) => return Deliver::Sent,
                Err(async_channel::TrySendError::Full(b)) => b,
                Err(async_channel::TrySendError::Closed(b)) => {
                    self.end(b);
                    return Deliver::Sent;
                }
            },
        };
        match &self.tx {
            Some(BatchTx::One(tx)) => {
                let tx = tx.clone();
                Deliver::Wait(Box::pin(async move {
                    let _ = tx.send(full).await;
                    Ok(())
                }))
            }
            Some(BatchTx::Shared(tx)) => {
                let tx = tx.clone();
                Deliver::Wait(Box::pin(async move {
                    let _ = tx.send(full).await;
                    Ok(())
                }))
            }
            None => Deliver::Sent,
        }
    }

    #[cold]
    fn end(&mut self, batch: Batch<K, V>) {
        if !self.ended {
            tracing::warn!(
                agent = self.decoder.agent,
                topic = self.decoder.topic,
                "the agent no longer reads its stream; its share of further records counts as done"
            );
            self.ended = true;
        }
        for e in batch.0 {
            if let Some(a) = e.ack {
                drop(a.start());
            }
        }
    }
}

impl<K, V> Subscriber for TopicSubscriber<K, V>
where
    K: DeserializeOwned + Send + 'static,
    V: DeserializeOwned + Send + 'static,
{
    #[inline]
    fn deliver(&mut self, msg: &RawMessage<'_>, ack: Ack) -> Deliver {
        if self.ended {
            return Deliver::Sent;
        }
        // Headers travel when the agent reads them, or a dead-letter copy may need them.
        let headers_too =
            self.decoder.wants_headers() || self.decoder.policy == ErrorPolicy::DeadLetter;
        let record = match msg.shared {
            Some(shared) => SharedRecord {
                key: shared.key.clone(),
                value: shared.value.clone(),
                headers: if headers_too {
                    shared.headers.clone()
                } else {
                    Vec::new()
                },
            },
            // Borrowed from a client library: copied, so that decoding (and freeing what it
            // allocates) happens on the agent's thread.
            None => SharedRecord {
                key: msg.key.map(|k| self.arena.copy(k)),
                value: msg.value.map(|v| self.arena.copy(v)),
                headers: match msg.headers {
                    Some(h) if headers_too => h.to_headers(),
                    _ => Vec::new(),
                },
            },
        };
        self.pending.push(Encoded {
            record,
            partition: msg.partition,
            offset: msg.offset,
            timestamp: msg.timestamp,
            topic: self.topic,
            ack: Some(Queued::new(ack)),
        });
        let full = self.pending.len() >= self.batch;
        if full {
            self.send_batch()
        } else {
            Deliver::Sent
        }
    }

    fn flush(&mut self) -> Deliver {
        self.send_batch()
    }

    fn purge(&mut self) {
        self.pending
            .retain(|d| !d.ack.as_ref().is_some_and(Queued::is_stale));
    }

    fn close(&mut self) {
        self.pending.clear();
        // The streams see their end once they emptied their queues.
        if let Some(BatchTx::Shared(tx)) = self.tx.take() {
            tx.close();
        }
    }
}

/// Subscribes `instances` streams of agent `agent` to topic `T` (generated code calls this).
/// The instances share the stream, as Faust's concurrent agents do: each batch of events goes to
/// the next instance whose queue has room.
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
    let app = ctx.app().clone();
    let spec = app.resolve_topic(T::spec());
    let values_only = ctx.values_only();
    if spec.pattern {
        let pattern = crate::pattern::Pattern::new(spec.name)?;
        let (factory, sources) =
            pattern_queues::<T::Key, T::Value>(&app, spec, agent.name, values_only, instances)?;
        ctx.add_pattern(pattern, Box::new(factory));
        return Ok(streams_of::<T>(&app, spec, agent, values_only, sources));
    }
    let (subs, sources) =
        topic_queues::<T::Key, T::Value>(&app, spec, agent.name, values_only, instances)?;
    for (name, sub) in subs {
        ctx.add_subscriber(name, sub);
    }
    Ok(streams_of::<T>(&app, spec, agent, values_only, sources))
}

/// The agent's streams over its sources.
#[allow(clippy::type_complexity)]
fn streams_of<T: Channel>(
    app: &App,
    spec: &'static TopicSpec,
    agent: &'static AgentSpec,
    values_only: bool,
    sources: Vec<(TopicSource<T::Key, T::Value>, Option<HeadersWanted>)>,
) -> Vec<Stream<T>> {
    sources
        .into_iter()
        .map(|(source, headers)| {
            let mut s = Stream::<T>::with_source(Source::Topic(source), spec.name);
            s.core.values_only = values_only;
            s.core.headers = headers;
            s.core.probe = app.observe().stream_probe(agent.name, spec.name);
            s.core.app = Some(app.clone());
            s
        })
        .collect()
}

/// Makes the subscribers of the topics a pattern matches, for one agent: each topic gets its
/// decoder (numbered in the order topics are matched) and a subscriber feeding the agent's
/// one queue.
struct PatternSubscribers<K, V> {
    /// `None` once the driver stopped (the agent's stream may then end).
    tx: Option<BatchTx<K, V>>,
    batch: usize,
    /// The decoder every matched topic's is made from.
    template: Decoder<K, V>,
    decoders: SharedDecoders<K, V>,
}

impl<K, V> crate::pattern::SubscriberFactory for PatternSubscribers<K, V>
where
    K: DeserializeOwned + Send + 'static,
    V: DeserializeOwned + Send + 'static,
{
    fn make(&mut self, topic: &'static str) -> Box<dyn Subscriber> {
        let decoder = Arc::new(self.template.clone().for_topic(topic));
        let mut decoders = self.decoders.lock().unwrap_or_else(|p| p.into_inner());
        let index = decoders.len();
        decoders.push(decoder.clone() as Arc<dyn DecodeShared<K, V>>);
        drop(decoders);
        let Some(tx) = self.tx.clone() else {
            return Box::new(Ended);
        };
        let Ok(index) = u16::try_from(index) else {
            tracing::error!(
                agent = self.template.agent,
                topic,
                "a pattern matched more than {} topics; this one is not read",
                u16::MAX
            );
            return Box::new(Ended);
        };
        let mut sub = TopicSubscriber::<K, V>::new(tx, self.batch, decoder);
        sub.topic = index;
        Box::new(sub)
    }

    fn close(&mut self) {
        self.tx = None;
    }
}

/// The subscriber of a topic no agent reads any more: its share of each record is done.
struct Ended;

impl Subscriber for Ended {
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

/// The subscriber factory of agent `agent` on pattern topic `spec` and the sources of its
/// `instances` streams.
#[allow(clippy::type_complexity)]
fn pattern_queues<K, V>(
    app: &App,
    spec: &'static TopicSpec,
    agent: &'static str,
    values_only: bool,
    instances: usize,
) -> Result<(
    PatternSubscribers<K, V>,
    Vec<(TopicSource<K, V>, Option<HeadersWanted>)>,
)>
where
    K: DeserializeOwned + Send + 'static,
    V: DeserializeOwned + Send + 'static,
{
    let buffer = spec
        .declared_maxsize()
        .unwrap_or(app.settings().stream_buffer_maxsize)
        .max(1);
    let (batch, depth) = batch_shape(buffer);
    let template = Decoder::<K, V>::new(
        Arc::new(spec.codecs()?.clone()),
        spec,
        agent,
        app.error_policy_of(spec),
        app.clone(),
        values_only,
    );
    let headers = template.headers.clone();
    let decoders: SharedDecoders<K, V> = Arc::new(Mutex::new(Vec::new()));
    let (tx, rxs) = batch_queues(depth, instances.max(1));
    let sources = rxs
        .into_iter()
        .map(|rx| {
            let mut source = TopicSource::of_topics(rx, Vec::new());
            source.matched = Some(decoders.clone());
            (source, values_only.then(|| headers.clone()))
        })
        .collect();
    Ok((
        PatternSubscribers {
            tx: Some(tx),
            batch,
            template,
            decoders,
        },
        sources,
    ))
}

/// The subscribers of agent `agent` to topic `spec` (one per topic name of a handle covering
/// several) and the sources of its `instances` streams (with each one's switch of header
/// copying when it reads values only).
#[allow(clippy::type_complexity)]
pub(crate) fn topic_queues<K, V>(
    app: &App,
    spec: &'static TopicSpec,
    agent: &'static str,
    values_only: bool,
    instances: usize,
) -> Result<(
    Vec<(&'static str, Box<dyn Subscriber>)>,
    Vec<(TopicSource<K, V>, Option<HeadersWanted>)>,
)>
where
    K: DeserializeOwned + Send + 'static,
    V: DeserializeOwned + Send + 'static,
{
    let buffer = spec
        .declared_maxsize()
        .unwrap_or(app.settings().stream_buffer_maxsize)
        .max(1);
    let (batch, depth) = batch_shape(buffer);
    let names = spec.topic_names();
    if names.len() > usize::from(u16::MAX) {
        return Err(Error::config(format!(
            "topic handle {} covers {} topics; at most {} are supported",
            spec.type_name,
            names.len(),
            u16::MAX
        )));
    }
    let codecs = Arc::new(spec.codecs()?.clone());
    let first = Decoder::<K, V>::new(
        codecs.clone(),
        spec,
        agent,
        app.error_policy_of(spec),
        app.clone(),
        values_only,
    );
    let headers = first.headers.clone();
    let decoders: Vec<Arc<Decoder<K, V>>> = names
        .iter()
        .map(|name| {
            let mut d = Decoder::<K, V>::new(
                codecs.clone(),
                spec,
                agent,
                app.error_policy_of(spec),
                app.clone(),
                values_only,
            )
            .for_topic(name);
            d.headers = headers.clone();
            Arc::new(d)
        })
        .collect();
    let (tx, rxs) = batch_queues(depth, instances.max(1));
    let sources = rxs
        .into_iter()
        .map(|rx| {
            let ds: Vec<Arc<dyn DecodeShared<K, V>>> = decoders
                .iter()
                .map(|d| d.clone() as Arc<dyn DecodeShared<K, V>>)
                .collect();
            (
                TopicSource::of_topics(rx, ds),
                values_only.then(|| headers.clone()),
            )
        })
        .collect();
    let subscribers = names
        .iter()
        .zip(decoders)
        .enumerate()
        .map(|(i, (name, decoder))| {
            let mut sub = TopicSubscriber::<K, V>::new(tx.clone(), batch, decoder);
            sub.topic = i as u16;
            (*name, Box::new(sub) as Box<dyn Subscriber>)
        })
        .collect();
    Ok((subscribers, sources))
}

/// Makes the stream and subscriber of each partition of an isolated agent on topic `T`
/// ([`crate::isolated`]); they share one decoder.
pub(crate) struct PartitionStreams<T: Topic> {
    app: App,
    decoder: Arc<Decoder<T::Key, T::Value>>,
    batch: usize,
    depth: usize,
    values_only: bool,
}

impl<T> PartitionStreams<T>
where
    T: Topic,
    T::Key: Serialize + DeserializeOwned,
    T::Value: Serialize + DeserializeOwned,
{
    pub(crate) fn new(ctx: &SubscribeCtx<'_>, agent: &'static AgentSpec) -> Result<Self> {
        let app = ctx.app().clone();
        let spec = app.resolve_topic(T::spec());
        let buffer = spec
            .declared_maxsize()
            .unwrap_or(app.settings().stream_buffer_maxsize)
            .max(1);
        let (batch, depth) = batch_shape(buffer);
        let values_only = ctx.values_only();
        let decoder = Arc::new(Decoder::<T::Key, T::Value>::new(
            Arc::new(spec.codecs()?.clone()),
            spec,
            agent.name,
            app.error_policy_of(spec),
            app.clone(),
            values_only,
        ));
        Ok(PartitionStreams {
            app,
            decoder,
            batch,
            depth,
            values_only,
        })
    }

    /// The subscriber and the stream of one partition's instance.
    pub(crate) fn make(&self) -> (Box<dyn Subscriber>, Stream<T>) {
        let (tx, mut rxs) = batch_queues(self.depth, 1);
        let rx = rxs.pop().expect("one queue");
        let mut s = Stream::<T>::with_source(
            Source::Topic(TopicSource::new(rx, self.decoder.clone())),
            self.app.resolve_topic(T::spec()).name,
        );
        s.core.values_only = self.values_only;
        s.core.headers = self.values_only.then(|| self.decoder.headers.clone());
        s.core.app = Some(self.app.clone());
        let sub = TopicSubscriber::<T::Key, T::Value>::new(tx, self.batch, self.decoder.clone());
        (Box::new(sub), s)
    }
}

/// Subscribes `instances` streams of agent `agent` to channel `C` (generated code calls this).
pub fn subscribe_channel<C: Channel>(
    ctx: &mut SubscribeCtx<'_>,
    agent: &'static AgentSpec,
    instances: usize,
) -> Result<Vec<Stream<C>>> {
    let queue = ctx.app().channel_queue::<C>()?;
    let name = C::__source().name();
    Ok((0..instances.max(1))
        .map(|_| {
            let mut s = Stream::<C>::from_channel(&queue, name);
            s.core.probe = ctx.app().observe().stream_probe(agent.name, name);
            s.core.app = Some(ctx.app().clone());
            s
        })
        .collect())
}

/// Stops a reader's consumer when its stream is dropped.
pub(crate) struct ReaderGuard {
    stop: tokio::sync::watch::Sender<Option<tokio::time::Instant>>,
}

impl Drop for ReaderGuard {
    fn drop(&mut self) {
        let _ = self.stop.send(Some(
            tokio::time::Instant::now() + std::time::Duration::from_millis(10),
        ));
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
    let (batch, depth) = batch_shape(app.settings().stream_buffer_maxsize);
    let (tx, mut rxs) = batch_queues(depth, 1);
    let policy = match app.error_policy_of(spec) {
        ErrorPolicy::DeadLetter => ErrorPolicy::Skip,
        other => other,
    };
    let decoder = Arc::new(Decoder::<H::Key, H::Value>::new(
        codecs,
        spec,
        "<reader>",
        policy,
        app.clone(),
        false,
    ));
    let sub = TopicSubscriber::<H::Key, H::Value>::new(tx, batch, decoder.clone());
    let Some(rx) = rxs.pop() else {
        return Stream::failed(Error::state("no reader queue"));
    };
    match app.spawn_reader(spec.name, Box::new(sub)) {
        Ok(stop) => {
            let mut s =
                Stream::<H>::with_source(Source::Topic(TopicSource::new(rx, decoder)), spec.name);
            s.core.app = Some(app.clone());
            s.core._guard = Some(ReaderGuard { stop });
            s
        }
        Err(e) => Stream::failed(e),
    }
}
