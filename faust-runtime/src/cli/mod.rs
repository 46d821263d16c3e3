//! The command line of a faust-rs app (what `main!` generates, and what a hand-written `main`
//! gets with one call): `worker` (the default), `send`, `topics`, `agents`, `timers`, `tables`,
//! `graph`, and the app's own `#[command]`s, parsed with clap; every option also read from its
//! `FAUST_*` environment variable.
//!
//! ```no_run
//! use faust_runtime::prelude::*;
//! # #[timer(interval = "1s")] async fn tick() {}
//!
//! fn main() -> std::process::ExitCode {
//!     // Anything set here is a default the command line and environment can override.
//!     faust_runtime::cli::run(App::builder("orders-app").include_module(module_path!()))
//! }
//! ```
//!
//! Exit codes: 0 after a clean stop (or `--help`), 1 when the app fails while running (broker
//! unreachable, an agent stopping it, a failed send), 2 for bad arguments and bad
//! configuration (a malformed `--broker`, `FAUST_COMMIT_INTERVAL=soon`, a value a topic cannot
//! carry), 130 when a second SIGINT/SIGTERM forces the exit.

mod banner;
pub mod command;
pub mod credentials;
mod logging;
mod scrub;
pub mod send;
mod tables;

pub use credentials::CredentialArgs;
pub use logging::LogLevel;

use crate::app::{App, AppBuilder};
use crate::error::{BoxError, Error};
use crate::registry::Selection;
use crate::topology::Topology;
use crate::worker::MainHooks;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use scrub::Scrubber;
use serde::Serialize;
use std::ffi::OsString;
use std::net::IpAddr;
use std::process::ExitCode;

/// The exit-code rule, as `--help` shows it.
pub const EXIT_CODES: &str = "Exit codes: 0 clean stop, 1 failure while running, \
2 bad arguments or configuration, 130 forced by a second SIGINT/SIGTERM.";

/// Exit code for bad arguments and bad configuration.
pub const EXIT_USAGE: u8 = 2;
/// Exit code for failures while running.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code when a second signal forces the exit (or a signal interrupts startup).
pub const EXIT_FORCED: u8 = 130;

/// The built-in command line (user `#[command]`s are added when it is run).
#[derive(Parser, Debug)]
#[command(after_help = EXIT_CODES)]
pub struct Cli {
    /// Options of every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// Options of the worker, which runs when no command is given.
    #[command(flatten)]
    pub worker: WorkerArgs,
    /// The command (default: `worker`).
    #[command(subcommand)]
    pub command: Option<Builtin>,
}

/// Options every command takes.
#[derive(Args, Debug, Clone, Default)]
pub struct GlobalArgs {
    /// Broker: memory:// (embedded, in this process only), memory://NAME,
    /// kafka://host:port (more brokers after ';': kafka://h1:9092;h2:9092), or
    /// kafka+ssl://host:port for TLS (TLS and
    /// SASL settings: the broker credential options below). Default: the app's configured
    /// broker.
    #[arg(short = 'b', long, env = "FAUST_BROKER", global = true, hide_env_values = true,
          value_name = "URL", value_parser = non_blank)]
    pub broker: Option<String>,
    /// Log level (default info, or RUST_LOG when set).
    #[arg(
        short = 'l',
        long,
        env = "FAUST_LOGLEVEL",
        hide_env_values = true,
        global = true,
        value_enum,
        ignore_case = true
    )]
    pub loglevel: Option<LogLevel>,
    /// Broker credentials (TLS, SASL, Kerberos).
    #[command(flatten)]
    pub credentials: CredentialArgs,
}

