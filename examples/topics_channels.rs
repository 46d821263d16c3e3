//! Every usage of Faust's "Topics and Channels" guide, in one app: one module per section.
//!
//! - `basic`: a topic, an agent processing it, a timer producing to it;
//! - `advanced`: a topic with 8 partitions, retention, compaction and broker config, records sent
//!   with headers and a value serializer override, read back as whole events (every field);
//! - `channels`: an in-process channel, a `send_notification` helper called from an agent and
//!   from the app's startup code, and the agent reading it;
//! - `partitioning`: sending to an explicit partition, and the partition a key goes to;
//! - `manager`: the topic manager creating, listing and deleting topics, and `create_topic`
//!   giving a typed handle;
//! - `startup` / `shutdown`: the app's own code before it starts and after it stopped
//!   (`main!(before_start = .., after_stop = ..)`).
//!
//! ```text
//! cargo run --example topics_channels                                   # embedded broker
//! cargo run --example topics_channels -- --broker kafka://localhost:9092 # a Kafka cluster
//! ```
//!
//! Stop it with Ctrl-C. Every line it prints starts with its section's name.

use faust_runtime::prelude::*;

/// An order, as JSON.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Order {
    pub id: String,
    pub amount: f64,
}

/// Basic topic usage: `orders_topic = app.topic('orders', value_type=Order)`, an agent on it,
/// a timer sending to it.
pub mod basic {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[topic(name = "orders", key = String, value = Order)]
    pub struct Orders;

    /// `@app.agent(orders_topic)`: processes each order, then notifies through the channel.
    #[agent(Orders)]
    async fn process_orders(mut orders: Stream<Orders>) -> Result<()> {
        while let Some(order) = orders.next().await {
            println!(
                "[basic] Processing order {}: ${:.2}",
                order.id, order.amount
            );
            crate::channels::send_notification("orders", format!("order {} processed", order.id))
                .await?;
        }
        Ok(())
    }

    static NEXT: AtomicU64 = AtomicU64::new(1);

    /// `@app.timer(interval=1.0)`: `await orders_topic.send(value=Order(...))`.
    #[timer(interval = "1s")]
    async fn produce_orders() -> Result<()> {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let order = Order {
            id: format!("order-{n}"),
            amount: 9.99 * n as f64,
        };
        Orders.send(order.id.clone(), order).await?;
        Ok(())
    }
}

/// Advanced topic configuration: partitions, retention, compaction, broker config; sends with
/// headers and a value serializer of their own.
pub mod advanced {
    use super::*;
    use std::collections::BTreeMap;

    /// Faust's `value_type=dict`.
    pub type Dict = BTreeMap<String, String>;

    #[topic(
        name = "user-events",
        key = String,
        value = Dict,
        partitions = 8,
        retention = "7d",
        compacting = true,
        deleting = false,
        config = [
            ("segment.bytes", 1073741824),
            ("min.cleanable.dirty.ratio", "0.5"),
        ],
    )]
    pub struct UserEvents;

    /// `await topic.send(key=.., value=.., headers={..}, value_serializer='json')`: this record
    /// is written as faust-streaming[fast] (orjson) writes JSON, whatever the topic's default.
    #[timer(interval = "1s")]
    async fn track_login() -> Result<()> {
        let event = Dict::from([
            ("action".to_string(), "login".to_string()),
            ("city".to_string(), "Zürich".to_string()),
        ]);
        UserEvents
            .record(event)
            .key("user-123")
            .header("source", "web")
            .header("version", "1.0")
            .value_serializer("json:orjson")
            .send()
            .await?;
        Ok(())
    }

    /// `async for event in stream.events()`: every field of an event.
    #[agent(UserEvents)]
    async fn audit_user_events(stream: Stream<UserEvents>) -> Result<()> {
        let mut events = stream.events();
        while let Some(event) = events.next().await {
            let headers: Vec<String> = event
                .headers
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{k}={}",
                        String::from_utf8_lossy(v.as_deref().unwrap_or_default())
                    )
                })
                .collect();
            println!(
                "[advanced] key={:?} value={:?} headers=[{}] topic={} partition={} offset={} timestamp={:.3}",
                event.key,
                event.value,
                headers.join(", "),
                event.topic,
                event.partition,
                event.offset,
                event.timestamp_secs(),
            );
        }
        Ok(())
    }
}

/// Channel-based communication: `app.channel(value_type=Notification)`, a helper sending to it
/// from anywhere, an agent reading it.
pub mod channels {
    use super::*;

    /// In-process only: no serialization, so it need not be serde.
    #[derive(Debug)]
    pub struct Notification {
        pub source: &'static str,
        pub message: String,
    }

    #[channel(value = Notification, maxsize = 1000)]
    pub struct Notifications;

    /// `async def send_notification(...)`: callable from agents, timers and the app's startup
    /// code (it finds the app with `App::current()`).
    pub async fn send_notification(source: &'static str, message: String) -> Result<()> {
        Notifications.send(Notification { source, message }).await?;
        Ok(())
    }

