//! Timers: `#[timer(interval = "5s")]` runs an `async fn` on an interval while the app runs.

use crate::error::{BoxError, Error, Result};
use futures::future::BoxFuture;
use std::time::Duration;

/// The static declaration behind a `#[timer]` function.
pub struct TimerSpec {
    /// Timer name (the function's name unless given).
    pub name: &'static str,
    /// Full Rust path of the function.
    pub qualified: &'static str,
    /// Module that declared it.
    pub module: &'static str,
    /// Time between runs; the first run happens one interval after start, as in Faust.
    pub interval: Duration,
    /// Calls the function.
    pub run: fn() -> BoxFuture<'static, Result<(), BoxError>>,
}

impl std::fmt::Debug for TimerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimerSpec")
            .field("name", &self.name)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
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
