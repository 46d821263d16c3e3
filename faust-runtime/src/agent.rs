//! Agents: `#[agent(Handle)]` turns an `async fn` taking a typed stream into a consumer of a topic
//! or channel, supervised by the app: restarted when it fails, its failed event reported per the
//! topic's error policy.

use crate::channel::{Channel, SourceRef};
use crate::error::{BoxError, Result};

/// The static declaration behind an `#[agent]` function.
pub struct AgentSpec {
    /// Agent name (the function's name unless given).
    pub name: &'static str,
    /// Full Rust path of the function.
    pub qualified: &'static str,
    /// Module that declared it.
    pub module: &'static str,
    /// Number of instances; a topic's partitions are split among them (partition % concurrency),
    /// so each partition stays in order.
    pub concurrency: usize,
    /// What it reads.
    pub source: fn() -> SourceRef,
    /// Subscribes and spawns the agent's instances (generated; calls [`start_agent`]).
    pub start: fn(&mut SubscribeCtx<'_>) -> Result<()>,
}

impl std::fmt::Debug for AgentSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentSpec")
            .field("name", &self.name)
            .field("source", &(self.source)().name())
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

/// What an agent function may take: `Stream<H>` (values) or `Events<H>` (whole events) of the
/// handle named in its attribute.
#[diagnostic::on_unimplemented(
    message = "this agent reads `{H}`, so its argument must be `Stream<{H}>` or `Events<{H}>`, not `{Self}`",
    label = "expected `Stream<{H}>` or `Events<{H}>`",
    note = "the stream's items are the values of the topic or channel named in #[agent(..)]"
)]
pub trait AgentInput<H: Channel>: Send + 'static {
    #[doc(hidden)]
    const __VALUES_ONLY: bool;
    #[doc(hidden)]
    fn __from_stream(stream: crate::Stream<H>) -> Self;
}

impl<H: Channel> AgentInput<H> for crate::Stream<H> {
    const __VALUES_ONLY: bool = true;
    fn __from_stream(stream: crate::Stream<H>) -> Self {
        stream
    }
}

impl<H: Channel> AgentInput<H> for crate::Events<H> {
    const __VALUES_ONLY: bool = false;
    fn __from_stream(stream: crate::Stream<H>) -> Self {
        stream.events()
    }
}

/// What an agent or timer function may return: `()` or `Result<(), E>` for any error type that
/// converts into a boxed error (`faust_runtime::Error`, `std::io::Error`, `anyhow::Error`, ...).
#[diagnostic::on_unimplemented(
    message = "an agent or timer must return `()` or `Result<(), E>`, not `{Self}`",
    label = "unsupported return type",
    note = "use `faust_runtime::Result<()>` or any `Result<(), E>` whose error converts into `Box<dyn Error + Send + Sync>`"
)]
pub trait Outcome: Send + 'static {
    #[doc(hidden)]
    fn __into_result(self) -> Result<(), BoxError>;
}

impl Outcome for () {
    fn __into_result(self) -> Result<(), BoxError> {
        Ok(())
    }
}

impl<E: Into<BoxError> + Send + 'static> Outcome for std::result::Result<(), E> {
    fn __into_result(self) -> Result<(), BoxError> {
        self.map_err(Into::into)
    }
}

use crate::app::App;
use crate::dispatch::{DispatcherBuilder, Sink};
use crate::stream::{dead_letter_record, InFlight, ReturnSlot};
use crate::topic::ErrorPolicy;
use futures::future::BoxFuture;
use futures::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What agents get while the app starts: the app, the dispatcher being built, the tasks to spawn.
pub struct SubscribeCtx<'a> {
    app: &'a App,
    dispatcher: &'a mut DispatcherBuilder,
    tasks: &'a mut Vec<(String, BoxFuture<'static, ()>)>,
    values_only: bool,
}

