use faust_runtime::prelude::*;

#[timer(name = "tick")]
async fn tick() {}

fn main() {}
