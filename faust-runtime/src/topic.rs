//! Topics: the `#[topic]` declaration, the [`Topic`] trait (Faust's `TopicT`) and the typed handle
//! ([`TopicApi`]) that `Orders.send(..)`, `Orders.send_soon(..)`, `Orders.record(..)` reach.

use crate::app::App;
use crate::channel::Channel;
use crate::codec::Serializer;
use crate::error::{Error, Result};
use crate::partitioner;
pub use crate::transport::{Acks, DeliveryGuarantee};
use crate::transport::{DeliveryHandle, Headers, OutgoingRecord, RecordMetadata};
use bytes::Bytes;
use serde::{de::DeserializeOwned, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What happens to a record whose key or value does not decode, or on which an agent failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorPolicy {
    /// Log it with topic, partition, offset and an excerpt of the bytes, count it, commit past it.
    #[default]
    Skip,
    /// Forward the original bytes and headers, plus error headers, to the dead-letter topic
    /// (`{topic}-dlq` unless named), then commit past it.
    DeadLetter,
    /// Stop the worker with an error naming the offset; nothing past it is committed.
    Stop,
}

impl ErrorPolicy {
    /// Parses `skip`, `dead_letter` or `stop`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "skip" => Ok(ErrorPolicy::Skip),
            "dead_letter" | "dead-letter" | "dlq" => Ok(ErrorPolicy::DeadLetter),
            "stop" => Ok(ErrorPolicy::Stop),
            other => Err(Error::config(format!(
                "unknown error policy '{other}' (expected skip, dead_letter or stop)"
            ))),
        }
    }
}

/// The static declaration behind a `#[topic]` struct. Fields left `None` inherit from `root`,
/// then from the app's settings.
pub struct TopicSpec {
    /// Kafka topic name (the first one for a handle covering several).
    pub name: &'static str,
    /// Every topic name of a handle covering several (`#[topic(names = ["a", "b"])]`, Faust's
    /// `app.topic("a", "b")`); empty for a handle of one topic, `name`. Agents read them all (in
    /// order within each partition); such a handle cannot be sent to.
    pub names: &'static [&'static str],
    /// Rust path of the handle type (for messages).
    pub type_name: &'static str,
    /// Module that declared it.
    pub module: &'static str,
    /// The key type's name (`std::any::type_name`); read it with [`TopicSpec::key_type`].
    #[doc(hidden)]
    pub __key_type: fn() -> &'static str,
    /// The value type's name; read it with [`TopicSpec::value_type`].
    #[doc(hidden)]
    pub __value_type: fn() -> &'static str,
    /// Partition count (of each topic, for a handle covering several).
    pub partitions: Option<i32>,
    /// Replication factor.
    pub replicas: Option<i16>,
    /// `retention.ms`.
    pub retention: Option<Duration>,
    /// `cleanup.policy` includes `compact`.
    pub compacting: Option<bool>,
    /// `cleanup.policy` includes `delete`.
    pub deleting: Option<bool>,
    /// Producer acknowledgements.
    pub acks: Option<Acks>,
    /// Producer delivery guarantee.
    pub delivery_guarantee: Option<DeliveryGuarantee>,
    /// Buffer size of each agent's stream on this topic.
    pub maxsize: Option<usize>,
    /// Extra broker-side topic configuration.
    pub config: &'static [(&'static str, &'static str)],
    /// Key serializer chain (default `raw`).
    pub key_serializer: Option<&'static str>,
    /// Value serializer chain (default `json`, `raw` for string and byte types).
    pub value_serializer: Option<&'static str>,
    /// Policy for undecodable records and failed agents.
    pub on_error: Option<ErrorPolicy>,
    /// Dead-letter topic name (default `{name}-dlq`).
    pub dead_letter: Option<&'static str>,
    /// The topic this one derives its settings from.
    pub root: Option<fn() -> &'static TopicSpec>,
    #[doc(hidden)]
    pub __codecs: CodecCache,
}