impl<'a> SubscribeCtx<'a> {
    pub(crate) fn new(
        app: &'a App,
        dispatcher: &'a mut DispatcherBuilder,
        tasks: &'a mut Vec<(String, BoxFuture<'static, ()>)>,
    ) -> Self {
        SubscribeCtx {
            app,
            dispatcher,
            tasks,
            values_only: false,
        }
    }

    /// Whether the agent being subscribed reads values only (`Stream<T>`, not `Events<T>`), so
    /// record headers need not be copied for it.
    pub fn values_only(&self) -> bool {
        self.values_only
    }

    /// The app being started.
    pub fn app(&self) -> &App {
        self.app
    }

    pub(crate) fn add_sink(&mut self, topic: &str, partitions: usize, sink: Box<dyn Sink>) {
        self.dispatcher.add(topic, partitions, sink);
    }

    fn spawn(&mut self, name: String, fut: BoxFuture<'static, ()>) {
        self.tasks.push((name, fut));
    }
}

/// Subscribes agent `spec` to its source and queues one supervised task per instance
/// (generated code calls this).
pub fn start_agent<H, I, F, Fut, R>(
    ctx: &mut SubscribeCtx<'_>,
    spec: &'static AgentSpec,
    f: F,
) -> Result<()>
where
    H: Channel,
    I: AgentInput<H>,
    F: Fn(I) -> Fut + Send + Sync + Copy + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: Outcome,
{
    let instances = spec.concurrency.max(1);
    ctx.values_only = I::__VALUES_ONLY;
    let streams = H::__subscribe(ctx, spec, instances);
    ctx.values_only = false;
    let streams = streams?;
    for (i, stream) in streams.into_iter().enumerate() {
        let app = ctx.app().clone();
        let name = if instances > 1 {
            format!("{}#{i}", spec.name)
        } else {
            spec.name.to_string()
        };
        ctx.spawn(
            name,
            Box::pin(supervise::<H, I, F, Fut, R>(app, spec, i, stream, f)),
        );
    }
    Ok(())
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        format!("panicked: {s}")
    } else if let Some(s) = p.downcast_ref::<String>() {
        format!("panicked: {s}")
    } else {
        "panicked".to_string()
    }
}

async fn supervise<H, I, F, Fut, R>(
    app: App,
    spec: &'static AgentSpec,
    instance: usize,
    mut stream: crate::Stream<H>,
    f: F,
) where
    H: Channel,
    I: AgentInput<H>,
    F: Fn(I) -> Fut + Send + Sync + Copy + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: Outcome,
{
    let source = (spec.source)();
    let slot: ReturnSlot<H::Key, H::Value> = Arc::new(Mutex::new(None));
    let mut failures: u32 = 0;
    let name = stream.name();
    let acks = stream.acks();
    let values_only = stream.values_only();
    loop {
        stream.set_return_slot(slot.clone());
        let input = I::__from_stream(stream);
        let outcome = match AssertUnwindSafe(f(input)).catch_unwind().await {
            Ok(r) => r.__into_result(),
            Err(p) => Err(panic_message(p.as_ref()).into()),
        };
        let Some(returned) = slot.lock().ok().and_then(|mut s| s.take()) else {
            tracing::error!(
                agent = spec.name,
                "agent stream was not returned; agent stops"
            );
            return;
        };
        let exhausted = returned.exhausted;
        match outcome {
            Ok(()) => {
                if let (Some(f), Some(t)) = (&returned.in_flight, &acks) {
                    t.ack(f.partition, f.offset);
                }
                failures = 0;
                if exhausted || app.is_stopping() {
                    tracing::debug!(agent = spec.name, instance, "agent finished");
                    return;
                }
                tracing::info!(
                    agent = spec.name,
                    instance,
                    "agent returned while its stream is open; restarting it"
                );
            }
            Err(err) => {
                failures += 1;
                app.stats().record_agent_error();
                let keep_going = handle_failure(
                    &app,
                    spec,
                    source,
                    returned.in_flight.as_ref(),
                    &acks,
                    &*err,
                )
                .await;
                if !keep_going {
                    if let Some(t) = &acks {
                        t.close();
                    }
                    return;
                }
            }
        }
        stream =
            crate::Stream::from_returned(returned, name, acks.clone(), app.clone(), values_only);
        if exhausted {
            return;
        }
        if failures > 0 {
            let backoff = Duration::from_millis(100u64 << failures.min(6));
            tracing::info!(agent = spec.name, instance, ?backoff, "restarting agent");
            tokio::time::sleep(backoff).await;
            app.stats().record_agent_restart();
        }
    }
}

