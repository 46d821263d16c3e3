use faust_runtime::prelude::*;

#[topic(name = "orders", value = String)]
pub struct Orders {
    pub id: u64,
}

fn main() {}
