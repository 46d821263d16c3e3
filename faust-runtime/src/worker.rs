//! The generated `main`: command line, environment, logging, runtime, app.

use crate::app::{App, AppBuilder};
use crate::error::BoxError;
use futures::future::BoxFuture;
use std::process::ExitCode;

/// A `main!` hook (`before_start = f`, `after_stop = f`): an `async fn(App)` returning `()` or
/// `Result<(), E>`.
pub type MainHook = fn(App) -> BoxFuture<'static, Result<(), BoxError>>;

/// The hooks `main!` was given.
#[derive(Default, Clone, Copy)]
pub struct MainHooks {
    /// Runs after the app is built and before it starts (sends need `.force(true)` there).
    pub before_start: Option<MainHook>,
    /// Runs once the app has stopped, whether it stopped cleanly or with an error.
    pub after_stop: Option<MainHook>,
}

/// Boxes a `main!` hook's future (generated code calls this).
pub fn hook_future<Fut, R>(fut: Fut) -> BoxFuture<'static, Result<(), BoxError>>
where
    Fut: std::future::Future<Output = R> + Send + 'static,
    R: crate::agent::Outcome,
{
    crate::agent::timer_future(fut)
}

const USAGE: &str = "options:\n  --broker URL   memory:// (default), memory://NAME, or kafka://host:port[;host:port]\n                 (also FAUST_BROKER)\n  -h, --help     this help";

/// Runs the worker of the app `id` with every registration of the crate `crate_module` (the
/// `main!` macro calls this): `hooks.before_start`, the app until it stops, `hooks.after_stop`.
/// Exit code 0 on a clean stop, 1 on error, 2 on bad arguments.
pub fn run_main(
    id: &'static str,
    crate_module: &'static str,
    configure: fn(AppBuilder) -> AppBuilder,
    hooks: MainHooks,
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
    rt.block_on(async move {
        // Unbound handles (`Orders.send(..)`) and `App::current()` find this app from here on.
        app.set_default();
        if let Some(hook) = hooks.before_start {
            if let Err(e) = app.scope(hook(app.clone())).await {
                tracing::error!(error = %e, "before_start failed; the app does not start");
                eprintln!("error: before_start failed: {e}");
                return ExitCode::FAILURE;
            }
        }
        let mut code = match app.run().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e, "worker stopped with an error");
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        };
        if let Some(hook) = hooks.after_stop {
            if let Err(e) = app.scope(hook(app.clone())).await {
                tracing::error!(error = %e, "after_stop failed");
                eprintln!("error: after_stop failed: {e}");
                code = ExitCode::FAILURE;
            }
        }
        code
    })
}
