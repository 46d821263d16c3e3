use faust_runtime::prelude::*;

#[derive(Serialize, Deserialize, Clone)]
pub struct Order {
    pub id: u64,
}

#[topic(name = "orders", value = Order)]
pub struct Orders;

// A string where a topic belongs, and a sink that is not a list.
#[agent(Orders, sink = [Orders, "totals"])]
async fn process(orders: Stream<Orders>, out: Yield<Order>) {
    let _ = (orders, out);
}

#[agent(Orders, name = "other", sink = Orders)]
async fn other(orders: Stream<Orders>, out: Yield<Order>) {
    let _ = (orders, out);
}

fn main() {}
