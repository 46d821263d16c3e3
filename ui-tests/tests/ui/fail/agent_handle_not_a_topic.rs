use faust_runtime::prelude::*;

#[derive(Serialize, Deserialize)]
pub struct Order {
    pub id: u64,
}

#[topic(name = "orders", value = Order)]
pub struct Orders;

// The value type where the topic belongs.
#[agent(Order)]
async fn process(orders: Stream<Orders>) {
    let _ = orders;
}

fn main() {}
