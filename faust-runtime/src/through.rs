//! `through` and `echo`: sending a stream's values on to other topics and channels (Faust's
//! `stream.through(topic)` and `stream.echo(*channels)`).
//!
//! - `stream.through(target)` forwards every event (key, value and headers) to `target` and returns the
//!   stream reading `target`: the agent continues with what arrives there. A topic target is
//!   subscribed at startup (call `through` before the agent's first read, as `group_by`); a
//!   channel target is read from its queue.
//! - `stream.echo(target)` also sends every value (with its key and headers) to `target` and
//!   yields it unchanged; chain it
//!   for several targets (`stream.echo(A).echo(B)`).
//!
//! What they send is attached to the event it came from, as any send inside an agent: the
//! event's offset is committed only once it is delivered.
//!
//! A target is a declared topic (`Orders`), a runtime-defined one ([`crate::DynTopic`]), a
//! channel handle bound to the app (`Notes.on(&app)`, or `App::current()` inside an agent) or a
//! runtime-defined channel ([`crate::DynChannel`]).
//!
//! ```no_run
//! use faust_runtime::prelude::*;
//! # #[topic(name = "clicks", key = String, value = u64)] struct Clicks;
//! # #[topic(name = "clicks-copy", key = String, value = u64)] struct Copies;
//! # #[topic(name = "clicks-audit", key = String, value = u64)] struct Audit;
//! #[agent(Clicks)]
//! async fn clicks(clicks: Stream<Clicks>) -> Result<()> {
//!     // Every click also goes to `clicks-audit`; the agent then reads `clicks-copy`.
//!     let mut copies = clicks.echo(Audit).through(Copies)?;
//!     while let Some(n) = copies.next().await {
//!         println!("{n}");
//!     }
//!     Ok(())
//! }
//! # fn main() {}
//! ```

use crate::app::App;
use crate::channel::{Channel, ChannelApi};
use crate::error::{Error, Result};
use crate::group_by::{forward_and_read, ReadFrom, SendOn};
use crate::runtime_channel::DynChannel;
use crate::runtime_topic::{DynTopic, Dynamic};
use crate::stream::{Core, Stream};
use crate::topic::{Topic, TopicApi, TopicSpec};
use crate::transport::Headers;
use serde::{de::DeserializeOwned, Serialize};

/// A topic or channel a stream's values can be sent to with [`Stream::through`] and
/// [`Stream::echo`]; see [`crate::through`].
pub trait Target<K, V>: Send + Sync + 'static {
    /// The topic or channel name.
    fn target_name(&self) -> &'static str;

    /// Sends `value` under `key`, with the event's headers, without waiting (attached to the
    /// event being processed).
    #[doc(hidden)]
    fn __send(
        &self,
        app: &App,
        key: Option<K>,
        value: V,
        timestamp: i64,
        headers: Headers,
    ) -> Result<()>;

    /// The topic to read for `through`, or `None` for a channel.
    #[doc(hidden)]
    fn __topic(&self) -> Option<&'static TopicSpec>;

    /// A reader of the channel for `through` (channels only).
    #[doc(hidden)]
    fn __channel_stream(&self, _app: &App) -> Option<Stream<Dynamic<K, V>>>
    where
        K: Send + 'static,
        V: Send + 'static,
    {
        None
    }
}

impl<T> Target<T::Key, T::Value> for T
where
    T: Topic,
{
    fn target_name(&self) -> &'static str {
        T::spec().name
    }
    fn __send(
        &self,
        app: &App,
        key: Option<T::Key>,
        value: T::Value,
        ts: i64,
        headers: Headers,
    ) -> Result<()> {
        let mut r = TopicApi::<T>::UNBOUND
            .on(app)
            .record(value)
            .timestamp(ts)
            .raw_headers(headers);
        if let Some(k) = key {
            r = r.key(k);
        }
        r.send_soon().map(drop)
    }
    fn __topic(&self) -> Option<&'static TopicSpec> {
        Some(T::spec())
    }
}

impl<K, V> Target<K, V> for DynTopic<K, V>
where
    K: Serialize + DeserializeOwned + Send + Sync + 'static,
    V: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    fn target_name(&self) -> &'static str {
        self.name()
    }
    fn __send(
        &self,
        _app: &App,
        key: Option<K>,
        value: V,
        ts: i64,
        headers: Headers,
    ) -> Result<()> {
        let mut r = self.record(value).timestamp(ts).raw_headers(headers);
        if let Some(k) = key {
            r = r.key(k);
        }
        r.send_soon().map(drop)
    }
    fn __topic(&self) -> Option<&'static TopicSpec> {
        Some(self.spec())
    }
}

