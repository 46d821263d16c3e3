//! The fault suite: the `fault_worker` example (which records every id it processes) run against
//! the Kafka-protocol test broker, killed, stopped, restarted, cut off and fed poison, each case
//! counted — expected, processed distinct, duplicates, lost, exit codes, seconds, peak RSS — in
//! one table printed at the end. Any loss fails the suite. Needs `FAUST_TEST_KAFKA` (set by
//! scripts/test.sh) and the tansu binary that script installs (the cases that restart or cut a
//! broker start their own).

mod common;
#[path = "faults/infra.rs"]
mod infra;

use faust_runtime::transport::Transport;
use infra::*;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const TOPICS: [&str; 4] = ["faults-in", "faults-dl", "faults-dl-dlq", "faults-stop"];
const LIMIT: Duration = Duration::from_secs(120);
const STOP: Duration = Duration::from_secs(40);

/// One line of the table.
#[derive(Default)]
struct Row {
    case: &'static str,
    expected: usize,
    distinct: usize,
    duplicates: usize,
    lost: usize,
    exits: Vec<String>,
    seconds: f64,
    peak_rss_mib: f64,
    failures: Vec<String>,
    note: String,
}

impl Row {
    fn check(&mut self, ok: bool, what: impl Into<String>) {
        if !ok {
            self.failures.push(what.into());
        }
    }
    fn exit(&mut self, e: &Exit) {
        self.exits.push(e.label());
        self.peak_rss_mib = self.peak_rss_mib.max(e.peak_rss_kib as f64 / 1024.0);
    }
    fn count(&mut self, lines: &[u64], expected: &BTreeSet<u64>) {
        let (d, dup, lost) = tally(lines, expected);
        self.expected = expected.len();
        self.distinct = d;
        self.duplicates = dup;
        self.lost = lost;
        self.check(lost == 0, format!("{lost} expected ids never processed"));
    }
}

struct Ctx {
    url: String,
    dir: PathBuf,
    version: u32,
}

impl Ctx {
    fn group(&self) -> String {
        format!("fault-worker-v{}", self.version)
    }
    fn log(&self, name: &str) -> PathBuf {
        let p = self.dir.join(format!("v{}-{name}.ids", self.version));
        let _ = std::fs::remove_file(&p);
        p
    }
    fn spec<'a>(&'a self, broker: &'a str, log: &'a std::path::Path) -> WorkerSpec<'a> {
        WorkerSpec {
            broker,
            version: self.version,
            log,
            env: Vec::new(),
        }
    }
}

fn ids(n: u64) -> BTreeSet<u64> {
    (0..n).collect()
}

/// Waits until the log holds at least `n` lines.
async fn wait_lines(log: &std::path::Path, n: usize, w: &Worker) -> Fallible<()> {
    wait_until(&format!("{n} processed ids"), LIMIT, || {
        let have = read_ids(log).len();
        async move { have >= n }
    })
    .await
    .map_err(|e| format!("{e}; worker stderr: {}", tail(&w.stderr)))
}

async fn sigkill(ctx: &Ctx, row: &mut Row) -> Fallible<()> {
    const N: u64 = 30_000;
    let t = client(&ctx.url).await?;
    let counts = produce(&t, "faults-in", good(0, N, 0)).await?;
    let log = ctx.log("kill");
    // 1 ms per event: the kill lands mid-stream however fast the machine is (without it, a
    // fast run can process all before its first commit is seen).
    let mut slow = ctx.spec(&ctx.url, &log);
    slow.env = vec![("FAULT_SLOW_MS", "1".into())];
    let w = Worker::start(&slow, "kill-1");
    // Killed mid-stream once it has committed some of its work.
    wait_until("a tenth committed", LIMIT, || {
        let t = t.clone();
        let group = ctx.group();
        async move {
            committed(&t, &group, "faults-in")
                .await
                .map(|c| c.iter().sum::<i64>() >= N as i64 / 10)
                .unwrap_or(false)
        }
    })
    .await?;
    w.signal(libc::SIGKILL);
    let e = w.wait(STOP).await?;
    row.exit(&e);
    let before = read_ids(&log).len();
    let at_kill: i64 = committed(&t, &ctx.group(), "faults-in").await?.iter().sum();
    row.check(before < N as usize, "the worker finished before the kill");
    let w = Worker::start(&ctx.spec(&ctx.url, &log), "kill-2");
    wait_committed(&t, &ctx.group(), "faults-in", &counts, LIMIT).await?;
    w.signal(libc::SIGINT);
    let e = w.wait(STOP).await?;
    row.exit(&e);
    row.check(e.code == Some(0), "the restarted worker did not exit 0");
    row.count(&read_ids(&log), &ids(N));
    // Processed again: exactly what was processed but not committed at the kill, no more.
    let uncommitted = before.saturating_sub(at_kill as usize);
    row.check(
        row.duplicates <= uncommitted,
        format!(
            "{} processed again, only {uncommitted} were uncommitted",
            row.duplicates
        ),
    );
    row.note = format!("killed after {before} processed, {at_kill} committed");
    Ok(())
}