/// Where a topic keeps its resolved serializers (resolved once, then shared for the process).
/// A plain atomic pointer so that specs can be built in `static` items.
#[doc(hidden)]
pub struct CodecCache(AtomicPtr<TopicCodecs>);

impl CodecCache {
    /// An empty cache.
    pub const fn new() -> Self {
        CodecCache(AtomicPtr::new(std::ptr::null_mut()))
    }

    fn get(&self) -> Option<&'static TopicCodecs> {
        let p = self.0.load(Ordering::Acquire);
        // SAFETY: non-null pointers stored here come from Box::leak and are never freed.
        (!p.is_null()).then(|| unsafe { &*p })
    }

    fn get_or_set(&self, value: TopicCodecs) -> &'static TopicCodecs {
        let fresh = Box::into_raw(Box::new(value));
        match self.0.compare_exchange(
            std::ptr::null_mut(),
            fresh,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            // SAFETY: `fresh` was just leaked from a Box and is now owned by the cache forever.
            Ok(_) => unsafe { &*fresh },
            Err(existing) => {
                // SAFETY: we lost the race; `fresh` was never shared, so we may free it.
                drop(unsafe { Box::from_raw(fresh) });
                // SAFETY: `existing` is a leaked Box stored by the winner.
                unsafe { &*existing }
            }
        }
    }
}

impl Default for CodecCache {
    fn default() -> Self {
        Self::new()
    }
}

/// The resolved key and value serializers of a topic.
#[derive(Debug, Clone)]
pub struct TopicCodecs {
    /// Key serializer.
    pub key: Serializer,
    /// Value serializer.
    pub value: Serializer,
}

impl TopicSpec {
    /// A spec with every optional field unset, for `..TopicSpec::DEFAULT` in generated code.
    /// Each use is a fresh value (its codec cache starts empty), which is what a `static` spec
    /// built from it needs.
    #[allow(clippy::declare_interior_mutable_const)]
    pub const DEFAULT: TopicSpec = TopicSpec {
        name: "",
        names: &[],
        type_name: "",
        module: "",
        __key_type: undeclared_type,
        __value_type: undeclared_type,
        partitions: None,
        replicas: None,
        retention: None,
        compacting: None,
        deleting: None,
        acks: None,
        delivery_guarantee: None,
        maxsize: None,
        config: &[],
        key_serializer: None,
        value_serializer: None,
        on_error: None,
        dead_letter: None,
        root: None,
        __codecs: CodecCache::new(),
    };

    /// Every topic name the handle covers: `names`, or `name` alone.
    pub fn topic_names(&self) -> &[&'static str] {
        if self.names.is_empty() {
            std::slice::from_ref(&self.name)
        } else {
            self.names
        }
    }

