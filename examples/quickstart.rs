//! The Faust orders app in Rust.
//!
//! A timer sends an order every second to the `orders` topic; an agent processes each order and
//! puts a notification on an in-process channel; a second agent prints the notifications.
//!
//! ```text
//! cargo run --example quickstart                                   # embedded broker, no setup
//! cargo run --example quickstart -- --broker kafka://localhost:9092 # a Kafka cluster
//! ```

use faust_runtime::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};

/// An order, as JSON on the `orders` topic.
#[derive(Serialize, Deserialize, Clone, Debug)]
struct Order {
    id: u64,
    product: String,
    quantity: u32,
}

/// A notification about a processed order (in-process only: no serialization).
#[derive(Clone, Debug)]
struct Notification {
    order_id: u64,
    message: String,
}

/// The orders topic: string keys, JSON orders, 8 partitions.
#[topic(name = "orders", key = String, value = Order, partitions = 8)]
struct Orders;

/// Notifications between the two agents.
#[channel(value = Notification, maxsize = 1000)]
struct Notifications;

/// Processes each order and notifies about it.
#[agent(Orders)]
async fn process_orders(mut orders: Stream<Orders>) -> Result<()> {
    while let Some(order) = orders.next().await {
        println!("Processing order: {order:?}");
        Notifications
            .send(Notification {
                order_id: order.id,
                message: format!("{} x {} ready", order.quantity, order.product),
            })
            .await?;
    }
    Ok(())
}

/// Prints the notifications.
#[agent(Notifications)]
async fn notify(mut notifications: Stream<Notifications>) -> Result<()> {
    while let Some(n) = notifications.next().await {
        println!("Notification for order {}: {}", n.order_id, n.message);
    }
    Ok(())
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Sends an order every second.
#[timer(interval = "1s")]
async fn produce_orders() -> Result<()> {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let products = ["apple", "banana", "cherry"];
    let order = Order {
        id,
        product: products[(id % 3) as usize].to_string(),
        quantity: (id % 5 + 1) as u32,
    };
    Orders.send(format!("order-{id}"), order).await?;
    Ok(())
}

faust_runtime::main!(id = "orders-app");
