use faust_runtime::prelude::*;

#[timer(interval = "1s", on_leader = "true", on_leader = false)]
async fn tick() {}

fn main() {}
