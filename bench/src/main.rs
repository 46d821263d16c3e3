//! faust-bench: measures faust-rs against raw clients doing the same work on the same data.
//!
//! ```text
//! faust-bench [run] [--reps N] [--records N] [--channel-records N] [--broker kafka://host:port]
//!                   [--window N] [--only GROUP,GROUP] [--timeout SECS]
//! faust-bench case NAME [same options] [--group ID]     one run of one case (used by `run`)
//! faust-bench fill --broker URL [--records N]           (re)fill the consume topic and empty the
//!                                                      output topics, e.g. to profile one case
//! faust-bench list                                     the case names
//! faust-bench ask [--records N] [--broker URL]          `ask` round-trip latency (N asks, one
//!                                                      at a time), embedded broker and Kafka
//! faust-bench streams [--records N] [--reps N] [--broker URL]   `group_by` and `take` against
//!                                                      hand-written pipelines, back to back
//! ```
//!
//! `run` starts every case in a child process of this binary (`case NAME`), so each run gets a
//! fresh process and its own peak RSS, and interleaves framework and raw runs. Without
//! `--broker` (or `FAUST_BENCH_BROKER`) the Kafka groups are skipped.

mod ask;
mod channel;
mod data;
mod forward;
mod kafka;
mod measure;
mod memory;
mod report;
mod streams;

use measure::{CaseResult, RESULT_PREFIX};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Options shared by the driver and the case processes.
#[derive(Debug, Clone)]
pub struct Opts {
    /// Records of the Kafka and embedded-broker cases.
    pub records: u64,
    /// Values of the channel cases.
    pub channel_records: u64,
    /// Repetitions of every case.
    pub reps: usize,
    /// Kafka broker URL; Kafka cases are skipped without it.
    pub broker: Option<String>,
    /// Produce cases and the raw forwarding loop: records awaiting acknowledgement at most.
    pub window: usize,
    /// Groups to run (all when empty).
    pub only: Vec<String>,
    /// Longest a case may take.
    pub timeout: Duration,
    /// Consumer group / app id of a case run.
    pub group: String,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            records: 1_000_000,
            channel_records: 10_000_000,
            reps: 3,
            broker: std::env::var("FAUST_BENCH_BROKER")
                .ok()
                .filter(|s| !s.trim().is_empty()),
            window: 50_000,
            only: Vec::new(),
            timeout: Duration::from_secs(300),
            group: format!("faust-bench-{}", std::process::id()),
        }
    }
}

impl Opts {
    fn to_args(&self) -> Vec<String> {
        let mut a = vec![
            "--records".into(),
            self.records.to_string(),
            "--channel-records".into(),
            self.channel_records.to_string(),
            "--window".into(),
            self.window.to_string(),
            "--timeout".into(),
            self.timeout.as_secs().to_string(),
        ];
        if let Some(b) = &self.broker {
            a.push("--broker".into());
            a.push(b.clone());
        }
        a
    }
}

/// A benchmark case: one measured thing, run in its own process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// Agent on a Kafka topic.
    KafkaConsumeAgent,
    /// Raw StreamConsumer loop on the same topic.
    KafkaConsumeRaw,
    /// The raw loop also reading each record's headers (diagnostic: `--only kafka-headers`).
    KafkaConsumeRawHeaders,
    /// `send_soon` to a Kafka topic.
    KafkaProduceSendSoon,
    /// Raw FutureProducer.
    KafkaProduceRaw,
    /// Agent forwarding every consumed record to another topic, at least once.
    KafkaForwardAgent,
    /// Raw consume → produce loop committing delivered work only.
    KafkaForwardRaw,
    /// Agent on an embedded-broker topic.
    MemoryTopicAgent,
    /// Plain serde_json decode loop.
    JsonDecodeLoop,
    /// Decoded structs through a tokio mpsc.
    MpscStructs,
    /// Values through a channel into an agent.
    ChannelAgent,
    /// Values through a tokio mpsc.
    ChannelMpsc,
}