/// Options of `worker`.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Worker options")]
pub struct WorkerArgs {
    /// App id (also the Kafka consumer group), replacing the one in the code.
    #[arg(long, env = "FAUST_ID", hide_env_values = true, value_parser = non_blank)]
    pub id: Option<String>,
    /// Port of the web server (metrics, health, dashboard); 0 picks a free one.
    #[arg(
        long,
        env = "FAUST_WEB_PORT",
        hide_env_values = true,
        default_value_t = 6066
    )]
    pub web_port: u16,
    /// Address the web server binds.
    #[arg(
        long,
        env = "FAUST_WEB_BIND",
        hide_env_values = true,
        default_value = "0.0.0.0"
    )]
    pub web_bind: IpAddr,
    /// Run without the web server.
    #[arg(long, env = "FAUST_WITHOUT_WEB", hide_env_values = true)]
    pub without_web: bool,
    /// URL the app's other workers reach this one's web server at, for the table views
    /// (default http://ADDRESS:PORT as bound, the host name when binding 0.0.0.0).
    #[arg(long, env = "FAUST_WEB_CANONICAL_URL", hide_env_values = true, value_name = "URL",
          value_parser = canonical_url)]
    pub web_canonical_url: Option<String>,
    /// Write logs as JSON lines.
    #[arg(long, env = "FAUST_LOG_JSON", hide_env_values = true)]
    pub json: bool,
}

/// The built-in commands.
#[derive(Subcommand, Debug)]
pub enum Builtin {
    /// Run the worker: agents, timers and the web server, until SIGINT/SIGTERM (the default).
    #[command(after_help = EXIT_CODES)]
    Worker(WorkerArgs),
    /// Send records to a topic, or to the topic an agent reads (`@agent`).
    #[command(name = "send", after_help = EXIT_CODES)]
    SendRecords(SendArgs),
    /// List, create or delete topics on the broker.
    Topics {
        /// What to do.
        #[command(subcommand)]
        action: TopicsAction,
    },
    /// List the app's agents.
    Agents(ListArgs),
    /// List the app's timers.
    Timers(ListArgs),
    /// List the app's tables (key and value types, partitions, changelog topic, windows).
    Tables(ListArgs),
    /// Print the app's topology (topics -> agents -> sinks) as Mermaid or DOT.
    Graph(GraphArgs),
}

/// Options of `send`.
#[derive(Args, Debug, Clone)]
pub struct SendArgs {
    /// Topic name, or @agent for the topic that agent reads.
    #[arg(value_name = "TOPIC|@AGENT")]
    pub target: String,
    /// The value as JSON (text that is not JSON is taken as a string).
    pub value: Option<String>,
    /// The key as JSON (text that is not JSON is taken as a string).
    #[arg(short, long)]
    pub key: Option<String>,
    /// Partition to send to (default: the topic's partitioner chooses).
    #[arg(long)]
    pub partition: Option<i32>,
    /// How many times to send the record.
    #[arg(short, long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub repeat: u32,
    /// Print what was sent as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `topics` actions.
#[derive(Subcommand, Debug, Clone)]
pub enum TopicsAction {
    /// List the topics on the broker.
    List(ListArgs),
    /// Create a topic.
    Create {
        /// Topic name.
        name: String,
        /// Partitions (default: the app's topic_partitions).
        #[arg(long)]
        partitions: Option<i32>,
        /// Replication factor (default: the app's topic_replication_factor).
        #[arg(long)]
        replicas: Option<i16>,
        /// Broker-side setting KEY=VALUE (repeatable).
        #[arg(long = "config", value_name = "KEY=VALUE", value_parser = key_value)]
        config: Vec<(String, String)>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a topic.
    Delete {
        /// Topic name.
        name: String,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Options of the listing commands.
#[derive(Args, Debug, Clone, Default)]
pub struct ListArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Options of `graph`.
#[derive(Args, Debug, Clone)]
pub struct GraphArgs {
    /// Diagram format.
    #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
    pub format: GraphFormat,
    /// Print the topology as JSON (nodes and edges) instead of a diagram.
    #[arg(long)]
    pub json: bool,
}

/// Diagram formats of `graph`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// A Mermaid flowchart.
    Mermaid,
    /// A Graphviz digraph.
    Dot,
}

/// The worker's own options (argument ids and how they are written).
const WORKER_OPTIONS: [(&str, &str); 6] = [
    ("id", "--id"),
    ("web_port", "--web-port"),
    ("web_bind", "--web-bind"),
    ("without_web", "--without-web"),
    ("web_canonical_url", "--web-canonical-url"),
    ("json", "--json"),
];

/// The variables behind the command line's options, with the option each feeds.
const OPTION_VARIABLES: [(&str, &str); 8] = [
    ("FAUST_BROKER", "--broker"),
    ("FAUST_LOGLEVEL", "--loglevel"),
    ("FAUST_ID", "--id"),
    ("FAUST_WEB_PORT", "--web-port"),
    ("FAUST_WEB_BIND", "--web-bind"),
    ("FAUST_WITHOUT_WEB", "--without-web"),
    ("FAUST_WEB_CANONICAL_URL", "--web-canonical-url"),
    ("FAUST_LOG_JSON", "--json"),
];

/// A variable behind an option that is set but blank, or not UTF-8, is a usage error naming
/// the variable (clap would name only the option, or say "invalid UTF-8" of the arguments).
fn check_environment() -> Outcome {
    for (var, option) in OPTION_VARIABLES {
        let name = var.strip_prefix("FAUST_").unwrap_or(var);
        crate::settings::env_var(name)
            .map_err(|e| Failure::usage(format!("{e} (it feeds {option})")))?;
    }
    Ok(())
}

fn non_blank(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        Err("must not be empty".into())
    } else {
        Ok(s.to_string())
    }
}

fn canonical_url(s: &str) -> Result<String, String> {
    let u = s.trim().trim_end_matches('/');
    match u.strip_prefix("http://") {
        Some(rest) if !rest.is_empty() && !rest.contains('/') => Ok(u.to_string()),
        _ => Err(format!("'{s}' is not http://HOST:PORT")),
    }
}

fn key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("'{s}' is not KEY=VALUE")),
    }
}

