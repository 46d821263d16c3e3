//! The generated `main`: command line, environment, logging, runtime, app.

use crate::app::{App, AppBuilder};
use std::process::ExitCode;

const USAGE: &str = "options:\n  --broker URL   memory:// (default), memory://NAME, or kafka://host:port[;host:port]\n                 (also FAUST_BROKER)\n  -h, --help     this help";

/// Runs the worker of the app `id` with every registration of the crate `crate_module` (the
/// `main!` macro calls this). Exit code 0 on a clean stop, 1 on error, 2 on bad arguments.
pub fn run_main(
    id: &'static str,
    crate_module: &'static str,
    configure: fn(AppBuilder) -> AppBuilder,
) -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    let mut broker_arg = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--broker" | "-b" => match args.next() {
                Some(v) => broker_arg = Some(v),
                None => {
                    eprintln!("error: --broker needs a value\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            s if s.starts_with("--broker=") => {
                broker_arg = Some(s["--broker=".len()..].to_string())
            }
            "-h" | "--help" => {
                println!("{id}: a faust-rs worker\n{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("error: unknown argument '{other}'\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let root = crate_module.split("::").next().unwrap_or(crate_module);
    let mut builder = configure(App::builder(id).include_module(root));
    let mut env_error = None;
    builder = builder.configure(|s| env_error = s.apply_env().err());
    if let Some(e) = env_error {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    if let Some(b) = broker_arg {
        builder = builder.broker(b);
    }
    let app = match builder.build() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(app.run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "worker stopped with an error");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
