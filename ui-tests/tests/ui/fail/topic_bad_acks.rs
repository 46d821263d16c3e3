use faust_runtime::prelude::*;

#[topic(name = "orders", value = String, acks = "most")]
pub struct Orders;

fn main() {}
