use faust_runtime::prelude::*;

#[topic(value = String, partitions = 4)]
pub struct Orders;

fn main() {}
