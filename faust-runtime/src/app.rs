//! The App: settings, transport, registrations, and the worker lifecycle
//! (start → run → stop, with drained agents and committed offsets).

use crate::agent::SubscribeCtx;
use crate::channel::{Channel, ChannelQueue};
use crate::engine::driver::{DriverBuilder, DriverOptions, PartitionHook, StopSignal, Subscriber};
use crate::error::{Error, Result};
use crate::manager::TopicManager;
use crate::registry::Selection;
use crate::settings::Settings;
use crate::topic::{ErrorPolicy, TopicSpec};
use crate::transport::{
    memory::MemoryBroker, ConsumerConfig, NewTopic, SharedTransport, TopicPartition,
    TransportHealth,
};
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;

tokio::task_local! {
    static CURRENT: App;
    /// Set in the app's own tasks (agents, timers): `stop()` there only asks for the stop.
    static APP_TASK: ();
}

const BUILT: u8 = 0;
const STARTING: u8 = 1;
const RUNNING: u8 = 2;
const STOPPING: u8 = 3;
const STOPPED: u8 = 4;

/// Where an app is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppState {
    /// Built, not started.
    Built,
    /// Creating topics, subscribing.
    Starting,
    /// Processing.
    Running,
    /// Draining agents, committing.
    Stopping,
    /// Stopped (for good: build a new App to run again).
    Stopped,
}

/// Counters of what went wrong while running.
#[derive(Debug, Default)]
pub struct Stats {
    missing_topics: Mutex<Vec<String>>,
    recreated_topics: AtomicU64,
    skipped: AtomicU64,
    dead_lettered: AtomicU64,
    agent_errors: AtomicU64,
    agent_restarts: AtomicU64,
    timer_errors: AtomicU64,
    group_rejoins: AtomicU64,
}