    /// The key type, as Rust names it (`alloc::string::String`), whatever alias the declaration
    /// used (Faust's `topic.key_type`).
    pub fn key_type(&self) -> &'static str {
        (self.__key_type)()
    }

    /// The value type, as Rust names it (`my_app::Order`; Faust's `topic.value_type`).
    pub fn value_type(&self) -> &'static str {
        (self.__value_type)()
    }

    /// The root spec, if derived.
    pub fn root_spec(&self) -> Option<&'static TopicSpec> {
        self.root.map(|f| f())
    }

    fn inherit<T>(&self, f: impl Fn(&TopicSpec) -> Option<T> + Copy) -> Option<T> {
        f(self).or_else(|| self.root_spec().and_then(|r| r.inherit(f)))
    }

    /// Declared partition count (own or root's).
    pub fn declared_partitions(&self) -> Option<i32> {
        self.inherit(|s| s.partitions)
    }
    /// Declared replication factor.
    pub fn declared_replicas(&self) -> Option<i16> {
        self.inherit(|s| s.replicas)
    }
    /// Declared producer acks.
    pub fn declared_acks(&self) -> Option<Acks> {
        self.inherit(|s| s.acks)
    }
    /// Declared delivery guarantee.
    pub fn declared_delivery_guarantee(&self) -> Option<DeliveryGuarantee> {
        self.inherit(|s| s.delivery_guarantee)
    }
    /// Declared stream buffer size.
    pub fn declared_maxsize(&self) -> Option<usize> {
        self.inherit(|s| s.maxsize)
    }
    /// Declared error policy.
    pub fn declared_on_error(&self) -> Option<ErrorPolicy> {
        self.inherit(|s| s.on_error)
    }
    /// Dead-letter topic name.
    pub fn dead_letter_topic(&self) -> String {
        self.inherit(|s| s.dead_letter)
            .map(str::to_string)
            .unwrap_or_else(|| format!("{}-dlq", self.name))
    }
    /// Key serializer name.
    pub fn key_serializer_name(&self) -> &'static str {
        self.inherit(|s| s.key_serializer).unwrap_or("raw")
    }
    /// Value serializer name.
    pub fn value_serializer_name(&self) -> &'static str {
        self.inherit(|s| s.value_serializer).unwrap_or("json")
    }

    /// Broker-side configuration: `retention.ms`, `cleanup.policy` and the `config` pairs (the
    /// root's first, then this topic's, later keys winning).
    pub fn broker_config(&self) -> BTreeMap<String, String> {
        let mut out = self
            .root_spec()
            .map(|r| r.broker_config())
            .unwrap_or_default();
        if let Some(r) = self.inherit(|s| s.retention) {
            out.insert("retention.ms".into(), r.as_millis().to_string());
        }
        let compact = self.inherit(|s| s.compacting);
        let delete = self.inherit(|s| s.deleting);
        if compact.is_some() || delete.is_some() {
            let policy = match (
                compact.unwrap_or(false),
                delete.unwrap_or(!compact.unwrap_or(false)),
            ) {
                (true, true) => Some("compact,delete"),
                (true, false) => Some("compact"),
                (false, true) => Some("delete"),
                (false, false) => None,
            };
            if let Some(p) = policy {
                out.insert("cleanup.policy".into(), p.into());
            }
        }
        for (k, v) in self.config {
            out.insert((*k).to_string(), (*v).to_string());
        }
        out
    }

    /// The topic's serializers, resolved once.
    pub fn codecs(&self) -> Result<&'static TopicCodecs> {
        if let Some(c) = self.__codecs.get() {
            return Ok(c);
        }
        let key = Serializer::resolve(self.key_serializer_name())
            .map_err(|e| Error::config(format!("topic '{}' key_serializer: {e}", self.name)))?;
        let value = Serializer::resolve(self.value_serializer_name())
            .map_err(|e| Error::config(format!("topic '{}' value_serializer: {e}", self.name)))?;
        Ok(self.__codecs.get_or_set(TopicCodecs { key, value }))
    }
}

/// The type name of a spec that declares none (an internal topic carrying raw bytes).
pub(crate) fn undeclared_type() -> &'static str {
    ""
}

impl fmt::Debug for TopicSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TopicSpec")
            .field("name", &self.name)
            .field("type", &self.type_name)
            .field("key_type", &self.key_type())
            .field("value_type", &self.value_type())
            .field("partitions", &self.declared_partitions())
            .finish_non_exhaustive()
    }
}

