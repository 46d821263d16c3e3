use faust_runtime::prelude::*;

#[topic(name = "orders", value = String, partitions = 0)]
pub struct Orders;

fn main() {}
