//! Agents: `#[agent(Handle)]` turns an `async fn` taking a typed stream into a consumer of a topic
//! or channel, supervised by the app: restarted when it fails, its failed event reported per the
//! topic's error policy.

use crate::channel::{Channel, SourceRef};
use crate::error::{panic_message, BoxError, Result};

/// The static declaration behind an `#[agent]` function.
pub struct AgentSpec {
    /// Agent name (the function's name unless given).
    pub name: &'static str,
    /// Full Rust path of the function.
    pub qualified: &'static str,
    /// Module that declared it.
    pub module: &'static str,
    /// Number of instances. They share one stream, as in Faust: each event goes to one of them,
    /// and they may finish in any order (offsets are still committed only up to the first event
    /// not done).
    pub concurrency: usize,
    /// What it reads.
    pub source: fn() -> SourceRef,
    /// Where it sends, as declared with `sink = [..]` (drawn in [`crate::topology`]).
    pub sinks: &'static [fn() -> SourceRef],
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
use crate::engine::context::{self, Current};
use crate::engine::driver::{DriverBuilder, Subscriber};
use crate::stream::{dead_letter_record, ReturnSlot};
use crate::topic::ErrorPolicy;
use futures::future::BoxFuture;
use futures::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What agents get while the app starts: the app, the driver being built, the tasks to spawn.
pub struct SubscribeCtx<'a> {
    app: &'a App,
    driver: &'a mut DriverBuilder,
    tasks: &'a mut Vec<(String, BoxFuture<'static, ()>)>,
    values_only: bool,
}

impl<'a> SubscribeCtx<'a> {
    pub(crate) fn new(
        app: &'a App,
        driver: &'a mut DriverBuilder,
        tasks: &'a mut Vec<(String, BoxFuture<'static, ()>)>,
    ) -> Self {
        SubscribeCtx {
            app,
            driver,
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

    pub(crate) fn add_subscriber(&mut self, topic: &str, subscriber: Box<dyn Subscriber>) {
        self.driver.add(topic, subscriber);
    }

    pub(crate) fn add_pattern(
        &mut self,
        pattern: crate::pattern::Pattern,
        factory: Box<dyn crate::pattern::SubscriberFactory>,
    ) {
        self.driver.add_pattern(pattern, factory);
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
    start_with(ctx, spec, f, false)
}

/// Like [`start_agent`] for an agent that yields values (it takes a `Yield<R>`): its records'
/// headers are always read, so that it can answer requests (generated code calls this).
pub fn start_yielding_agent<H, I, F, Fut, R>(
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
    start_with(ctx, spec, f, true)
}

fn start_with<H, I, F, Fut, R>(
    ctx: &mut SubscribeCtx<'_>,
    spec: &'static AgentSpec,
    f: F,
    replies: bool,
) -> Result<()>
where
    H: Channel,
    I: AgentInput<H>,
    F: Fn(I) -> Fut + Send + Sync + Copy + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: Outcome,
{
    let instances = spec.concurrency.max(1);
    ctx.values_only = I::__VALUES_ONLY && !replies;
    let streams = H::__subscribe(ctx, spec, instances);
    ctx.values_only = false;
    let streams = streams?;
    for (i, mut stream) in streams.into_iter().enumerate() {
        let app = ctx.app().clone();
        stream.bind_agent(spec, &app);
        let name = if instances > 1 {
            format!("{}#{i}", spec.name)
        } else {
            spec.name.to_string()
        };
        // One span per instance (not per event): everything the agent logs carries its name.
        let span = tracing::info_span!("agent", agent = spec.name, instance = i);
        ctx.spawn(
            name,
            Box::pin(tracing::Instrument::instrument(
                supervise::<H, I, F, Fut, R>(app, spec, i, stream, f),
                span,
            )),
        );
    }
    Ok(())
}

/// Subscribes agent `spec` with `isolated_partitions = true`: one instance per assigned
/// partition of topic `H`, started and stopped with the assignment (see [`crate::isolated`];
/// generated code calls this). `replies`: the agent takes a `Yield<R>`.
pub fn start_isolated_agent<H, I, F, Fut, R>(
    ctx: &mut SubscribeCtx<'_>,
    spec: &'static AgentSpec,
    f: F,
    replies: bool,
) -> Result<()>
where
    H: crate::Topic,
    I: AgentInput<H>,
    F: Fn(I) -> Fut + Send + Sync + Copy + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: Outcome,
{
    if H::spec().pattern {
        return Err(crate::Error::config(format!(
            "agent '{}': isolated_partitions is not supported on a topic pattern ({})",
            spec.name,
            H::spec().name
        )));
    }
    ctx.values_only = I::__VALUES_ONLY && !replies;
    let streams = crate::stream::PartitionStreams::<H>::new(ctx, spec);
    ctx.values_only = false;
    let streams = streams?;
    let app = ctx.app().clone();
    let make: crate::isolated::Factory = Box::new(move |partition: i32| {
        let (sub, stream) = streams.make();
        tracing::debug!(
            agent = spec.name,
            partition,
            "starting the partition's agent instance"
        );
        app.spawn_agent_task(Box::pin(supervise::<H, I, F, Fut, R>(
            app.clone(),
            spec,
            partition as usize,
            stream,
            f,
        )));
        sub
    });
    let topic = ctx.app().resolve_topic(H::spec()).name;
    let (sub, assigned, revoked) = crate::isolated::subscriber(topic, make);
    ctx.add_subscriber(topic, Box::new(sub));
    ctx.driver.add_hooks(assigned, revoked);
    Ok(())
}

/// How long to wait before restarting an agent instance after its `failures`-th failure in a
/// row without an event processed in between: at once the first time, then 100 ms doubling up
/// to 6.4 s.
pub(crate) fn restart_backoff(failures: u32) -> Duration {
    match failures {
        0 | 1 => Duration::ZERO,
        n => Duration::from_millis(100u64 << (n - 2).min(6)),
    }
}

/// Runs one agent instance. The rule: an instance whose function returns normally ends (logged);
/// one that fails (error or panic) has its event handled per the error policy and is restarted
/// on the same stream, at once if it had processed an event since its last start, else after a
/// growing backoff (see [`restart_backoff`]).
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
    let source = app.resolve_source((spec.source)());
    let slot: ReturnSlot<H::Key, H::Value> = Arc::new(Mutex::new(None));
    let mut failures: u32 = 0;
    let name = stream.name();
    let values_only = stream.values_only();
    loop {
        stream.set_return_slot(slot.clone());
        let input = I::__from_stream(stream);
        let (outcome, current) = context::scope(async move {
            let outcome = match AssertUnwindSafe(f(input)).catch_unwind().await {
                Ok(r) => r.__into_result(),
                Err(p) => Err(panic_message(p.as_ref()).into()),
            };
            (outcome, context::take())
        })
        .await;
        let Some(returned) = slot.lock().ok().and_then(|mut s| s.take()) else {
            tracing::error!(
                agent = spec.name,
                "agent stream was not returned; agent stops"
            );
            return;
        };
        match outcome {
            Ok(()) => {
                drop(current);
                if returned.exhausted || app.is_stopping() {
                    tracing::debug!(agent = spec.name, instance, "agent finished");
                } else {
                    tracing::info!(
                        agent = spec.name,
                        instance,
                        "agent function returned while its stream is open: this instance ends (agents are restarted only after an error or panic)"
                    );
                }
                return;
            }
            Err(err) => {
                if returned.yielded > 1 {
                    failures = 0;
                }
                failures += 1;
                app.stats().record_agent_error();
                report_failure(&app, spec, name, current.as_ref(), &*err);
                let keep_going = handle_failure(&app, spec, source, current, &*err).await;
                if !keep_going || app.is_stopping() {
                    return;
                }
            }
        }
        if returned.exhausted {
            return;
        }
        stream = crate::Stream::from_returned(returned, name, app.clone(), values_only);
        let backoff = restart_backoff(failures);
        if !backoff.is_zero() {
            tracing::info!(
                agent = spec.name,
                instance,
                ?backoff,
                failures,
                "restarting agent after a backoff"
            );
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = app.stopping() => return,
            }
        }
        app.stats().record_agent_restart();
        app.observe()
            .sensors
            .each(|s| s.on_agent_restart(spec.name));
    }
}

