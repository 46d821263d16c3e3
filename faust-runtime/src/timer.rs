//! Timers and jobs: `#[timer(interval = "5s")]` runs an `async fn` on an interval while the app
//! runs, `#[crontab("*/5 * * * *", timezone = "Europe/Paris")]` at the times a cron expression
//! names, `#[task]` once after the app has started. With `on_leader = true` they run on the
//! group's leader only (see [`crate::leader`]).
//!
//! A run that fails (an error or a panic) is logged and counted ([`crate::Health::timer_errors`]);
//! the timer keeps its schedule. Runs of one timer never overlap: a run that outlasts its
//! interval delays the next one.

use crate::app::App;
use crate::error::{BoxError, Error, Result};
use futures::future::BoxFuture;
use std::time::Duration;
use tokio::sync::watch;

/// When a [`TimerSpec`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerKind {
    /// Every [`TimerSpec::interval`], the first run one interval after start (as in Faust).
    Interval,
    /// At the times of a cron expression (five fields: minute, hour, day of month, month, day
    /// of week; a sixth, leading field for seconds), in `timezone` (an IANA name such as
    /// `"Europe/Paris"`; UTC when `None`).
    Crontab {
        /// The cron expression.
        expr: &'static str,
        /// The time zone it is read in.
        timezone: Option<&'static str>,
    },
    /// Once, after the app has started (Faust's `@app.task`).
    Task,
}

/// The static declaration behind a `#[timer]`, `#[crontab]` or `#[task]` function.
pub struct TimerSpec {
    /// Timer name (the function's name unless given).
    pub name: &'static str,
    /// Full Rust path of the function.
    pub qualified: &'static str,
    /// Module that declared it.
    pub module: &'static str,
    /// Time between runs of an [`TimerKind::Interval`] timer.
    pub interval: Duration,
    /// When it runs.
    pub kind: TimerKind,
    /// Runs only on the group's leader.
    pub on_leader: bool,
    /// Calls the function.
    pub run: fn() -> BoxFuture<'static, Result<(), BoxError>>,
}

impl std::fmt::Debug for TimerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimerSpec")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("interval", &self.interval)
            .field("on_leader", &self.on_leader)
            .finish_non_exhaustive()
    }
}

/// Runs `spec` once: a failure is logged and counted, never fatal.
async fn run_once(app: &App, spec: &'static TimerSpec, busy: Option<&crate::blocking::Busy>) {
    // Sensors see the run; a panic is caught and reported like an error.
    let failure = match crate::observe::run_timer(app.observe(), spec, busy).await {
        Ok(()) => return,
        Err(e) => e,
    };
    app.stats().record_timer_error();
    tracing::error!(timer = spec.name, error = %failure, "timer failed; it keeps its schedule");
}

/// Whether this run may go ahead: always, or on the leader only.
fn may_run(app: &App, spec: &TimerSpec) -> bool {
    !spec.on_leader || app.is_leader()
}

/// Checks what can be checked before start: a crontab's expression and time zone.
pub(crate) fn check(spec: &TimerSpec) -> Result<()> {
    match spec.kind {
        #[cfg(feature = "cron")]
        TimerKind::Crontab { expr, timezone } => crate::crontab::Schedule::parse(expr, timezone)
            .map(drop)
            .map_err(|e| Error::config(format!("crontab '{}': {e}", spec.name))),
        #[cfg(not(feature = "cron"))]
        TimerKind::Crontab { .. } => Err(Error::config(format!(
            "crontab '{}' needs the `cron` feature of faust-runtime",
            spec.name
        ))),
        _ => Ok(()),
    }
}

/// Runs timer `spec` of `app` until `stop` turns true.
pub(crate) async fn run(app: App, spec: &'static TimerSpec, mut stop: watch::Receiver<bool>) {
    let busy = crate::observe::timer_slot(app.observe(), spec);
    let busy = busy.as_deref();
    match spec.kind {
        TimerKind::Task => {
            if spec.on_leader {
                tokio::select! {
                    _ = app.core_ref().leadership.wait() => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
            run_once(&app, spec, busy).await;
        }
        TimerKind::Interval => {
            let mut ticks = tokio::time::interval_at(
                tokio::time::Instant::now() + spec.interval,
                spec.interval,
            );
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                if may_run(&app, spec) {
                    run_once(&app, spec, busy).await;
                }
            }
        }
        #[cfg(feature = "cron")]
        TimerKind::Crontab { expr, timezone } => {
            let schedule = match crate::crontab::Schedule::parse(expr, timezone) {
                Ok(s) => s,
                Err(e) => {
                    // Checked at start; kept for a spec built by hand.
                    tracing::error!(timer = spec.name, error = %e, "crontab not scheduled");
                    return;
                }
            };
            loop {
                let Some(wait) = schedule.until_next() else {
                    tracing::warn!(timer = spec.name, "crontab has no future run");
                    return;
                };
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                if may_run(&app, spec) {
                    run_once(&app, spec, busy).await;
                }
            }
        }
        #[cfg(not(feature = "cron"))]
        TimerKind::Crontab { .. } => {}
    }
}

/// Parses a duration as the macros and settings accept it: `"5s"`, `"250ms"`, `"1m"`, `"1h"`,
/// `"1.5s"`, `"2d"`, or a plain number of seconds (`"5"`, `"0.5"`).
pub fn parse_duration(text: &str) -> Result<Duration> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let bad = || {
        Error::config(format!(
            "cannot parse duration '{text}': expected a number with an optional unit (ms, s, m, h, d), e.g. \"5s\" or \"250ms\""
        ))
    };
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit.trim() {
        "" | "s" | "sec" | "secs" | "seconds" => n,
        "ms" => n / 1000.0,
        "m" | "min" | "mins" | "minutes" => n * 60.0,
        "h" | "hours" => n * 3600.0,
        "d" | "days" => n * 86400.0,
        _ => return Err(bad()),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn parses_units_and_plain_seconds() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration(" 3 ").unwrap(), Duration::from_secs(3));
    }

    #[test]
    fn rejects_nonsense() {
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}
