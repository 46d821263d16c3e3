//! Topics defined while the program runs (Faust's `app.topic("name", key_type=..., value_type=...)`):
//! the options of `#[topic]`, and the same typed sending and reading.
//!
//! ```
//! # use faust_runtime::prelude::*;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> faust_runtime::Result<()> {
//! let app = App::builder("defined").build()?;
//! let clicks = app
//!     .topic::<String, u64>("clicks")
//!     .partitions(4)
//!     .retention(std::time::Duration::from_secs(3600))
//!     .build()?;
//! assert_eq!(clicks.partitions(), 4);
//! // Before start, a send needs `force`; the topic is created first, with its settings.
//! let meta = clicks.record(1).key("home").force(true).send_and_wait().await?;
//! assert_eq!(meta.topic, "clicks");
//! let created = app.topics().describe_topic("clicks").await?.unwrap();
//! assert_eq!(created.config["retention.ms"], "3600000");
//! # Ok(())
//! # }
//! ```
//!
//! A definition is kept for the life of the process (its settings become a `'static`
//! [`TopicSpec`], like a declared topic's): define topics once, e.g. at startup, not per
//! record. Defining a name again returns the first definition. Topics defined before the app
//! starts are created at startup with the declared ones; topics defined later are created on
//! first use (or with [`DynTopic::create`]).

use crate::app::App;
use crate::channel::{Channel, SourceRef};
use crate::error::{Error, Result};
use crate::topic::{Acks, DeliveryGuarantee, ErrorPolicy, RecordBuilder, TopicSpec};
use crate::transport::{DeliveryHandle, RecordMetadata};
use serde::{de::DeserializeOwned, Serialize};
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Settings of a topic being defined; see the module docs. Made by [`App::topic`].
#[must_use = "a TopicBuilder defines nothing until .build() is called"]
pub struct TopicBuilder<K, V> {
    app: App,
    name: String,
    partitions: Option<i32>,
    replicas: Option<i16>,
    retention: Option<Duration>,
    compacting: Option<bool>,
    deleting: Option<bool>,
    acks: Option<Acks>,
    delivery_guarantee: Option<DeliveryGuarantee>,
    maxsize: Option<usize>,
    config: BTreeMap<String, String>,
    key_serializer: Option<String>,
    value_serializer: Option<String>,
    on_error: Option<ErrorPolicy>,
    dead_letter: Option<String>,
    _t: PhantomData<fn() -> (K, V)>,
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

impl<K, V> TopicBuilder<K, V>
where
    K: Serialize + DeserializeOwned + Send + 'static,
    V: Serialize + DeserializeOwned + Send + 'static,
{
    pub(crate) fn new(app: App, name: String) -> Self {
        TopicBuilder {
            app,
            name,
            partitions: None,
            replicas: None,
            retention: None,
            compacting: None,
            deleting: None,
            acks: None,
            delivery_guarantee: None,
            maxsize: None,
            config: BTreeMap::new(),
            key_serializer: None,
            value_serializer: None,
            on_error: None,
            dead_letter: None,
            _t: PhantomData,
        }
    }

    /// Partition count (default: the app's `topic_partitions`, or what the broker has).
    pub fn partitions(mut self, n: i32) -> Self {
        self.partitions = Some(n);
        self
    }
    /// Replication factor.
    pub fn replicas(mut self, n: i16) -> Self {
        self.replicas = Some(n);
        self
    }
    /// `retention.ms`.
    pub fn retention(mut self, d: Duration) -> Self {
        self.retention = Some(d);
        self
    }
    /// `cleanup.policy` includes `compact`.
    pub fn compacting(mut self, yes: bool) -> Self {
        self.compacting = Some(yes);
        self
    }
    /// `cleanup.policy` includes `delete`.
    pub fn deleting(mut self, yes: bool) -> Self {
        self.deleting = Some(yes);
        self
    }
    /// Producer acknowledgements.
    pub fn acks(mut self, acks: Acks) -> Self {
        self.acks = Some(acks);
        self
    }
    /// Producer delivery guarantee.
    pub fn delivery_guarantee(mut self, g: DeliveryGuarantee) -> Self {
        self.delivery_guarantee = Some(g);
        self
    }
    /// Buffer of each stream reading the topic.
    pub fn maxsize(mut self, n: usize) -> Self {
        self.maxsize = Some(n);
        self
    }
    /// A broker-side topic setting (`segment.bytes`, `min.cleanable.dirty.ratio`, ...).
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.insert(key.into(), value.into());
        self
    }
    /// Key serializer chain (default `raw`).
    pub fn key_serializer(mut self, name: impl Into<String>) -> Self {
        self.key_serializer = Some(name.into());
        self
    }
    /// Value serializer chain (default `json`).
    pub fn value_serializer(mut self, name: impl Into<String>) -> Self {
        self.value_serializer = Some(name.into());
        self
    }
    /// Policy for undecodable records and failed agents.
    pub fn on_error(mut self, policy: ErrorPolicy) -> Self {
        self.on_error = Some(policy);
        self
    }
    /// Dead-letter topic name (default `{name}-dlq`).
    pub fn dead_letter(mut self, name: impl Into<String>) -> Self {
        self.dead_letter = Some(name.into());
        self
    }

