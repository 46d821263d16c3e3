use faust_runtime::prelude::*;

#[topic(name = "orders", value = String, partition = 8)]
pub struct Orders;

fn main() {}
