//! The report: per-case min / median / max, framework-to-raw ratios against the targets, peak
//! RSS, and the machine it ran on, as Markdown.

use crate::measure::CaseResult;
use crate::{Case, Opts};
use std::fmt::Write;

/// A comparison of a framework case with a baseline, with the target ratio if there is one.
struct Ratio {
    num: Case,
    den: Case,
    target: Option<f64>,
}

const RATIOS: [Ratio; 8] = [
    Ratio {
        num: Case::KafkaConsumeAgent,
        den: Case::KafkaConsumeRaw,
        target: Some(0.95),
    },
    Ratio {
        num: Case::KafkaProduceSendSoon,
        den: Case::KafkaProduceRaw,
        target: Some(0.9),
    },
    Ratio {
        num: Case::KafkaForwardAgent,
        den: Case::KafkaForwardRaw,
        target: Some(0.8),
    },
    Ratio {
        num: Case::MemoryTopicAgent,
        den: Case::JsonDecodeLoop,
        target: Some(0.5),
    },
    Ratio {
        num: Case::MemoryTopicAgent,
        den: Case::MpscStructs,
        target: None,
    },
    Ratio {
        num: Case::MemoryTopicAgent,
        den: Case::KafkaConsumeAgent,
        target: None,
    },
    Ratio {
        num: Case::ChannelAgent,
        den: Case::ChannelMpsc,
        target: Some(0.5),
    },
    Ratio {
        num: Case::KafkaConsumeRawHeaders,
        den: Case::KafkaConsumeRaw,
        target: None,
    },
];

/// Peak RSS allowed while an agent consumes the Kafka topic.
const RSS_TARGET_MIB: f64 = 100.0;

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

struct Summary {
    runs: usize,
    rate: Vec<f64>,
    secs: Vec<f64>,
    cpu_per_m: f64,
    rss_mib: f64,
    startup: Option<f64>,
}

fn summarize(results: &[&CaseResult]) -> Summary {
    let rate = sorted(results.iter().map(|r| r.rate()).collect());
    let secs = sorted(results.iter().map(|r| r.secs).collect());
    let cpu_per_m = median(&sorted(
        results
            .iter()
            .map(|r| r.cpu_secs / (r.records as f64 / 1e6))
            .collect(),
    ));
    let rss_mib = results.iter().map(|r| r.rss_kib).max().unwrap_or(0) as f64 / 1024.0;
    let startups: Vec<f64> = results.iter().filter_map(|r| r.startup_secs).collect();
    let startup = (!startups.is_empty()).then(|| median(&sorted(startups)));
    Summary {
        runs: results.len(),
        rate,
        secs,
        cpu_per_m,
        rss_mib,
        startup,
    }
}

fn rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2} M/s", r / 1e6)
    } else {
        format!("{:.0} k/s", r / 1e3)
    }
}

/// The machine: cores, CPU model, memory.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    format!("{cores} cores (nproc), {model}, {mem_gib:.1} GiB RAM")
}

/// Renders the results of every repetition (`(repetition, result)`) as Markdown.
pub fn render(opts: &Opts, results: &[(usize, CaseResult)]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\n## Results\n");
    let _ = writeln!(
        out,
        "Machine: {}. {} repetitions; {} records per Kafka / embedded-broker case, {} values per channel case.\n",
        machine(),
        opts.reps,
        opts.records,
        opts.channel_records
    );
    let _ = writeln!(
        out,
        "| case | runs | min | median | max | median time | CPU s per M | peak RSS | startup |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    let of = |c: Case| -> Vec<&CaseResult> {
        results
            .iter()
            .filter(|(_, r)| r.case == c.name())
            .map(|(_, r)| r)
            .collect()
    };
    for case in Case::ALL {
        let rs = of(case);
        if rs.is_empty() {
            continue;
        }
        let s = summarize(&rs);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {:.3} s | {:.2} | {:.0} MiB | {} |",
            case.label(),
            s.runs,
            rate(s.rate[0]),
            rate(median(&s.rate)),
            rate(s.rate[s.rate.len() - 1]),
            median(&s.secs),
            s.cpu_per_m,
            s.rss_mib,
            s.startup
                .map(|x| format!("{x:.2} s"))
                .unwrap_or_else(|| "-".into())
        );
    }
    let _ = writeln!(
        out,
        "\n| ratio (throughput) | median / median | per repetition | target | met |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for r in RATIOS {
        let (a, b) = (of(r.num), of(r.den));
        if a.is_empty() || b.is_empty() {
            continue;
        }
        let ma = median(&sorted(a.iter().map(|x| x.rate()).collect()));
        let mb = median(&sorted(b.iter().map(|x| x.rate()).collect()));
        let ratio = ma / mb;
        let paired = sorted(
            (0..opts.reps)
                .filter_map(|rep| {
                    let find = |c: Case| {
                        results
                            .iter()
                            .find(|(i, x)| *i == rep && x.case == c.name())
                            .map(|(_, x)| x.rate())
                    };
                    Some(find(r.num)? / find(r.den)?)
                })
                .collect(),
        );
        let per_rep = match paired.as_slice() {
            [] => "-".to_string(),
            [x] => format!("{x:.2}"),
            [first, .., last] => format!("{first:.2} – {last:.2}"),
        };
        let (target, met) = match r.target {
            Some(t) => (
                format!("≥ {t:.2}"),
                if ratio >= t { "yes" } else { "**no**" }.to_string(),
            ),
            None => ("-".into(), "-".into()),
        };
        let _ = writeln!(
            out,
            "| {} / {} | {:.3} | {} | {} | {} |",
            r.num.label(),
            r.den.label(),
            ratio,
            per_rep,
            target,
            met
        );
    }
    let agent = of(Case::KafkaConsumeAgent);
    if !agent.is_empty() {
        let rss = summarize(&agent).rss_mib;
        let _ = writeln!(
            out,
            "\nPeak RSS of the agent consuming {} Kafka records: {:.0} MiB (target < {:.0} MiB: {}).",
            opts.records,
            rss,
            RSS_TARGET_MIB,
            if rss < RSS_TARGET_MIB { "met" } else { "**not met**" }
        );
    }
    let forward = of(Case::KafkaForwardAgent);
    if !forward.is_empty() {
        let _ = writeln!(
            out,
            "\nPeak RSS of the agent forwarding {} Kafka records: {:.0} MiB.",
            opts.records,
            summarize(&forward).rss_mib
        );
    }
    out
}
