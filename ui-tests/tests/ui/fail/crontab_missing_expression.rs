use faust_runtime::prelude::*;

#[crontab(timezone = "UTC", on_leader = yes)]
async fn report() {}

fn main() {}
