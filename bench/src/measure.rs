//! Measuring one case: wall time and CPU time between two marks, peak resident memory, and the
//! result line a case process prints for the driver.

use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// The prefix of the one line a case process prints with its result.
pub const RESULT_PREFIX: &str = "FAUST-BENCH-RESULT ";

/// A point in time, with the CPU time the whole process had used by then.
#[derive(Debug, Clone, Copy)]
pub struct Mark {
    /// Wall clock.
    pub at: Instant,
    /// User + system CPU time of the process (all threads).
    pub cpu: Duration,
}

impl Mark {
    /// Now.
    pub fn now() -> Mark {
        Mark {
            at: Instant::now(),
            cpu: process_cpu(),
        }
    }
}

/// What happened between two marks.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Wall time.
    pub wall: Duration,
    /// CPU time of the process.
    pub cpu: Duration,
}

impl Window {
    /// The window from `start` to `end`.
    pub fn between(start: Mark, end: Mark) -> Window {
        Window {
            wall: end.at.saturating_duration_since(start.at),
            cpu: end.cpu.saturating_sub(start.cpu),
        }
    }
}

/// Marks the first and the last of a known number of items, and wakes whoever waits for the
/// last. Shared between an agent (through a `static`) and the case that runs it.
pub struct Probe {
    target: AtomicU64,
    first: OnceLock<Mark>,
    last: OnceLock<Mark>,
    done: Notify,
}

impl Default for Probe {
    fn default() -> Self {
        Self::new()
    }
}

impl Probe {
    /// A probe waiting for nothing yet.
    pub fn new() -> Probe {
        Probe {
            target: AtomicU64::new(u64::MAX),
            first: OnceLock::new(),
            last: OnceLock::new(),
            done: Notify::new(),
        }
    }

    /// Sets how many items make the run complete.
    pub fn arm(&self, target: u64) {
        self.target.store(target, Ordering::Release);
    }

    /// How many items make the run complete.
    pub fn target(&self) -> u64 {
        self.target.load(Ordering::Acquire)
    }

    /// Reads `items` to the end, marking the first item and the `target`-th one.
    pub async fn count<S: futures::Stream + Unpin>(&self, mut items: S) {
        use futures::StreamExt;
        let target = self.target();
        let mut seen = 0u64;
        while let Some(item) = items.next().await {
            if seen == 0 {
                self.first();
            }
            std::hint::black_box(&item);
            seen += 1;
            if seen == target {
                self.last();
            }
        }
    }

    /// Marks the first item (later calls do nothing).
    pub fn first(&self) {
        if self.first.get().is_none() {
            let _ = self.first.set(Mark::now());
        }
    }

    /// Marks the last item and wakes the waiter.
    pub fn last(&self) {
        let _ = self.last.set(Mark::now());
        self.done.notify_one();
    }

    /// Waits for the last item, up to `timeout`; returns the first and the last mark.
    pub async fn wait(&self, timeout: Duration) -> Result<(Mark, Mark), String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let (Some(f), Some(l)) = (self.first.get(), self.last.get()) {
                return Ok((*f, *l));
            }
            if tokio::time::timeout_at(deadline, self.done.notified())
                .await
                .is_err()
            {
                return Err(format!(
                    "the last of {} items did not arrive within {timeout:?} (first item seen: {})",
                    self.target(),
                    self.first.get().is_some()
                ));
            }
        }
    }
}

/// CPU time (user + system) used so far by this process, all threads.
pub fn process_cpu() -> Duration {
    let u = rusage();
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// Peak resident set size of this process so far, in KiB: `VmHWM` of `/proc/self/status`.
/// (Not `ru_maxrss`, which Linux carries over from the forked parent across `exec`.)
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|kb| kb.parse().ok())
        })
        .unwrap_or_else(|| rusage().ru_maxrss.max(0) as u64)
}

fn rusage() -> libc::rusage {
    // SAFETY: getrusage only writes into the zeroed struct we hand it.
    unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    }
}

/// The result of one run of one case, as a case process reports it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseResult {
    /// Case name.
    pub case: String,
    /// Items processed in the measured window.
    pub records: u64,
    /// Wall seconds of the measured window.
    pub secs: f64,
    /// CPU seconds (all threads) of the measured window.
    pub cpu_secs: f64,
    /// Peak resident set size of the case process, KiB.
    pub rss_kib: u64,
    /// Seconds from starting the consumer to its first record (group join, fetch), when it
    /// applies.
    pub startup_secs: Option<f64>,
}

impl CaseResult {
    /// A result from a measured window; peak RSS is read now.
    pub fn new(case: &str, records: u64, window: Window, startup: Option<Duration>) -> Self {
        CaseResult {
            case: case.to_string(),
            records,
            secs: window.wall.as_secs_f64(),
            cpu_secs: window.cpu.as_secs_f64(),
            rss_kib: peak_rss_kib(),
            startup_secs: startup.map(|d| d.as_secs_f64()),
        }
    }

    /// Items per second.
    pub fn rate(&self) -> f64 {
        if self.secs > 0.0 {
            self.records as f64 / self.secs
        } else {
            0.0
        }
    }

    /// Prints the result line the driver reads.
    pub fn print(&self) {
        println!(
            "{RESULT_PREFIX}{}",
            serde_json::to_string(self).expect("a result serializes")
        );
    }
}
