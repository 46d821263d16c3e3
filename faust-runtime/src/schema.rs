//! Schemas (Faust's `Schema`): a key type, a value type and their serializers, apart from any
//! topic, so one topic can carry a second kind of payload.
//!
//! ```no_run
//! use faust_runtime::prelude::*;
//! use faust_runtime::Schema;
//!
//! #[record(namespace = "app.Order")]
//! struct Order { id: u64, product: String }
//!
//! #[record(namespace = "app.Cancellation")]
//! struct Cancellation { reason: String }
//!
//! #[topic(name = "orders", key = String, value = Order)]
//! struct Orders;
//!
//! // Cancellations travel on the same topic, keyed by order id (JSON), as msgpack.
//! static CANCELLATIONS: Schema<u64, Cancellation> = Schema::with_serializers("json", "msgpack");
//!
//! async fn cancel(app: &App) -> Result<()> {
//!     let orders = Orders.on(app);
//!     orders.send_with(&CANCELLATIONS, 42u64, Cancellation { reason: "late".into() }).await?;
//!     // Reads the topic with the schema; records that do not decode as cancellations follow
//!     // the topic's error policy (skipped by default).
//!     let mut cancellations = CANCELLATIONS.events(&orders);
//!     while let Some(event) = cancellations.next().await {
//!         println!("order {:?} cancelled: {}", event.key, event.value.reason);
//!     }
//!     Ok(())
//! }
//! ```
//!
//! Serializers not given follow Faust's defaults: key `raw`, value `json`, or `raw` when the value
//! type is `String`, `Vec<u8>` or `bytes::Bytes`. A record that does not decode with the schema
//! is handled by the topic's error policy, as in agents (a reader never dead-letters: it skips).

use crate::app::App;
use crate::channel::{Channel, SourceRef};
use crate::codec::{CodecError, Serializer};
use crate::error::{Error, Result};
use crate::topic::RecordBuilder;
use crate::topic::{Topic, TopicApi, TopicCodecs};
use crate::transport::RecordMetadata;
use bytes::Bytes;
use serde::{de::DeserializeOwned, Serialize};
use std::any::TypeId;
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};

/// A key type, a value type and the serializers for them (Faust's `Schema`).
pub struct Schema<K, V> {
    key_serializer: Option<Cow<'static, str>>,
    value_serializer: Option<Cow<'static, str>>,
    codecs: OnceLock<Arc<TopicCodecs>>,
    _t: PhantomData<fn() -> (K, V)>,
}

impl<K, V> Schema<K, V> {
    /// A schema with Faust's default serializers (key `raw`; value `json`, `raw` for text and
    /// bytes types).
    pub const fn new() -> Self {
        Schema {
            key_serializer: None,
            value_serializer: None,
            codecs: OnceLock::new(),
            _t: PhantomData,
        }
    }

    /// A schema with these serializer chains (usable in a `static`).
    pub const fn with_serializers(key: &'static str, value: &'static str) -> Self {
        Schema {
            key_serializer: Some(Cow::Borrowed(key)),
            value_serializer: Some(Cow::Borrowed(value)),
            codecs: OnceLock::new(),
            _t: PhantomData,
        }
    }

    /// Sets the key serializer chain (e.g. `"json"`, `"raw"`, `"json|binary"`).
    pub fn key_serializer(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.key_serializer = Some(name.into());
        self.codecs = OnceLock::new();
        self
    }

    /// Sets the value serializer chain.
    pub fn value_serializer(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.value_serializer = Some(name.into());
        self.codecs = OnceLock::new();
        self
    }
}

impl<K, V> Default for Schema<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, V> Clone for Schema<K, V> {
    fn clone(&self) -> Self {
        Schema {
            key_serializer: self.key_serializer.clone(),
            value_serializer: self.value_serializer.clone(),
            codecs: self.codecs.clone(),
            _t: PhantomData,
        }
    }
}

impl<K, V> fmt::Debug for Schema<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schema")
            .field("key_type", &std::any::type_name::<K>())
            .field("value_type", &std::any::type_name::<V>())
            .field("key_serializer", &self.key_serializer)
            .field("value_serializer", &self.value_serializer)
            .finish()
    }
}

/// Whether Faust would carry values of this type raw (text and bytes).
fn is_raw_type<T: 'static>() -> bool {
    let t = TypeId::of::<T>();
    t == TypeId::of::<String>() || t == TypeId::of::<Vec<u8>>() || t == TypeId::of::<Bytes>()
}