    /// Defines the topic: checks the settings and registers it with the app (created on the
    /// broker at startup, or on first use when the app already runs).
    pub fn build(self) -> Result<DynTopic<K, V>> {
        if self.name.trim().is_empty() {
            return Err(Error::config("topic name must not be empty"));
        }
        if let Some(n) = self.partitions.filter(|n| *n < 1) {
            return Err(Error::config(format!(
                "topic '{}': partitions must be at least 1, got {n}",
                self.name
            )));
        }
        if let Some(existing) = self.app.defined_topic(&self.name) {
            return Ok(DynTopic::new(self.app, existing));
        }
        let config: Vec<(&'static str, &'static str)> = self
            .config
            .into_iter()
            .map(|(k, v)| (leak(k), leak(v)))
            .collect();
        let spec: &'static TopicSpec = Box::leak(Box::new(TopicSpec {
            name: leak(self.name),
            type_name: std::any::type_name::<DynTopic<K, V>>(),
            module: "",
            key_type: std::any::type_name::<K>(),
            value_type: std::any::type_name::<V>(),
            partitions: self.partitions,
            replicas: self.replicas,
            retention: self.retention,
            compacting: self.compacting,
            deleting: self.deleting,
            acks: self.acks,
            delivery_guarantee: self.delivery_guarantee,
            maxsize: self.maxsize,
            config: Box::leak(config.into_boxed_slice()),
            key_serializer: self.key_serializer.map(leak),
            value_serializer: self.value_serializer.map(leak),
            on_error: self.on_error,
            dead_letter: self.dead_letter.map(leak),
            ..TopicSpec::DEFAULT
        }));
        spec.codecs()?;
        let spec = self.app.define_topic(spec);
        Ok(DynTopic::new(self.app, spec))
    }
}

/// The handle of a topic defined at runtime: what a `#[topic]` handle offers, for types and
/// settings known only while the program runs.
pub struct DynTopic<K, V> {
    app: App,
    spec: &'static TopicSpec,
    ensured: Arc<AtomicBool>,
    _t: PhantomData<fn() -> (K, V)>,
}

impl<K, V> Clone for DynTopic<K, V> {
    fn clone(&self) -> Self {
        DynTopic {
            app: self.app.clone(),
            spec: self.spec,
            ensured: self.ensured.clone(),
            _t: PhantomData,
        }
    }
}

impl<K, V> std::fmt::Debug for DynTopic<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DynTopic({})", self.spec.name)
    }
}