/// A Kafka topic declared with `#[topic]` (Faust's `TopicT`). Keys and values go through codecs.
///
/// With [`Channel`] (its name, key and value types, buffer size) it tells what Faust's `TopicT`
/// tells, so generic code can work with any topic:
///
/// ```
/// use faust_runtime::prelude::*;
///
/// #[derive(Serialize, Deserialize)]
/// struct Order { id: u64 }
///
/// #[topic(name = "orders", key = String, value = Order, partitions = 8, retention = "7d")]
/// struct Orders;
///
/// fn describe<T: Topic>(topic: &T) -> String {
///     format!(
///         "{}: {} -> {}, {} partitions, retention.ms={}",
///         topic.name(),
///         topic.key_type(),
///         topic.value_type(),
///         topic.partitions(),
///         topic.config()["retention.ms"],
///     )
/// }
///
/// assert_eq!(
///     describe(&Orders),
///     format!(
///         "orders: alloc::string::String -> {}, 8 partitions, retention.ms=604800000",
///         std::any::type_name::<Order>()
///     )
/// );
/// ```
pub trait Topic:
    Channel<Key: Serialize + DeserializeOwned, Value: Serialize + DeserializeOwned>
{
    /// The static declaration.
    fn spec() -> &'static TopicSpec;

    /// Partition count: declared, else as found on the broker when the app started, else the
    /// app's `topic_partitions` setting (Faust's `topic.partitions`).
    fn partitions(&self) -> i32
    where
        Self: Sized,
    {
        TopicApi::<Self>::UNBOUND.partitions()
    }

    /// Broker-side configuration the topic is created with: `retention.ms`, `cleanup.policy` and
    /// the `config` pairs (Faust's `topic.config`).
    fn config(&self) -> BTreeMap<String, String> {
        Self::spec().broker_config()
    }
}

/// The typed handle of a topic: what `Orders.send(..)` and friends call through `Deref`.
///
/// The unit struct declared with `#[topic]` dereferences to an unbound handle, which sends through
/// the app running the current agent or timer (or entered with [`App::scope`]); `Orders.on(&app)`
/// binds it to one app explicitly.
pub struct TopicApi<T: 'static> {
    app: Option<App>,
    _t: PhantomData<fn() -> T>,
}

impl<T: 'static> TopicApi<T> {
    /// A handle that finds its app at call time.
    pub const UNBOUND: Self = TopicApi {
        app: None,
        _t: PhantomData,
    };
}

