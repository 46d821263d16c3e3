use faust_runtime::prelude::*;

// No app argument; an unknown key; not async.
#[faust_runtime::command(nam = "x")]
async fn no_app() {}

#[faust_runtime::command]
fn not_async(app: App) {
    let _ = app;
}

// Arguments that are not a clap::Args type.
#[faust_runtime::command]
async fn wrong_args(app: App, args: u32) {
    let _ = (app, args);
}

fn main() {}
