//! `group_by`: repartitioning a stream by a new key through an internal topic (Faust's
//! `stream.group_by(key, name=...)`).
//!
//! The repartition topic is named as Faust names it inside an agent,
//! `{agent_name}-{source_topic}-{name}-repartition`, has the source topic's partition count and
//! serializers, and is defined and subscribed to at startup (agents run up to their first read before the app subscribes): call
//! `group_by` before the agent first reads its stream, as Faust agents do at the top of their
//! body.
//!
//! A task of its own (Faust's passive stream) forwards every source event to the repartition
//! topic under its new key, with its headers and timestamp; the record is attached to the source event, so the source offset is
//! committed only once the record is delivered. The repartitioned stream yields the events read
//! back from the repartition topic, whose offsets are committed as for any agent stream. Order
//! is kept per new key.
//!
//! ```no_run
//! use faust_runtime::prelude::*;
//! # #[derive(Serialize, Deserialize, Clone, Debug)] struct Order { account: String, amount: u64 }
//! # #[topic(name = "orders", key = String, value = Order)] struct Orders;
//! #[agent(Orders)]
//! async fn by_account(orders: Stream<Orders>) -> Result<()> {
//!     // Repartitioned through `by_account-orders-account-repartition`.
//!     let mut orders = orders.group_by(|o: &Order| o.account.clone(), "account")?;
//!     while let Some(order) = orders.next().await {
//!         // Every order of one account is processed by the worker owning its partition.
//!         println!("{} {}", order.account, order.amount);
//!     }
//!     Ok(())
//! }
//! # fn main() {}
//! ```

use crate::app::App;
use crate::channel::{Channel, SourceRef};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::runtime_topic::Dynamic;
use crate::startup::LateRoute;
use crate::stream::{Core, Delivery, Source, Stream, TopicSource};
use crate::topic::TopicSpec;
use serde::{de::DeserializeOwned, Serialize};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// Source events forwarded per poll before the repartitioned events get their turn.
const FORWARD_BUDGET: usize = 64;

