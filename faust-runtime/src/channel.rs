//! Channels: in-process, typed, bounded queues declared with `#[channel]` (Faust's `ChannelT`).
//! No broker and no serialization: values move from sender to agent as they are. Every agent
//! reading a channel takes from the same queue, so each value reaches exactly one reader.

use crate::agent::AgentSpec;
use crate::app::App;
use crate::engine::Queued;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::stream::Delivery;
use crate::topic::TopicSpec;
use crate::transport::{DeliveryHandle, Headers, RecordMetadata};
use bytes::Bytes;
use std::any::Any;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

/// Default queue size of a channel (Faust's `stream_buffer_maxsize`).
pub const DEFAULT_CHANNEL_MAXSIZE: usize = 4096;

/// Where an agent reads from.
#[derive(Clone, Copy, Debug)]
pub enum SourceRef {
    /// A Kafka (or embedded broker) topic.
    Topic(&'static TopicSpec),
    /// An in-process channel.
    Channel(&'static ChannelSpec),
}

impl SourceRef {
    /// The topic or channel name.
    pub fn name(&self) -> &'static str {
        match self {
            SourceRef::Topic(t) => t.name,
            SourceRef::Channel(c) => c.name,
        }
    }
}

/// The static declaration behind a `#[channel]` struct.
pub struct ChannelSpec {
    /// Channel name (defaults to the struct's name).
    pub name: &'static str,
    /// Rust path of the handle type.
    pub type_name: &'static str,
    /// Module that declared it.
    pub module: &'static str,
    /// The key type's name (`std::any::type_name`); read it with [`ChannelSpec::key_type`].
    #[doc(hidden)]
    pub __key_type: fn() -> &'static str,
    /// The value type's name; read it with [`ChannelSpec::value_type`].
    #[doc(hidden)]
    pub __value_type: fn() -> &'static str,
    /// Queue size; senders wait when it is full.
    pub maxsize: Option<usize>,
}

impl ChannelSpec {
    /// A spec with optional fields unset, for `..ChannelSpec::DEFAULT` in generated code.
    pub const DEFAULT: ChannelSpec = ChannelSpec {
        name: "",
        type_name: "",
        module: "",
        __key_type: crate::topic::undeclared_type,
        __value_type: crate::topic::undeclared_type,
        maxsize: None,
    };

    /// The key type, as Rust names it (`()` for a channel that declares none).
    pub fn key_type(&self) -> &'static str {
        (self.__key_type)()
    }

    /// The value type, as Rust names it.
    pub fn value_type(&self) -> &'static str {
        (self.__value_type)()
    }

    /// Effective queue size.
    pub fn effective_maxsize(&self) -> usize {
        self.maxsize.unwrap_or(DEFAULT_CHANNEL_MAXSIZE).max(1)
    }
}

impl fmt::Debug for ChannelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelSpec")
            .field("name", &self.name)
            .field("type", &self.type_name)
            .field("key_type", &self.key_type())
            .field("value_type", &self.value_type())
            .field("maxsize", &self.effective_maxsize())
            .finish_non_exhaustive()
    }
}

/// Anything an agent can read: a channel, or a topic (Faust's `ChannelT`, base of `TopicT`).
/// Implemented by `#[channel]` and `#[topic]`; not meant to be implemented by hand.
///
/// Its methods tell what Faust's `ChannelT` tells (`name`, `key_type`, `value_type`,
/// `maxsize`), for generic code over topics and channels:
///
/// ```
/// use faust_runtime::prelude::*;
///
/// struct Notification { text: String }
///
/// #[channel(value = Notification, maxsize = 100)]
/// struct Notifications;
///
/// fn describe<C: Channel>(channel: &C) -> String {
///     format!("{} ({} -> {}, maxsize {})",
///         channel.name(), channel.key_type(), channel.value_type(), channel.maxsize())
/// }
///
/// assert_eq!(
///     describe(&Notifications),
///     format!("Notifications (() -> {}, maxsize 100)", std::any::type_name::<Notification>())
/// );
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a topic or channel",
    label = "declare it with #[topic(..)] or #[channel(..)]",
    note = "agents read the unit struct a #[topic] or #[channel] attribute is put on, not the value type"
)]
pub trait Channel: Send + Sync + 'static {
    /// Key type (`()` for channels that declare none).
    type Key: Send + 'static;
    /// Value type.
    type Value: Send + 'static;

    /// The channel's or topic's name.
    fn name(&self) -> &'static str {
        Self::__source().name()
    }

    /// The key type, as Rust names it (`alloc::string::String`; Faust's `key_type`).
    fn key_type(&self) -> &'static str {
        std::any::type_name::<Self::Key>()
    }

    /// The value type, as Rust names it (Faust's `value_type`).
    fn value_type(&self) -> &'static str {
        std::any::type_name::<Self::Value>()
    }

    /// The queue size of a channel (senders wait while it is full); for a topic, the buffer of
    /// each agent stream reading it: declared, else the current app's `stream_buffer_maxsize`
    /// (Faust's `maxsize`).
    fn maxsize(&self) -> usize {
        match Self::__source() {
            SourceRef::Channel(c) => c.effective_maxsize(),
            SourceRef::Topic(t) => t.declared_maxsize().unwrap_or_else(|| {
                App::current()
                    .map(|a| a.settings().stream_buffer_maxsize)
                    .unwrap_or(crate::settings::DEFAULT_STREAM_BUFFER_MAXSIZE)
            }),
        }
    }

    #[doc(hidden)]
    fn __source() -> SourceRef;

    #[doc(hidden)]
    fn __subscribe(
        ctx: &mut crate::agent::SubscribeCtx<'_>,
        agent: &'static AgentSpec,
        instances: usize,
    ) -> Result<Vec<crate::stream::Stream<Self>>>
    where
        Self: Sized;
}

