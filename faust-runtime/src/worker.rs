//! The generated `main`: the app's command line ([`crate::cli`]) with the `main!` hooks.

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

/// Runs the command line of the app `id` with every registration of the crate `crate_module`
/// (the `main!` macro calls this): see [`crate::cli`] for the commands and exit codes.
pub fn run_main(
    id: &'static str,
    crate_module: &'static str,
    configure: fn(AppBuilder) -> AppBuilder,
    hooks: MainHooks,
) -> ExitCode {
    let root = crate_module.split("::").next().unwrap_or(crate_module);
    crate::cli::Main::new(configure(App::builder(id).include_module(root)))
        .hooks(hooks)
        .run()
}