impl Case {
    /// Every case.
    pub const ALL: [Case; 12] = [
        Case::KafkaConsumeAgent,
        Case::KafkaConsumeRaw,
        Case::KafkaConsumeRawHeaders,
        Case::KafkaProduceSendSoon,
        Case::KafkaProduceRaw,
        Case::KafkaForwardAgent,
        Case::KafkaForwardRaw,
        Case::MemoryTopicAgent,
        Case::JsonDecodeLoop,
        Case::MpscStructs,
        Case::ChannelAgent,
        Case::ChannelMpsc,
    ];

    /// Command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Case::KafkaConsumeAgent => "kafka-consume-agent",
            Case::KafkaConsumeRaw => "kafka-consume-raw",
            Case::KafkaConsumeRawHeaders => "kafka-consume-raw-headers",
            Case::KafkaProduceSendSoon => "kafka-produce-send-soon",
            Case::KafkaProduceRaw => "kafka-produce-raw",
            Case::KafkaForwardAgent => "kafka-forward-agent",
            Case::KafkaForwardRaw => "kafka-forward-raw",
            Case::MemoryTopicAgent => "memory-topic-agent",
            Case::JsonDecodeLoop => "json-decode-loop",
            Case::MpscStructs => "mpsc-structs",
            Case::ChannelAgent => "channel-agent",
            Case::ChannelMpsc => "channel-mpsc",
        }
    }

    /// What it measures, for the report.
    pub fn label(self) -> &'static str {
        match self {
            Case::KafkaConsumeAgent => "Kafka consume: agent (`Stream<BenchOrders>`)",
            Case::KafkaConsumeRaw => "Kafka consume: raw `StreamConsumer` + serde_json",
            Case::KafkaConsumeRawHeaders => "Kafka consume: raw loop also reading headers",
            Case::KafkaProduceSendSoon => "Kafka produce: `send_soon`",
            Case::KafkaProduceRaw => "Kafka produce: raw `FutureProducer`",
            Case::KafkaForwardAgent => "Kafka forward: agent, `send(...).await` per event",
            Case::KafkaForwardRaw => {
                "Kafka forward: raw consume → `FutureProducer`, commits delivered"
            }
            Case::MemoryTopicAgent => "Embedded broker: agent on a `memory://` topic",
            Case::JsonDecodeLoop => "Plain serde_json decode loop (same bytes)",
            Case::MpscStructs => "tokio mpsc of decoded structs",
            Case::ChannelAgent => "Channel into an agent",
            Case::ChannelMpsc => "tokio mpsc (capacity 1000), two tasks",
        }
    }

    fn from_name(name: &str) -> Option<Case> {
        Case::ALL.into_iter().find(|c| c.name() == name)
    }

    fn needs_kafka(self) -> bool {
        matches!(
            self,
            Case::KafkaConsumeAgent
                | Case::KafkaConsumeRaw
                | Case::KafkaConsumeRawHeaders
                | Case::KafkaProduceSendSoon
                | Case::KafkaProduceRaw
                | Case::KafkaForwardAgent
                | Case::KafkaForwardRaw
        )
    }

    /// Whether the case reads the consume topic (filled once per run, fresh group per run).
    fn reads_consume_topic(self) -> bool {
        matches!(
            self,
            Case::KafkaConsumeAgent
                | Case::KafkaConsumeRaw
                | Case::KafkaConsumeRawHeaders
                | Case::KafkaForwardAgent
                | Case::KafkaForwardRaw
        )
    }

    /// The topic the case writes, re-created empty before each of its runs.
    fn output_topic(self) -> Option<&'static str> {
        match self {
            Case::KafkaProduceSendSoon | Case::KafkaProduceRaw => Some(kafka::PRODUCE_TOPIC),
            Case::KafkaForwardAgent | Case::KafkaForwardRaw => Some(forward::FORWARD_TOPIC),
            _ => None,
        }
    }
}

