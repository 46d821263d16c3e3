use faust_runtime::prelude::*;

#[table(key = String, key = String, value = u64, colour = "red", partitions = 0)]
struct Counts;

fn main() {}
