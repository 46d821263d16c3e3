// User subcommands: with clap arguments (through the runtime's clap re-export), without
// arguments, renamed, returning () or a Result.
use faust_runtime::clap;
use faust_runtime::prelude::*;

#[derive(clap::Args)]
struct Load {
    /// File to load.
    path: String,
    #[arg(long, default_value_t = 10)]
    batch: u32,
}

/// Loads data.
///
/// Longer text that is not the summary.
#[faust_runtime::command]
async fn load_data(app: App, args: Load) -> Result<()> {
    let _ = (app.id(), args.path, args.batch);
    Ok(())
}

#[faust_runtime::command(name = "ping")]
async fn ping_broker(_app: App) {}

#[timer(interval = "1s")]
async fn tick() {}

fn main() {
    let cmds = faust_runtime::cli::command::commands(&[]);
    let names: Vec<&str> = cmds.iter().map(|c| c.name).collect();
    assert_eq!(names, ["load-data", "ping"]);
    assert_eq!(cmds[0].about, "Loads data.");
    let cmd = (cmds[0].args)(clap::Command::new("load-data"));
    let m = cmd
        .try_get_matches_from(["load-data", "f.csv", "--batch", "3"])
        .expect("parses");
    assert_eq!(m.get_one::<String>("path").map(String::as_str), Some("f.csv"));
    assert_eq!(m.get_one::<u32>("batch"), Some(&3));
}