impl<K, V> Schema<K, V>
where
    K: Serialize + DeserializeOwned + Send + 'static,
    V: Serialize + DeserializeOwned + Send + 'static,
{
    /// The key serializer chain.
    pub fn key_serializer_name(&self) -> &str {
        self.key_serializer.as_deref().unwrap_or("raw")
    }

    /// The value serializer chain.
    pub fn value_serializer_name(&self) -> &str {
        match &self.value_serializer {
            Some(n) => n,
            None if is_raw_type::<V>() => "raw",
            None => "json",
        }
    }

    /// The resolved serializers (resolved once, then cached). An unknown name gives
    /// [`Error::UnknownCodec`].
    pub fn codecs(&self) -> Result<Arc<TopicCodecs>> {
        if let Some(c) = self.codecs.get() {
            return Ok(c.clone());
        }
        let key = Serializer::resolve(self.key_serializer_name())?;
        let value = Serializer::resolve(self.value_serializer_name())?;
        Ok(self
            .codecs
            .get_or_init(|| Arc::new(TopicCodecs { key, value }))
            .clone())
    }

    /// Encodes a key; the error names `topic`.
    pub fn dumps_key(&self, topic: &str, key: &K) -> Result<Vec<u8>> {
        let codecs = self.codecs()?;
        codecs.key.dumps(key).map_err(|e| Error::Serialize {
            topic: topic.to_string(),
            what: "key",
            codec: codecs.key.name().to_string(),
            reason: e.to_string(),
        })
    }

    /// Encodes a value; the error names `topic`.
    pub fn dumps_value(&self, topic: &str, value: &V) -> Result<Vec<u8>> {
        let codecs = self.codecs()?;
        codecs.value.dumps(value).map_err(|e| Error::Serialize {
            topic: topic.to_string(),
            what: "value",
            codec: codecs.value.name().to_string(),
            reason: e.to_string(),
        })
    }

    /// Decodes a key (e.g. from an event of a bytes topic).
    pub fn loads_key(&self, bytes: &[u8]) -> Result<K> {
        let codecs = self.codecs()?;
        codecs
            .key
            .loads(bytes)
            .map_err(|e| codec_error(&codecs.key, e))
    }

    /// Decodes a value (e.g. from an event of a bytes topic).
    pub fn loads_value(&self, bytes: &[u8]) -> Result<V> {
        let codecs = self.codecs()?;
        codecs
            .value
            .loads(bytes)
            .map_err(|e| codec_error(&codecs.value, e))
    }

    /// Reads `topic` from its earliest offset with this schema, outside of any agent and
    /// without committing (like [`TopicApi::stream`]). Yields values.
    pub fn stream<T>(&self, topic: &TopicApi<T>) -> crate::Stream<SchemaChannel<T, K, V>>
    where
        T: Topic,
        T::Key: Serialize + DeserializeOwned,
        T::Value: Serialize + DeserializeOwned,
    {
        let app = match topic.bound_app() {
            Some(a) => a.clone(),
            None => match App::current() {
                Ok(a) => a,
                Err(e) => return crate::Stream::failed(e),
            },
        };
        match self.codecs() {
            Ok(codecs) => {
                crate::stream::reader_stream_with::<SchemaChannel<T, K, V>>(&app, T::spec(), codecs)
            }
            Err(e) => crate::Stream::failed(e),
        }
    }

    /// Like [`Schema::stream`], yielding whole events.
    pub fn events<T>(&self, topic: &TopicApi<T>) -> crate::Events<SchemaChannel<T, K, V>>
    where
        T: Topic,
        T::Key: Serialize + DeserializeOwned,
        T::Value: Serialize + DeserializeOwned,
    {
        self.stream(topic).events()
    }
}

fn codec_error(s: &Serializer, e: CodecError) -> Error {
    Error::Codec {
        codec: s.name().to_string(),
        reason: e.to_string(),
    }
}

/// Topic `T` read through a schema with key `K` and value `V`: the handle type of a schema
/// stream (`Stream<SchemaChannel<Orders, u64, Cancellation>>`). Agents cannot subscribe to it.
pub struct SchemaChannel<T, K, V> {
    _t: PhantomData<Types<T, K, V>>,
}

/// The types a [`SchemaChannel`] stands for.
type Types<T, K, V> = fn() -> (T, K, V);

impl<T, K, V> Channel for SchemaChannel<T, K, V>
where
    T: Topic,
    T::Key: Serialize + DeserializeOwned,
    T::Value: Serialize + DeserializeOwned,
    K: Send + 'static,
    V: Send + 'static,
{
    type Key = K;
    type Value = V;

    fn __source() -> SourceRef {
        T::__source()
    }

    fn __subscribe(
        _ctx: &mut crate::agent::SubscribeCtx<'_>,
        _agent: &'static crate::agent::AgentSpec,
        _instances: usize,
    ) -> Result<Vec<crate::stream::Stream<Self>>> {
        Err(Error::Registry(format!(
            "agents read topic '{}' with its declared types; read it through a schema with Schema::stream",
            T::spec().name
        )))
    }
}

// ---------------------------------------------------------------------------------------------
// Sending with a schema

impl<T> TopicApi<T>
where
    T: Topic,
    T::Key: Serialize + DeserializeOwned,
    T::Value: Serialize + DeserializeOwned,
{
    /// Starts building a record whose key and value go through `schema` instead of the topic's
    /// types and serializers.
    pub fn record_with<K, V>(&self, schema: &Schema<K, V>, value: V) -> SchemaRecord<T, K, V>
    where
        K: Serialize + DeserializeOwned + Send + 'static,
        V: Serialize + DeserializeOwned + Send + 'static,
    {
        RecordBuilder::empty(self.bound_app().cloned(), Some(schema.codecs()), T::spec())
            .with_value(value)
    }

    /// Sends `value` under `key` through `schema` and waits for the broker's acknowledgement.
    /// A serialization error is returned (naming the topic) and nothing is sent.
    pub async fn send_with<K, V>(
        &self,
        schema: &Schema<K, V>,
        key: impl Into<K>,
        value: V,
    ) -> Result<RecordMetadata>
    where
        K: Serialize + DeserializeOwned + Send + 'static,
        V: Serialize + DeserializeOwned + Send + 'static,
    {
        self.record_with(schema, value)
            .key(key)
            .send_and_wait()
            .await
    }
}

/// One record being built for a topic with a schema's types and serializers: the topic's
/// [`RecordBuilder`] with other key and value types, so every send option is there.
pub type SchemaRecord<T, K, V> = RecordBuilder<T, K, V>;