impl Stats {
    pub(crate) fn record_timer_error(&self) {
        self.timer_errors.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn set_missing_topics(&self, names: Vec<String>) {
        *lock(&self.missing_topics) = names;
    }
    pub(crate) fn record_recreated_topic(&self) {
        self.recreated_topics.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn record_group_rejoin(&self) {
        self.group_rejoins.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn record_skipped(&self) {
        self.skipped.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn record_dead_lettered(&self) {
        self.dead_lettered.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn record_agent_error(&self) {
        self.agent_errors.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn record_agent_restart(&self) {
        self.agent_restarts.fetch_add(1, Ordering::Relaxed);
    }
}

/// A snapshot of an app's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// Lifecycle state.
    pub state: AppState,
    /// Records skipped because they did not decode (policy `skip`).
    pub skipped: u64,
    /// Records forwarded to a dead-letter topic.
    pub dead_lettered: u64,
    /// Agent failures (errors and panics).
    pub agent_errors: u64,
    /// Agent restarts after failures.
    pub agent_restarts: u64,
    /// Failed runs (errors and panics) of timers, crontabs and tasks.
    pub timer_errors: u64,
    /// The error that stopped the worker, if any.
    pub fatal: Option<String>,
    /// Broker errors seen by the transport.
    pub transport: TransportHealth,
    /// Topics the app uses that were missing on the broker at the last check.
    pub missing_topics: Vec<String>,
    /// Topics recreated after they disappeared from the broker.
    pub recreated_topics: u64,
    /// Times the consumer joined its group again because no assignment followed a lost one
    /// (see [`crate::Settings::group_join_timeout`]).
    pub group_rejoins: u64,
    /// The app's tables: active partitions and recovery progress.
    pub tables: Vec<crate::table::TableHealth>,
}

struct Running {
    /// The consume driver's task (and the monitor that fails the app if it dies).
    consumer: Option<tokio::task::JoinHandle<()>>,
    agents: JoinSet<()>,
    timers: JoinSet<()>,
    timer_stop: watch::Sender<bool>,
}

type ErasedQueue = (Arc<dyn Any + Send + Sync>, Box<dyn Fn() + Send + Sync>);

pub(crate) struct AppCore {
    id: String,
    settings: Settings,
    transport: SharedTransport,
    modules: Vec<String>,
    state: AtomicU8,
    channels: RwLock<HashMap<TypeId, ErasedQueue>>,
    partitions: RwLock<HashMap<String, i32>>,
    /// `Some(deadline)` once stopping: the consume drivers end intake and finish by then.
    stop_signal: watch::Sender<Option<tokio::time::Instant>>,
    /// Becomes true when stopping begins (agents and timers stop waiting on it).
    stop_tx: watch::Sender<bool>,
    stop_requested: watch::Sender<bool>,
    stopped: watch::Sender<bool>,
    fatal: Mutex<Option<Error>>,
    fatal_text: Mutex<Option<String>>,
    running: tokio::sync::Mutex<Option<Running>>,
    stats: Stats,
    readers: AtomicU64,
    on_assign: Vec<PartitionHook>,
    on_revoke: Vec<PartitionHook>,
    on_startup: Vec<crate::hooks::Hook>,
    on_shutdown: Vec<crate::hooks::Hook>,
    pub(crate) producer: crate::producer::Overflow,
    /// Sensors, metrics, blocking-timeout slots, readiness.
    pub(crate) observe: crate::observe::Observe,
    /// Topics defined at runtime ([`App::topic`]) and internal ones (dead-letter topics).
    defined: RwLock<Vec<&'static TopicSpec>>,
    /// Closers of the channels defined at runtime ([`App::channel`]), run at stop.
    channel_closers: Mutex<Vec<Box<dyn Fn() + Send + Sync>>>,
    /// The app's tables (see [`crate::table`]).
    pub(crate) tables: crate::table::Tables,
    /// Topics agents subscribe to while the app starts (see `crate::startup`).
    startup: Arc<crate::startup::Startup>,
    /// The reply topic and waiting callers of `ask`, made on first use ([`crate::reply`]).
    pub(crate) replies: tokio::sync::OnceCell<Arc<crate::reply::Replies>>,
    /// Whether this worker leads its group ([`crate::leader`]).
    pub(crate) leadership: crate::leader::Leadership,
    /// The app's copies of agents' own topics (see `crate::agent_topic`).
    pub(crate) agent_topics: crate::agent_topic::AgentTopics,
}

/// A stream-processing application: a handle, cheap to clone.
///
/// ```no_run
/// # async fn demo() -> faust_runtime::Result<()> {
/// let app = faust_runtime::App::builder("orders-app").broker("memory://").build()?;
/// app.run().await // until SIGINT/SIGTERM
/// # }
/// ```
#[derive(Clone)]
pub struct App {
    core: Arc<AppCore>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("id", &self.core.id)
            .field("broker", &self.core.transport.url())
            .field("state", &self.state())
            .finish()
    }
}

/// Builds an [`App`].
#[must_use]
pub struct AppBuilder {
    id: String,
    settings: Settings,
    transport: Option<SharedTransport>,
    modules: Vec<String>,
    on_assign: Vec<PartitionHook>,
    on_revoke: Vec<PartitionHook>,
    sensors: Vec<Arc<dyn crate::sensor::Sensor>>,
    on_startup: Vec<crate::hooks::Hook>,
    on_shutdown: Vec<crate::hooks::Hook>,
}

impl AppBuilder {
    /// Registers a [`Sensor`](crate::sensor::Sensor): the engine calls its hooks as records
    /// move through the app (see [`crate::sensor`]). May be given several times.
    pub fn sensor<S: crate::sensor::Sensor>(mut self, sensor: Arc<S>) -> Self {
        self.sensors.push(sensor);
        self
    }

    /// Warns when an agent spends longer than `timeout` on one event, or a timer on one run
    /// (Faust's `blocking_timeout`); see [`crate::blocking`].
    pub fn blocking_timeout(mut self, timeout: Duration) -> Self {
        self.settings.blocking_timeout = Some(timeout);
        self
    }

    /// Runs `hook` while the app starts, once its topics exist and before any agent consumes
    /// (and before timers and tasks start); an error fails [`App::start`]. Hooks run in the
    /// order given. See [`crate::hooks`].
    pub fn on_startup<F, Fut, E>(mut self, hook: F) -> Self
    where
        F: Fn(App) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = std::result::Result<(), E>> + Send + 'static,
        E: Into<crate::BoxError> + 'static,
    {
        self.on_startup.push(crate::hooks::hook(hook));
        self
    }

    /// Runs `hook` while the app stops, once its agents have stopped and their offsets are
    /// committed, before the producer's final flush (it may still send); an error is logged.
    pub fn on_shutdown<F, Fut, E>(mut self, hook: F) -> Self
    where
        F: Fn(App) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = std::result::Result<(), E>> + Send + 'static,
        E: Into<crate::BoxError> + 'static,
    {
        self.on_shutdown.push(crate::hooks::hook(hook));
        self
    }

    /// Runs `hook` whenever partitions are assigned to this worker, before any of their records
    /// reaches an agent (e.g. to restore state for them). The consumer waits for it.
    pub fn on_partitions_assigned<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Vec<TopicPartition>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        self.on_assign
            .push(Arc::new(move |tps| Box::pin(hook(tps))));
        self
    }

    /// Runs `hook` whenever partitions are revoked from this worker, after their in-flight
    /// events are finished and committed and before they are released to the next owner.
    pub fn on_partitions_revoked<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Vec<TopicPartition>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        self.on_revoke
            .push(Arc::new(move |tps| Box::pin(hook(tps))));
        self
    }

    /// Broker URL: `memory://` (embedded, private), `memory://NAME` (embedded, shared by name
    /// within the process), `kafka://host:port[;host:port]`, or `kafka+ssl://...` for TLS.
    pub fn broker(mut self, url: impl Into<String>) -> Self {
        self.settings.broker = url.into();
        self
    }
    /// What the Kafka clients authenticate with (Faust's `broker_credentials`; see
    /// [`crate::transport::credentials`]).
    pub fn broker_credentials(
        mut self,
        credentials: impl Into<crate::transport::credentials::Credentials>,
    ) -> Self {
        self.settings.kafka.broker_credentials = Some(credentials.into());
        self
    }
    /// App version (consumer group `{id}-v{version}` above 1).
    pub fn version(mut self, version: u32) -> Self {
        self.settings.version = version;
        self
    }
    /// Default partitions of declared topics.
    pub fn topic_partitions(mut self, n: i32) -> Self {
        self.settings.topic_partitions = n;
        self
    }
    /// Commit interval.
    pub fn commit_interval(mut self, every: Duration) -> Self {
        self.settings.commit_interval = every;
        self
    }
    /// Buffer of each agent stream.
    pub fn stream_buffer_maxsize(mut self, n: usize) -> Self {
        self.settings.stream_buffer_maxsize = n;
        self
    }
    /// Default error policy.
    pub fn on_error(mut self, policy: ErrorPolicy) -> Self {
        self.settings.on_error = policy;
        self
    }
    /// How long stopping waits for agents.
    pub fn shutdown_timeout(mut self, t: Duration) -> Self {
        self.settings.shutdown_timeout = t;
        self
    }
    /// Replaces all settings (the id stays).
    pub fn settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }
    /// Changes settings in place.
    pub fn configure(mut self, f: impl FnOnce(&mut Settings)) -> Self {
        f(&mut self.settings);
        self
    }
    /// Uses this transport instead of one made from the broker URL (e.g. a shared
    /// [`MemoryBroker`]).
    pub fn transport(mut self, transport: SharedTransport) -> Self {
        self.transport = Some(transport);
        self
    }
    /// Runs only the agents, timers, topics and channels declared in this module or below it
    /// (`module_path!()`); may be given several times. Without it the app runs every
    /// registration in the binary.
    pub fn include_module(mut self, module: impl Into<String>) -> Self {
        self.modules.push(module.into());
        self
    }

    /// Replaces the app id given to [`App::builder`] (the worker's `--id`).
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    /// The app id, settings and module filters so far (for the command line).
    pub(crate) fn parts(&self) -> (&str, &Settings, &[String]) {
        (&self.id, &self.settings, &self.modules)
    }

    /// Builds the app: validates settings and creates the transport (no I/O yet).
    pub fn build(self) -> Result<App> {
        if self.id.trim().is_empty() {
            return Err(Error::config("app id must not be empty"));
        }
        self.settings.validate()?;
        let transport: SharedTransport = match self.transport {
            Some(t) => t,
            None => make_transport(&self.settings)?,
        };
        let observe = crate::observe::Observe::new(self.sensors, &self.settings);
        Ok(App {
            core: Arc::new(AppCore {
                id: self.id,
                settings: self.settings,
                transport,
                modules: self.modules,
                state: AtomicU8::new(BUILT),
                channels: RwLock::new(HashMap::new()),
                partitions: RwLock::new(HashMap::new()),
                stop_signal: watch::channel(None).0,
                stop_tx: watch::channel(false).0,
                stop_requested: watch::channel(false).0,
                stopped: watch::channel(false).0,
                fatal: Mutex::new(None),
                fatal_text: Mutex::new(None),
                running: tokio::sync::Mutex::new(None),
                stats: Stats::default(),
                readers: AtomicU64::new(0),
                on_assign: self.on_assign,
                on_revoke: self.on_revoke,
                on_startup: self.on_startup,
                on_shutdown: self.on_shutdown,
                producer: Default::default(),
                observe,
                defined: RwLock::new(Vec::new()),
                channel_closers: Mutex::new(Vec::new()),
                tables: Default::default(),
                startup: Default::default(),
                replies: tokio::sync::OnceCell::new(),
                leadership: Default::default(),
                agent_topics: Default::default(),
            }),
        })
    }
}

fn make_transport(settings: &Settings) -> Result<SharedTransport> {
    let url = settings.broker.trim();
    if url.starts_with("memory://") {
        return Ok(Arc::new(MemoryBroker::from_url(url)?));
    }
    if crate::transport::credentials::is_kafka_url(url) {
        #[cfg(feature = "kafka")]
        {
            return Ok(Arc::new(crate::transport::kafka::KafkaTransport::new(
                url,
                &settings.kafka,
                settings.broker_connect_timeout,
            )?));
        }
        #[cfg(not(feature = "kafka"))]
        {
            return Err(Error::config(format!(
                "'{url}' needs the `kafka` feature of faust-runtime"
            )));
        }
    }
    Err(Error::config(format!(
        "unsupported broker URL '{url}': use memory:// or kafka://host:port"
    )))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|p| p.into_inner())
}

