use faust_runtime::prelude::*;

#[channel(value = u64)]
pub struct Numbers;

#[agent(Numbers)]
async fn sum() {}

fn main() {}