impl<T> TopicApi<T>
where
    T: Topic,
    T::Key: Serialize + DeserializeOwned,
    T::Value: Serialize + DeserializeOwned,
{
    fn app(&self) -> Result<App> {
        match &self.app {
            Some(a) => Ok(a.clone()),
            None => App::current(),
        }
    }

    /// This handle bound to `app`.
    pub fn on(&self, app: &App) -> TopicApi<T> {
        TopicApi {
            app: Some(app.clone()),
            _t: PhantomData,
        }
    }

    /// The Kafka topic name.
    pub fn name(&self) -> &'static str {
        T::spec().name
    }

    /// The static declaration.
    pub fn spec(&self) -> &'static TopicSpec {
        T::spec()
    }

    /// The key type, as Rust names it (Faust's `topic.key_type`).
    pub fn key_type(&self) -> &'static str {
        std::any::type_name::<T::Key>()
    }

    /// The value type, as Rust names it (Faust's `topic.value_type`).
    pub fn value_type(&self) -> &'static str {
        std::any::type_name::<T::Value>()
    }

    /// Buffer size of each agent stream reading the topic: declared, else the app's
    /// `stream_buffer_maxsize` (Faust's `topic.maxsize`).
    pub fn maxsize(&self) -> usize {
        T::spec().declared_maxsize().unwrap_or_else(|| {
            self.app()
                .map(|a| a.settings().stream_buffer_maxsize)
                .unwrap_or(crate::settings::DEFAULT_STREAM_BUFFER_MAXSIZE)
        })
    }

    /// Partition count: declared, else as found on the broker when the app started, else the
    /// app's `topic_partitions` setting.
    pub fn partitions(&self) -> i32 {
        T::spec().declared_partitions().unwrap_or_else(|| {
            // The count found on the broker at startup, else the app's default.
            self.app()
                .and_then(|a| a.partitions_of(T::spec().name))
                .unwrap_or(crate::settings::DEFAULT_TOPIC_PARTITIONS)
        })
    }

    /// Broker-side configuration the topic is created with.
    pub fn config(&self) -> BTreeMap<String, String> {
        T::spec().broker_config()
    }

    /// The partition `key` goes to: `partition` if given (checked against the topic's partitions:
    /// [`Error::UnknownPartition`] if it has no such partition), else murmur2 of the key's bytes,
    /// as the Java client and librdkafka's `murmur2_random` compute it. Takes the key as `send`
    /// does.
    ///
    /// ```
    /// # use faust_runtime::prelude::*;
    /// #[topic(name = "users", key = String, value = String, partitions = 4)]
    /// struct Users;
    ///
    /// let p = Users.get_partition_key("alice", None)?;
    /// assert!((0..4).contains(&p));
    /// assert_eq!(Users.get_partition_key("alice", Some(3))?, 3);
    /// assert!(Users.get_partition_key("alice", Some(99)).is_err());
    /// # Ok::<(), faust_runtime::Error>(())
    /// ```
    pub fn get_partition_key(&self, key: impl Into<T::Key>, partition: Option<i32>) -> Result<i32> {
        partition_key(T::spec(), &key.into(), partition, self.partitions())
    }

    /// Starts building a record to send, for the options `send` does not take.
    pub fn record(&self, value: T::Value) -> RecordBuilder<T> {
        self.record_empty().with_value(value)
    }

    /// Starts building a tombstone (a record with a key and no value), e.g. to delete a key of a
    /// compacted topic.
    pub fn tombstone(&self, key: impl Into<T::Key>) -> RecordBuilder<T> {
        RecordBuilder {
            key: Some(key.into()),
            ..self.record_empty()
        }
    }

    fn record_empty(&self) -> RecordBuilder<T> {
        RecordBuilder::empty(self.app.clone(), None, T::spec())
    }

    /// Sends `value` under `key` (Faust's `await topic.send(key=, value=)`): returns once the
    /// record is handed to the producer (waiting while its queue is full), with a handle that
    /// resolves to the record's metadata when the broker acknowledges it. Sent while an agent
    /// processes an event, the record belongs to that event: the event's offset is committed
    /// only after the record is delivered.
    pub async fn send(&self, key: impl Into<T::Key>, value: T::Value) -> Result<DeliveryHandle> {
        self.record(value).key(key).send().await
    }

    /// Sends `value` under `key` and waits for the broker's acknowledgement.
    pub async fn send_and_wait(
        &self,
        key: impl Into<T::Key>,
        value: T::Value,
    ) -> Result<RecordMetadata> {
        self.record(value).key(key).send_and_wait().await
    }

    /// Enqueues `value` under `key` without waiting; the returned handle resolves to the record's
    /// metadata. A serialization error is returned here and nothing is sent.
    pub fn send_soon(&self, key: impl Into<T::Key>, value: T::Value) -> Result<DeliveryHandle> {
        self.record(value).key(key).send_soon()
    }

    /// Reads this topic from its earliest offset outside of any agent, without committing.
    /// Yields values; see [`TopicApi::events`] for whole events.
    pub fn stream(&self) -> crate::Stream<T> {
        match self.app() {
            Ok(app) => crate::stream::reader_stream::<T>(&app),
            Err(e) => crate::Stream::failed(e),
        }
    }

    /// Like [`TopicApi::stream`], yielding [`crate::Event`]s (key, value, headers, coordinates).
    pub fn events(&self) -> crate::Events<T> {
        self.stream().events()
    }
}

/// The partition of `key` on topic `spec` of `partitions` partitions, or the explicit
/// `partition` once checked ([`TopicApi::get_partition_key`]).
pub(crate) fn partition_key<K: Serialize>(
    spec: &TopicSpec,
    key: &K,
    partition: Option<i32>,
    partitions: i32,
) -> Result<i32> {
    if let Some(p) = partition {
        if p < 0 || p >= partitions {
            return Err(Error::UnknownPartition {
                topic: spec.name.into(),
                partition: p,
                partitions,
            });
        }
        return Ok(p);
    }
    let bytes = spec
        .codecs()?
        .key
        .dumps(key)
        .map_err(|e| Error::Serialize {
            topic: spec.name.into(),
            what: "key",
            codec: spec.key_serializer_name().into(),
            reason: e.to_string(),
        })?;
    Ok(partitioner::partition_for_key(&bytes, partitions))
}

