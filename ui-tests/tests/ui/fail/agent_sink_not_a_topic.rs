use faust_runtime::prelude::*;

#[derive(Serialize, Deserialize, Clone)]
pub struct Order {
    pub id: u64,
}

#[topic(name = "orders", value = Order)]
pub struct Orders;

// The value type where the sink's topic belongs.
#[agent(Orders, sink = [Order])]
async fn process(orders: Stream<Orders>, out: Yield<Order>) {
    let _ = (orders, out);
}

fn main() {}