/// Parses the process's arguments and runs the app's command line with `builder` as the
/// defaults; returns the exit code. See [`Main`] for hooks and for explicit arguments.
pub fn run(builder: AppBuilder) -> ExitCode {
    Main::new(builder).run()
}

/// The command line of an app, ready to run.
#[must_use]
pub struct Main {
    builder: AppBuilder,
    hooks: MainHooks,
}

/// Why a command failed: the message, and whether it was the caller's input (exit 2).
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: EXIT_USAGE,
            message: message.into(),
        }
    }
    fn runtime(message: impl Into<String>) -> Self {
        Failure {
            code: EXIT_FAILURE,
            message: message.into(),
        }
    }
}

impl From<Error> for Failure {
    /// Configuration errors are the caller's (2), the rest failures while running (1).
    fn from(e: Error) -> Self {
        match e {
            Error::Config(_) => Failure::usage(e.to_string()),
            other => Failure::runtime(other.to_string()),
        }
    }
}

type Outcome = Result<(), Failure>;

/// An error about what the caller gave (a value, a partition): exit 2, message as is.
fn input_error(e: Error) -> Failure {
    match e {
        Error::Config(m) => Failure::usage(m),
        e @ Error::UnknownPartition { .. } => Failure::usage(e.to_string()),
        e => Failure::from(e),
    }
}

impl Main {
    /// The command line of the app `builder` would build.
    pub fn new(builder: AppBuilder) -> Self {
        Main {
            builder,
            hooks: MainHooks::default(),
        }
    }

    /// Hooks the worker runs before starting and after stopping.
    pub fn hooks(mut self, hooks: MainHooks) -> Self {
        self.hooks = hooks;
        self
    }

    /// Parses `std::env::args_os()` and runs.
    pub fn run(self) -> ExitCode {
        self.run_from(std::env::args_os())
    }

