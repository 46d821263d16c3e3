use faust_runtime::prelude::*;

#[table(name = "counts", key = String, value = u64)]
enum Counts {
    A,
}

fn main() {}
