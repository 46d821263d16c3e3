use faust_runtime::prelude::*;

#[table(kind = "set", name = "members", key = String, value = String, default = 0,
        tumbling = "1m")]
struct Members;

#[table(kind = "bag", name = "bag", key = String, value = String)]
struct Bag;

fn main() {}
