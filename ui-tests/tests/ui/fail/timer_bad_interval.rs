use faust_runtime::prelude::*;

#[timer(interval = "5 fortnights")]
async fn tick() {}

fn main() {}
