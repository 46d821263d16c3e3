use faust_runtime::prelude::*;

pub struct Order {
    pub id: u64,
}

#[topic(name = "orders", key = String, value = Order)]
pub struct Orders;

#[agent(Orders)]
async fn process(mut orders: Stream<Orders>) {
    while let Some(order) = orders.next().await {
        let _ = order.id;
    }
}

fn main() {}
