//! Crontab schedules (`#[crontab("*/5 * * * *", timezone = "Europe/Paris")]`): the expression
//! is parsed by `croner` (five fields, or six with leading seconds; `@daily` and friends), the
//! time zone by `chrono-tz` (IANA names); runs happen at the expression's times in that zone,
//! UTC when none is given.

use chrono::{DateTime, Utc};
use std::str::FromStr;
use std::time::Duration;

/// A parsed cron expression in a time zone.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    cron: croner::Cron,
    tz: chrono_tz::Tz,
}

impl Schedule {
    /// Parses `expr` in `timezone` (UTC when `None`); the error names what is wrong.
    pub(crate) fn parse(expr: &str, timezone: Option<&str>) -> Result<Self, String> {
        let cron = croner::Cron::from_str(expr)
            .map_err(|e| format!("invalid cron expression '{expr}': {e}"))?;
        let tz = match timezone {
            None => chrono_tz::UTC,
            Some(name) => chrono_tz::Tz::from_str(name).map_err(|_| {
                format!("unknown time zone '{name}' (expected an IANA name such as \"Europe/Paris\" or \"UTC\")")
            })?,
        };
        Ok(Schedule { cron, tz })
    }

    /// The first run strictly after `t`.
    pub(crate) fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = t.with_timezone(&self.tz);
        self.cron
            .find_next_occurrence(&local, false)
            .ok()
            .map(|n| n.with_timezone(&Utc))
    }

    /// How long until the next run.
    pub(crate) fn until_next(&self) -> Option<Duration> {
        let now = Utc::now();
        let next = self.next_after(now)?;
        Some((next - now).to_std().unwrap_or(Duration::ZERO))
    }
}

#[cfg(test)]
mod tests {
    use super::Schedule;
    use chrono::{DateTime, Utc};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn runs_at_the_expressions_times_in_its_time_zone() {
        let paris = Schedule::parse("0 9 * * *", Some("Europe/Paris")).unwrap();
        // 09:00 in Paris is 08:00 UTC in winter, 07:00 UTC in summer.
        assert_eq!(
            paris.next_after(at("2026-01-15T07:30:00Z")),
            Some(at("2026-01-15T08:00:00Z"))
        );
        assert_eq!(
            paris.next_after(at("2026-07-15T07:30:00Z")),
            Some(at("2026-07-16T07:00:00Z"))
        );
        let every5 = Schedule::parse("*/5 * * * *", None).unwrap();
        assert_eq!(
            every5.next_after(at("2026-03-01T10:05:00Z")),
            Some(at("2026-03-01T10:10:00Z")),
            "strictly after"
        );
    }

    #[test]
    fn bad_expressions_and_zones_are_named() {
        let e = Schedule::parse("*/5 * * *", None).unwrap_err();
        assert!(e.contains("invalid cron expression '*/5 * * *'"), "{e}");
        let e = Schedule::parse("* * * * *", Some("Mars/Olympus")).unwrap_err();
        assert!(e.contains("unknown time zone 'Mars/Olympus'"), "{e}");
    }
}