pub(crate) use crate::channel_queue::ChannelQueue;

/// Where a value put on a channel landed.
fn meta_of<K, V>(event: &Event<K, V>) -> RecordMetadata {
    RecordMetadata {
        topic: std::borrow::Cow::Borrowed(event.topic),
        partition: 0,
        offset: -1,
        timestamp: event.timestamp,
    }
}

/// Puts `event` on `api`'s channel, waiting while it is full.
async fn put<C: Channel>(
    api: &ChannelApi<C>,
    event: Event<C::Key, C::Value>,
) -> Result<RecordMetadata> {
    let mut found = None;
    let queue = api.queue(&mut found)?;
    let meta = meta_of(&event);
    let name = event.topic;
    // Room in the queue (the common case): no send future, no listener.
    let d = match queue.tx.try_send(delivery(event)) {
        Ok(()) => return Ok(meta),
        Err(async_channel::TrySendError::Closed(_)) => return Err(Error::Closed(name.to_string())),
        Err(async_channel::TrySendError::Full(d)) => d,
    };
    crate::channel_queue::put(&queue.tx, &queue.room, d)
        .await
        .map_err(|_| Error::Closed(name.to_string()))?;
    Ok(meta)
}

fn delivery<K, V>(event: Event<K, V>) -> Delivery<K, V> {
    Delivery {
        event,
        raw: None,
        ack: crate::engine::context::attach().map(Queued::child),
        reply: None,
    }
}

/// The typed handle of a channel: what `Notifications.send(..)` reaches through `Deref`.
pub struct ChannelApi<C: 'static> {
    app: Option<App>,
    /// The bound app's queue of this channel (a `ChannelQueue<C::Key, C::Value>`), looked up
    /// once by [`ChannelApi::on`] instead of on every send.
    queue: Option<Arc<dyn Any + Send + Sync>>,
    /// The declaration of a channel defined at runtime (`None`: `C`'s own).
    spec: Option<&'static ChannelSpec>,
    _c: PhantomData<fn() -> C>,
}

impl<C: 'static> ChannelApi<C> {
    /// A handle that finds its app at call time.
    pub const UNBOUND: Self = ChannelApi {
        app: None,
        queue: None,
        spec: None,
        _c: PhantomData,
    };
}

impl<C: 'static> Clone for ChannelApi<C> {
    fn clone(&self) -> Self {
        ChannelApi {
            app: self.app.clone(),
            queue: self.queue.clone(),
            spec: self.spec,
            _c: PhantomData,
        }
    }
}

impl<C: Channel> ChannelApi<C> {
    fn app(&self) -> Result<App> {
        match &self.app {
            Some(a) => Ok(a.clone()),
            None => App::current(),
        }
    }

    /// A handle on a queue of its own (a channel defined at runtime, [`crate::DynChannel`]).
    pub(crate) fn with_queue(
        app: App,
        queue: Arc<ChannelQueue<C::Key, C::Value>>,
        spec: &'static ChannelSpec,
    ) -> Self {
        ChannelApi {
            app: Some(app),
            queue: Some(queue),
            spec: Some(spec),
            _c: PhantomData,
        }
    }

