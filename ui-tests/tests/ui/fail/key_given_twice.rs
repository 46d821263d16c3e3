use faust_runtime::prelude::*;

#[topic(name = "orders", value = String, name = "orders-v2")]
pub struct Orders;

fn main() {}
