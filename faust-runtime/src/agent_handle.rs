//! Agent handles: `#[agent(Orders, handle = Process)]` declares `Process`, which dereferences to
//! an [`AgentApi`] (Faust's agent object): `send` and `cast` put a value on the agent's topic,
//! `ask` sends a request and waits for what the agent yields for it, `map` / `kvmap` / `join`
//! ask for many values at once. See [`crate::reply`] for the request-reply protocol.

use crate::app::App;
use crate::error::{Error, Result};
use crate::reply::{Pending, Replies, CORRELATION_ID_HEADER, REPLY_TO_HEADER};
use crate::topic::{Topic, TopicApi};
use crate::transport::DeliveryHandle;
use futures::stream::{FuturesUnordered, Stream};
use serde::de::DeserializeOwned;
use std::marker::PhantomData;
use std::time::Duration;

/// How long `ask` waits for a reply unless told otherwise ([`AgentApi::timeout`]).
pub const DEFAULT_ASK_TIMEOUT: Duration = Duration::from_secs(30);

/// The handle of an agent reading topic `T` and yielding `R` ([`crate::NoReply`] when it yields
/// nothing): what the struct named by `#[agent(.., handle = Name)]` dereferences to.
///
/// ```
/// use faust_runtime::prelude::*;
///
/// #[topic(name = "words", key = String, value = String)]
/// struct Words;
///
/// #[agent(Words, handle = Shout)]
/// async fn shout(mut stream: Stream<Words>, out: Yield<String>) -> Result<()> {
///     while let Some(w) = stream.next().await {
///         out.send(w.to_uppercase()).await?;
///     }
///     Ok(())
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> faust_runtime::Result<()> {
/// let app = App::builder("shouting").build()?;
/// app.start().await?;
/// let reply: String = Shout.on(&app).ask("hello".to_string()).await?;
/// assert_eq!(reply, "HELLO");
/// let replies = Shout.on(&app).join(["a".to_string(), "b".to_string()]).await?;
/// assert_eq!(replies, ["A", "B"]);
/// app.stop().await
/// # }
/// ```
pub struct AgentApi<T: 'static, R: 'static> {
    app: Option<App>,
    agent: &'static str,
    timeout: Duration,
    _t: PhantomData<fn() -> (T, R)>,
}

impl<T: 'static, R: 'static> AgentApi<T, R> {
    /// A handle of agent `agent` that finds its app at call time (generated code uses it).
    #[doc(hidden)]
    pub const fn __unbound(agent: &'static str) -> Self {
        AgentApi {
            app: None,
            agent,
            timeout: DEFAULT_ASK_TIMEOUT,
            _t: PhantomData,
        }
    }
}

impl<T: 'static, R: 'static> Clone for AgentApi<T, R> {
    fn clone(&self) -> Self {
        AgentApi {
            app: self.app.clone(),
            agent: self.agent,
            timeout: self.timeout,
            _t: PhantomData,
        }
    }
}

impl<T: 'static, R: 'static> std::fmt::Debug for AgentApi<T, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentApi")
            .field("agent", &self.agent)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<T: Topic, R: 'static> AgentApi<T, R> {
    fn app(&self) -> Result<App> {
        match &self.app {
            Some(a) => Ok(a.clone()),
            None => App::current(),
        }
    }

    fn topic(&self) -> Result<TopicApi<T>> {
        Ok(TopicApi::<T>::UNBOUND.on(&self.app()?))
    }

    /// This handle bound to `app`.
    pub fn on(&self, app: &App) -> Self {
        AgentApi {
            app: Some(app.clone()),
            ..self.clone()
        }
    }

    /// This handle with `ask` (and `map`, `kvmap`, `join`) waiting at most `timeout` for each
    /// reply (default [`DEFAULT_ASK_TIMEOUT`]).
    pub fn timeout(&self, timeout: Duration) -> Self {
        AgentApi {
            timeout,
            ..self.clone()
        }
    }

    /// The agent's name.
    pub fn name(&self) -> &'static str {
        self.agent
    }

    /// The name of the topic the agent reads (for an agent declared without a topic,
    /// `{app_id}-{agent_name}` of the handle's app, or of the current one).
    pub fn topic_name(&self) -> &'static str {
        match self.app() {
            Ok(app) => app.resolve_topic(T::spec()).name,
            Err(_) => T::spec().name,
        }
    }

    /// Sends `value` under `key` to the agent's topic; see [`TopicApi::send`].
    pub async fn send(&self, key: impl Into<T::Key>, value: T::Value) -> Result<DeliveryHandle> {
        self.topic()?.send(key, value).await
    }

    /// Sends `value` (without a key) to the agent, expecting no reply (Faust's `cast`): returns
    /// once the record is handed to the producer.
    pub async fn cast(&self, value: T::Value) -> Result<()> {
        self.topic()?.record(value).send().await.map(drop)
    }

    /// Forwards a value the agent's owner yielded (`sink = [...]`; generated code calls this).
    #[doc(hidden)]
    pub async fn __sink(&self, value: T::Value) -> Result<()> {
        self.cast(value).await
    }

    /// Where forwarding to this agent leads: its topic (for the topology).
    #[doc(hidden)]
    pub fn __sink_source(&self) -> crate::SourceRef {
        <T as crate::Channel>::__source()
    }
}