async fn rebalance(ctx: &Ctx, row: &mut Row) -> Fallible<()> {
    const N: u64 = 30_000;
    let t = client(&ctx.url).await?;
    let (la, lb, lc) = (ctx.log("reb-a"), ctx.log("reb-b"), ctx.log("reb-c"));
    let a = Worker::start(&ctx.spec(&ctx.url, &la), "reb-a");
    let b = Worker::start(&ctx.spec(&ctx.url, &lb), "reb-b");
    let counts = produce(&t, "faults-in", good(0, N, 0)).await?;
    wait_until("both workers to process", LIMIT, || {
        let ok = read_ids(&la).len() > 1000 && read_ids(&lb).len() > 1000;
        async move { ok }
    })
    .await?;
    // A stops cleanly: its final commit covers everything it processed.
    a.signal(libc::SIGTERM);
    let e = a.wait(STOP).await?;
    row.exit(&e);
    row.check(e.code == Some(0), "the stopped worker did not exit 0");
    let by_a: BTreeSet<u64> = read_ids(&la).into_iter().collect();
    let c = Worker::start(&ctx.spec(&ctx.url, &lc), "reb-c");
    wait_committed(&t, &ctx.group(), "faults-in", &counts, LIMIT).await?;
    for w in [b, c] {
        w.signal(libc::SIGTERM);
        let e = w.wait(STOP).await?;
        row.exit(&e);
        row.check(e.code == Some(0), "a worker did not exit 0");
    }
    let after: Vec<u64> = read_ids(&lb).into_iter().chain(read_ids(&lc)).collect();
    let again = after.iter().filter(|id| by_a.contains(id)).count();
    row.check(
        again == 0,
        format!("{again} ids of the cleanly stopped worker processed again"),
    );
    let all: Vec<u64> = read_ids(&la).into_iter().chain(after).collect();
    row.count(&all, &ids(N));
    row.check(row.duplicates == 0, "duplicates across clean rebalances");
    row.note = format!("{} by the stopped one, {again} of them again", by_a.len());
    Ok(())
}

/// 10,000 records, one in ten poison, on `topic` under its policy.
async fn poison(ctx: &Ctx, row: &mut Row, topic: &str) -> Fallible<Vec<Vec<u8>>> {
    const N: u64 = 10_000;
    let t = client(&ctx.url).await?;
    let mut bad = Vec::new();
    let inputs: Vec<(u64, Input)> = (0..N)
        .map(|i| {
            if i % 10 == 7 {
                let bytes = format!("{{\"id\": poison {i}").into_bytes();
                bad.push(bytes.clone());
                (i, Input::Poison(bytes))
            } else {
                (i, Input::Good { id: i, pad: 0 })
            }
        })
        .collect();
    let counts = produce(&t, topic, inputs).await?;
    let log = ctx.log(topic);
    let w = Worker::start(&ctx.spec(&ctx.url, &log), topic);
    wait_committed(&t, &ctx.group(), topic, &counts, LIMIT).await?;
    row.check(w.rss_kib() > 0, "the worker died on poison records");
    w.signal(libc::SIGTERM);
    let e = w.wait(STOP).await?;
    row.exit(&e);
    row.check(e.code == Some(0), "the worker did not exit 0");
    let expected: BTreeSet<u64> = (0..N).filter(|i| i % 10 != 7).collect();
    row.count(&read_ids(&log), &expected);
    Ok(bad)
}

