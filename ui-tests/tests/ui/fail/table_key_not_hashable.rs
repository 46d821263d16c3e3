use faust_runtime::prelude::*;

#[table(name = "prices", key = f64, value = u64)]
struct Prices;

fn main() {}