/// Tells the sensors an agent failed, on its current event if it had one.
fn report_failure(
    app: &App,
    spec: &'static AgentSpec,
    source: &'static str,
    current: Option<&Current>,
    err: &(dyn std::error::Error + Send + Sync),
) {
    if app.observe().sensors.get().is_none() {
        return;
    }
    let text = err.to_string();
    let event = current.map(|c| crate::sensor::EventRef {
        agent: spec.name,
        source,
        partition: c.ack.partition().partition,
        offset: c.offset,
    });
    app.observe()
        .sensors
        .each(|s| s.on_agent_error(spec.name, event.as_ref(), &text));
}

/// Reports an agent failure per the source's error policy. Returns whether the agent restarts.
async fn handle_failure(
    app: &App,
    spec: &'static AgentSpec,
    source: SourceRef,
    current: Option<Current>,
    err: &(dyn std::error::Error + Send + Sync),
) -> bool {
    let (topic_spec, policy) = match source {
        SourceRef::Topic(t) => (Some(t), app.error_policy_of(t)),
        SourceRef::Channel(_) => (None, ErrorPolicy::Skip),
    };
    let Some(ev) = current else {
        tracing::error!(agent = spec.name, error = %err, "agent failed outside of an event; restarting it");
        return true;
    };
    let partition = ev.ack.partition().partition;
    let coords = || format!("{}[{}]@{}", source.name(), partition, ev.offset);
    // Only topics have a dead-letter topic; a channel's policy is always skip.
    let policy = match (policy, topic_spec) {
        (ErrorPolicy::DeadLetter, Some(t)) => Ok(t),
        (other, _) => Err(other),
    };
    match policy {
        Err(ErrorPolicy::Skip | ErrorPolicy::DeadLetter) => {
            tracing::error!(agent = spec.name, event = %coords(), error = %err,
                "agent failed on an event; the event is reported and skipped (error policy: skip); restarting the agent");
            drop(ev.ack);
            true
        }
        Ok(t) => {
            let dlq = t.dead_letter_topic();
            let raw = ev.raw.map(|r| *r).unwrap_or(crate::stream::RawCopy {
                key: None,
                value: None,
                headers: Vec::new(),
            });
            let mut record =
                dead_letter_record(&dlq, t.name, partition, ev.offset, raw, &err.to_string());
            let event = coords();
            // The failed event is done once its dead-letter copy is delivered.
            record.notice.listener = Some(ev.ack.into_listener());
            match app.produce(record).await {
                Ok(_) => {
                    tracing::error!(agent = spec.name, event = %event, error = %err, dead_letter = %dlq,
                        "agent failed on an event; the event is dead-lettered; restarting the agent");
                    app.stats().record_dead_lettered();
                    true
                }
                Err(e) => {
                    let fatal = crate::Error::Agent {
                        agent: spec.name.into(),
                        topic: source.name().into(),
                        partition,
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
                partition,
                offset: ev.offset,
                reason: err.to_string(),
            };
            ev.ack.abandon();
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