async fn poison_skip(ctx: &Ctx, row: &mut Row) -> Fallible<()> {
    poison(ctx, row, "faults-in").await?;
    row.note = "1,000 poison skipped".into();
    Ok(())
}

async fn poison_dead_letter(ctx: &Ctx, row: &mut Row) -> Fallible<()> {
    let mut bad = poison(ctx, row, "faults-dl").await?;
    let t = client(&ctx.url).await?;
    let mut dlq = read_values(&t, "faults-dl-dlq", bad.len(), LIMIT).await?;
    dlq.sort();
    bad.sort();
    row.check(
        dlq == bad,
        format!(
            "the DLQ has {} records, not the {} poison ones byte for byte",
            dlq.len(),
            bad.len()
        ),
    );
    row.note = format!("{} in the DLQ, byte-identical", dlq.len());
    Ok(())
}

async fn poison_stop(ctx: &Ctx, row: &mut Row) -> Fallible<()> {
    // One poison record at partition 0, offset 500 (input index 2000); the rest good.
    const N: u64 = 4_000;
    let t = client(&ctx.url).await?;
    let inputs: Vec<(u64, Input)> = (0..N)
        .map(|i| {
            if i == 2000 {
                (i, Input::Poison(b"{\"id\": poison".to_vec()))
            } else {
                (i, Input::Good { id: i, pad: 0 })
            }
        })
        .collect();
    produce(&t, "faults-stop", inputs).await?;
    let log = ctx.log("stop");
    let w = Worker::start(&ctx.spec(&ctx.url, &log), "poison-stop");
    let stderr = w.stderr.clone();
    let e = w.wait(LIMIT).await?;
    row.exit(&e);
    let err = std::fs::read_to_string(&stderr).unwrap_or_default();
    row.check(
        e.code == Some(1),
        format!("exit {:?}, not 1, under policy stop", e.code),
    );
    row.check(
        err.contains("faults-stop") && err.contains("500"),
        format!("the error does not name the record: {}", tail(&stderr)),
    );
    row.check(!err.contains("panicked"), "the worker panicked");
    let c = committed(&t, &ctx.group(), "faults-stop").await?;
    row.check(
        c[0] <= 500,
        format!("committed past the poison record: {c:?}"),
    );
    // Partition 0's records before the poison one are all processed.
    let expected: BTreeSet<u64> = (0..2000).filter(|i| i % 4 == 0).collect();
    row.count(&read_ids(&log), &expected);
    row.note = format!("stopped at faults-stop[0]@500, committed {}", c[0]);
    Ok(())
}

async fn failing_agent(ctx: &Ctx, row: &mut Row) -> Fallible<()> {
    const N: u64 = 20_000;
    let t = client(&ctx.url).await?;
    let counts = produce(&t, "faults-in", good(0, N, 0)).await?;
    let log = ctx.log("failing");
    let mut spec = ctx.spec(&ctx.url, &log);
    spec.env = vec![
        ("FAULT_FAIL_EVERY", "100".into()),
        ("FAULT_PANIC_AT", "10001".into()),
    ];
    let started = Instant::now();
    let w = Worker::start(&spec, "failing");
    // Generous: a backoff stuck at its maximum (200 failures x 6.4 s) would take 20 minutes.
    wait_committed(&t, &ctx.group(), "faults-in", &counts, LIMIT).await?;
    let took = started.elapsed();
    let err = std::fs::read_to_string(&w.stderr).unwrap_or_default();
    w.signal(libc::SIGTERM);
    let e = w.wait(STOP).await?;
    row.exit(&e);
    row.check(e.code == Some(0), "the worker did not exit 0");
    row.check(err.contains("panicking once"), "the panic was not reported");
    row.count(&read_ids(&log), &ids(N));
    row.note = format!(
        "200 errors + 1 panic, all committed in {:.1}s",
        took.as_secs_f64()
    );
    Ok(())
}

