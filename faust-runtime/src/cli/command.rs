//! User subcommands: `#[command]` on an `async fn` adds a subcommand to the app's command line
//! (Faust's `@app.command`), its arguments parsed by clap from a type deriving `clap::Args`.
//!
//! ```no_run
//! use faust_runtime::prelude::*;
//! use faust_runtime::clap;
//!
//! #[derive(clap::Args)]
//! struct Greet {
//!     /// Who to greet.
//!     name: String,
//!     /// How many times.
//!     #[arg(long, default_value_t = 1)]
//!     times: u32,
//! }
//!
//! /// Prints a greeting (the doc comment is the subcommand's `--help`).
//! #[faust_runtime::command]
//! async fn greet(app: App, args: Greet) -> Result<()> {
//!     for _ in 0..args.times {
//!         println!("hello {} from {}", args.name, app.id());
//!     }
//!     Ok(())
//! }
//! # #[timer(interval = "1s")] async fn tick() {}
//!
//! faust_runtime::main!(id = "greeter");
//! // ./greeter greet world --times 2
//! ```
//!
//! The function takes the [`App`] (built from the command line's `--broker` and the
//! environment, not started) and optionally one `clap::Args` type, and returns `()` or
//! `Result<(), E>`; an error exits with code 1.

use crate::app::App;
use crate::error::BoxError;
use crate::registry::module_matches;
use futures::future::BoxFuture;

/// The declaration behind a `#[command]` function.
pub struct CommandSpec {
    /// Subcommand name (the function's name, `_` as `-`, unless given).
    pub name: &'static str,
    /// One-line description (the function's doc comment).
    pub about: &'static str,
    /// Module that declared it.
    pub module: &'static str,
    /// Adds the command's arguments (`clap::Args::augment_args`).
    pub args: fn(clap::Command) -> clap::Command,
    /// Parses the arguments and returns the command's future.
    #[allow(clippy::type_complexity)]
    pub run:
        fn(App, &clap::ArgMatches) -> Result<BoxFuture<'static, Result<(), BoxError>>, clap::Error>,
}

inventory::collect!(CommandSpec);

/// The `#[command]`s of the binary declared in `modules` (all when empty), sorted by name.
pub fn commands(modules: &[String]) -> Vec<&'static CommandSpec> {
    let mut v: Vec<&'static CommandSpec> = inventory::iter::<CommandSpec>
        .into_iter()
        .filter(|c| modules.is_empty() || modules.iter().any(|m| module_matches(c.module, m)))
        .collect();
    v.sort_by_key(|c| c.name);
    v
}

/// Boxes a command's future (generated code calls this).
pub fn command_future<Fut, R>(fut: Fut) -> BoxFuture<'static, Result<(), BoxError>>
where
    Fut: std::future::Future<Output = R> + Send + 'static,
    R: crate::agent::Outcome,
{
    crate::agent::timer_future(fut)
}