impl<T: Topic, R: DeserializeOwned + Send + 'static> AgentApi<T, R> {
    async fn request(&self, key: Option<T::Key>, value: T::Value) -> Result<Pending> {
        let app = self.app()?;
        let replies = Replies::of(&app).await?;
        let pending = replies.register();
        let mut record = TopicApi::<T>::UNBOUND
            .on(&app)
            .record(value)
            .header(REPLY_TO_HEADER, replies.topic().to_string())
            .header(CORRELATION_ID_HEADER, pending.id.clone())
            // As Faust's `ask`: sent at once, also from an app used only as a client (not
            // started).
            .force(true);
        if let Some(k) = key {
            record = record.key(k);
        }
        record.send().await?;
        Ok(pending)
    }

    async fn answer(&self, pending: Pending) -> Result<R> {
        let text = pending
            .wait(self.timeout)
            .await
            .ok_or_else(|| Error::AskTimeout {
                agent: self.agent.to_string(),
                topic: self.topic_name().to_string(),
                timeout: self.timeout,
            })?;
        serde_json::from_str(&text).map_err(|e| Error::Deserialize {
            topic: self.topic_name().to_string(),
            partition: -1,
            offset: -1,
            what: "reply",
            codec: "json".into(),
            reason: e.to_string(),
            excerpt: crate::error::excerpt(text.as_bytes()),
        })
    }

    /// Sends `value` to the agent as a request and waits for what the agent yields for it
    /// (Faust's `ask`); [`Error::AskTimeout`] when nothing comes within the handle's timeout.
    /// The asking app need not be started (an app with no agents of its own can ask).
    pub async fn ask(&self, value: T::Value) -> Result<R> {
        let p = self.request(None, value).await?;
        self.answer(p).await
    }

    /// Like [`AgentApi::ask`], with a key (which also picks the partition).
    pub async fn ask_key(&self, key: impl Into<T::Key>, value: T::Value) -> Result<R> {
        let p = self.request(Some(key.into()), value).await?;
        self.answer(p).await
    }

    /// Asks for every `(key, value)` pair: sends them all, then yields the replies as they
    /// arrive (Faust's `kvmap`).
    pub async fn kvmap<I>(&self, items: I) -> Result<impl Stream<Item = Result<R>> + Send + 'static>
    where
        I: IntoIterator<Item = (T::Key, T::Value)>,
    {
        let mut sent = Vec::new();
        for (k, v) in items {
            sent.push(self.request(Some(k), v).await?);
        }
        let this = self.clone();
        Ok(sent
            .into_iter()
            .map(move |p| {
                let this = this.clone();
                async move { this.answer(p).await }
            })
            .collect::<FuturesUnordered<_>>())
    }

    /// Asks for every value (without keys): sends them all, then yields the replies as they
    /// arrive (Faust's `map`).
    pub async fn map<I>(&self, values: I) -> Result<impl Stream<Item = Result<R>> + Send + 'static>
    where
        I: IntoIterator<Item = T::Value>,
    {
        let mut sent = Vec::new();
        for v in values {
            sent.push(self.request(None, v).await?);
        }
        let this = self.clone();
        Ok(sent
            .into_iter()
            .map(move |p| {
                let this = this.clone();
                async move { this.answer(p).await }
            })
            .collect::<FuturesUnordered<_>>())
    }

    /// Asks for every value and returns the replies in the order of the values (Faust's
    /// `join`); fails with the first failed request.
    pub async fn join<I>(&self, values: I) -> Result<Vec<R>>
    where
        I: IntoIterator<Item = T::Value>,
    {
        let mut sent = Vec::new();
        for v in values {
            sent.push(self.request(None, v).await?);
        }
        futures::future::try_join_all(sent.into_iter().map(|p| self.answer(p))).await
    }

    /// Like [`AgentApi::join`] for `(key, value)` pairs (Faust's `kvjoin`).
    pub async fn kvjoin<I>(&self, items: I) -> Result<Vec<R>>
    where
        I: IntoIterator<Item = (T::Key, T::Value)>,
    {
        let mut sent = Vec::new();
        for (k, v) in items {
            sent.push(self.request(Some(k), v).await?);
        }
        futures::future::try_join_all(sent.into_iter().map(|p| self.answer(p))).await
    }
}

/// Sink forwarding for topic and channel handles (`sink = [Topic, Channel, Agent]`).
impl<T: Topic> TopicApi<T> {
    /// Forwards a value an agent yielded (`sink = [...]`; generated code calls this).
    #[doc(hidden)]
    pub async fn __sink(&self, value: T::Value) -> Result<()> {
        self.record(value).send().await.map(drop)
    }

    /// The topic, as a sink of the topology.
    #[doc(hidden)]
    pub fn __sink_source(&self) -> crate::SourceRef {
        <T as crate::Channel>::__source()
    }
}

impl<C: crate::Channel> crate::ChannelApi<C> {
    /// Forwards a value an agent yielded (`sink = [...]`; generated code calls this).
    #[doc(hidden)]
    pub async fn __sink(&self, value: C::Value) -> Result<()> {
        self.send(value).await.map(drop)
    }

    /// The channel, as a sink of the topology.
    #[doc(hidden)]
    pub fn __sink_source(&self) -> crate::SourceRef {
        C::__source()
    }
}