async fn broker_absent(ctx: &Ctx, row: &mut Row) -> Fallible<()> {
    const N: u64 = 5_000;
    let port = free_port();
    let url = format!("kafka://127.0.0.1:{port}");
    let log = ctx.log("absent");
    let w = Worker::start(&ctx.spec(&url, &log), "absent");
    // The broker comes up 5 s after the worker (the fault itself, not a synchronization).
    tokio::time::sleep(Duration::from_secs(5)).await;
    row.check(
        w.rss_kib() > 0,
        "the worker gave up before the broker came up",
    );
    let _broker = Tansu::start(port, port).await?;
    let t = client(&url).await?;
    wait_until("the worker to create its topics", LIMIT, || {
        let t = t.clone();
        async move { matches!(t.describe_topic("faults-in").await, Ok(Some(_))) }
    })
    .await?;
    let counts = produce(&t, "faults-in", good(0, N, 0)).await?;
    wait_committed(&t, &ctx.group(), "faults-in", &counts, LIMIT).await?;
    w.signal(libc::SIGTERM);
    let e = w.wait(STOP).await?;
    row.exit(&e);
    row.check(e.code == Some(0), "the worker did not exit 0");
    row.count(&read_ids(&log), &ids(N));
    row.note = "broker up 5 s after the worker".into();
    Ok(())
}

async fn network_outage(ctx: &Ctx, row: &mut Row) -> Fallible<()> {
    const N: u64 = 4_000;
    let (bport, pport) = (free_port(), free_port());
    // The broker advertises the proxy, so every connection goes through it.
    let _broker = Tansu::start(bport, pport).await?;
    let proxy = Proxy::start(pport, bport).await;
    let url = format!("kafka://127.0.0.1:{pport}");
    let t = client(&url).await?;
    reset_topics(&t, &TOPICS).await?;
    let counts = produce(&t, "faults-in", good(0, N, 0)).await?;
    let log = ctx.log("outage");
    let mut spec = ctx.spec(&url, &log);
    // About 1 ms per record, so the cut comes mid-stream.
    spec.env = vec![("FAULT_SLOW_MS", "1".into())];
    let w = Worker::start(&spec, "outage");
    wait_lines(&log, (N / 4) as usize, &w).await?;
    let before_cut: i64 = committed(&t, &ctx.group(), "faults-in").await?.iter().sum();
    proxy.cut();
    let at_cut = read_ids(&log).len();
    // A 10 s cut (longer than the 6 s session timeout).
    tokio::time::sleep(Duration::from_secs(10)).await;
    let during = read_ids(&log).len() - at_cut;
    proxy.restore();
    wait_committed(&t, &ctx.group(), "faults-in", &counts, LIMIT).await?;
    w.signal(libc::SIGTERM);
    let e = w.wait(STOP).await?;
    row.exit(&e);
    row.check(e.code == Some(0), "the worker did not exit 0");
    row.count(&read_ids(&log), &ids(N));
    // What is processed again is at most what was not committed when the network went.
    let uncommitted = N as usize - before_cut as usize;
    row.check(
        row.duplicates <= uncommitted,
        format!(
            "{} processed again, but only {uncommitted} were uncommitted at the cut",
            row.duplicates
        ),
    );
    row.note =
        format!("10 s cut at {at_cut} processed, {before_cut} committed ({during} more during it)");
    Ok(())
}

/// A worker run as a supervisor runs it: restarted when it dies. librdkafka 2.12.1's consumer
/// can crash after a broker restarted empty (SIGSEGV in `rd_kafka_metadata_update_op`, a NULL
/// topic name from a fetch response's leader update for a topic that was recreated under a new
/// id); each crash is counted in the table, and the case still checks that nothing was lost.
struct Supervised<'a> {
    ctx: &'a Ctx,
    url: &'a str,
    log: &'a std::path::Path,
    w: Worker,
    crashes: u32,
    stderr: String,
}

