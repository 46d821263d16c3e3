use faust_runtime::prelude::*;

#[timer(interval = "5s")]
fn tick() {}

fn main() {}