    #[agent(Notifications)]
    async fn handle_notifications(mut notifications: Stream<Notifications>) -> Result<()> {
        while let Some(n) = notifications.next().await {
            println!("[channels] Notification from {}: {}", n.source, n.message);
        }
        Ok(())
    }
}

/// Topic partitioning: an explicit partition, and the partition a key goes to.
pub mod partitioning {
    use super::*;

    #[topic(name = "user-activity", key = String, value = String, partitions = 4)]
    pub struct UserActivity;

    /// `await topic.send(key=.., value=.., partition=2)`, and the partition Faust (and the Java
    /// client) would pick for the key.
    #[timer(interval = "1s")]
    async fn send_activity() -> Result<()> {
        let key = "alice";
        let by_key = UserActivity.get_partition_key(key, None)?;
        let keyed = UserActivity
            .send_and_wait(key, "page_view".to_string())
            .await?;
        let explicit = UserActivity
            .record("checkout".to_string())
            .key(key)
            .partition(2)
            .send_and_wait()
            .await?;
        println!(
            "[partitioning] {key:?} hashes to partition {by_key}, sent there: {}; explicit partition: {}",
            keyed.partition, explicit.partition
        );
        // An explicit partition the topic does not have is an error, before anything is sent.
        if let Err(e) = UserActivity.get_partition_key(key, Some(99)) {
            println!("[partitioning] partition 99: {e}");
        }
        Ok(())
    }
}

/// The topic manager, and `create_topic(app, name, partitions, replication_factor, config)`.
pub mod manager {
    use super::*;

    /// Creates the topics this section uses and lists what is on the broker.
    pub async fn create_and_list(app: &App) -> Result<()> {
        let topics = app.topics();
        // The admin operation: created with its settings, or an error if it exists.
        match topics
            .create_topic(
                "audit-log",
                2,
                1,
                [("retention.ms".to_string(), "3600000".to_string())].into(),
            )
            .await
        {
            Ok(()) => println!("[manager] created audit-log"),
            Err(faust_runtime::Error::TopicExists(_)) => println!("[manager] audit-log exists"),
            Err(e) => return Err(e),
        }
        // A typed handle, created on the broker now (or found there with the same partitions).
        let scratch = faust_runtime::create_topic::<String, u64>(
            app,
            "scratch-counts",
            3,
            1,
            &[("cleanup.policy", "delete")],
        )
        .await?;
        let meta = scratch
            .record(42)
            .key("answer")
            .force(true)
            .send_and_wait()
            .await?;
        println!(
            "[manager] {} ({} -> {}, {} partitions): sent to partition {} offset {}",
            scratch.name(),
            scratch.key_type(),
            scratch.value_type(),
            scratch.partitions(),
            meta.partition,
            meta.offset
        );
        let names: Vec<String> = topics
            .list_topics()
            .await?
            .into_iter()
            .map(|t| format!("{} ({} partitions)", t.name, t.partitions))
            .collect();
        println!("[manager] topics: {}", names.join(", "));
        Ok(())
    }

    /// Deletes the scratch topic again.
    pub async fn delete(app: &App) -> Result<()> {
        app.topics().delete_topic("scratch-counts").await?;
        let left = app.topics().list_topics().await?;
        println!(
            "[manager] deleted scratch-counts; {} topics left",
            left.len()
        );
        Ok(())
    }
}

/// The app's own code before it starts: create topics, send (with `force`: the app is not
/// running yet), notify. `main!` passes the app; `App::current()` finds it too.
async fn startup(app: App) -> Result<()> {
    println!("[startup] {} on {}", app.id(), app.settings().broker);
    manager::create_and_list(&app).await?;
    // A forced send before start creates the topic first, with its declared settings.
    advanced::UserEvents
        .record(advanced::Dict::from([("action".into(), "deploy".into())]))
        .key("system")
        .header("source", "startup")
        .force(true)
        .send_and_wait()
        .await?;
    let config = app
        .topics()
        .describe_topic("user-events")
        .await?
        .map(|d| (d.partitions, d.config))
        .unwrap_or_default();
    println!(
        "[startup] user-events: {} partitions, retention.ms={:?}, cleanup.policy={:?}, segment.bytes={:?}, min.cleanable.dirty.ratio={:?}",
        config.0,
        config.1.get("retention.ms"),
        config.1.get("cleanup.policy"),
        config.1.get("segment.bytes"),
        config.1.get("min.cleanable.dirty.ratio"),
    );
    // Queued on the channel now, handled once its agent runs.
    channels::send_notification("startup", format!("{} is starting", App::current()?.id())).await?;
    Ok(())
}

/// The app's own code after it stopped: the broker is still there, the app no longer sends.
async fn shutdown(app: App) -> Result<()> {
    manager::delete(&app).await?;
    println!("[shutdown] {} stopped: {:?}", app.id(), app.state());
    Ok(())
}

faust_runtime::main!(
    id = "topics-channels-app",
    before_start = startup,
    after_stop = shutdown,
);
