use faust_runtime::prelude::*;

#[topic(name = "orders", value = String)]
pub enum Orders {
    Placed,
    Paid,
}

fn main() {}
