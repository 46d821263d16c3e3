use faust_runtime::prelude::*;

#[topic(name = "orders", key = String)]
pub struct Orders;

#[agent(Orders)]
async fn process(orders: Stream<Orders>) {
    let _ = orders;
}

fn main() {}