pub use crate::transport::SendCallback;

/// Builds one record with every option Faust's `send` has. `K` and `V` are the topic's key and
/// value types, or a [`crate::Schema`]'s (`Orders.record_with(&schema, value)`).
#[must_use = "a RecordBuilder sends nothing until .send() or .send_soon() is called"]
pub struct RecordBuilder<T: Channel, K = <T as Channel>::Key, V = <T as Channel>::Value> {
    app: Option<App>,
    /// The topic's declaration (a `#[topic]`'s, or one defined at runtime).
    spec: &'static TopicSpec,
    /// A schema's serializers (`None`: the topic's), resolved when the builder was made.
    schema_codecs: Option<Result<Arc<TopicCodecs>>>,
    key: Option<K>,
    value: Option<V>,
    partition: Option<i32>,
    timestamp: Option<i64>,
    headers: Headers,
    key_serializer: Option<String>,
    value_serializer: Option<String>,
    callback: Option<SendCallback>,
    force: bool,
    eager_partitioning: bool,
    _t: PhantomData<fn() -> T>,
}

impl<T: Channel, K, V> RecordBuilder<T, K, V> {
    /// An empty builder sending through `app` (or the current app), with a schema's serializers
    /// or the topic's.
    pub(crate) fn empty(
        app: Option<App>,
        schema_codecs: Option<Result<Arc<TopicCodecs>>>,
        spec: &'static TopicSpec,
    ) -> Self {
        RecordBuilder {
            app,
            spec,
            schema_codecs,
            key: None,
            value: None,
            partition: None,
            timestamp: None,
            headers: Vec::new(),
            key_serializer: None,
            value_serializer: None,
            callback: None,
            force: false,
            eager_partitioning: false,
            _t: PhantomData,
        }
    }

    /// Sets the value (used by the handles that start a builder).
    pub(crate) fn with_value(mut self, value: V) -> Self {
        self.value = Some(value);
        self
    }
}

