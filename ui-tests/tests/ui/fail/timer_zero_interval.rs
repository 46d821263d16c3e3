use faust_runtime::prelude::*;

#[timer(interval = "0s")]
async fn tick() {}

fn main() {}