fn usage() -> &'static str {
    "usage: faust-bench [run] [--reps N] [--records N] [--channel-records N] [--broker kafka://HOST:PORT]\n\
     \x20                  [--window N] [--only kafka-consume,kafka-produce,kafka-forward,memory-topic,channel] [--timeout SECS]\n\
     \x20      faust-bench case NAME [options] [--group ID]\n\
     \x20      faust-bench fill --broker kafka://HOST:PORT [--records N]\n\
     \x20      faust-bench list\n\
     \x20      faust-bench ask [--records N] [--broker kafka://HOST:PORT]\n\
     \x20      faust-bench streams [--records N] [--reps N] [--broker kafka://HOST:PORT]"
}

fn parse(args: &[String]) -> Result<(String, Option<String>, Opts), String> {
    let mut opts = Opts::default();
    let mut it = args.iter();
    let mut command = "run".to_string();
    let mut case = None;
    let mut rest: Vec<&String> = Vec::new();
    if let Some(first) = args.first() {
        if !first.starts_with('-') {
            command = first.clone();
            it.next();
            if command == "case" {
                case = Some(it.next().ok_or("`case` needs a case name")?.clone());
            }
        }
    }
    rest.extend(it);
    let mut i = 0;
    while i < rest.len() {
        let flag = rest[i].as_str();
        let value = || {
            rest.get(i + 1)
                .map(|s| s.as_str())
                .ok_or(format!("{flag} needs a value"))
        };
        let number = |v: &str| -> Result<u64, String> {
            v.replace('_', "")
                .parse::<u64>()
                .map_err(|_| format!("{flag}: '{v}' is not a number"))
        };
        match flag {
            "--records" => opts.records = number(value()?)?,
            "--channel-records" => opts.channel_records = number(value()?)?,
            "--reps" => opts.reps = number(value()?)?.max(1) as usize,
            "--window" => opts.window = number(value()?)?.max(1) as usize,
            "--timeout" => opts.timeout = Duration::from_secs(number(value()?)?),
            "--broker" => opts.broker = Some(value()?.to_string()).filter(|s| !s.is_empty()),
            "--group" => opts.group = value()?.to_string(),
            "--only" => {
                opts.only = value()?
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            }
            "-h" | "--help" => return Err(usage().to_string()),
            other => return Err(format!("unknown option '{other}'\n{}", usage())),
        }
        i += 2;
    }
    Ok((command, case, opts))
}

/// Applies diagnostic settings to the apps of the cases: `FAUST_BENCH_BUFFER=N` sets the
/// agents' stream buffer (`stream_buffer_maxsize`, default 4096); `FAUST_BENCH_METRICS=1`
/// registers the Prometheus metrics sensor (what a worker with its web server runs).
pub fn tune(mut builder: faust_runtime::AppBuilder) -> faust_runtime::AppBuilder {
    if std::env::var("FAUST_BENCH_METRICS").as_deref() == Ok("1") {
        builder = builder.sensor(std::sync::Arc::new(faust_runtime::metrics::Metrics::new()));
    }
    match std::env::var("FAUST_BENCH_BUFFER")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        Some(n) if n > 0 => builder.stream_buffer_maxsize(n),
        _ => builder,
    }
}

