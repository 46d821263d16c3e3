//! Logging of the command line: `tracing` to stderr at `-l/--loglevel` (else `RUST_LOG`, else
//! `info`), as text or `--json` lines, colours only when stderr is a terminal, credentials
//! scrubbed from every line.

use super::scrub::{ScrubbedStderr, Scrubber};
use std::io::IsTerminal;

/// Faust's log levels (`-l/--loglevel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogLevel {
    /// Errors only (Faust's `crit` is accepted as this too).
    #[value(alias = "crit", alias = "critical")]
    Error,
    /// Warnings and errors.
    #[value(alias = "warning")]
    Warn,
    /// The default.
    Info,
    /// Debugging detail.
    Debug,
    /// Everything.
    Trace,
}

impl LogLevel {
    fn directive(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

/// Whether log lines get ANSI colours: only when stderr is a terminal and `NO_COLOR` is unset.
pub(crate) fn use_colour() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// Installs the global subscriber (once per process; later calls keep the first).
pub(crate) fn init(level: Option<LogLevel>, json: bool, scrubber: &Scrubber) {
    let filter = match level {
        Some(l) => tracing_subscriber::EnvFilter::new(l.directive()),
        None => tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
    };
    let writer = ScrubbedStderr(scrubber.clone());
    let builder = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_env_filter(filter);
    let _ = if json {
        builder.json().with_ansi(false).try_init()
    } else {
        builder.with_ansi(use_colour()).try_init()
    };
}
