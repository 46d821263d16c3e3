use faust_runtime::prelude::*;

#[channel(value = String, partitions = 4)]
pub struct Lines;

fn main() {}