    /// Parses `args` (the first is the program name) and runs: the command's exit code.
    pub fn run_from<I, T>(self, args: I) -> ExitCode
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        let scrubber = Scrubber::default();
        for a in &args {
            if let Some(s) = a.to_str() {
                scrubber.learn_url(s);
            }
        }
        if let Some((option, instead, value)) = credentials::refused_option(&args) {
            if let Some(v) = value {
                scrubber.learn_secret(&v);
            }
            scrubber.eprintln(format_args!(
                "error: {option} is not accepted: a password on the command line is visible to other users (ps) and kept in shell history; use {instead}"
            ));
            return ExitCode::from(EXIT_USAGE);
        }
        match self.dispatch(args, &scrubber) {
            Ok(()) => ExitCode::SUCCESS,
            Err(f) => {
                if !f.message.is_empty() {
                    scrubber.eprintln(format_args!("error: {}", f.message));
                }
                ExitCode::from(f.code)
            }
        }
    }

    fn dispatch(self, args: Vec<OsString>, scrubber: &Scrubber) -> Outcome {
        let (id, _, modules) = self.builder.parts();
        let user = command::commands(modules);
        let bin = args
            .first()
            .and_then(|a| std::path::Path::new(a).file_name())
            .and_then(|a| a.to_str())
            .unwrap_or("faust-app")
            .to_string();
        let mut cmd = Cli::command()
            .name(bin)
            .about(format!("{id}: a faust-rs app"));
        for spec in &user {
            if cmd.find_subcommand(spec.name).is_some() {
                return Err(Failure::usage(format!(
                    "#[command] '{}' has the name of a built-in command; rename it with #[command(name = \"...\")]",
                    spec.name
                )));
            }
            cmd = cmd.subcommand((spec.args)(
                clap::Command::new(spec.name)
                    .about(spec.about)
                    .after_help(EXIT_CODES),
            ));
        }
        check_environment()?;
        let matches = match cmd.try_get_matches_from(args) {
            Ok(m) => m,
            Err(e) => {
                let text = e.render().to_string();
                let code = e.exit_code();
                if e.use_stderr() {
                    scrubber.eprintln(text.trim_end());
                } else {
                    scrubber.println(text.trim_end());
                }
                return if code == 0 {
                    Ok(())
                } else {
                    Err(Failure {
                        code: EXIT_USAGE,
                        message: String::new(),
                    })
                };
            }
        };
        if let Some(name) = matches.subcommand_name().filter(|n| *n != "worker") {
            // `--web-port 1 agents`: the worker's options before another command do nothing.
            for (id, option) in WORKER_OPTIONS {
                if matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine) {
                    return Err(Failure::usage(format!(
                        "{option} is an option of the worker; the command '{name}' does not take it"
                    )));
                }
            }
        }
        let global =
            GlobalArgs::from_arg_matches(&matches).map_err(|e| Failure::usage(e.to_string()))?;
        if let Some((name, sub)) = matches.subcommand() {
            if let Some(spec) = user.iter().find(|s| s.name == name) {
                let (app, rt) = self.prepare(&global, None, false, scrubber)?;
                let fut =
                    (spec.run)(app.clone(), sub).map_err(|e| Failure::usage(e.to_string()))?;
                return rt.block_on(async move {
                    app.set_default();
                    app.scope(fut).await.map_err(|e: BoxError| {
                        Failure::runtime(format!("command '{name}' failed: {e}"))
                    })
                });
            }
        }
        let cli = Cli::from_arg_matches(&matches).map_err(|e| Failure::usage(e.to_string()))?;
        match cli.command {
            None => self.worker(&global, &cli.worker, scrubber),
            Some(Builtin::Worker(w)) => self.worker(&global, &w, scrubber),
            Some(Builtin::SendRecords(s)) => self.send(&global, &s, scrubber),
            Some(Builtin::Topics { action }) => self.topics(&global, action, scrubber),
            Some(Builtin::Agents(l)) => self.agents(&global, &l, scrubber),
            Some(Builtin::Timers(l)) => self.timers(&global, &l, scrubber),
            Some(Builtin::Tables(l)) => {
                let (app, _) = self.selection(&global, scrubber)?;
                tables::print(&tables::rows(&app)?, l.json, scrubber);
                Ok(())
            }
            Some(Builtin::Graph(g)) => self.graph(&global, &g, scrubber),
        }
    }

    /// Applies the environment and the options to the builder, sets up logging, builds the app
    /// and a runtime.
    fn prepare(
        self,
        global: &GlobalArgs,
        worker: Option<&WorkerArgs>,
        json_logs: bool,
        scrubber: &Scrubber,
    ) -> Result<(App, tokio::runtime::Runtime), Failure> {
        let mut builder = self.builder;
        let mut env_error = None;
        let given = global.credentials.values().map_err(Failure::usage)?;
        builder = builder
            .configure(|s| env_error = s.apply_env_with(|name| given.get(name).cloned()).err());
        if let Some(b) = &global.broker {
            builder = builder.broker(b.clone());
        }
        if let Some(w) = worker {
            if let Some(id) = &w.id {
                builder = builder.id(id.clone());
            }
            let (bind, port, enabled) = (w.web_bind, w.web_port, !w.without_web);
            let canonical = w.web_canonical_url.clone();
            builder = builder.configure(|s| {
                s.web.enabled = enabled;
                s.web.bind = bind;
                s.web.port = port;
                if canonical.is_some() {
                    s.web.canonical_url = canonical;
                }
            });
        }
        scrubber.learn(builder.parts().1);
        logging::init(global.loglevel, json_logs, scrubber);
        if let Some(e) = env_error {
            return Err(e.into());
        }
        let app = builder.build()?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| Failure::runtime(format!("cannot start the tokio runtime: {e}")))?;
        Ok((app, rt))
    }

    fn worker(self, global: &GlobalArgs, args: &WorkerArgs, scrubber: &Scrubber) -> Outcome {
        let hooks = self.hooks;
        let (app, rt) = self.prepare(global, Some(args), args.json, scrubber)?;
        let topology = Topology::of(&app)?;
        // Bound before the banner, so that it shows the address taken (`--web-port 0`).
        rt.block_on(crate::web::bind(&app))?;
        let lines = banner::lines(&app, &topology);
        if args.json {
            let fields: serde_json::Map<String, serde_json::Value> = lines
                .iter()
                .map(|(k, v)| ((*k).to_string(), serde_json::Value::String(v.clone())))
                .collect();
            tracing::info!(banner = %serde_json::Value::Object(fields), "faust-rs worker");
        } else {
            scrubber.eprintln(banner::text(&lines));
        }
        rt.block_on(run_worker(app, hooks, scrubber.clone()))
    }

    fn send(self, global: &GlobalArgs, args: &SendArgs, scrubber: &Scrubber) -> Outcome {
        let (app, rt) = self.prepare(global, None, false, scrubber)?;
        let sel = Selection::collect(app.modules()).map_err(Failure::from)?;
        let spec = if let Some(agent) = args.target.strip_prefix('@') {
            let a = sel.agents.iter().find(|a| a.name == agent).ok_or_else(|| {
                Failure::usage(format!(
                    "no agent '{agent}' (agents: {})",
                    sel.agents
                        .iter()
                        .map(|a| a.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
            match (a.source)() {
                crate::SourceRef::Topic(t) => t,
                crate::SourceRef::Channel(c) => {
                    return Err(Failure::usage(format!(
                        "agent '{agent}' reads channel '{}', which lives inside the worker's process: send to a topic instead",
                        c.name
                    )))
                }
            }
        } else {
            *sel.topics
                .iter()
                .find(|t| t.name == args.target)
                .ok_or_else(|| {
                    Failure::usage(format!(
                        "no declared topic '{}' (topics: {})",
                        args.target,
                        sel.topics
                            .iter()
                            .map(|t| t.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?
        };
        let sender = spec.json_sender().ok_or_else(|| {
            Failure::usage(format!(
                "topic '{}' cannot be sent to from the command line",
                spec.name
            ))
        })?;
        let record = send::JsonRecord {
            key: args.key.clone(),
            value: args.value.clone(),
            partition: args.partition,
        };
        // Decoded once before anything is sent: a wrong value is refused here.
        let first = sender(app.clone(), &record).map_err(input_error)?;
        let json = args.json;
        let repeat = args.repeat;
        let out = scrubber.clone();
        rt.block_on(async move {
            let mut sent = Vec::new();
            let mut next = Some(first);
            for _ in 0..repeat {
                let fut = match next.take() {
                    Some(f) => f,
                    None => sender(app.clone(), &record).map_err(input_error)?,
                };
                let md = fut.await.map_err(input_error)?;
                if !json {
                    out.println(format_args!("{}[{}]@{}", md.topic, md.partition, md.offset));
                }
                sent.push(SentRecord {
                    topic: md.topic.into_owned(),
                    partition: md.partition,
                    offset: md.offset,
                });
            }
            if json {
                out.println(to_json(&sent));
            }
            Ok(())
        })
    }

    fn topics(self, global: &GlobalArgs, action: TopicsAction, scrubber: &Scrubber) -> Outcome {
        let (app, rt) = self.prepare(global, None, false, scrubber)?;
        let out = scrubber.clone();
        rt.block_on(async move {
            app.transport().connect().await?;
            let manager = app.topics();
            match action {
                TopicsAction::List(l) => {
                    let topics = manager.list_topics().await?;
                    if l.json {
                        let v: Vec<TopicRow> = topics
                            .iter()
                            .map(|t| TopicRow {
                                name: t.name.clone(),
                                partitions: t.partitions,
                            })
                            .collect();
                        out.println(to_json(&v));
                    } else {
                        out.println(format_args!("{:<40} {:>10}", "TOPIC", "PARTITIONS"));
                        for t in &topics {
                            out.println(format_args!("{:<40} {:>10}", t.name, t.partitions));
                        }
                    }
                }
                TopicsAction::Create {
                    name,
                    partitions,
                    replicas,
                    config,
                    json,
                } => {
                    let s = app.settings();
                    let partitions = partitions.unwrap_or(s.topic_partitions);
                    if partitions < 1 {
                        return Err(Failure::usage("--partitions must be at least 1"));
                    }
                    let replicas = replicas.unwrap_or(s.topic_replication_factor);
                    manager
                        .create_topic(&name, partitions, replicas, config.into_iter().collect())
                        .await?;
                    if json {
                        out.println(to_json(&TopicRow { name, partitions }));
                    } else {
                        out.println(format_args!(
                            "created topic '{name}' with {partitions} partitions"
                        ));
                    }
                }
                TopicsAction::Delete { name, json } => {
                    manager.delete_topic(&name).await?;
                    if json {
                        out.println(to_json(&serde_json::json!({ "deleted": name })));
                    } else {
                        out.println(format_args!("deleted topic '{name}'"));
                    }
                }
            }
            Ok(())
        })
    }

    fn selection(
        self,
        global: &GlobalArgs,
        scrubber: &Scrubber,
    ) -> Result<(App, Selection), Failure> {
        let (app, _rt) = self.prepare(global, None, false, scrubber)?;
        let sel = Selection::collect(app.modules())?;
        Ok((app, sel))
    }

    fn agents(self, global: &GlobalArgs, args: &ListArgs, scrubber: &Scrubber) -> Outcome {
        let (app, sel) = self.selection(global, scrubber)?;
        let rows: Vec<AgentRow> = sel
            .agents
            .iter()
            .map(|a| AgentRow {
                name: a.name,
                reads: app.resolve_source((a.source)()).name(),
                concurrency: a.concurrency,
                sinks: a.sinks.iter().map(|s| s().name()).collect(),
                function: a.qualified,
            })
            .collect();
        if args.json {
            scrubber.println(to_json(&rows));
        } else {
            scrubber.println(format_args!(
                "{:<24} {:<24} {:>5}  {:<24} FUNCTION",
                "AGENT", "READS", "N", "SINKS"
            ));
            for r in &rows {
                scrubber.println(format_args!(
                    "{:<24} {:<24} {:>5}  {:<24} {}",
                    r.name,
                    r.reads,
                    r.concurrency,
                    if r.sinks.is_empty() {
                        "-".to_string()
                    } else {
                        r.sinks.join(",")
                    },
                    r.function
                ));
            }
        }
        Ok(())
    }

    fn timers(self, global: &GlobalArgs, args: &ListArgs, scrubber: &Scrubber) -> Outcome {
        let (_, sel) = self.selection(global, scrubber)?;
        let rows: Vec<TimerRow> = sel
            .timers
            .iter()
            .map(|t| TimerRow {
                name: t.name,
                interval_ms: t.interval.as_millis() as u64,
                function: t.qualified,
            })
            .collect();
        if args.json {
            scrubber.println(to_json(&rows));
        } else {
            scrubber.println(format_args!("{:<24} {:>12}  FUNCTION", "TIMER", "INTERVAL"));
            for (r, t) in rows.iter().zip(&sel.timers) {
                scrubber.println(format_args!(
                    "{:<24} {:>12}  {}",
                    r.name,
                    format!("{:?}", t.interval),
                    r.function
                ));
            }
        }
        Ok(())
    }

    fn graph(self, global: &GlobalArgs, args: &GraphArgs, scrubber: &Scrubber) -> Outcome {
        let (app, _rt) = self.prepare(global, None, false, scrubber)?;
        let topology = Topology::of(&app)?;
        let text = if args.json {
            to_json(&topology)
        } else {
            match args.format {
                GraphFormat::Mermaid => topology.to_mermaid(),
                GraphFormat::Dot => topology.to_dot(),
            }
        };
        scrubber.println(text.trim_end());
        Ok(())
    }
}

#[derive(Serialize)]
struct SentRecord {
    topic: String,
    partition: i32,
    offset: i64,
}

#[derive(Serialize)]
struct TopicRow {
    name: String,
    partitions: i32,
}

#[derive(Serialize)]
struct AgentRow {
    name: &'static str,
    reads: &'static str,
    concurrency: usize,
    sinks: Vec<&'static str>,
    function: &'static str,
}

#[derive(Serialize)]
struct TimerRow {
    name: &'static str,
    interval_ms: u64,
    function: &'static str,
}

fn to_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// Runs the worker: hooks, start, until the first SIGINT/SIGTERM (or the app stops by
/// itself), a clean stop, hooks. A second signal exits at once with [`EXIT_FORCED`].
async fn run_worker(app: App, hooks: MainHooks, out: Scrubber) -> Outcome {
    // Unbound handles (`Orders.send(..)`) and `App::current()` find this app from here on.
    app.set_default();
    let (count_tx, mut count) = tokio::sync::watch::channel(0u32);
    tokio::spawn(watch_signals(count_tx, out.clone()));
    if let Some(hook) = hooks.before_start {
        app.scope(hook(app.clone())).await.map_err(|e| {
            Failure::runtime(format!("before_start failed; the app does not start: {e}"))
        })?;
    }
    tokio::select! {
        r = app.start() => r?,
        _ = signalled(&mut count) => {
            out.eprintln("interrupted while starting");
            return Err(Failure { code: EXIT_FORCED, message: String::new() });
        }
    }
    let stopped = tokio::select! {
        _ = signalled(&mut count) => {
            tracing::info!("signal received: stopping (finishing in-flight events, committing, flushing; a second signal exits at once)");
            if let Err(e) = app.stop().await {
                tracing::error!(error = %e, "stopping failed");
            }
            app.wait().await
        }
        r = app.wait() => r,
    };
    let mut result: Outcome = stopped.map_err(|e| {
        tracing::error!(error = %e, "worker stopped with an error");
        Failure::from(e)
    });
    if let Some(hook) = hooks.after_stop {
        if let Err(e) = app.scope(hook(app.clone())).await {
            tracing::error!(error = %e, "after_stop failed");
            if result.is_ok() {
                result = Err(Failure::runtime(format!("after_stop failed: {e}")));
            }
        }
    }
    result
}

/// Resolves once a signal was counted (the watch's read guard is not kept: the counter must
/// stay writable for the second signal).
async fn signalled(count: &mut tokio::sync::watch::Receiver<u32>) {
    let _ = count.wait_for(|n| *n >= 1).await.map(|_| ());
}

/// Counts SIGINT/SIGTERM; the second one ends the process at once.
async fn watch_signals(count: tokio::sync::watch::Sender<u32>, out: Scrubber) {
    #[cfg(unix)]
    let (mut int, mut term) = {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(i), Ok(t)) => (i, t),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(error = %e, "cannot listen for SIGINT/SIGTERM");
                return;
            }
        }
    };
    loop {
        #[cfg(unix)]
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        let n = *count.borrow() + 1;
        count.send_replace(n);
        if n >= 2 {
            out.eprintln("second signal: exiting now, without finishing the clean stop");
            std::process::exit(EXIT_FORCED as i32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canonical_web_url_is_an_http_url_without_a_path() {
        let cli =
            Cli::try_parse_from(["app", "--web-canonical-url", "http://w1.example:6066/"]).unwrap();
        assert_eq!(
            cli.worker.web_canonical_url.as_deref(),
            Some("http://w1.example:6066")
        );
        for bad in [
            "https://w1:6066",
            "w1:6066",
            "http://w1:6066/table",
            "http://",
        ] {
            let e = Cli::try_parse_from(["app", "--web-canonical-url", bad]).unwrap_err();
            assert!(
                e.to_string().contains("is not http://HOST:PORT"),
                "{bad}: {e}"
            );
        }
    }
}