impl Supervised<'_> {
    /// Restarts the worker if it died.
    fn check(&mut self, row: &mut Row) -> Fallible<()> {
        let Some(e) = self.w.exited().cloned() else {
            return Ok(());
        };
        row.exit(&e);
        self.crashes += 1;
        self.stderr
            .push_str(&std::fs::read_to_string(&self.w.stderr).unwrap_or_default());
        if self.crashes > 3 {
            return Err(format!("the worker died {} times: {e:?}", self.crashes));
        }
        let name = format!("restarted-{}", self.crashes);
        self.w = Worker::start(&self.ctx.spec(self.url, self.log), &name);
        Ok(())
    }

    /// Waits for `cond`, restarting the worker whenever it died.
    async fn wait<F, Fut>(&mut self, row: &mut Row, what: &str, mut cond: F) -> Fallible<()>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<(), String>>,
    {
        let deadline = Instant::now() + LIMIT;
        loop {
            self.check(row)?;
            let last = match cond().await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "{what} within {LIMIT:?}: {last}; stderr: {}",
                    tail(&self.w.stderr)
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn broker_restarted_empty(ctx: &Ctx, row: &mut Row) -> Fallible<()> {
    const N: u64 = 5_000;
    let port = free_port();
    let url = format!("kafka://127.0.0.1:{port}");
    let mut broker = Tansu::start(port, port).await?;
    let log = ctx.log("restarted");
    let w = Worker::start(&ctx.spec(&url, &log), "restarted");
    let t = client(&url).await?;
    wait_until("the worker to create its topics", LIMIT, || {
        let t = t.clone();
        async move { matches!(t.describe_topic("faults-in").await, Ok(Some(_))) }
    })
    .await?;
    let counts = produce(&t, "faults-in", good(0, N, 0)).await?;
    wait_committed(&t, &ctx.group(), "faults-in", &counts, LIMIT).await?;
    drop(t);
    broker.kill();
    broker = Tansu::start(port, port).await?;
    let t = client(&url).await?;
    let back = Instant::now();
    let mut sup = Supervised {
        ctx,
        url: &url,
        log: &log,
        w,
        crashes: 0,
        stderr: String::new(),
    };
    sup.wait(row, "the worker did not recreate its topics", || {
        let t = t.clone();
        async move {
            match t.describe_topic("faults-in").await {
                Ok(Some(_)) => Ok(()),
                other => Err(format!("faults-in: {other:?}")),
            }
        }
    })
    .await?;
    let recreated = back.elapsed();
    // More than before: a consumer that went on from its old positions in the new, empty log
    // would skip the first N of them.
    let counts = produce(&t, "faults-in", good(N, 3 * N, 0)).await?;
    let group = ctx.group();
    sup.wait(row, "the worker did not commit all new records", || {
        let (t, group, counts) = (t.clone(), group.clone(), counts.clone());
        async move {
            let c = committed(&t, &group, "faults-in").await.unwrap_or_default();
            if c == counts {
                Ok(())
            } else {
                Err(format!("committed {c:?} of {counts:?}"))
            }
        }
    })
    .await?;
    let resumed = back.elapsed();
    let Supervised {
        w,
        crashes,
        mut stderr,
        ..
    } = sup;
    stderr.push_str(&std::fs::read_to_string(&w.stderr).unwrap_or_default());
    // A worker that crashed before its topic check ran could not say it; its successor found
    // the topics missing at startup and created them.
    if crashes == 0 {
        row.check(
            stderr.contains("gone from the broker"),
            "the worker did not say its topics were gone",
        );
    }
    w.signal(libc::SIGTERM);
    let e = w.wait(STOP).await?;
    row.exit(&e);
    row.check(e.code == Some(0), "the worker did not exit 0");
    row.count(&read_ids(&log), &ids(3 * N));
    row.note = format!(
        "topics back {:.1}s, all new records {:.1}s after the restart{}",
        recreated.as_secs_f64(),
        resumed.as_secs_f64(),
        if crashes > 0 {
            format!("; {crashes} librdkafka crash(es), restarted")
        } else {
            String::new()
        }
    );
    drop(broker);
    Ok(())
}

async fn sigterm_under_load(ctx: &Ctx, row: &mut Row) -> Fallible<()> {
    const N: u64 = 30_000;
    let t = client(&ctx.url).await?;
    let counts = produce(&t, "faults-in", good(0, N, 0)).await?;
    let log = ctx.log("term");
    let w = Worker::start(&ctx.spec(&ctx.url, &log), "term-1");
    wait_lines(&log, (N / 3) as usize, &w).await?;
    w.signal(libc::SIGTERM);
    let e = w.wait(STOP).await?;
    row.exit(&e);
    row.check(e.code == Some(0), "the stopped worker did not exit 0");
    let before = read_ids(&log).len();
    let w = Worker::start(&ctx.spec(&ctx.url, &log), "term-2");
    wait_committed(&t, &ctx.group(), "faults-in", &counts, LIMIT).await?;
    w.signal(libc::SIGTERM);
    let e = w.wait(STOP).await?;
    row.exit(&e);
    row.count(&read_ids(&log), &ids(N));
    row.check(
        row.duplicates == 0,
        "records processed again after a clean stop",
    );
    row.note = format!("stopped after {before} processed");
    Ok(())
}

async fn sigterm_slow_agent(ctx: &Ctx, row: &mut Row) -> Fallible<()> {
    const N: u64 = 2_000;
    let t = client(&ctx.url).await?;
    let counts = produce(&t, "faults-in", good(0, N, 0)).await?;
    let log = ctx.log("slow");
    let mut spec = ctx.spec(&ctx.url, &log);
    spec.env = vec![
        ("FAULT_SLOW_MS", "50".into()),
        ("FAUST_SHUTDOWN_TIMEOUT", "3s".into()),
    ];
    let w = Worker::start(&spec, "slow-1");
    wait_lines(&log, 40, &w).await?;
    let asked = Instant::now();
    w.signal(libc::SIGTERM);
    let e = w.wait(STOP).await?;
    let took = asked.elapsed();
    row.exit(&e);
    row.check(e.code == Some(0), "the slow worker did not exit 0");
    // The shutdown timeout plus the process's own exit.
    row.check(
        took < Duration::from_secs(5),
        format!("stopping took {took:?} with a 3 s shutdown_timeout"),
    );
    let before = read_ids(&log).len();
    let w = Worker::start(&ctx.spec(&ctx.url, &log), "slow-2");
    wait_committed(&t, &ctx.group(), "faults-in", &counts, LIMIT).await?;
    w.signal(libc::SIGTERM);
    let e = w.wait(STOP).await?;
    row.exit(&e);
    row.count(&read_ids(&log), &ids(N));
    row.note = format!(
        "stopped in {:.1}s (timeout 3 s) after {before}",
        took.as_secs_f64()
    );
    Ok(())
}

async fn slow_backlog(ctx: &Ctx, row: &mut Row) -> Fallible<()> {
    // 100,000 records of 1 KiB (a 100 MiB backlog) behind an agent taking 1 ms each.
    const N: u64 = 100_000;
    let t = client(&ctx.url).await?;
    produce(&t, "faults-in", good(0, N, 1000)).await?;
    let log = ctx.log("backlog");
    let mut spec = ctx.spec(&ctx.url, &log);
    spec.env = vec![("FAULT_SLOW_MS", "1".into())];
    let w = Worker::start(&spec, "backlog");
    wait_lines(&log, 1, &w).await?;
    // Sampled for 15 s while it works through the backlog.
    let mut samples = Vec::new();
    let until = Instant::now() + Duration::from_secs(15);
    while Instant::now() < until {
        samples.push(w.rss_kib());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let processed = read_ids(&log).len();
    let committed_then: i64 = committed(&t, &ctx.group(), "faults-in").await?.iter().sum();
    w.signal(libc::SIGTERM);
    let e = w.wait(STOP).await?;
    row.exit(&e);
    row.check(e.code == Some(0), "the worker did not exit 0");
    let peak = e.peak_rss_kib as f64 / 1024.0;
    row.check(
        peak < 250.0,
        format!("peak RSS {peak:.0} MiB behind a 100 MiB backlog"),
    );
    let lines = read_ids(&log);
    let expected: BTreeSet<u64> = lines.iter().copied().collect();
    row.count(&lines, &expected);
    // A slow agent's work is committed as it goes, not when its queue empties.
    row.check(
        committed_then >= processed as i64 - 2000,
        format!("{committed_then} committed of {processed} processed"),
    );
    let late = samples[samples.len() / 2..]
        .iter()
        .max()
        .copied()
        .unwrap_or(0) as f64
        / 1024.0;
    row.note = format!(
        "{processed} of {N} in 15 s ({committed_then} committed), RSS {late:.0} MiB in the second half"
    );
    Ok(())
}

/// Bad configuration: each a clear error naming the problem, exit code 2, no panic, quickly.
async fn bad_configuration(ctx: &Ctx, row: &mut Row) -> Fallible<()> {
    use std::os::unix::ffi::OsStrExt;
    let bin = common::example_binary("fault_worker");
    let log = ctx.log("config");
    let non_utf8 = std::ffi::OsStr::from_bytes(b"kafka://\xff:9092").to_os_string();
    // (arguments, environment, what the message must name)
    type Env = Vec<(&'static str, std::ffi::OsString)>;
    let env = |k: &'static str, v: &str| -> Env { vec![(k, v.into())] };
    let cases: Vec<(Vec<&str>, Env, &str)> = vec![
        (vec!["--broker"], vec![], "--broker"),
        (vec!["--broker", ""], vec![], "broker"),
        (vec!["--broker", "kafka://%%%"], vec![], "%%%"),
        (vec!["--broker", "bogus://x"], vec![], "bogus://x"),
        (vec!["--frobnicate"], vec![], "--frobnicate"),
        // The environment feeds the option: the message names the variable and the option.
        (
            vec![],
            env("FAUST_BROKER", ""),
            "FAUST_BROKER is set but empty",
        ),
        (
            vec![],
            vec![("FAUST_BROKER", non_utf8)],
            "FAUST_BROKER is not valid UTF-8",
        ),
        (vec![], env("FAUST_COMMIT_INTERVAL", "soon"), "soon"),
        (vec![], env("FAUST_COMMIT_INTERVAL", "0"), "commit_interval"),
        (vec![], env("FAUST_VERSION", "abc"), "FAUST_VERSION"),
        (
            vec![],
            env("FAUST_TOPIC_PARTITIONS", "0"),
            "topic_partitions",
        ),
        (vec![], env("FAUST_SHUTDOWN_TIMEOUT", "forever"), "forever"),
        (vec![], env("FAUST_ON_MISSING_TOPIC", "shrug"), "shrug"),
    ];
    row.expected = cases.len();
    for (args, env, names) in cases {
        let started = Instant::now();
        let env_shown = env.clone();
        let out = tokio::task::spawn_blocking({
            let bin = bin.clone();
            let log = log.clone();
            let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            move || {
                let mut cmd = std::process::Command::new(bin);
                cmd.args(&args)
                    .env_remove("FAUST_BROKER")
                    .env("FAULT_LOG", &log)
                    .env("RUST_LOG", "warn")
                    .stdin(std::process::Stdio::null());
                for (k, v) in &env {
                    cmd.env(k, v);
                }
                cmd.output()
            }
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
        let took = started.elapsed();
        let code = out.status.code();
        let err = String::from_utf8_lossy(&out.stderr);
        let what = format!(
            "{args:?} {:?}",
            env_shown
                .iter()
                .map(|(k, v)| format!("{k}={v:?}"))
                .collect::<Vec<_>>()
        );
        row.exits.push(code.map_or("sig".into(), |c| c.to_string()));
        row.check(
            code == Some(2),
            format!("{what}: exit {code:?}, not 2: {err}"),
        );
        row.check(
            err.contains(names),
            format!("{what}: the error does not name '{names}': {err}"),
        );
        row.check(
            !err.contains("panicked"),
            format!("{what}: panicked: {err}"),
        );
        row.check(
            took < Duration::from_secs(10),
            format!("{what}: took {took:?}"),
        );
        if code == Some(2) && err.contains(names) {
            row.distinct += 1;
        }
    }
    row.lost = row.expected - row.distinct;
    row.note = "clear error + exit 2 for each".into();
    Ok(())
}

type Case = for<'a> fn(&'a Ctx, &'a mut Row) -> futures::future::BoxFuture<'a, Fallible<()>>;

macro_rules! case {
    ($name:literal, $f:ident) => {
        ($name, (|c, r| Box::pin($f(c, r))) as Case)
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_suite() {
    let url = match std::env::var("FAUST_TEST_KAFKA") {
        Ok(u) if !u.trim().is_empty() => u.trim().to_string(),
        _ => {
            panic!("FAUST_TEST_KAFKA is not set: run scripts/test.sh, which starts the test broker")
        }
    };
    let only = std::env::var("FAULTS_ONLY").ok();
    let cases: Vec<(&'static str, Case)> = vec![
        case!("sigkill mid-stream + restart", sigkill),
        case!("rebalance: 2 workers, 1 stopped, 1 joins", rebalance),
        case!("poison x1000 / skip", poison_skip),
        case!("poison x1000 / dead_letter", poison_dead_letter),
        case!("poison x1 / stop", poison_stop),
        case!("agent fails 1/100, panics once", failing_agent),
        case!("broker absent at start", broker_absent),
        case!("network cut 10 s (proxy)", network_outage),
        case!("broker restarted empty", broker_restarted_empty),
        case!("sigterm under load + restart", sigterm_under_load),
        case!("sigterm, slow agent", sigterm_slow_agent),
        case!("slow agent, 100 MiB backlog", slow_backlog),
        case!("bad configuration matrix", bad_configuration),
    ];
    let dir = scratch();
    let base = 100 + std::process::id() % 10_000 * 100;
    let mut rows = Vec::new();
    for (i, (name, f)) in cases.into_iter().enumerate() {
        if only.as_deref().is_some_and(|o| !name.contains(o)) {
            continue;
        }
        let ctx = Ctx {
            url: url.clone(),
            dir: dir.clone(),
            version: base + i as u32,
        };
        let mut row = Row {
            case: name,
            ..Row::default()
        };
        eprintln!("fault suite: {name}");
        let started = Instant::now();
        let setup = match client(&url).await {
            Ok(t) => reset_topics(&t, &TOPICS).await,
            Err(e) => Err(e),
        };
        let r = match setup {
            Ok(()) => f(&ctx, &mut row).await,
            Err(e) => Err(format!("setup: {e}")),
        };
        if let Err(e) = r {
            row.failures.push(e);
        }
        row.seconds = started.elapsed().as_secs_f64();
        rows.push(row);
    }
    // Written to stderr directly, past the test harness's capture: the table is the point of
    // the suite, passing or not.
    let mut table = format!(
        "\nfault suite\n{:<42} {:>8} {:>9} {:>5} {:>5} {:<16} {:>6} {:>8}  note\n",
        "case", "expected", "processed", "dups", "lost", "exit codes", "secs", "RSS MiB"
    );
    for r in &rows {
        table.push_str(&format!(
            "{:<42} {:>8} {:>9} {:>5} {:>5} {:<16} {:>6.1} {:>8.0}  {}{}\n",
            r.case,
            r.expected,
            r.distinct,
            r.duplicates,
            r.lost,
            r.exits.join(","),
            r.seconds,
            r.peak_rss_mib,
            r.note,
            if r.failures.is_empty() {
                ""
            } else {
                "  FAILED"
            }
        ));
    }
    {
        use std::io::Write;
        let _ = std::io::stderr().lock().write_all(table.as_bytes());
    }
    let failed: Vec<String> = rows
        .iter()
        .flat_map(|r| r.failures.iter().map(move |f| format!("{}: {f}", r.case)))
        .collect();
    assert!(
        failed.is_empty(),
        "fault suite failures (worker logs in {}):\n{}",
        dir.display(),
        failed.join("\n")
    );
    // FAULTS_KEEP=1 keeps the workers' logs of a passing run too.
    if std::env::var_os("FAULTS_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