/// The runtime of a case: tokio's multi-threaded runtime (one worker per core), or the
/// current-thread runtime when `FAUST_BENCH_CURRENT_THREAD=1`.
fn runtime() -> tokio::runtime::Runtime {
    let current = std::env::var("FAUST_BENCH_CURRENT_THREAD").is_ok_and(|v| v == "1");
    let mut b = if current {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    b.enable_all().build().expect("a tokio runtime starts")
}

/// Runs one case in this process and prints its result line.
fn run_case(case: Case, opts: &Opts) -> Result<CaseResult, String> {
    let name = case.name();
    let broker = || {
        opts.broker
            .clone()
            .ok_or_else(|| format!("case {name} needs --broker kafka://host:port"))
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .try_init();
    let rt = runtime();
    rt.block_on(async {
        match case {
            Case::KafkaConsumeAgent => kafka::consume_agent(name, opts, &broker()?).await,
            Case::KafkaConsumeRaw => kafka::consume_raw(name, opts, &broker()?, false).await,
            Case::KafkaConsumeRawHeaders => kafka::consume_raw(name, opts, &broker()?, true).await,
            Case::KafkaProduceSendSoon => kafka::produce_send_soon(name, opts, &broker()?).await,
            Case::KafkaProduceRaw => kafka::produce_raw_case(name, opts, &broker()?).await,
            Case::KafkaForwardAgent => forward::forward_agent(name, opts, &broker()?).await,
            Case::KafkaForwardRaw => forward::forward_raw(name, opts, &broker()?).await,
            Case::MemoryTopicAgent => memory::topic_agent(name, opts).await,
            Case::JsonDecodeLoop => memory::json_loop(name, opts),
            Case::MpscStructs => memory::mpsc_structs(name, opts).await,
            Case::ChannelAgent => channel::channel_agent(name, opts).await,
            Case::ChannelMpsc => channel::mpsc(name, opts).await,
        }
    })
}

/// Runs one case in a child process of this binary and reads its result line.
fn spawn_case(case: Case, opts: &Opts, group: &str) -> Result<CaseResult, String> {
    // `/proc/self/exe` is the binary this process runs even if a rebuild replaced the file.
    let exe = match std::path::Path::new("/proc/self/exe") {
        p if p.exists() => p.to_path_buf(),
        _ => std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?,
    };
    let out = Command::new(exe)
        .arg("case")
        .arg(case.name())
        .args(opts.to_args())
        .arg("--group")
        .arg(group)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot start case {}: {e}", case.name()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix(RESULT_PREFIX))
        .ok_or_else(|| {
            format!(
                "case {} failed ({}) without a result",
                case.name(),
                out.status
            )
        })?;
    serde_json::from_str(line).map_err(|e| format!("case {}: bad result line: {e}", case.name()))
}

/// A comparison group: cases run back to back, in alternating order across repetitions.
struct Group {
    name: &'static str,
    cases: &'static [Case],
    /// Run without `--only`.
    default: bool,
}

const GROUPS: [Group; 6] = [
    Group {
        name: "kafka-consume",
        default: true,
        cases: &[Case::KafkaConsumeAgent, Case::KafkaConsumeRaw],
    },
    Group {
        name: "kafka-produce",
        default: true,
        cases: &[Case::KafkaProduceSendSoon, Case::KafkaProduceRaw],
    },
    Group {
        name: "kafka-forward",
        default: true,
        cases: &[Case::KafkaForwardAgent, Case::KafkaForwardRaw],
    },
    Group {
        name: "memory-topic",
        default: true,
        cases: &[
            Case::MemoryTopicAgent,
            Case::JsonDecodeLoop,
            Case::MpscStructs,
        ],
    },
    Group {
        name: "channel",
        default: true,
        cases: &[Case::ChannelAgent, Case::ChannelMpsc],
    },
    Group {
        name: "kafka-headers",
        default: false,
        cases: &[Case::KafkaConsumeRaw, Case::KafkaConsumeRawHeaders],
    },
];

fn drive(opts: &Opts) -> Result<(), String> {
    for o in &opts.only {
        if !GROUPS.iter().any(|g| g.name == o) {
            return Err(format!(
                "--only: unknown group '{o}' (groups: kafka-consume, kafka-produce, kafka-forward, memory-topic, channel, kafka-headers)"
            ));
        }
    }
    let groups: Vec<&Group> = GROUPS
        .iter()
        .filter(|g| {
            if opts.only.is_empty() {
                g.default
            } else {
                opts.only.iter().any(|o| o == g.name)
            }
        })
        .filter(|g| {
            let kafka = g.cases.iter().any(|c| c.needs_kafka());
            if kafka && opts.broker.is_none() {
                eprintln!(
                    "faust-bench: skipping {} (no --broker / FAUST_BENCH_BROKER)",
                    g.name
                );
                false
            } else {
                true
            }
        })
        .collect();
    let rt = runtime();
    if let Some(url) = &opts.broker {
        if groups
            .iter()
            .any(|g| g.cases.iter().any(|c| c.reads_consume_topic()))
        {
            eprintln!(
                "faust-bench: filling {} with {} records ({} partitions)",
                kafka::CONSUME_TOPIC,
                opts.records,
                kafka::PARTITIONS
            );
            let took = rt.block_on(kafka::fill_consume_topic(url, opts.records, opts.window))?;
            eprintln!("faust-bench: filled in {:.2}s", took.as_secs_f64());
        }
    }
    let mut results: Vec<(usize, CaseResult)> = Vec::new();
    let run_id = std::process::id();
    for rep in 0..opts.reps {
        for g in &groups {
            let mut order: Vec<Case> = g.cases.to_vec();
            if rep % 2 == 1 {
                order.reverse();
            }
            for case in order {
                // Consumers get a fresh group per run (the group id is unique below).
                if let Some(topic) = case.output_topic() {
                    let url = opts.broker.as_deref().unwrap_or_default();
                    rt.block_on(kafka::recreate_topic(url, topic))?;
                }
                let group = format!("faust-bench-{run_id}-{}-{rep}", case.name());
                eprint!(
                    "faust-bench: rep {}/{} {:<24} ",
                    rep + 1,
                    opts.reps,
                    case.name()
                );
                let r = spawn_case(case, opts, &group)?;
                eprintln!(
                    "{:>8.3}s {:>7.3} M/s  cpu {:>6.2}s  rss {:>5} MiB{}",
                    r.secs,
                    r.rate() / 1e6,
                    r.cpu_secs,
                    r.rss_kib / 1024,
                    r.startup_secs
                        .map(|s| format!("  startup {s:.2}s"))
                        .unwrap_or_default()
                );
                results.push((rep, r));
            }
        }
    }
    if let Some(url) = &opts.broker {
        for topic in [
            kafka::CONSUME_TOPIC,
            kafka::PRODUCE_TOPIC,
            forward::FORWARD_TOPIC,
        ] {
            if let Err(e) = rt.block_on(kafka::delete_topic(url, topic)) {
                eprintln!("faust-bench: {e}");
            }
        }
    }
    print!("{}", report::render(opts, &results));
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, case, opts) = match parse(&args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    let outcome = match command.as_str() {
        "run" => drive(&opts),
        "fill" => match &opts.broker {
            None => Err("fill needs --broker kafka://host:port".into()),
            Some(url) => runtime().block_on(async {
                let took = kafka::fill_consume_topic(url, opts.records, opts.window).await?;
                eprintln!(
                    "faust-bench: {} records in {} ({:.2}s)",
                    opts.records,
                    kafka::CONSUME_TOPIC,
                    took.as_secs_f64()
                );
                for topic in [kafka::PRODUCE_TOPIC, forward::FORWARD_TOPIC] {
                    kafka::recreate_topic(url, topic).await?;
                }
                Ok(())
            }),
        },
        "ask" => runtime().block_on(ask::run(&opts)),
        "streams" => runtime().block_on(streams::run(&opts)),
        "list" => {
            for c in Case::ALL {
                println!("{:<26} {}", c.name(), c.label());
            }
            Ok(())
        }
        "case" => {
            let name = case.unwrap_or_default();
            match Case::from_name(&name) {
                None => Err(format!("unknown case '{name}' (see `faust-bench list`)")),
                Some(c) => run_case(c, &opts).map(|r| r.print()),
            }
        }
        other => Err(format!("unknown command '{other}'\n{}", usage())),
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("faust-bench: error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