impl<T, K, V> RecordBuilder<T, K, V>
where
    T: Channel,
    K: Serialize,
    V: Serialize,
{
    /// The record's key.
    pub fn key(mut self, key: impl Into<K>) -> Self {
        self.key = Some(key.into());
        self
    }
    /// Sends to this partition instead of the key's.
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }
    /// Record timestamp in milliseconds since the epoch.
    pub fn timestamp(mut self, millis: i64) -> Self {
        self.timestamp = Some(millis);
        self
    }
    /// Adds a header.
    pub fn header(mut self, key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.headers.push((key.into(), Some(value.into())));
        self
    }
    /// Adds headers.
    pub fn headers<HK: Into<String>, HV: Into<Bytes>>(
        mut self,
        headers: impl IntoIterator<Item = (HK, HV)>,
    ) -> Self {
        self.headers
            .extend(headers.into_iter().map(|(k, v)| (k.into(), Some(v.into()))));
        self
    }
    /// Overrides the key serializer for this record.
    pub fn key_serializer(mut self, name: impl Into<String>) -> Self {
        self.key_serializer = Some(name.into());
        self
    }
    /// Overrides the value serializer for this record.
    pub fn value_serializer(mut self, name: impl Into<String>) -> Self {
        self.value_serializer = Some(name.into());
        self
    }
    /// Runs `f` with the outcome once the broker has answered, even if the handle is dropped.
    pub fn callback(mut self, f: impl FnOnce(&Result<RecordMetadata>) + Send + 'static) -> Self {
        self.callback = Some(Box::new(f));
        self
    }
    /// Sends even if the app has not started yet.
    pub fn force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }
    /// Decides the partition now (murmur2 of the key against the topic's partition count) rather
    /// than in the transport.
    pub fn eager_partitioning(mut self, eager: bool) -> Self {
        self.eager_partitioning = eager;
        self
    }

    /// Sends: returns once the record is handed to the producer (waiting while its queue is
    /// full), with a handle that resolves on the broker's acknowledgement. With `force`, before
    /// the app has started, the topic is first created with its declared settings if missing.
    pub async fn send(self) -> Result<DeliveryHandle> {
        let spec = self.spec;
        let (app, record) = self.build()?;
        if app.before_start() {
            app.ensure_declared(spec).await?;
        }
        app.produce(record).await
    }

    /// Sends and waits for the broker's acknowledgement.
    pub async fn send_and_wait(self) -> Result<RecordMetadata> {
        self.send().await?.await
    }

    /// Enqueues without waiting. Errors (serialization, unknown codec, app not running) are
    /// returned here and nothing is sent. A full producer queue does not fail the call: the
    /// record waits its turn in order.
    pub fn send_soon(self) -> Result<DeliveryHandle> {
        let spec = self.spec;
        let (app, record) = self.build()?;
        if app.before_start() {
            // Before start (`force`): the topic may have to be created first.
            let task = tokio::spawn(async move {
                app.ensure_declared(spec).await?;
                app.produce(record).await?.await
            });
            return Ok(DeliveryHandle::pending(async move {
                task.await.unwrap_or_else(|e| {
                    Err(Error::Delivery {
                        topic: spec.name.into(),
                        reason: format!("the send before start failed: {e}"),
                    })
                })
            }));
        }
        app.produce_soon(record)
    }

    /// Encodes the record; checks that the app may send.
    fn build(self) -> Result<(App, OutgoingRecord)> {
        let app = match self.app {
            Some(a) => a,
            None => App::current()?,
        };
        let spec = self.spec;
        if spec.names.len() > 1 {
            return Err(Error::config(format!(
                "topic handle {} covers several topics ({}): send to one of them",
                spec.type_name,
                spec.names.join(", ")
            )));
        }
        app.check_can_send(self.force, spec.name)?;
        let schema_codecs;
        let codecs: &TopicCodecs = match self.schema_codecs {
            None => spec.codecs()?,
            Some(c) => {
                schema_codecs = c?;
                &schema_codecs
            }
        };
        let key_ser;
        let key_codec = match &self.key_serializer {
            Some(n) => {
                key_ser = Serializer::resolve(n)?;
                &key_ser
            }
            None => &codecs.key,
        };
        let value_ser;
        let value_codec = match &self.value_serializer {
            Some(n) => {
                value_ser = Serializer::resolve(n)?;
                &value_ser
            }
            None => &codecs.value,
        };
        let key = match &self.key {
            Some(k) => Some(key_codec.dumps(k).map_err(|e| Error::Serialize {
                topic: spec.name.into(),
                what: "key",
                codec: key_codec.name().into(),
                reason: e.to_string(),
            })?),
            None => None,
        };
        let value = match &self.value {
            Some(v) => Some(value_codec.dumps(v).map_err(|e| Error::Serialize {
                topic: spec.name.into(),
                what: "value",
                codec: value_codec.name().into(),
                reason: e.to_string(),
            })?),
            None => None,
        };
        let mut partition = self.partition;
        if partition.is_none() && self.eager_partitioning {
            let parts = app.partitions_of(spec.name)?;
            partition = Some(match &key {
                Some(k) => partitioner::partition_for_key(k, parts),
                None => partitioner::partition_for_keyless(parts),
            });
        }
        let mut record = OutgoingRecord::new(spec.name, key, value);
        record.partition = partition;
        record.headers = self.headers;
        record.timestamp = self.timestamp;
        record.acks = spec.declared_acks();
        record.delivery_guarantee = spec.declared_delivery_guarantee();
        record.notice.callback = self.callback;
        Ok((app, record))
    }
}

// Hook for schemas (`crate::schema`): sending and reading a topic with other types.
impl<T: 'static> TopicApi<T> {
    /// The app this handle was bound to with `.on(&app)`, if any.
    pub(crate) fn bound_app(&self) -> Option<&App> {
        self.app.as_ref()
    }
}
