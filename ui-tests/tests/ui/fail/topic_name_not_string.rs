use faust_runtime::prelude::*;

#[topic(name = orders, value = String)]
pub struct Orders;

fn main() {}