impl<K, V> DynTopic<K, V>
where
    K: Serialize + DeserializeOwned + Send + 'static,
    V: Serialize + DeserializeOwned + Send + 'static,
{
    fn new(app: App, spec: &'static TopicSpec) -> Self {
        DynTopic {
            app,
            spec,
            ensured: Arc::new(AtomicBool::new(false)),
            _t: PhantomData,
        }
    }

    /// The Kafka topic name.
    pub fn name(&self) -> &'static str {
        self.spec.name
    }

    /// The definition.
    pub fn spec(&self) -> &'static TopicSpec {
        self.spec
    }

    /// The Rust key type.
    pub fn key_type(&self) -> &'static str {
        self.spec.key_type
    }

    /// The Rust value type.
    pub fn value_type(&self) -> &'static str {
        self.spec.value_type
    }

    /// Partition count: defined, else as found on the broker, else the app's default.
    pub fn partitions(&self) -> i32 {
        self.spec
            .declared_partitions()
            .unwrap_or_else(|| self.app.partitions_of(self.spec.name).unwrap_or(1))
    }

    /// Broker-side configuration the topic is created with.
    pub fn config(&self) -> BTreeMap<String, String> {
        self.spec.broker_config()
    }

    /// Creates the topic on the broker now if it does not exist (with its settings).
    pub async fn create(&self) -> Result<()> {
        self.app.ensure_declared(self.spec).await?;
        self.ensured.store(true, Ordering::Release);
        Ok(())
    }

    async fn ensure(&self) -> Result<()> {
        if !self.ensured.load(Ordering::Acquire) {
            self.create().await?;
        }
        Ok(())
    }

    /// Starts building a record to send, for the options `send` does not take.
    pub fn record(&self, value: V) -> RecordBuilder<Dynamic<K, V>> {
        RecordBuilder::empty(Some(self.app.clone()), None, self.spec).with_value(value)
    }

    /// Sends `value` under `key`; see [`crate::TopicApi::send`].
    pub async fn send(&self, key: impl Into<K>, value: V) -> Result<DeliveryHandle> {
        self.ensure().await?;
        self.record(value).key(key).send().await
    }

    /// Sends `value` under `key` and waits for the broker's acknowledgement.
    pub async fn send_and_wait(&self, key: impl Into<K>, value: V) -> Result<RecordMetadata> {
        self.send(key, value).await?.await
    }

    /// Reads the topic from its earliest offset outside of any agent, without committing.
    pub fn stream(&self) -> crate::Stream<Dynamic<K, V>> {
        match self.spec.codecs() {
            Ok(c) => crate::stream::reader_stream_with(&self.app, self.spec, Arc::new(c.clone())),
            Err(e) => crate::Stream::failed(e),
        }
    }

    /// Like [`DynTopic::stream`], yielding whole events.
    pub fn events(&self) -> crate::Events<Dynamic<K, V>> {
        self.stream().events()
    }
}

/// The handle type of a runtime-defined topic's records and streams
/// (`Stream<Dynamic<String, u64>>`). Agents cannot subscribe to it (agents are declared).
pub struct Dynamic<K, V>(PhantomData<fn() -> (K, V)>);

#[diagnostic::do_not_recommend]
impl<K: Send + 'static, V: Send + 'static> Channel for Dynamic<K, V> {
    type Key = K;
    type Value = V;

    fn __source() -> SourceRef {
        SourceRef::Topic(&UNNAMED)
    }

    fn __subscribe(
        _ctx: &mut crate::agent::SubscribeCtx<'_>,
        _agent: &'static crate::agent::AgentSpec,
        _instances: usize,
    ) -> Result<Vec<crate::stream::Stream<Self>>> {
        Err(Error::Registry(
            "agents read declared topics (#[topic]); read a runtime-defined topic with DynTopic::stream".into(),
        ))
    }
}

static UNNAMED: TopicSpec = TopicSpec {
    name: "<runtime-defined topic>",
    ..TopicSpec::DEFAULT
};