/// Reports an agent failure per the source's error policy. Returns whether the agent restarts.
async fn handle_failure(
    app: &App,
    spec: &'static AgentSpec,
    source: SourceRef,
    in_flight: Option<&InFlight>,
    acks: &Option<Arc<crate::dispatch::AckTable>>,
    err: &(dyn std::error::Error + Send + Sync),
) -> bool {
    let (topic_spec, policy) = match source {
        SourceRef::Topic(t) => (Some(t), app.error_policy_of(t)),
        SourceRef::Channel(_) => (None, ErrorPolicy::Skip),
    };
    let Some(ev) = in_flight else {
        tracing::error!(agent = spec.name, error = %err, "agent failed outside of an event; restarting it");
        return true;
    };
    let coords = || format!("{}[{}]@{}", source.name(), ev.partition, ev.offset);
    // Only topics have a dead-letter topic; a channel's policy is always skip.
    let policy = match (policy, topic_spec) {
        (ErrorPolicy::DeadLetter, Some(t)) => Ok(t),
        (other, _) => Err(other),
    };
    match policy {
        Err(ErrorPolicy::Skip | ErrorPolicy::DeadLetter) => {
            tracing::error!(agent = spec.name, event = %coords(), error = %err,
                "agent failed on an event; the event is reported and skipped (error policy: skip); restarting the agent");
            if let Some(t) = acks {
                t.ack(ev.partition, ev.offset);
            }
            true
        }
        Ok(t) => {
            let dlq = t.dead_letter_topic();
            let raw = ev
                .raw
                .as_deref()
                .cloned()
                .unwrap_or(crate::stream::RawCopy {
                    key: None,
                    value: None,
                    headers: Vec::new(),
                });
            let record =
                dead_letter_record(&dlq, t.name, ev.partition, ev.offset, raw, &err.to_string());
            let sent = match app.transport().send(record) {
                Ok(h) => h.await,
                Err(e) => Err(e),
            };
            match sent {
                Ok(_) => {
                    tracing::error!(agent = spec.name, event = %coords(), error = %err, dead_letter = %dlq,
                        "agent failed on an event; the event was dead-lettered; restarting the agent");
                    app.stats().record_dead_lettered();
                    if let Some(t) = acks {
                        t.ack(ev.partition, ev.offset);
                    }
                    true
                }
                Err(e) => {
                    let fatal = crate::Error::Agent {
                        agent: spec.name.into(),
                        topic: source.name().into(),
                        partition: ev.partition,
                        offset: ev.offset,
                        reason: format!("{err}; dead-lettering it failed too: {e}"),
                    };
                    tracing::error!(error = %fatal, "stopping the worker");
                    app.fail(fatal);
                    false
                }
            }
        }
        Err(ErrorPolicy::Stop) => {
            let fatal = crate::Error::Agent {
                agent: spec.name.into(),
                topic: source.name().into(),
                partition: ev.partition,
                offset: ev.offset,
                reason: err.to_string(),
            };
            tracing::error!(error = %fatal, "agent failed; error policy is stop: stopping the worker, nothing past this event is committed");
            app.fail(fatal);
            false
        }
    }
}

/// Boxes a timer's future (generated code calls this).
pub fn timer_future<Fut, R>(fut: Fut) -> BoxFuture<'static, Result<(), BoxError>>
where
    Fut: Future<Output = R> + Send + 'static,
    R: Outcome,
{
    Box::pin(async move { fut.await.__into_result() })
}