/// The forwarding half of a repartitioned stream, without the source's types.
pub(crate) trait Forward: Send {
    /// Forwards what the source has ready; `Ready` once the source ended.
    fn poll_forward(&mut self, cx: &mut Context<'_>) -> Poll<()>;
}

/// Sends one source event on (to the repartition topic, or `through`'s target).
pub(crate) type SendOn<K, V> = Box<dyn FnMut(Event<K, V>) -> Result<()> + Send>;

struct Forwarder<K0, V0> {
    core: Core<K0, V0>,
    send: SendOn<K0, V0>,
    /// Where it forwards to, for errors.
    target: &'static str,
    app: App,
    agent: &'static str,
    ended: bool,
}

impl<K0: Send + 'static, V0: Send + 'static> Forward for Forwarder<K0, V0> {
    fn poll_forward(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.ended {
            return Poll::Ready(());
        }
        for _ in 0..FORWARD_BUDGET {
            let ev = match self.core.poll_event(cx, false) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    self.ended = true;
                    return Poll::Ready(());
                }
                Poll::Ready(Some(ev)) => ev,
            };
            let (partition, offset) = (ev.partition, ev.offset);
            // Sent while the source event is current: attached to it.
            match (self.send)(ev) {
                Ok(()) => self.core.finish_current(),
                Err(e) => {
                    // The event stays uncommitted: whoever owns the partition next reads it again.
                    if let Some(cur) = self.core.take_current() {
                        cur.ack.abandon();
                    }
                    self.ended = true;
                    if !self.app.is_stopping() {
                        let err = Error::Agent {
                            agent: self.agent.into(),
                            topic: self.core.name().into(),
                            partition,
                            offset,
                            reason: format!(
                                "could not forward the event to '{}': {e}",
                                self.target
                            ),
                        };
                        tracing::error!(error = %err, "stopping the worker");
                        self.app.fail(err);
                    }
                    return Poll::Ready(());
                }
            }
        }
        // More may be ready: come back after the other tasks had their turn.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// The forwarding half, shared by the forwarding task (which polls it) and the repartitioned
/// stream (which takes it out when it is dropped, so that the source goes back to the agent's
/// supervisor at once).
type SharedForward = Arc<Mutex<Option<Box<dyn Forward>>>>;

fn lock<T: ?Sized>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a repartitioned stream reads: see the module docs.
pub(crate) struct Grouped<K, V> {
    forward: SharedForward,
    task: tokio::task::JoinHandle<()>,
    source: Option<Source<K, V>>,
    /// Keeps the repartition queue for the agent's restart.
    park: Option<Park<K, V>>,
}

/// Puts a repartition queue away for the agent's restart.
type Park<K, V> = Box<dyn FnOnce(TopicSource<K, V>) + Send>;

impl<K, V> Grouped<K, V> {
    #[inline]
    pub(crate) fn poll_delivery(&mut self, cx: &mut Context<'_>) -> Poll<Option<Delivery<K, V>>> {
        match &mut self.source {
            Some(s) => s.poll_delivery(cx, "<forwarded>"),
            None => Poll::Ready(None),
        }
    }
}

impl<K, V> Drop for Grouped<K, V> {
    fn drop(&mut self) {
        // The source stream goes back to the agent's supervisor now (its restart reads it).
        let forward = lock(&self.forward).take();
        drop(forward);
        self.task.abort();
        if let (Some(Source::Topic(source)), Some(park)) = (self.source.take(), self.park.take()) {
            park(source);
        }
    }
}

/// Forwards the source in a task of its own (Faust's passive stream), so the source keeps
/// flowing while the agent processes repartitioned events. What it sends is attached to the
/// source event it is forwarding.
fn spawn_forwarder(app: &App, forward: SharedForward) -> tokio::task::JoinHandle<()> {
    let app = app.clone();
    tokio::spawn(async move {
        let forwarding = futures::future::poll_fn(move |cx| match lock(&forward).as_mut() {
            Some(f) => f.poll_forward(cx),
            None => Poll::Ready(()),
        });
        app.scope(crate::engine::context::scope(forwarding)).await
    })
}

/// Where a forwarded stream reads from.
pub(crate) enum ReadFrom<K, V> {
    /// A topic, subscribed at startup (its queue kept across the agent's restarts).
    Topic(&'static TopicSpec),
    /// A channel's queue.
    Channel(Box<Core<K, V>>),
}

/// The stream that forwards `core`'s events with `send` (in a task of its own) and reads
/// `read` (what `group_by` and `through` return).
pub(crate) fn forward_and_read<K0, V0, K, V>(
    core: Core<K0, V0>,
    send: SendOn<K0, V0>,
    read: ReadFrom<K, V>,
    what: &str,
) -> Result<Stream<Dynamic<K, V>>>
where
    K0: Send + 'static,
    V0: Send + 'static,
    K: DeserializeOwned + Send + 'static,
    V: DeserializeOwned + Send + 'static,
{
    let (Some(app), Some(agent)) = (core.app.clone(), core.agent) else {
        return Err(Error::state(format!(
            "{what} on '{}': only an agent's own stream can be forwarded",
            core.name()
        )));
    };
    if agent.concurrency > 1 {
        return Err(Error::config(format!(
            "{what} in agent '{}': an agent with concurrency {} cannot forward its stream (one instance only, as in Faust)",
            agent.name, agent.concurrency
        )));
    }
    let values_only = core.values_only;
    let startup = app.startup().clone();
    let (source, headers, name, park): (Source<K, V>, _, &'static str, Option<Park<K, V>>) =
        match read {
            ReadFrom::Topic(spec) => {
                let (source, headers) = match startup.unpark::<TopicSource<K, V>>(spec.name)? {
                    // The agent restarted: its queue was kept.
                    Some(source) => (source, None),
                    None => {
                        let (subscribers, mut sources) = crate::stream::topic_queues::<K, V>(
                            &app,
                            spec,
                            agent.name,
                            values_only,
                            1,
                        )?;
                        let Some((source, headers)) = sources.pop() else {
                            return Err(Error::state("no queue for a forwarded stream"));
                        };
                        for (name, subscriber) in subscribers {
                            startup
                                .add_route(LateRoute {
                                    spec,
                                    name,
                                    subscriber,
                                })
                                .map_err(|e| {
                                    Error::state(format!(
                                        "{what} in agent '{}': {e} (call it first thing in the agent)",
                                        agent.name
                                    ))
                                })?;
                        }
                        (source, headers)
                    }
                };
                let park_name = spec.name;
                let startup = startup.clone();
                let park: Park<K, V> =
                    Box::new(move |q: TopicSource<K, V>| startup.park(park_name, Box::new(q)));
                (Source::Topic(source), headers, spec.name, Some(park))
            }
            ReadFrom::Channel(mut c) => {
                let name = c.name();
                let source = std::mem::replace(&mut c.source, Source::Failed(None));
                (source, None, name, None)
            }
        };
    let mut core = core;
    let arrival = core.arrival.take();
    let target = name;
    let forward: SharedForward = Arc::new(Mutex::new(Some(Box::new(Forwarder {
        core,
        send,
        target,
        app: app.clone(),
        agent: agent.name,
        ended: false,
    }))));
    let grouped = Grouped {
        task: spawn_forwarder(&app, forward.clone()),
        forward,
        source: Some(source),
        park,
    };
    let mut core = Core::new(Source::Grouped(Box::new(grouped)), name);
    core.app = Some(app);
    core.agent = Some(agent);
    core.arrival = arrival;
    core.values_only = values_only;
    core.headers = headers;
    Ok(Stream::from_core(core))
}

/// The repartition topic name of `group_by(.., name)` in agent `agent` reading `source`.
pub fn repartition_topic_name(agent: &str, source: &str, name: &str) -> String {
    format!("{agent}-{source}-{name}-repartition")
}

fn check_topic_name(name: &str) -> Result<()> {
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.len() > 249 || !name.chars().all(legal) {
        return Err(Error::config(format!(
            "group_by: '{name}' is not a legal topic name (at most 249 of a-z A-Z 0-9 . _ -)"
        )));
    }
    Ok(())
}

impl<H: Channel> Stream<H>
where
    H::Value: Serialize + DeserializeOwned,
{
    /// Repartitions the stream by the key `key` computes from each value (Faust's
    /// `stream.group_by(key, name=...)`), through the internal topic
    /// `{agent_name}-{source_topic}-{name}-repartition`; see [`crate::group_by`].
    ///
    /// Call it before the agent first reads its stream. Errors: the stream is not an agent's
    /// topic stream, the agent has `concurrency > 1` (as in Faust), the name makes no legal
    /// topic name, or the app already subscribed (called after the agent's first read).
    pub fn group_by<NK, F>(self, key: F, name: &str) -> Result<Stream<Dynamic<NK, H::Value>>>
    where
        NK: Serialize + DeserializeOwned + Send + 'static,
        F: FnMut(&H::Value) -> NK + Send + 'static,
    {
        let core = self.into_core();
        if let Some(h) = &core.headers {
            // The forwarded records carry the source's headers (as Faust's `event.forward`).
            h.set(true);
        }
        let (Some(app), Some(agent)) = (core.app.clone(), core.agent) else {
            return Err(Error::state(format!(
                "group_by('{name}') on '{}': only an agent's own stream can be repartitioned",
                core.name()
            )));
        };
        if name.is_empty() {
            return Err(Error::config(format!(
                "group_by in agent '{}': the name (the repartition topic's suffix) must not be empty",
                agent.name
            )));
        }
        let SourceRef::Topic(source_spec) = app.resolve_source((agent.source)()) else {
            return Err(Error::config(format!(
                "group_by('{name}') in agent '{}': only a topic stream can be repartitioned, '{}' is a channel",
                agent.name,
                core.name()
            )));
        };
        if source_spec.pattern {
            return Err(Error::config(format!(
                "group_by('{name}') in agent '{}': a stream of the topic pattern {} cannot be repartitioned (its topics are not known up front)",
                agent.name, source_spec.name
            )));
        }
        let topic = repartition_topic_name(agent.name, core.name(), name);
        check_topic_name(&topic)?;
        let partitions = app.partitions_of(source_spec.name)?;
        let target = app
            .topic::<NK, H::Value>(topic)
            .partitions(partitions)
            .key_serializer(source_spec.key_serializer_name())
            .value_serializer(source_spec.value_serializer_name())
            .build()?;
        let spec = target.spec();
        let mut key = key;
        let send: SendOn<H::Key, H::Value> = Box::new(move |ev| {
            let k = key(&ev.value);
            target
                .record(ev.value)
                .key(k)
                .timestamp(ev.timestamp)
                .raw_headers(ev.headers)
                .send_soon()
                .map(drop)
        });
        forward_and_read(
            core,
            send,
            ReadFrom::Topic(spec),
            &format!("group_by('{name}')"),
        )
    }
}