static DEFAULT_APP: RwLock<Option<Weak<AppCore>>> = RwLock::new(None);

impl App {
    /// Starts building an app with this id (also the consumer group id).
    pub fn builder(id: impl Into<String>) -> AppBuilder {
        AppBuilder {
            id: id.into(),
            settings: Settings::default(),
            transport: None,
            modules: Vec::new(),
            on_assign: Vec::new(),
            on_revoke: Vec::new(),
            sensors: Vec::new(),
            on_startup: Vec::new(),
            on_shutdown: Vec::new(),
        }
    }

    /// The app running the current agent or timer, or entered with [`App::scope`], or the one
    /// started by the generated `main`.
    pub fn current() -> Result<App> {
        if let Ok(app) = CURRENT.try_with(|a| a.clone()) {
            return Ok(app);
        }
        let default = DEFAULT_APP.read().unwrap_or_else(|p| p.into_inner());
        if let Some(core) = default.as_ref().and_then(Weak::upgrade) {
            return Ok(App { core });
        }
        Err(Error::state(
            "no app here: call this from an agent or timer, inside `app.scope(..)`, or bind the handle with `.on(&app)`",
        ))
    }

    /// Runs `f` with the app [`App::current`] finds, without taking another reference to it
    /// when it is the task's (the per-event path of the table handles).
    pub(crate) fn with_current<R>(f: impl FnOnce(&App) -> R) -> Result<R> {
        let mut f = Some(f);
        if let Ok(Some(r)) = CURRENT.try_with(|a| f.take().map(|f| f(a))) {
            return Ok(r);
        }
        let app = Self::current()?;
        match f.take() {
            Some(f) => Ok(f(&app)),
            None => Err(Error::state("the current app's handle ran twice")),
        }
    }

    /// Runs `fut` with this app as the current one, so unbound handles (`Orders.send(..)`) use it.
    pub async fn scope<F: std::future::Future>(&self, fut: F) -> F::Output {
        CURRENT.scope(self.clone(), fut).await
    }

