use faust_runtime::prelude::*;

#[derive(Serialize, Deserialize)]
pub struct Order {
    pub id: u64,
}

#[topic(name = "orders", value = Order)]
pub struct Orders;

#[agent(Orders)]
fn process(mut orders: Stream<Orders>) {
    let _ = orders.next();
}

fn main() {}