    /// The channel's declaration.
    pub fn spec(&self) -> &'static ChannelSpec {
        if let Some(spec) = self.spec {
            return spec;
        }
        match C::__source() {
            SourceRef::Channel(c) => c,
            // Generated code gives channels a channel source; a hand-written impl that does not
            // gets a placeholder spec rather than a panic.
            SourceRef::Topic(_) => &MISDECLARED,
        }
    }

    /// The cached queue of a bound handle, if it was found when binding.
    #[inline]
    fn cached_queue(&self) -> Option<&ChannelQueue<C::Key, C::Value>> {
        self.queue.as_deref().and_then(|q| q.downcast_ref())
    }

    /// The channel's queue: the cached one of a bound handle, else the app's, kept in `found`
    /// (no reference count taken for a bound handle).
    fn queue<'a>(
        &'a self,
        found: &'a mut Option<Arc<ChannelQueue<C::Key, C::Value>>>,
    ) -> Result<&'a ChannelQueue<C::Key, C::Value>> {
        if let Some(q) = self.cached_queue() {
            return Ok(q);
        }
        Ok(&**found.insert(self.app()?.channel_queue::<C>()?))
    }

    /// This handle bound to `app`.
    pub fn on(&self, app: &App) -> ChannelApi<C> {
        ChannelApi {
            app: Some(app.clone()),
            queue: app
                .channel_queue::<C>()
                .ok()
                .map(|q| q as Arc<dyn Any + Send + Sync>),
            spec: None,
            _c: PhantomData,
        }
    }

    /// The channel's name.
    pub fn name(&self) -> &'static str {
        self.spec().name
    }

    /// The queue size.
    pub fn maxsize(&self) -> usize {
        self.spec().effective_maxsize()
    }

    /// The key type, as Rust names it (`()` for a channel that declares none).
    pub fn key_type(&self) -> &'static str {
        std::any::type_name::<C::Key>()
    }

    /// The value type, as Rust names it.
    pub fn value_type(&self) -> &'static str {
        std::any::type_name::<C::Value>()
    }

    /// Starts building a value with a key, headers or timestamp.
    pub fn record(&self, value: C::Value) -> ChannelRecord<C> {
        ChannelRecord {
            api: self.clone(),
            event: self.event(value),
        }
    }

    /// The event `value` travels in.
    #[inline]
    fn event(&self, value: C::Value) -> Event<C::Key, C::Value> {
        Event {
            key: None,
            value,
            headers: Vec::new(),
            topic: self.spec().name,
            partition: 0,
            offset: -1,
            timestamp: now_millis(),
            ack: None,
        }
    }

    /// Puts `value` on the channel, waiting while the channel is full.
    pub async fn send(&self, value: C::Value) -> Result<RecordMetadata> {
        // Straight from the handle: no copy of it per value, as a `ChannelRecord` would make.
        put(self, self.event(value)).await
    }

    /// Puts `value` on the channel without waiting; if the channel is full the value is handed
    /// to a background task that waits for room. The handle resolves once it is queued.
    pub fn send_soon(&self, value: C::Value) -> Result<DeliveryHandle> {
        self.record(value).send_soon()
    }

    /// Reads values from the channel outside of an agent (competing with its agents).
    pub fn stream(&self) -> crate::Stream<C> {
        if let Some(q) = self.cached_queue() {
            return crate::Stream::from_channel(q, self.spec().name);
        }
        match self.app().and_then(|app| app.channel_queue::<C>()) {
            Ok(q) => crate::Stream::from_channel(&q, self.spec().name),
            Err(e) => crate::Stream::failed(e),
        }
    }

    /// Like [`ChannelApi::stream`], yielding whole events.
    pub fn events(&self) -> crate::Events<C> {
        self.stream().events()
    }
}

/// A value about to be put on a channel, with its optional key, headers and timestamp.
#[must_use = "nothing is sent until .send() or .send_soon() is called"]
pub struct ChannelRecord<C: Channel> {
    api: ChannelApi<C>,
    event: Event<C::Key, C::Value>,
}

impl<C: Channel> ChannelRecord<C> {
    /// The key.
    pub fn key(mut self, key: impl Into<C::Key>) -> Self {
        self.event.key = Some(key.into());
        self
    }
    /// Adds a header.
    pub fn header(mut self, key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.event.headers.push((key.into(), Some(value.into())));
        self
    }
    /// Replaces the headers.
    pub fn headers(mut self, headers: Headers) -> Self {
        self.event.headers = headers;
        self
    }
    /// Timestamp in milliseconds since the epoch.
    pub fn timestamp(mut self, millis: i64) -> Self {
        self.event.timestamp = millis;
        self
    }

    /// Puts the value on the channel, waiting while it is full.
    pub async fn send(self) -> Result<RecordMetadata> {
        put(&self.api, self.event).await
    }

    /// Puts the value on the channel without waiting (see [`ChannelApi::send_soon`]).
    pub fn send_soon(self) -> Result<DeliveryHandle> {
        let mut found = None;
        let queue = self.api.queue(&mut found)?;
        let meta = meta_of(&self.event);
        let name = self.event.topic;
        match queue.tx.try_send(delivery(self.event)) {
            Ok(()) => Ok(DeliveryHandle::ready(Ok(meta))),
            Err(async_channel::TrySendError::Closed(_)) => Err(Error::Closed(name.to_string())),
            Err(async_channel::TrySendError::Full(ev)) => {
                let (tx, room) = (queue.tx.clone(), queue.room.clone());
                let task =
                    tokio::spawn(
                        async move { crate::channel_queue::put(&tx, &room, ev).await.is_ok() },
                    );
                Ok(DeliveryHandle::pending(async move {
                    match task.await {
                        Ok(true) => Ok(meta),
                        _ => Err(Error::Closed(name.to_string())),
                    }
                }))
            }
        }
    }
}

impl<C: Channel> fmt::Debug for ChannelApi<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChannelApi({})", std::any::type_name::<C>())
    }
}

/// The spec reported for a hand-written `Channel` impl whose source is not a channel.
static MISDECLARED: ChannelSpec = ChannelSpec {
    name: "<misdeclared channel>",
    ..ChannelSpec::DEFAULT
};

pub(crate) use crate::transport::now_millis;