    /// Makes this app the process-wide fallback for unbound handles (the generated `main` does).
    pub fn set_default(&self) {
        *DEFAULT_APP.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::downgrade(&self.core));
    }

    /// The app id.
    pub fn id(&self) -> &str {
        &self.core.id
    }

    /// The consumer group id: the app id, `{id}-v{version}` when version > 1.
    pub fn group_id(&self) -> String {
        if self.core.settings.version > 1 {
            format!("{}-v{}", self.core.id, self.core.settings.version)
        } else {
            self.core.id.clone()
        }
    }

    /// The module filters the app selects its registrations with (empty: the whole binary).
    pub(crate) fn modules(&self) -> &[String] {
        &self.core.modules
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.core.settings
    }

    pub(crate) fn from_core(core: Arc<AppCore>) -> App {
        App { core }
    }

    pub(crate) fn core_ref(&self) -> &AppCore {
        &self.core
    }

    pub(crate) fn observe(&self) -> &crate::observe::Observe {
        &self.core.observe
    }

    /// Where the web server listens, once started (`None` when it is off).
    pub fn web_addr(&self) -> Option<std::net::SocketAddr> {
        self.core.observe.web.addr()
    }

    /// The sensors registered on the app (the metrics sensor among them when the web server
    /// is on).
    pub fn sensors(&self) -> &[Arc<dyn crate::sensor::Sensor>] {
        self.core.observe.sensors.get().unwrap_or(&[])
    }

    /// The app's Prometheus metrics: there when the web server is on.
    pub fn metrics(&self) -> Option<&Arc<crate::metrics::Metrics>> {
        self.core.observe.metrics.as_ref()
    }

    /// The transport.
    pub fn transport(&self) -> &SharedTransport {
        &self.core.transport
    }

    /// Defines a topic at runtime (Faust's `app.topic("name", key_type=.., value_type=..)`),
    /// with the options `#[topic]` takes; see [`crate::runtime_topic`].
    pub fn topic<K, V>(&self, name: impl Into<String>) -> crate::TopicBuilder<K, V>
    where
        K: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
        V: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
    {
        crate::TopicBuilder::new(self.clone(), name.into())
    }

    /// Defines a channel at runtime (Faust's `app.channel(key_type=.., value_type=..)`), with
    /// the options `#[channel]` takes; see [`crate::runtime_channel`].
    pub fn channel<K: Send + 'static, V: Send + 'static>(&self) -> crate::ChannelBuilder<K, V> {
        crate::ChannelBuilder::new(self.clone())
    }

    /// Registers the closer of a channel defined at runtime (run when the app stops).
    pub(crate) fn add_channel_closer(&self, close: Box<dyn Fn() + Send + Sync>) {
        lock(&self.core.channel_closers).push(close);
    }

    /// The runtime definition of topic `name`, if there is one.
    pub(crate) fn defined_topic(&self, name: &str) -> Option<&'static TopicSpec> {
        read(&self.core.defined)
            .iter()
            .find(|s| s.name == name)
            .copied()
    }

    /// Registers a runtime definition (the first one of a name wins); returns the one in force.
    pub(crate) fn define_topic(&self, spec: &'static TopicSpec) -> &'static TopicSpec {
        let mut defined = self.core.defined.write().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = defined.iter().find(|s| s.name == spec.name) {
            return existing;
        }
        defined.push(spec);
        spec
    }

    /// An internal topic (dead-letter, later repartition and changelog topics) with the app's
    /// defaults, defined like a runtime topic.
    fn define_internal(&self, name: &str) -> &'static TopicSpec {
        if let Some(s) = self.defined_topic(name) {
            return s;
        }
        let spec: &'static TopicSpec = Box::leak(Box::new(TopicSpec {
            name: Box::leak(name.to_string().into_boxed_str()),
            ..TopicSpec::DEFAULT
        }));
        self.define_topic(spec)
    }

    /// The startup window (see [`crate::startup`]).
    pub(crate) fn startup(&self) -> &Arc<crate::startup::Startup> {
        &self.core.startup
    }

    /// An internal topic of `partitions` partitions (the leader election topic).
    fn define_internal_with(&self, name: &str, partitions: i32) -> &'static TopicSpec {
        if let Some(s) = self.defined_topic(name) {
            return s;
        }
        let spec: &'static TopicSpec = Box::leak(Box::new(TopicSpec {
            name: Box::leak(name.to_string().into_boxed_str()),
            partitions: Some(partitions),
            ..TopicSpec::DEFAULT
        }));
        self.define_topic(spec)
    }

    /// The topic manager (create, delete, list).
    pub fn topics(&self) -> TopicManager<'_> {
        TopicManager::new(self)
    }

    /// Lifecycle state.
    pub fn state(&self) -> AppState {
        match self.core.state.load(Ordering::Acquire) {
            BUILT => AppState::Built,
            STARTING => AppState::Starting,
            RUNNING => AppState::Running,
            STOPPING => AppState::Stopping,
            _ => AppState::Stopped,
        }
    }

    /// Whether this worker is its group's leader: it holds partition 0 of the election topic
    /// `{app_id}-__assignor-__leader` (only apps with an `on_leader` timer take part; see
    /// [`crate::leader`]).
    pub fn is_leader(&self) -> bool {
        self.core.leadership.is_leader()
    }

    /// Whether the app is running (sends without `force` are allowed).
    pub fn is_running(&self) -> bool {
        self.core.state.load(Ordering::Acquire) == RUNNING
    }

    pub(crate) fn is_stopping(&self) -> bool {
        self.core.state.load(Ordering::Acquire) >= STOPPING
    }

    /// Whether records may be sent: from start (or with `force` before it) until the final
    /// producer flush at stop.
    pub(crate) fn check_can_send(&self, force: bool, what: &str) -> Result<()> {
        match self.core.state.load(Ordering::Acquire) {
            STOPPED => Err(Error::state(format!(
                "cannot send to '{what}': app '{}' has stopped",
                self.core.id
            ))),
            BUILT | STARTING if !force => Err(Error::state(format!(
                "cannot send to '{what}': app '{}' is not running (start it first, or send with .force(true))",
                self.core.id
            ))),
            _ => Ok(()),
        }
    }

    /// Whether the app has not started yet (built, or still starting).
    pub(crate) fn before_start(&self) -> bool {
        self.core.state.load(Ordering::Acquire) <= STARTING
    }

    /// Resolves once stopping has begun.
    pub(crate) async fn stopping(&self) {
        let mut rx = self.core.stop_tx.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    /// Makes sure a declared topic exists on the broker (created with its declared settings),
    /// e.g. before a `force` send ahead of start.
    pub(crate) async fn ensure_declared(&self, spec: &TopicSpec) -> Result<i32> {
        if let Some(n) = read(&self.core.partitions).get(spec.name) {
            return Ok(*n);
        }
        let n = self.ensure_topic(spec).await?;
        self.remember_partitions(spec.name, n);
        Ok(n)
    }

    pub(crate) fn stats(&self) -> &Stats {
        &self.core.stats
    }

    /// Health: state, error counters, the fatal error if any, transport errors.
    pub fn health(&self) -> Health {
        let s = &self.core.stats;
        Health {
            state: self.state(),
            skipped: s.skipped.load(Ordering::Relaxed),
            dead_lettered: s.dead_lettered.load(Ordering::Relaxed),
            agent_errors: s.agent_errors.load(Ordering::Relaxed),
            agent_restarts: s.agent_restarts.load(Ordering::Relaxed),
            timer_errors: s.timer_errors.load(Ordering::Relaxed),
            fatal: lock(&self.core.fatal_text).clone(),
            transport: self.core.transport.health(),
            missing_topics: lock(&s.missing_topics).clone(),
            recreated_topics: s.recreated_topics.load(Ordering::Relaxed),
            group_rejoins: s.group_rejoins.load(Ordering::Relaxed),
            tables: self.core.tables.health(),
        }
    }

    /// The error policy for a topic: declared, else the app default.
    pub(crate) fn error_policy_of(&self, spec: &TopicSpec) -> ErrorPolicy {
        spec.declared_on_error()
            .unwrap_or(self.core.settings.on_error)
    }

    /// The partition count of a topic: as found or created at startup, else declared, else the
    /// app default.
    pub(crate) fn partitions_of(&self, topic: &str) -> Result<i32> {
        if let Some(n) = self
            .core
            .partitions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(topic)
        {
            return Ok(*n);
        }
        Ok(self.core.settings.topic_partitions)
    }

    pub(crate) fn remember_partitions(&self, topic: &str, n: i32) {
        self.core
            .partitions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(topic.to_string(), n);
    }

    /// Notes that `topic` has at least `n` partitions (partitions added while running).
    fn grow_partitions(&self, topic: &str, n: i32) {
        let mut map = self
            .core
            .partitions
            .write()
            .unwrap_or_else(|p| p.into_inner());
        let e = map.entry(topic.to_string()).or_insert(n);
        if *e < n {
            tracing::info!(topic, partitions = n, "topic has new partitions");
            *e = n;
        }
    }

    /// Options for a consume driver of this app.
    fn driver_options(&self, commit: bool, stop: StopSignal) -> DriverOptions {
        let s = &self.core.settings;
        let weak = Arc::downgrade(&self.core);
        let grow = weak.clone();
        let (mut on_assign, mut on_revoke) = if commit {
            (self.core.on_assign.clone(), self.core.on_revoke.clone())
        } else {
            (Vec::new(), Vec::new())
        };
        let mut flush_holds = None;
        if commit && !self.core.tables.is_empty() {
            let (a, r) = crate::table::hooks(&weak);
            on_assign.insert(0, a);
            on_revoke.push(r);
            flush_holds = Some(crate::table::flush_hook(&weak));
        }
        DriverOptions {
            commit,
            commit_interval: s.commit_interval,
            // A table holds the earliest event of each batch of writes until their changelog
            // records are delivered (see `table::pending`): room for several agent queues behind
            // it, so the driver asks for a flush (at a quarter of the window) less often and
            // each flush coalesces more writes (BENCHMARKS.md, tables: 3.5x fewer changelog
            // records than with 2 queues; a 768 KiB tracker ring per partition at the default
            // buffer).
            window: s.stream_buffer_maxsize.max(256) * if flush_holds.is_some() { 8 } else { 1 },
            revoke_timeout: s.shutdown_timeout.min(Duration::from_secs(10)),
            stop,
            join_timeout: commit.then_some(s.group_join_timeout),
            on_rejoin: commit.then(|| {
                let core = weak.clone();
                let f: crate::engine::driver::OnRejoin = Arc::new(move |_why: &str| {
                    if let Some(core) = core.upgrade() {
                        core.stats.record_group_rejoin();
                        core.observe.set_unassigned();
                    }
                });
                f
            }),
            on_assign: {
                if commit {
                    // Last: the app is ready once the user's hooks (state recovery) ran.
                    let ready = weak.clone();
                    on_assign.push(Arc::new(move |_| {
                        if let Some(core) = ready.upgrade() {
                            core.observe.set_assigned();
                        }
                        Box::pin(async {})
                    }));
                }
                on_assign
            },
            sensors: self.core.observe.sensors.clone(),
            flush_holds,
            on_revoke,
            on_partitions: Some(Arc::new(move |topic: &str, n: i32| {
                if let Some(core) = grow.upgrade() {
                    App { core }.grow_partitions(topic, n);
                }
            })),
            on_delivery_error: Some(Arc::new(
                move |tp: &TopicPartition, offset: i64, e: &Error| {
                    let Some(core) = weak.upgrade() else {
                        return true;
                    };
                    let app = App { core };
                    let stop = Selection::collect(&app.core.modules)
                        .ok()
                        .and_then(|sel| {
                            sel.topics
                                .iter()
                                .map(|t| app.resolve_topic(t))
                                .find(|t| t.name == tp.topic)
                        })
                        .map(|spec| app.error_policy_of(spec) == ErrorPolicy::Stop)
                        .unwrap_or(false);
                    if stop {
                        app.fail(Error::Delivery {
                        topic: tp.topic.clone(),
                        reason: format!(
                            "a record sent while processing {tp}@{offset} was not delivered: {e} (error policy: stop)"
                        ),
                    });
                        false
                    } else {
                        tracing::error!(event = %format!("{tp}@{offset}"), error = %e,
                        "a record sent while processing this event was not delivered; the event counts as done (error policy: skip)");
                        true
                    }
                },
            )),
        }
    }

    pub(crate) fn channel_queue<C: Channel>(&self) -> Result<Arc<ChannelQueue<C::Key, C::Value>>> {
        let id = TypeId::of::<C>();
        if let Some((q, _)) = self
            .core
            .channels
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
        {
            return q
                .clone()
                .downcast::<ChannelQueue<C::Key, C::Value>>()
                .map_err(|_| Error::state("channel queue of another type"));
        }
        if self.is_stopping() {
            return Err(Error::Closed(C::__source().name().to_string()));
        }
        let maxsize = match C::__source() {
            crate::SourceRef::Channel(c) => c.effective_maxsize(),
            crate::SourceRef::Topic(t) => t
                .declared_maxsize()
                .unwrap_or(self.core.settings.stream_buffer_maxsize),
        };
        let mut map = self
            .core
            .channels
            .write()
            .unwrap_or_else(|p| p.into_inner());
        let entry = map.entry(id).or_insert_with(|| {
            let (queue, close) = ChannelQueue::<C::Key, C::Value>::new(maxsize);
            let q: Arc<dyn Any + Send + Sync> = Arc::new(queue);
            (q, Box::new(close))
        });
        entry
            .0
            .clone()
            .downcast::<ChannelQueue<C::Key, C::Value>>()
            .map_err(|_| Error::state("channel queue of another type"))
    }

    /// Stops the worker with `err` (error policy `stop`, a failed consumer): recorded, then the
    /// app stops in the background; [`App::wait`] and [`App::run`] return it.
    pub fn fail(&self, err: Error) {
        tracing::error!(app = %self.core.id, error = %err, "worker failing");
        {
            let mut f = lock(&self.core.fatal);
            if f.is_none() {
                *lock(&self.core.fatal_text) = Some(err.to_string());
                *f = Some(err);
            }
        }
        self.core.stop_requested.send_replace(true);
    }

    /// Starts the worker: checks registrations, connects, creates missing topics, subscribes the
    /// agents and starts the timers. Returns once everything is started.
    pub async fn start(&self) -> Result<()> {
        if self
            .core
            .state
            .compare_exchange(BUILT, STARTING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(Error::state(format!(
                "app '{}' cannot start: it is {:?} (an app starts once; build a new one to run again)",
                self.core.id,
                self.state()
            )));
        }
        match self.start_inner().await {
            Ok(running) => {
                *self.core.running.lock().await = Some(running);
                self.core.state.store(RUNNING, Ordering::Release);
                // Stops the app when a stop is asked for from inside it (or it fails); ends
                // without doing anything once the app stopped otherwise.
                let app = self.clone();
                let mut requested = self.core.stop_requested.subscribe();
                let mut stopped = self.core.stopped.subscribe();
                tokio::spawn(async move {
                    let asked = tokio::select! {
                        r = requested.wait_for(|r| *r) => r.is_ok(),
                        _ = stopped.wait_for(|s| *s) => false,
                    };
                    if asked {
                        if let Err(e) = app.stop_now().await {
                            tracing::error!(error = %e, "stopping failed");
                        }
                    }
                });
                tracing::info!(app = %self.core.id, broker = %crate::redact::redact_url(self.core.transport.url()), "app started");
                Ok(())
            }
            Err(e) => {
                crate::web::stop(self, Duration::from_secs(1)).await;
                self.core
                    .stop_signal
                    .send_replace(Some(tokio::time::Instant::now()));
                self.core.stop_tx.send_replace(true);
                self.core.state.store(STOPPED, Ordering::Release);
                self.core.stopped.send_replace(true);
                Err(e)
            }
        }
    }

    /// Creates a topic that disappeared from the broker again, with its declared settings.
    pub(crate) async fn recreate_topic(&self, spec: &TopicSpec) -> Result<i32> {
        let n = self.ensure_topic(spec).await?;
        self.remember_partitions(spec.name, n);
        Ok(n)
    }

    async fn ensure_topic(&self, spec: &TopicSpec) -> Result<i32> {
        self.ensure_topic_named(spec, spec.name).await
    }

    /// Creates topic `name` with `spec`'s settings if it does not exist (a handle covering
    /// several topics creates each).
    async fn ensure_topic_named(&self, spec: &TopicSpec, name: &str) -> Result<i32> {
        let s = &self.core.settings;
        let t = &self.core.transport;
        let declared = spec.declared_partitions();
        match t.describe_topic(name).await? {
            Some(existing) => {
                if let Some(d) = declared {
                    if d != existing.partitions {
                        return Err(Error::PartitionsMismatch {
                            topic: name.to_string(),
                            declared: d,
                            actual: existing.partitions,
                        });
                    }
                }
                Ok(existing.partitions)
            }
            None => {
                let partitions = declared.unwrap_or(s.topic_partitions);
                let new = NewTopic {
                    name: name.to_string(),
                    partitions,
                    replication_factor: spec
                        .declared_replicas()
                        .unwrap_or(s.topic_replication_factor),
                    config: spec.broker_config(),
                };
                match t.create_topic(&new).await {
                    Ok(()) => {
                        tracing::info!(topic = name, partitions, "created topic");
                        Ok(partitions)
                    }
                    // Another worker created it in between.
                    Err(Error::TopicExists(_)) => Ok(t
                        .describe_topic(name)
                        .await?
                        .map(|d| d.partitions)
                        .unwrap_or(partitions)),
                    Err(e) => Err(e),
                }
            }
        }
    }

    async fn start_inner(&self) -> Result<Running> {
        let sel = Selection::collect(&self.core.modules)?;
        crate::web::start(self).await?;
        tracing::info!(
            app = %self.core.id,
            agents = ?sel.agents.iter().map(|a| a.name).collect::<Vec<_>>(),
            timers = ?sel.timers.iter().map(|t| t.name).collect::<Vec<_>>(),
            topics = ?sel.topics.iter().map(|t| t.name).collect::<Vec<_>>(),
            channels = ?sel.channels.iter().map(|c| c.name).collect::<Vec<_>>(),
            "starting"
        );
        self.core.transport.connect().await?;
        let topics: Vec<&'static TopicSpec> =
            sel.topics.iter().map(|t| self.resolve_topic(t)).collect();
        for spec in &topics {
            spec.codecs()?;
            // A pattern creates nothing: it reads the topics that match, whenever they exist.
            for name in spec.topic_names().iter().filter(|_| !spec.pattern) {
                let n = self.ensure_topic_named(spec, name).await?;
                self.remember_partitions(name, n);
            }
            if self.error_policy_of(spec) == ErrorPolicy::DeadLetter {
                if spec.pattern && spec.dead_letter.is_none() {
                    return Err(Error::config(format!(
                        "topic pattern {} has the dead_letter error policy: name its dead-letter topic with `dead_letter = \"...\"`",
                        spec.name
                    )));
                }
                self.define_internal(&spec.dead_letter_topic());
            }
        }
        crate::table::start(self, &self.core.modules).await?;
        crate::web::peers::start(self).await?;
        let defined: Vec<&'static TopicSpec> = read(&self.core.defined).clone();
        for spec in &defined {
            self.ensure_declared(spec).await?;
        }
        let mut watched: Vec<&'static TopicSpec> = topics
            .iter()
            .copied()
            .filter(|t| !t.pattern)
            .chain(defined)
            .collect();
        for spec in &sel.timers {
            crate::timer::check(spec)?;
        }
        let mut builder = DriverBuilder::default();
        let mut election = None;
        if sel.timers.iter().any(|t| t.on_leader) {
            let (topic, subscriber, gained, lost) = crate::leader::election(self);
            let spec = self.define_internal_with(&topic, 1);
            self.ensure_declared(spec).await?;
            builder.add(spec.name, subscriber);
            election = Some((gained, lost));
        }
        crate::hooks::startup(self, &self.core.on_startup).await?;
        let mut tasks = Vec::new();
        self.core.startup.open();
        {
            let mut ctx = SubscribeCtx::new(self, &mut builder, &mut tasks);
            for agent in &sel.agents {
                (agent.start)(&mut ctx).map_err(|e| {
                    self.core.startup.close();
                    Error::Registry(format!("agent '{}' could not start: {e}", agent.name))
                })?;
            }
        }
        // Agents run up to their first read before the consumer subscribes: topics they define
        // on the way (repartition topics) are created and read from the start.
        let mut agents = JoinSet::new();
        for (name, fut) in tasks {
            tracing::debug!(agent = %name, "starting agent");
            agents.spawn(CURRENT.scope(self.clone(), APP_TASK.scope((), fut)));
        }
        if !self
            .core
            .startup
            .wait_arrivals(crate::startup::STARTUP_READ_WAIT)
            .await
        {
            tracing::warn!(
                wait = ?crate::startup::STARTUP_READ_WAIT,
                "not every agent read its stream at startup; subscribing without waiting for them (a group_by they call later fails)"
            );
        }
        for route in self.core.startup.close() {
            let n = self.ensure_topic_named(route.spec, route.name).await?;
            self.remember_partitions(route.name, n);
            if !watched.iter().any(|w| std::ptr::eq(*w, route.spec)) {
                watched.push(route.spec);
            }
            builder.add(route.name, route.subscriber);
        }
        let consumer = if builder.is_empty() {
            self.core.observe.set_assigned();
            None
        } else {
            let config = ConsumerConfig {
                group_id: self.group_id(),
                topics: builder.topics(),
                from_earliest: self.core.settings.auto_offset_reset_earliest,
            };
            let consumer = self.core.transport.consumer(config).await?;
            let mut options = self.driver_options(true, self.core.stop_signal.subscribe());
            if let Some((gained, lost)) = election {
                options.on_assign.push(gained);
                options.on_revoke.push(lost);
            }
            let driver = builder.build(consumer, options);
            Some(self.spawn_driver(driver))
        };
        let (timer_stop, _) = watch::channel(false);
        let mut timers = JoinSet::new();
        for spec in sel.timers {
            let fut = tracing::Instrument::instrument(
                crate::timer::run(self.clone(), spec, timer_stop.subscribe()),
                tracing::info_span!("timer", timer = spec.name),
            );
            timers.spawn(CURRENT.scope(self.clone(), APP_TASK.scope((), fut)));
        }
        if let Some(b) = &self.core.observe.blocking {
            timers.spawn(b.clone().watch(timer_stop.subscribe()));
        }
        timers.spawn(crate::watchdog::watch_topics(
            self.clone(),
            watched,
            timer_stop.subscribe(),
        ));
        Ok(Running {
            consumer,
            agents,
            timers,
            timer_stop,
        })
    }

    /// Spawns an agent instance started while the app runs (isolated partitions), as one of
    /// the app's tasks.
    pub(crate) fn spawn_agent_task(&self, fut: futures::future::BoxFuture<'static, ()>) {
        tokio::spawn(CURRENT.scope(self.clone(), APP_TASK.scope((), fut)));
    }

    /// Runs a consume driver (on a thread of its own when its consumer asks for one, see
    /// [`crate::engine::own_thread`]); if it fails or panics, the app fails with that error.
    fn spawn_driver(&self, driver: crate::engine::driver::Driver) -> tokio::task::JoinHandle<()> {
        let own = driver.polls_on_own_thread();
        let ended = crate::engine::own_thread::spawn("faust-consume", own, driver.run());
        let app = self.clone();
        tokio::spawn(async move {
            match ended.await {
                Ok(Ok(())) => {}
                // A consumer error (error policy `stop`, broker failure) stops the worker and
                // is what `wait`/`run` return.
                Ok(Err(e)) => app.fail(e),
                Err(why) => app.fail(Error::state(format!("the consume driver died: {why}"))),
            }
        })
    }

    /// Stops the worker: timers first, then intake (the events agents hold are finished,
    /// queued ones are left to the partitions' next owner, the done offsets are committed),
    /// then channels and agents, then the producer is flushed; all within `shutdown_timeout`.
    /// Idempotent.
    ///
    /// Called from inside the app (an agent or a timer) it asks for the stop and returns at
    /// once: waiting there would wait for the caller itself. [`App::wait`] waits for the end.
    pub async fn stop(&self) -> Result<()> {
        if APP_TASK.try_with(|_| ()).is_ok() {
            self.core.stop_requested.send_replace(true);
            return Ok(());
        }
        self.stop_now().await
    }

    async fn stop_now(&self) -> Result<()> {
        let mut guard = self.core.running.lock().await;
        let state = self.core.state.load(Ordering::Acquire);
        if state == STOPPED || (state == BUILT && guard.is_none()) {
            // Readers an unstarted app runs (an `ask` client's reply reader) stop too.
            self.core
                .stop_signal
                .send_replace(Some(tokio::time::Instant::now()));
            self.core.state.store(STOPPED, Ordering::Release);
            self.core.stopped.send_replace(true);
            return Ok(());
        }
        self.core.state.store(STOPPING, Ordering::Release);
        self.core.stop_tx.send_replace(true);
        let timeout = self.core.settings.shutdown_timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        let ran = guard.is_some();
        if let Some(mut r) = guard.take() {
            r.timer_stop.send_replace(true);
            if tokio::time::timeout_at(deadline, async {
                while r.timers.join_next().await.is_some() {}
            })
            .await
            .is_err()
            {
                tracing::warn!("timers did not stop within {timeout:?}; aborting them");
                r.timers.abort_all();
            }
            self.core.stop_signal.send_replace(Some(deadline));
            if let Some(c) = r.consumer.take() {
                let grace = deadline + Duration::from_secs(2);
                match tokio::time::timeout_at(grace, c).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::error!(error = %e, "consumer task failed"),
                    Err(_) => tracing::warn!("consumer did not stop within {timeout:?}"),
                }
            }
            for (_, close) in read(&self.core.channels).values() {
                close();
            }
            for close in lock(&self.core.channel_closers).iter() {
                close();
            }
            if tokio::time::timeout_at(deadline, async {
                while r.agents.join_next().await.is_some() {}
            })
            .await
            .is_err()
            {
                tracing::warn!("agents did not finish within {timeout:?}; aborting them");
                r.agents.abort_all();
            }
        }
        self.core.stop_signal.send_replace(Some(deadline));
        if ran {
            crate::hooks::shutdown(self, &self.core.on_shutdown).await;
        }
        let left = deadline
            .saturating_duration_since(tokio::time::Instant::now())
            .max(Duration::from_secs(1));
        // Table writes made since the consumer's last flush (their events were not committed).
        self.core.tables.flush_changelog(self);
        let flushed = crate::producer::flush(self, left).await;
        // After the producer's flush: the last changelog deliveries are in the stores' buffers.
        self.core.tables.close().await;
        let left = deadline
            .saturating_duration_since(tokio::time::Instant::now())
            .max(Duration::from_secs(1));
        crate::web::stop(self, left).await;
        self.core.state.store(STOPPED, Ordering::Release);
        self.core.stopped.send_replace(true);
        tracing::info!(app = %self.core.id, "app stopped");
        flushed
    }

    /// Waits until the app has stopped; returns the error that stopped it, if any.
    pub async fn wait(&self) -> Result<()> {
        let mut rx = self.core.stopped.subscribe();
        let _ = rx.wait_for(|s| *s).await;
        match lock(&self.core.fatal).take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Starts, runs until SIGINT/SIGTERM (or a fatal error), then stops cleanly.
    pub async fn run(&self) -> Result<()> {
        self.set_default();
        self.start().await?;
        let mut requested = self.core.stop_requested.subscribe();
        tokio::select! {
            _ = shutdown_signal() => tracing::info!("signal received; stopping"),
            _ = requested.wait_for(|r| *r) => {}
        }
        self.stop_now().await?;
        self.wait().await
    }

    /// Starts a consumer of one topic for a reader stream; returns the sender that stops it.
    pub(crate) fn spawn_reader(
        &self,
        topic: &'static str,
        subscriber: Box<dyn Subscriber>,
    ) -> Result<watch::Sender<Option<tokio::time::Instant>>> {
        let (stop, rx) = watch::channel(None);
        let n = self.core.readers.fetch_add(1, Ordering::Relaxed);
        let config = ConsumerConfig {
            group_id: format!(
                "{}-reader-{}-{}-{}",
                self.core.id,
                topic,
                std::process::id(),
                n
            ),
            topics: vec![topic.to_string()],
            from_earliest: true,
        };
        let transport = self.core.transport.clone();
        let mut options = self.driver_options(false, rx);
        options.revoke_timeout = Duration::from_millis(10);
        let mut app_stop = self.core.stop_signal.subscribe();
        let reader_stop = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = app_stop.wait_for(Option::is_some) => {
                    reader_stop.send_replace(Some(tokio::time::Instant::now()));
                }
                _ = reader_stop.closed() => {}
            }
        });
        tokio::spawn(async move {
            let consumer = match transport.consumer(config).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(topic, error = %e, "reader could not start");
                    return;
                }
            };
            let mut b = DriverBuilder::default();
            b.add(topic, subscriber);
            if let Err(e) = b.build(consumer, options).run().await {
                tracing::warn!(topic, error = %e, "reader stopped");
            }
        });
        Ok(stop)
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