impl<C: Channel> Target<C::Key, C::Value> for ChannelApi<C> {
    fn target_name(&self) -> &'static str {
        self.name()
    }
    fn __send(
        &self,
        app: &App,
        key: Option<C::Key>,
        value: C::Value,
        ts: i64,
        headers: Headers,
    ) -> Result<()> {
        let mut r = self.on(app).record(value).timestamp(ts).headers(headers);
        if let Some(k) = key {
            r = r.key(k);
        }
        r.send_soon().map(drop)
    }
    fn __topic(&self) -> Option<&'static TopicSpec> {
        None
    }
    fn __channel_stream(&self, app: &App) -> Option<Stream<Dynamic<C::Key, C::Value>>> {
        Some(Stream::from_core(self.on(app).stream().into_core()))
    }
}

impl<K: Send + Sync + 'static, V: Send + Sync + 'static> Target<K, V> for DynChannel<K, V> {
    fn target_name(&self) -> &'static str {
        self.name()
    }
    fn __send(&self, app: &App, key: Option<K>, value: V, ts: i64, headers: Headers) -> Result<()> {
        self.api().__send(app, key, value, ts, headers)
    }
    fn __topic(&self) -> Option<&'static TopicSpec> {
        None
    }
    fn __channel_stream(&self, app: &App) -> Option<Stream<Dynamic<K, V>>> {
        self.api().__channel_stream(app)
    }
}

/// Sends a copy of each event of a stream somewhere (see [`Stream::echo`]).
pub(crate) type EchoFn<K, V> = Box<dyn FnMut(&App, &crate::Event<K, V>) -> Result<()> + Send>;

impl<H: Channel> Stream<H> {
    /// Forwards every event (key and value) to `target` and continues with the stream reading
    /// `target` (Faust's `stream.through(topic)`); see [`crate::through`]. A topic target is
    /// subscribed at startup: call it before the agent's first read.
    pub fn through<X>(self, target: X) -> Result<Stream<Dynamic<H::Key, H::Value>>>
    where
        X: Target<H::Key, H::Value>,
        H::Key: DeserializeOwned,
        H::Value: DeserializeOwned,
    {
        let core = self.into_core();
        if let Some(h) = &core.headers {
            // The forwarded records carry the events' headers.
            h.set(true);
        }
        let Some(app) = core.app.clone() else {
            return Err(Error::state(format!(
                "through('{}') on '{}': only an agent's own stream can be forwarded",
                target.target_name(),
                core.name()
            )));
        };
        let what = format!("through('{}')", target.target_name());
        let read = match (target.__topic(), target.__channel_stream(&app)) {
            (Some(spec), _) => ReadFrom::Topic(app.resolve_topic(spec)),
            (None, Some(s)) => ReadFrom::Channel(Box::new(s.into_core())),
            (None, None) => {
                return Err(Error::config(format!("{what}: nothing to read there")));
            }
        };
        let send_app = app.clone();
        let send: SendOn<H::Key, H::Value> = Box::new(move |ev| {
            target.__send(&send_app, ev.key, ev.value, ev.timestamp, ev.headers)
        });
        forward_and_read(core, send, read, &what)
    }

    /// Also sends every value (with its key) to `target`, yielding the stream unchanged
    /// (Faust's `stream.echo(*channels)`); see [`crate::through`].
    pub fn echo<X>(mut self, target: X) -> Self
    where
        X: Target<H::Key, H::Value>,
        H::Key: Clone,
        H::Value: Clone,
    {
        let echo: EchoFn<H::Key, H::Value> = Box::new(move |app, ev| {
            target
                .__send(
                    app,
                    ev.key.clone(),
                    ev.value.clone(),
                    ev.timestamp,
                    ev.headers.clone(),
                )
                .map_err(|e| {
                    Error::state(format!("echo to '{}' failed: {e}", target.target_name()))
                })
        });
        let core = self.core_mut();
        core.echo.push(echo);
        if let Some(h) = &core.headers {
            // The copies carry the events' headers.
            h.set(true);
        }
        self
    }
}

impl<K, V> Core<K, V> {
    /// Runs the stream's echoes for `ev` (current already); on failure the event is abandoned
    /// (not committed) and the app fails, unless it is stopping.
    pub(crate) fn run_echoes(&mut self, ev: &crate::Event<K, V>) -> bool {
        let Some(app) = self.app.clone() else {
            return true;
        };
        for echo in self.echo.iter_mut() {
            if let Err(e) = echo(&app, ev) {
                if let Some(cur) = self.take_current() {
                    cur.ack.abandon();
                }
                if !app.is_stopping() {
                    let err = Error::Agent {
                        agent: self.agent.map(|a| a.name).unwrap_or("<stream>").into(),
                        topic: self.name().into(),
                        partition: ev.partition,
                        offset: ev.offset,
                        reason: e.to_string(),
                    };
                    tracing::error!(error = %err, "stopping the worker");
                    app.fail(err);
                }
                return false;
            }
        }
        true
    }
}
