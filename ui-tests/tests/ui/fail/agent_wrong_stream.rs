use faust_runtime::prelude::*;

#[derive(Serialize, Deserialize)]
pub struct Order {
    pub id: u64,
}

#[derive(Serialize, Deserialize)]
pub struct Payment {
    pub order_id: u64,
}

#[topic(name = "orders", value = Order)]
pub struct Orders;

#[topic(name = "payments", value = Payment)]
pub struct Payments;

#[agent(Orders)]
async fn process(mut payments: Stream<Payments>) {
    while let Some(payment) = payments.next().await {
        let _ = payment.order_id;
    }
}

fn main() {}
