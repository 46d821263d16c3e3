//! Channels defined while the program runs (Faust's `app.channel(key_type=.., value_type=..)`):
//! in-process queues like `#[channel]`'s, with the same options (`name`, `maxsize`) and the same
//! sending and reading.
//!
//! ```
//! # use faust_runtime::prelude::*;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> faust_runtime::Result<()> {
//! let app = App::builder("channels").build()?;
//! let notes = app.channel::<(), String>().name("notes").maxsize(10).build()?;
//! assert_eq!((notes.name(), notes.maxsize()), ("notes", 10));
//! assert_eq!(notes.value_type(), "alloc::string::String");
//!
//! notes.send("hello".to_string()).await?;
//! let mut events = notes.events();
//! let event = events.next().await.unwrap();
//! assert_eq!((event.topic, event.value.as_str()), ("notes", "hello"));
//! # Ok(())
//! # }
//! ```
//!
//! Each [`App::channel`] call makes a new channel (as each `app.channel()` does in Faust), kept
//! for the life of the app and closed when it stops. Agents are declared, so they read declared
//! channels; read a runtime-defined one with [`DynChannel::stream`] or [`DynChannel::events`]
//! from any task, e.g. one spawned by a `main!` `before_start` hook.

use crate::app::App;
use crate::channel::{ChannelApi, ChannelQueue, ChannelRecord, ChannelSpec};
use crate::error::{Error, Result};
use crate::runtime_topic::Dynamic;
use crate::transport::{DeliveryHandle, RecordMetadata};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Settings of a channel being defined; made by [`App::channel`].
#[must_use = "a ChannelBuilder defines nothing until .build() is called"]
pub struct ChannelBuilder<K, V> {
    app: App,
    name: Option<String>,
    maxsize: Option<usize>,
    _t: PhantomData<fn() -> (K, V)>,
}

impl<K: Send + 'static, V: Send + 'static> ChannelBuilder<K, V> {
    pub(crate) fn new(app: App) -> Self {
        ChannelBuilder {
            app,
            name: None,
            maxsize: None,
            _t: PhantomData,
        }
    }

    /// The channel's name, as events report it (default `channel-N`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Queue size, > 0; senders wait while it is full (default 4096, Faust's
    /// `stream_buffer_maxsize`).
    pub fn maxsize(mut self, n: usize) -> Self {
        self.maxsize = Some(n);
        self
    }

    /// Defines the channel.
    pub fn build(self) -> Result<DynChannel<K, V>> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        if self.maxsize == Some(0) {
            return Err(Error::config("channel maxsize must be greater than zero"));
        }
        if self.app.is_stopping() {
            return Err(Error::state(format!(
                "cannot define a channel: app '{}' is stopping",
                self.app.id()
            )));
        }
        let name = match self.name {
            Some(n) if n.trim().is_empty() => {
                return Err(Error::config("channel name must not be empty"))
            }
            Some(n) => n,
            None => format!("channel-{}", NEXT.fetch_add(1, Ordering::Relaxed)),
        };
        let spec: &'static ChannelSpec = Box::leak(Box::new(ChannelSpec {
            name: Box::leak(name.into_boxed_str()),
            type_name: std::any::type_name::<DynChannel<K, V>>(),
            __key_type: std::any::type_name::<K>,
            __value_type: std::any::type_name::<V>,
            maxsize: self.maxsize,
            ..ChannelSpec::DEFAULT
        }));
        let (queue, close) = ChannelQueue::new(spec.effective_maxsize());
        self.app.add_channel_closer(Box::new(close));
        let queue = Arc::new(queue);
        Ok(DynChannel {
            api: ChannelApi::with_queue(self.app, queue, spec),
        })
    }
}

/// The handle of a channel defined at runtime: what a `#[channel]` handle offers. Cheap to
/// clone; clones share the queue.
pub struct DynChannel<K: 'static, V: 'static> {
    api: ChannelApi<Dynamic<K, V>>,
}

impl<K: 'static, V: 'static> Clone for DynChannel<K, V> {
    fn clone(&self) -> Self {
        DynChannel {
            api: self.api.clone(),
        }
    }
}

impl<K: Send + 'static, V: Send + 'static> std::fmt::Debug for DynChannel<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DynChannel({})", self.api.spec().name)
    }
}

impl<K: Send + 'static, V: Send + 'static> DynChannel<K, V> {
    /// The channel's name.
    pub fn name(&self) -> &'static str {
        self.api.spec().name
    }

    /// The definition.
    pub fn spec(&self) -> &'static ChannelSpec {
        self.api.spec()
    }

    /// The key type, as Rust names it (Faust's `channel.key_type`).
    pub fn key_type(&self) -> &'static str {
        std::any::type_name::<K>()
    }

    /// The value type, as Rust names it (Faust's `channel.value_type`).
    pub fn value_type(&self) -> &'static str {
        std::any::type_name::<V>()
    }

    /// The queue size (Faust's `channel.maxsize`).
    pub fn maxsize(&self) -> usize {
        self.api.spec().effective_maxsize()
    }

    pub(crate) fn api(&self) -> &ChannelApi<Dynamic<K, V>> {
        &self.api
    }

    /// Starts building a value with a key, headers or timestamp.
    pub fn record(&self, value: V) -> ChannelRecord<Dynamic<K, V>> {
        self.api.record(value)
    }

    /// Puts `value` on the channel, waiting while it is full.
    pub async fn send(&self, value: V) -> Result<RecordMetadata> {
        self.api.send(value).await
    }

    /// Puts `value` on the channel without waiting (see [`ChannelApi::send_soon`]).
    pub fn send_soon(&self, value: V) -> Result<DeliveryHandle> {
        self.api.send_soon(value)
    }

    /// Reads the channel's values (several readers share them: each value reaches one).
    pub fn stream(&self) -> crate::Stream<Dynamic<K, V>> {
        self.api.stream()
    }

    /// Like [`DynChannel::stream`], yielding whole events (key, value, headers, timestamp).
    pub fn events(&self) -> crate::Events<Dynamic<K, V>> {
        self.api.events()
    }
}
