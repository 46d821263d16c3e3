use faust_runtime::prelude::*;

#[table(kind = "global", name = "prices", key = String, value = u64, tumbling = "1m")]
struct Prices;

fn main() {}
